"""Typed schema of a composed openrs job.

Defaults live in conf/; these classes only say what each key means and which values are allowed.
openrs.resolve.load turns Hydra's DictConfig into a frozen `JobConfig` or raises `ConfigError` with one
message naming the key, the bad value and what would be valid.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from openrs.base.redaction import holds_password, redact
from openrs.config.hardware import BatchPlan, HardwareConfig, plan_batch
from openrs.config.reward import RewardConfig
from openrs.config.schema import Schema

# A data path `arithmetic:LEVEL` is generated problems (openrs.data.arithmetic), not a file.
GENERATED_PREFIX = "arithmetic:"

# AdamW moves every weight by about the learning rate each step, whatever the gradient's size. At 1.0 that is
# already far beyond fine-tuning (the presets and sweeps use 1e-7 to 1e-3) yet still finite: the smoke job finishes
# its steps; at 1e308 the weights stop being finite and sampling fails at step 2.
MAX_LEARNING_RATE = 1.0


class TinyModelConfig(Schema):
    """Shape and warm start of the embedded default model (openrs.model.tiny)."""

    hidden_size: int = Field(gt=0)
    """Width of the residual stream."""
    intermediate_size: int = Field(gt=0)
    """Width of each MLP's hidden layer."""
    num_layers: int = Field(gt=0)
    """Transformer layers."""
    num_heads: int = Field(gt=0)
    """Attention heads; hidden_size / num_heads >= 32 so that vLLM can load the model."""
    num_kv_heads: int = Field(gt=0)
    """Key/value heads (grouped-query attention); divides num_heads."""
    max_positions: int = Field(gt=0)
    """Context in tokens (characters)."""
    warm_start_steps: int = Field(ge=0)
    """Supervised steps on generated arithmetic before RL."""
    warm_start_lr: float = Field(gt=0, le=MAX_LEARNING_RATE)
    """Learning rate of the warm start (AdamW)."""
    warm_start_batch: int = Field(gt=0)
    """Problems per warm-start step."""
    warm_start_problems: int = Field(gt=0)
    """Problems per level drawn for the warm start (train split)."""
    seed: int
    """Seed of the initialisation, the warm start's draw and its order."""


class ScaledModelConfig(Schema):
    """A randomly initialised, scaled-down copy of a real architecture (openrs.model.scaled): the model's own
    config.json, tokenizer and chat template with these sizes."""

    hidden_size: int = Field(gt=0)
    """Width of the residual stream."""
    intermediate_size: int = Field(gt=0)
    """Width of each MLP's hidden layer."""
    num_hidden_layers: int = Field(gt=0)
    """Transformer layers."""
    num_attention_heads: int = Field(gt=0)
    """Attention heads; hidden_size / num_attention_heads >= 32 so that vLLM can load the model."""
    num_key_value_heads: int = Field(gt=0)
    """Key/value heads (grouped-query attention); divides num_attention_heads."""
    seed: int
    """Seed of the random initialisation."""


class ModelConfig(Schema):
    name_or_path: str
    """Hub id (e.g. deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B), a local model directory, or `tiny`."""
    revision: str
    """Hub revision (branch, tag or commit); ignored for local paths."""
    tokenizer: str | None
    """Tokenizer hub id or directory; null uses the model's own."""
    trust_remote_code: bool
    """Run modelling code shipped with the model. Off unless a config turns it on."""
    tiny: TinyModelConfig | None
    """Settings of the model openrs builds when name_or_path is `tiny`; null otherwise."""
    scaled: ScaledModelConfig | None
    """Build a random-init, scaled-down model of name_or_path's architecture (its config.json and tokenizer, from
    openrs's shipped copy, a local directory or the hub cache) instead of loading its weights; null loads them."""

    @model_validator(mode="after")
    def _tiny_has_settings(self) -> ModelConfig:
        if (self.name_or_path == "tiny") != (self.tiny is not None):
            raise ValueError(
                "model.name_or_path=tiny goes with model.tiny settings (conf/model/tiny.yaml), and only then"
            )
        if self.tiny is not None and self.scaled is not None:
            raise ValueError("model.tiny and model.scaled build different models: set one of them to null")
        return self


