"""MLflow tracking: a job's run and its journal, run metadata, redaction, a local server, sweep comparisons."""
