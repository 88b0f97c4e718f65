"""The policy model of a job: where its weights come from (a hub id or folder, or a model built here), its
tokenizer, and loading it in the hardware's dtype."""

from __future__ import annotations

from pathlib import Path

from openrs.config.hardware import HardwareConfig
from openrs.config.job import ModelConfig


def model_path(model: ModelConfig) -> str:
    """Where the weights come from: a hub id or directory, or a locally built model (tiny, or scaled down)."""
    if model.tiny is not None:
        from openrs.model.tiny import tiny_model_path

        return str(tiny_model_path(model.tiny))
    if model.scaled is not None:
        from openrs.model.scaled import scaled_model_path

        return str(scaled_model_path(model))
    return model.name_or_path


def load_tokenizer(m: ModelConfig):
    """The model's tokenizer (with its chat template), or model.tokenizer when set."""
    from transformers import AutoTokenizer

    path = model_path(m)
    revision = None if Path(path).exists() else m.revision
    return AutoTokenizer.from_pretrained(m.tokenizer or path, revision=revision, trust_remote_code=m.trust_remote_code)


def load_model(m: ModelConfig, hardware: HardwareConfig):
    """The policy in the hardware's dtype (safetensors only; remote code only when the config allows it)."""
    import torch
    from transformers import AutoModelForCausalLM

    path = model_path(m)
    return AutoModelForCausalLM.from_pretrained(
        path,
        revision=None if Path(path).exists() else m.revision,
        dtype=getattr(torch, hardware.dtype),
        trust_remote_code=m.trust_remote_code,
        use_safetensors=True,
        attn_implementation=hardware.attn_implementation,
    )