class DataSourceConfig(Schema):
    path: str
    """Hub dataset id, a local .jsonl/.jsonl.gz/.json/.parquet file, an output folder of `python -m openrs.curate`,
    `deepscaler_preview` (the DeepScaleR-Preview copy shipped with openrs), or `arithmetic:easy` / `arithmetic:hard`
    (generated problems, openrs.data.arithmetic)."""
    split: str
    """Split to read from a hub dataset (local files have one split, `train`)."""
    count: int | None = Field(gt=0)
    """Rows to draw from this source; null with fraction null takes all rows."""
    fraction: float | None = Field(gt=0, le=1)
    """Share of this source's rows to draw, in (0, 1]; exclusive with count."""

    @property
    def generated_level(self) -> str | None:
        """The arithmetic level of a generated source, else None."""
        return self.path.removeprefix(GENERATED_PREFIX) if self.path.startswith(GENERATED_PREFIX) else None

    @model_validator(mode="after")
    def _one_size(self) -> DataSourceConfig:
        if self.generated_level is not None and self.generated_level not in ("easy", "hard"):
            raise ValueError(f"path={self.path!r}: generated sources are arithmetic:easy and arithmetic:hard")
        if self.count is not None and self.fraction is not None:
            raise ValueError(f"set count or fraction, not both (count={self.count}, fraction={self.fraction})")
        return self


class DataConfig(Schema):
    sources: list[DataSourceConfig] = Field(min_length=1)
    """The training mix: one entry per source, drawn with `seed` and concatenated."""
    problem_column: str
    """Column holding the problem text, in every source."""
    answer_column: str
    """Column holding the gold final answer (not a worked solution), in every source."""
    seed: int
    """Seed of the draw from each source."""


class PromptConfig(Schema):
    system: str
    """System prompt placed before each problem (rendered with the model's chat template); "" for none."""
    language_line: str
    """A sentence the system prompt ends with, after a space (Exp 3's English-only instruction); "" for none."""

    @property
    def text(self) -> str:
        """The system prompt the model sees."""
        return " ".join(part for part in (self.system, self.language_line) if part)


class LengthConfig(Schema):
    max_completion_length: int = Field(gt=0)
    """Cap on generated tokens per completion."""
    max_prompt_length: int = Field(gt=0)
    """Prompts longer than this many tokens are dropped (and counted) when the data loads."""
    max_model_length: int = Field(gt=0)
    """Generation context in tokens (vLLM max_model_len); must hold prompt + completion."""

    @model_validator(mode="after")
    def _fits_context(self) -> LengthConfig:
        need = self.max_prompt_length + self.max_completion_length
        if need > self.max_model_length:
            raise ValueError(
                f"length.max_prompt_length ({self.max_prompt_length}) + length.max_completion_length "
                f"({self.max_completion_length}) = {need} exceeds length.max_model_length "
                f"({self.max_model_length}): raise max_model_length to at least {need} or lower a cap"
            )
        return self


