"""Training: the GRPO recipe, launching ranks and the vLLM server, and what ranks agree on (`python -m openrs.train`
is one launched rank)."""
