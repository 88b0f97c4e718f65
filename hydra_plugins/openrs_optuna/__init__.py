"""openrs's Hydra sweeper over Optuna >= 4 (hydra_plugins is where Hydra looks for plugins)."""
