"""The model card of a run folder, its final model and its registered checkpoint: what the model was trained from
and how.

TRL writes its own card at every checkpoint and names the base model from the weights' `_name_or_path`, which for
a model built here (tiny, scaled) or a local folder is a path, so its card read "a fine-tuned version of [None]".
openrs writes this one in its place."""

from __future__ import annotations

from pathlib import Path

import yaml

from openrs.config.job import JobConfig, ModelConfig
from openrs.data.files import is_hub_id
from openrs.model.lookup import is_local
from openrs.run_folder import FINAL_DIR, JOB_FILE, MODEL_CARD


def base_model(m: ModelConfig) -> tuple[str | None, str]:
    """(hub id or None, how a reader should know the base model): the hub id only when the weights came from the
    hub, since the card's `base_model` field is a hub link."""
    if m.tiny is not None:
        return None, "openrs's tiny model (built and warm-started on arithmetic where it ran: conf/model/tiny.yaml)"
    if m.scaled is not None:
        return None, f"a randomly initialised, scaled-down copy of {m.name_or_path}'s architecture (model.scaled)"
    if is_local(m.name_or_path):
        return None, f"the local model {m.name_or_path}"
    revision = "" if m.revision == "main" else f" (revision {m.revision})"
    return m.name_or_path, f"[{m.name_or_path}](https://huggingface.co/{m.name_or_path}){revision}"


def model_card(job: JobConfig, steps: int, weights_here: bool) -> str:
    """The card's markdown, with Hugging Face's YAML metadata block first, for a model trained `steps` optimizer
    steps; `weights_here` is false for the run folder, whose weights are in its checkpoints and final/."""
    hub_id, base = base_model(job.model)
    datasets = [s.path for s in job.data.sources if s.generated_level is None and is_hub_id(s.path)]
    meta = {"library_name": "transformers", "tags": ["openrs", "grpo", "trl", "math"]}
    meta |= {"base_model": hub_id} if hub_id else {}
    meta |= {"datasets": datasets} if datasets else {}
    rewards = " + ".join(f"{w:g} x {f}" for f, w in zip(job.reward.funcs, job.reward.weights, strict=True))
    sources = ", ".join(f"`{s.path}`" for s in job.data.sources)
    usage = (
        '```python\nfrom transformers import pipeline\n\ngenerator = pipeline("text-generation", '
        'model="PATH_TO_THIS_FOLDER")\n```\n'
        if weights_here
        else f"The weights: `{FINAL_DIR}/` (the last step) and the checkpoints; `python -m openrs.selection "
        f"RUN_FOLDER` names the one to keep.\n"
    )
    return f"""---
{yaml.safe_dump(meta, sort_keys=False).strip()}
---

# {job.name}

Fine-tuned on math problems with GRPO by openrs, from {base}.

- Data: {sources}
- Rewards: {rewards}
- Completions: {job.trainer.num_generations} per prompt, at most {job.length.max_completion_length} tokens, \
{job.trainer.global_batch_size} per optimizer step
- Steps: {steps} of {job.trainer.max_steps} planned
- The whole configuration: `{JOB_FILE}` in the run folder

{usage}"""


def write_model_card(job: JobConfig, folder: Path, steps: int, weights_here: bool = True) -> None:
    """Write the card into `folder`: a saved model or checkpoint, or (weights_here=False) the run folder."""
    (folder / MODEL_CARD).write_text(model_card(job, steps, weights_here))