class TrainerConfig(Schema):
    learning_rate: float = Field(gt=0, le=MAX_LEARNING_RATE)
    """Peak learning rate of AdamW."""
    lr_scheduler_type: Literal["cosine_with_min_lr", "cosine", "linear", "constant", "constant_with_warmup"]
    """Learning-rate schedule (transformers' names); `constant` ignores warmup_ratio."""
    min_lr_rate: float = Field(ge=0, le=1)
    """Floor of cosine_with_min_lr as a share of learning_rate."""
    warmup_ratio: float = Field(ge=0, lt=1)
    """Share of max_steps over which the learning rate rises linearly from 0 (not under `constant`)."""
    max_steps: int = Field(gt=0)
    """Optimizer steps."""
    global_batch_size: int = Field(gt=0)
    """Completions per optimizer step over all ranks (prompts per step x num_generations)."""
    num_generations: int = Field(gt=1)
    """Completions sampled per prompt; GRPO's group size."""
    temperature: float = Field(gt=0)
    """Sampling temperature of the training completions."""
    logprob_temperature: float | None = Field(gt=0)
    """Temperature dividing the logits when the policy's and the reference's log-probabilities are computed for
    the loss; null: the sampling temperature, as TRL has done since PR 3029 (March 2025); 1.0: the raw logits, as
    the paper's TRL (69ad852) computed them while vLLM sampled at `temperature` (openrs.train.logprobs)."""
    top_p: float = Field(gt=0, le=1)
    """Nucleus-sampling mass of the training completions (1 samples from the whole distribution)."""
    beta: float = Field(ge=0)
    """KL coefficient against the reference model (0 loads no reference model)."""
    epsilon: float = Field(gt=0)
    """Lower clip range of the policy ratio."""
    epsilon_high: float | None = Field(gt=0)
    """Upper clip range; null = epsilon."""
    num_iterations: int = Field(gt=0)
    """Policy updates per generated batch."""
    loss_type: Literal["grpo", "bnpo", "dr_grpo", "dapo"]
    """Token-loss aggregation; bnpo is the paper-era mean over the local batch's tokens."""
    scale_rewards: Literal["group", "batch", "none"]
    """Advantage scaling: (r - mean) / (std + 1e-4) over the group, the batch, or not at all."""
    mask_truncated_completions: bool
    """Leave completions cut at max_completion_length out of the loss."""
    vllm_importance_sampling_correction: bool
    """Correct for vLLM vs. training logprob mismatch (absent in the paper's TRL)."""
    use_bias_correction_kl: bool
    """Multiply the k3 KL term by the importance ratio (TRL >= 1.16); false is plain k3, the paper's TRL."""
    optim: Literal["adamw_torch", "adamw_torch_fused"]
    """AdamW implementation (the same update; fused is TRL 1.x's default on torch >= 2.8)."""
    average_tokens_across_devices: bool
    """Let transformers rescale the loss by the token count over all ranks (transformers 5's default); false
    leaves the loss to GRPO's own normalisation per rank, as the paper's transformers 4.49 did."""
    max_grad_norm: float = Field(gt=0)
    """Gradients are clipped to this global L2 norm."""
    weight_decay: float = Field(ge=0)
    """AdamW's decoupled weight decay."""
    gradient_checkpointing: bool
    """Recompute activations in the backward pass instead of keeping them: less memory, more compute."""
    save_steps: int = Field(gt=0)
    """Optimizer steps between checkpoints."""
    logging_steps: int = Field(gt=0)
    """Optimizer steps between logged training metrics (loss, rewards, KL, lengths)."""
    log_completions: bool
    """Log a table of sampled prompts, completions and rewards at each logging step."""

    @model_validator(mode="after")
    def _groups_fit(self) -> TrainerConfig:
        if self.global_batch_size % self.num_generations:
            fits = [b for b in range(self.num_generations, 2 * self.global_batch_size, self.num_generations)]
            near = min(fits, key=lambda b: abs(b - self.global_batch_size))
            raise ValueError(
                f"trainer.global_batch_size={self.global_batch_size} is not a multiple of "
                f"trainer.num_generations={self.num_generations}: every prompt needs its whole group in one "
                f"step; use e.g. trainer.global_batch_size={near}"
            )
        return self


