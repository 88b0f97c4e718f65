"""The policy model: finding it and its size before it loads (lookup), loading it, the models built here (tiny,
scaled) and its model card."""
