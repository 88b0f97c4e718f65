"""The policy model: where it comes from, loading it, the models built here (tiny, scaled) and its model card."""
