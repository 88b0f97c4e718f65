"""Data curation: `python -m openrs.curate` builds a training set from its sources through named steps."""
