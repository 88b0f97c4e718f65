"""Training: the GRPO recipe, launching ranks and the vLLM server, and preemption (`python -m openrs.train` is one
launched rank)."""
