"""Did a run reproduce Open-RS? Its scores set against the paper's Table 1 and per-checkpoint logs (shipped in
open_rs_paper.json, see ATTRIBUTION.md): paper (the paper's numbers), comparison (intervals and verdicts, pure),
evidence (a run folder, an MLflow run or an openrs-evaluate folder read as scores), render (markdown, CSV, figures),
paper_runs (the paper's curves as MLflow runs); the command is `openrs-verdict` (`python -m openrs.verdict`)."""
