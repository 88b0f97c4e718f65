"""openrs's Hydra launcher that shares a node's GPUs out to jobs running side by side."""
