"""The policy model of a job: where its weights come from (a hub id or folder, or a model built here), its
tokenizer, and loading it in the hardware's dtype."""

from __future__ import annotations

from pathlib import Path

from openrs.config.job import JobConfig


def model_path(job: JobConfig) -> str:
    """Where the weights come from: a hub id or directory, or a locally built model (tiny, or scaled down)."""
    if job.model.tiny is not None:
        from openrs.model.tiny import tiny_model_path

        return str(tiny_model_path(job.model.tiny))
    if job.model.scaled is not None:
        from openrs.model.scaled import scaled_model_path

        return str(scaled_model_path(job.model))
    return job.model.name_or_path


def load_tokenizer(job: JobConfig):
    """The model's tokenizer (with its chat template), or model.tokenizer when set."""
    from transformers import AutoTokenizer

    path, m = model_path(job), job.model
    revision = None if Path(path).exists() else m.revision
    return AutoTokenizer.from_pretrained(m.tokenizer or path, revision=revision, trust_remote_code=m.trust_remote_code)


def load_model(job: JobConfig):
    """The policy in the hardware's dtype (safetensors only; remote code only when the config allows it)."""
    import torch
    from transformers import AutoModelForCausalLM

    path, m = model_path(job), job.model
    return AutoModelForCausalLM.from_pretrained(
        path,
        revision=None if Path(path).exists() else m.revision,
        dtype=getattr(torch, job.hardware.dtype),
        trust_remote_code=m.trust_remote_code,
        use_safetensors=True,
        attn_implementation=job.hardware.attn_implementation,
    )
