"""Which checkpoint to keep: degradation analysis, early stop, Optuna pruning, and `python -m openrs.selection`."""
