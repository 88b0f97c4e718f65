"""A real architecture in miniature: the model's own config.json, tokenizer and chat template with a few small
layers, randomly initialised (model.scaled). It runs the paper's wiring (R1-Distill's template and prefill, real
problems, the paper's rewards) on a CPU in seconds; it learns nothing worth measuring."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from openrs import cache_dir
from openrs.base.errors import ConfigError
from openrs.config.job import ModelConfig
from openrs.model.lookup import architecture_dir


def scaled_model_path(model: ModelConfig) -> Path:
    """Directory of the scaled-down model of model.name_or_path's architecture (weights, config, tokenizer),
    building it the first time; cached by the source config and the sizes. Built in a temporary directory and
    renamed into place, so an interrupted build is never used."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = architecture_dir(model.name_or_path, model.revision)
    if source is None or model.scaled is None:
        raise ConfigError(f"model.name_or_path={model.name_or_path}: no architecture to scale down on this machine")
    sizes = model.scaled.model_dump()
    seed = sizes.pop("seed")
    key = hashlib.sha256(((source / "config.json").read_text() + json.dumps(model.scaled.model_dump(),
                          sort_keys=True)).encode()).hexdigest()[:12]  # fmt: skip
    path = cache_dir() / f"scaled-{key}"
    if (path / "config.json").is_file():
        return path
    print(f"building a scaled-down {model.name_or_path} (once, cached in {path})", file=sys.stderr)
    # Built from the plain dict, so that sizes derived from the layer count (layer_types) follow the new count.
    fields = {**json.loads((source / "config.json").read_text()), **sizes}
    config = AutoConfig.for_model(fields.pop("model_type"), **fields)
    torch.manual_seed(seed)
    built = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    built.save_pretrained(tmp, safe_serialization=True)
    AutoTokenizer.from_pretrained(source).save_pretrained(tmp)
    if (source / "generation_config.json").is_file():
        shutil.copy(source / "generation_config.json", tmp / "generation_config.json")
    try:
        tmp.rename(path)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return path
