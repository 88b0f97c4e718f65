"""MLflow tracking: the store, opening a job's run, its journal, the model registry, run metadata, a local
server, the run table and sweep summaries."""
