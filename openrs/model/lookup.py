"""Where a model comes from, before anything loads: its architecture (config.json), size, and whether it can
be had at all (a local directory, the Hugging Face cache, or a reachable hub).

Light on purpose (no torch, no transformers): hardware=auto sizes the model from here when the job is composed,
and a missing model stops the job in seconds instead of after a minute of hub retries."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openrs.base.errors import ConfigError

if TYPE_CHECKING:
    from openrs.config.job import ModelConfig

# Architectures (config.json, tokenizer, chat template; no weights) shipped with openrs, by hub id: model=r1_mini
# builds a scaled-down copy from them offline.
ARCHITECTURES = Path(__file__).parent / "architectures"
SHIPPED_MODELS = {"deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": ARCHITECTURES / "r1-distill-qwen-1.5b"}
# The files transformers loads a model's weights from, whole or sharded (with their *.index.json): a local model
# folder without any is refused before the run folder is made, not after the MLflow run opened.
WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin", "*.index.json")
# Vocabulary of the tiny model's byte-level tokenizer (openrs.model.tiny), rounded up: its size only needs to be small.
_TINY_VOCAB = 300


def is_local(path: str) -> bool:
    """Whether a model path names a directory on this machine rather than a hub id."""
    return path.startswith((".", "/", "~")) or Path(path).expanduser().exists()


def _cached(repo_id: str, filename: str, revision: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, revision=revision)
    return Path(found) if isinstance(found, str) else None


def architecture_dir(name_or_path: str, revision: str = "main") -> Path | None:
    """A directory holding the model's config.json (and tokenizer): the local directory, the Hugging Face cache's
    snapshot, or openrs's shipped copy; None when none is on this machine (nothing is downloaded)."""
    if is_local(name_or_path):
        found = Path(name_or_path).expanduser()
    elif (config := _cached(name_or_path, "config.json", revision)) is not None:
        found = config.parent
    else:
        found = SHIPPED_MODELS.get(name_or_path)
    return found if found is not None and (found / "config.json").is_file() else None


def architecture(name_or_path: str, revision: str = "main") -> dict[str, Any] | None:
    """The model's config.json (see architecture_dir); None when it is not on this machine. ConfigError (one line,
    naming the file) when it is not a JSON object."""
    found = architecture_dir(name_or_path, revision)
    return _read_config(found / "config.json", name_or_path) if found is not None else None


def _read_config(config: Path, name: str) -> dict[str, Any]:
    """config.json of model.name_or_path=name; ConfigError naming the file when it is not a JSON object (a
    cut-short or hand-edited config fails here in a line, not deep inside transformers after seconds)."""
    try:
        parsed = json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        at = f" (line {err.lineno}, column {err.colno}: {err.msg})" if isinstance(err, json.JSONDecodeError) else ""
        raise ConfigError(f"model.name_or_path={name}: {config} is not valid JSON{at}; download the model "
                          "again") from None  # fmt: skip
    if not isinstance(parsed, dict):
        raise ConfigError(f"model.name_or_path={name}: {config} holds a JSON {type(parsed).__name__}, not a "
                          "model's config (an object); download the model again")  # fmt: skip
    return parsed


def parameter_count(config: dict[str, Any]) -> int:
    """Parameters of a decoder-only transformer from its config.json (Qwen2/Llama layout: attention with
    grouped KV heads, a gated MLP, embeddings tied or not); biases and norms are left out (well under 1%)."""
    h, layers, vocab = config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or h // heads
    kv = config.get("num_key_value_heads") or heads
    attention = 2 * h * heads * head_dim + 2 * h * kv * head_dim
    mlp = 3 * h * config["intermediate_size"]
    embeddings = vocab * h * (1 if config.get("tie_word_embeddings", False) else 2)
    return embeddings + layers * (attention + mlp)


def estimated_parameters(model: dict[str, Any]) -> int | None:
    """Parameter count of a composed `model` group (a plain dict, before validation); None when its
    architecture is not on this machine or its config.json lacks a size parameter_count reads. ConfigError when
    that config.json is not a JSON object."""
    if tiny := model.get("tiny"):
        shape = {"vocab_size": _TINY_VOCAB, "tie_word_embeddings": True, "hidden_size": tiny["hidden_size"],
                 "intermediate_size": tiny["intermediate_size"], "num_hidden_layers": tiny["num_layers"],
                 "num_attention_heads": tiny["num_heads"], "num_key_value_heads": tiny["num_kv_heads"]}  # fmt: skip
        return parameter_count(shape)
    config = architecture(str(model.get("name_or_path", "")), str(model.get("revision") or "main"))
    if config is None:
        return None
    try:
        return parameter_count({**config, **{k: v for k, v in (model.get("scaled") or {}).items() if k != "seed"}})
    except (KeyError, TypeError, ZeroDivisionError):  # another layout, or a hand-edited config: of unknown size
        return None


def check_available(model: ModelConfig) -> None:
    """Raise ConfigError, naming the model and the fixes, when its weights cannot be had: a local directory that
    does not exist, whose config.json is corrupt or which holds no weights (WEIGHT_FILES), or a hub id that is
    neither in the Hugging Face cache nor reachable (in seconds, not after the hub client's retries). Built models
    (tiny, scaled) need only their architecture."""
    name = model.name_or_path
    if model.tiny is not None:
        return
    if model.scaled is not None:
        if architecture(name, model.revision) is None:
            raise ConfigError(f"model.name_or_path={name}: model.scaled builds from its config.json, which is not "
                              f"on this machine; shipped: {sorted(SHIPPED_MODELS)}, or give a directory")  # fmt: skip
        return
    if is_local(name):
        config = Path(name).expanduser() / "config.json"
        if not config.is_file():
            raise ConfigError(f"model.name_or_path={name}: no model directory there (a folder with config.json and "
                              "weights); give the path of a downloaded model or a hub id")  # fmt: skip
        if "model_type" not in _read_config(config, name):
            raise ConfigError(f"model.name_or_path={name}: {config} has no model_type, so transformers cannot "
                              "build the model; download the model again")  # fmt: skip
        if not any(next(config.parent.glob(pattern), None) for pattern in WEIGHT_FILES):
            raise ConfigError(f"model.name_or_path={name}: {config.parent} has a config.json but no weights (none of "
                              f"{', '.join(WEIGHT_FILES)}): download the model again, or give a checkpoint folder "
                              "that a run saved")  # fmt: skip
        return
    if _cached(name, "config.json", model.revision) is not None:
        return
    fixes = (f"download it first (`hf download {name}`), set HF_HUB_OFFLINE=1 with a filled cache, or give a local "
             "directory with model.name_or_path=DIR")  # fmt: skip
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise ConfigError(f"model.name_or_path={name}: not in the Hugging Face cache and HF_HUB_OFFLINE is set: "
                          f"{fixes}")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        HfApi().model_info(name, revision=model.revision, timeout=5)
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise ConfigError(f"model.name_or_path={name} (revision {model.revision}): no such model on the Hugging "
                          "Face hub (or it is private: log in with `hf auth login`); check the id, or give a local "
                          "directory with model.name_or_path=DIR") from None  # fmt: skip
    except Exception as err:  # noqa: BLE001 - any network failure means the same to the user
        raise ConfigError(f"model.name_or_path={name}: not in the Hugging Face cache and the hub is unreachable "
                          f"({type(err).__name__}: {str(err)[:200]}): {fixes}") from None  # fmt: skip