class EvalConfig(Schema):
    benchmarks: list[str] = Field(min_length=1)
    """Shipped names (aime24, amc23, math500, minerva_math, olympiadbench), arithmetic:easy / arithmetic:hard
    (held-out generated problems), local .jsonl/.parquet files or hub ids, with `problem` and `answer`."""
    samples: int = Field(gt=0)
    """Samples per problem (k; pass@1 is the mean over them), unless samples_per_benchmark says otherwise."""
    samples_per_benchmark: dict[str, Annotated[int, Field(gt=0)]]
    """Benchmark -> k, for benchmarks that need more (few problems) or fewer samples than `samples`."""
    temperature: float = Field(ge=0)
    """Sampling temperature of evaluation (0: greedy, one sample is enough)."""
    top_p: float = Field(gt=0, le=1)
    """Nucleus-sampling mass of evaluation."""
    max_new_tokens: int = Field(gt=0)
    """Cap on generated tokens per evaluation completion."""
    every_steps: int | None = Field(gt=0)
    """Optimizer steps between step-wise evaluations (and one at step 0); null turns them off."""
    batch_size: int = Field(gt=0)
    """Sequences per generate call of the transformers backend (vLLM schedules its own batches)."""
    protocol: Literal["openrs", "paper"]
    """How prompts are built and answers graded. `openrs`: the training prompt (the `prompt` group's system
    prompt + the problem) and the rewards' grading (the last `\\boxed{}`, openrs.grading.answers rules). `paper`: the
    Open-RS paper's lighteval protocol (openrs.grading.paper_protocol): no system prompt, lighteval's
    MATH_QUERY_TEMPLATE as the user turn, the answer extracted from the whole completion (`\\boxed{}` first,
    then other LaTeX or a plain expression), MATH-500 and Minerva graded against their full solutions."""

    @model_validator(mode="after")
    def _known_benchmarks(self) -> EvalConfig:
        unknown = sorted(set(self.samples_per_benchmark) - set(self.benchmarks))
        if unknown:
            raise ValueError(f"samples_per_benchmark names {unknown}, which are not in benchmarks={self.benchmarks}")
        return self

    def samples_for(self, benchmark: str) -> int:
        return self.samples_per_benchmark.get(benchmark, self.samples)


def password_refusal(uri: str) -> str:
    """Why a tracking URI holding a password is refused (the URI redacted)."""
    return (f"{redact(uri)} holds a password, which the run folder would keep in plain text (the job's config, "
            "Hydra's record, the MLflow run's file): give the URI without it, and the credentials in the "
            "environment, which MLflow and the database drivers read and openrs never writes: "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (http, https), PGPASSWORD or ~/.pgpass "
            "(postgresql), ?read_default_file=~/.my.cnf (mysql)")  # fmt: skip


class TrackingConfig(Schema):
    uri: str | None
    """MLflow tracking URI (`sqlite:///file.db`, relative to the working directory, or `http://host:port`);
    null disables tracking."""
    experiment: str | None
    """MLflow experiment name; null uses the job's `name`."""
    serve: str | None
    """Backend store (e.g. sqlite:///outputs/mlflow.db) of an `mlflow server` that openrs starts on 127.0.0.1
    at uri's port when nothing answers there, so parallel jobs never write one SQLite file at once; null
    never starts one."""
    registered_model: str | None
    """Model registry name for selected checkpoints; null uses the experiment name."""

    @field_validator("uri", "serve")
    @classmethod
    def _no_password(cls, uri: str | None) -> str | None:
        if uri is not None and holds_password(uri):
            raise ValueError(password_refusal(uri))
        return uri

    @model_validator(mode="after")
    def _serve_locally(self) -> TrackingConfig:
        if self.serve is not None:
            from urllib.parse import urlparse

            url = urlparse(self.uri or "")
            if url.scheme != "http" or url.hostname != "127.0.0.1" or url.port is None:
                raise ValueError(
                    f"tracking.serve is set, so tracking.uri={self.uri!r} must be http://127.0.0.1:PORT: openrs "
                    "only starts servers that listen on this machine"
                )
        return self


class SelectionConfig(Schema):
    alpha: float = Field(gt=0, lt=1)
    """Chance that a run whose true score never drops is declared degraded (openrs.selection.degradation), over all
    its step-wise evaluations."""
    persistence: int = Field(ge=1)
    """Step-wise evaluations from the onset on that must show a drop before degradation is confirmed (patience)."""
    checkpoint_variation: float = Field(ge=0, lt=1)
    """Largest standard deviation of the true score from checkpoint to checkpoint (a fraction) for which
    alpha holds (0.02 = 2 points); the detector estimates the run's own from its evaluations."""
    early_stop: bool
    """Stop training at the evaluation that confirms degradation (checkpointing that step)."""
    alias: str = Field(min_length=1)
    """Model registry alias moved to the best-scoring registered checkpoint."""


