"""The embedded default model: a Qwen2 of about a million parameters with a character tokenizer,
built and warm-started here, so the whole GRPO loop runs on a laptop CPU with no download.

The warm start is a short supervised pass on generated arithmetic (openrs.data.arithmetic) in the paper's
format, the way R1-Distill was distilled before RL: enough that some sampled answers are right and GRPO
has a signal, not so much that nothing is left to learn. The result is cached by its settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from openrs import cache_dir
from openrs.config.job import TinyModelConfig
from openrs.data.arithmetic import LEVELS, problems

SPECIAL = ["<|pad|>", "<|eos|>", "<|user|>", "<|assistant|>"]
# Not special: TRL decodes completions with skip_special_tokens, and the format reward must see them.
TAGS = ["<think>", "</think>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}"
    "{% elif m['role'] == 'user' %}<|user|>{{ m['content'] }}"
    "{% else %}<|assistant|>{{ m['content'] }}<|eos|>{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|><think>\n{% endif %}"
)


def build_tokenizer():
    """Byte-level tokenizer without merges (one token per character, as Qwen2's BPE sees bytes), so that
    AutoTokenizer, which rebuilds any qwen2 model's tokenizer as Qwen2Tokenizer, reads it back the same;
    with the R1-style chat template (the prompt ends `<think>\\n`)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {token: i for i, token in enumerate(SPECIAL + byte_chars)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<|pad|>", eos_token="<|eos|>", additional_special_tokens=SPECIAL[2:]
    )
    tokenizer.add_tokens(TAGS)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model(cfg: TinyModelConfig, tokenizer):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(cfg.seed)
    config = Qwen2Config(
        vocab_size=-(-len(tokenizer) // 64) * 64,  # room for tokens a reloading tokenizer class adds
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    return Qwen2ForCausalLM(config)


def _examples(tokenizer, cfg: TinyModelConfig) -> list[tuple[list[int], int]]:
    """(token ids, prompt length) for the warm-start problems of every level (train split only)."""
    rows = [r for level in LEVELS for r in problems(level, "train", cfg.warm_start_problems, cfg.seed)]
    out = []
    for row in rows:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": row["problem"]}], add_generation_prompt=True, tokenize=False
        )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(row["solution"], add_special_tokens=False)["input_ids"]
        out.append((prompt_ids + completion_ids + [tokenizer.eos_token_id], len(prompt_ids)))
    return out


def warm_start(model, tokenizer, cfg: TinyModelConfig) -> None:
    """Supervised next-token training on completions only (prompt tokens masked), AdamW, fixed seed."""
    import random

    import torch

    examples = _examples(tokenizer, cfg)
    rng = random.Random(cfg.seed)
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.warm_start_lr)
    model.train()
    start = time.monotonic()
    for step in range(cfg.warm_start_steps):
        batch = rng.sample(examples, cfg.warm_start_batch)
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        for i, (ids, n_prompt) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, n_prompt : len(ids)] = torch.tensor(ids[n_prompt:])
        loss = model(input_ids=input_ids, attention_mask=(input_ids != tokenizer.pad_token_id), labels=labels).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
        if step % 50 == 0 or step == cfg.warm_start_steps - 1:
            print(
                f"\rtiny warm start: step {step + 1}/{cfg.warm_start_steps} loss {loss.item():.3f} "
                f"({time.monotonic() - start:.0f} s)",
                end="",
                file=sys.stderr,
                flush=True,
            )
    print(file=sys.stderr)
    model.eval()


def tiny_model_path(cfg: TinyModelConfig) -> Path:
    """Directory of the warm-started tiny model for these settings, building it the first time.

    Built in a temporary directory and renamed into place, so an interrupted build is never used."""
    key = hashlib.sha256(json.dumps(cfg.model_dump(), sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir() / f"tiny-{key}"
    if (path / "config.json").is_file():
        return path
    print(f"building the tiny model (once, cached in {path})", file=sys.stderr)
    tokenizer = build_tokenizer()
    model = build_model(cfg, tokenizer)
    warm_start(model, tokenizer, cfg)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "openrs_tiny.json").write_text(json.dumps(cfg.model_dump(), indent=2))
    try:
        tmp.rename(path)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return path