# openrs.selection.degradation simulates its thresholds for the planned evaluations in O(n^3) time (once per ratio of
# selection.checkpoint_variation to the sampling error, rounded); README (Tracking, checkpoint selection and early
# stop) gives the measured cost.
MAX_STEPWISE_EVALUATIONS = 101


# Longest file name Linux file systems take (NAME_MAX), bytes of UTF-8: a longer name fails as Hydra makes the folder.
MAX_FOLDER_NAME_BYTES = 255


def folder_name_problem(name: str) -> str | None:
    """Why `name` cannot be a job's name (one folder under outputs/, and an MLflow experiment), else None."""
    if "/" in name or "\\" in name or name in (".", ".."):
        return "a name is one folder under outputs/ (and an MLflow experiment): no / or \\, not . or .."
    # str.isprintable is False for newlines (\u2028 too), tabs and other control or format characters: a folder
    # name with one breaks every log line and listing that shows it.
    if not name.isprintable():
        return "a name is one line of printable characters: no newline, tab or other control character"
    if (size := len(name.encode())) > MAX_FOLDER_NAME_BYTES:
        return f"a name is one folder, at most {MAX_FOLDER_NAME_BYTES} bytes (UTF-8) long; this one has {size}"
    return None


class JobConfig(Schema):
    """One composed openrs job, validated."""

    name: str = Field(min_length=1)
    """Experiment name: MLflow experiment and output folder (one folder under outputs/: no / or \\, not . or ..; one
    line of printable characters, at most 255 bytes of UTF-8)."""
    seed: int
    """Seed of the trainer (TrainingArguments.seed: sampling, data order, dropout), of step-wise evaluation's and
    openrs-evaluate's sampling, and of curation's draws and judge; training-data draws use data.seed."""
    dry_run: bool
    """Validate, print the plan and write the resolved config, but load nothing."""
    resume: bool | str
    """false, true (newest complete checkpoint in output_dir) or a checkpoint path."""
    requeue_exit_code: int = Field(ge=0, le=255)
    """Exit code after SIGTERM was handled by saving a checkpoint (for cluster requeue)."""
    output_dir: str
    """The run folder (checkpoints, evaluations, job.yaml); Hydra's run directory by default."""
    model: ModelConfig
    data: DataConfig
    prompt: PromptConfig
    reward: RewardConfig
    length: LengthConfig
    trainer: TrainerConfig
    eval: EvalConfig
    tracking: TrackingConfig
    selection: SelectionConfig
    hardware: HardwareConfig

    @field_validator("name")
    @classmethod
    def _one_folder(cls, name: str) -> str:
        if problem := folder_name_problem(name):
            raise ValueError(problem)
        return name

    @model_validator(mode="after")
    def _evaluations(self) -> JobConfig:
        looks = self.planned_evaluations
        if looks is not None and looks > MAX_STEPWISE_EVALUATIONS:
            raise ValueError(
                f"trainer.max_steps={self.trainer.max_steps} with eval.every_steps={self.eval.every_steps} plans "
                f"{looks} step-wise evaluations; the degradation detector handles at most {MAX_STEPWISE_EVALUATIONS}: "
                f"set eval.every_steps >= {self.trainer.max_steps // (MAX_STEPWISE_EVALUATIONS - 1)}"
            )
        return self

    @property
    def batch(self) -> BatchPlan:
        return plan_batch(self.trainer.global_batch_size, self.hardware.world_size, self.hardware.max_per_device_batch)

    @property
    def planned_evaluations(self) -> int | None:
        """Step-wise evaluations the job plans: step 0 and every eval.every_steps up to max_steps (None: off)."""
        every = self.eval.every_steps
        return self.trainer.max_steps // every + 1 if every else None

    def degradation_levels(self) -> dict[str, Any]:
        """Keyword arguments for openrs.selection.degradation.analyse: the selection's levels and the planned
        evaluations."""
        return {"alpha": self.selection.alpha, "persistence": self.selection.persistence,
                "looks": self.planned_evaluations, "variation": self.selection.checkpoint_variation}  # fmt: skip


