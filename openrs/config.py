"""Typed schema of a composed openrs job, and its validation.

Defaults live in conf/; these classes only say what each key means and which values are allowed.
`load_job` turns Hydra's DictConfig into a frozen `JobConfig` or raises `ConfigError` with one
message naming the key, the bad value and what would be valid. Nothing here imports torch,
transformers or trl, so a bad config fails in well under a second.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from omegaconf import DictConfig, OmegaConf
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from openrs.errors import ConfigError
from openrs.hardware import resolve_auto

RewardName = Literal[
    "accuracy", "format", "format_tags", "tag_count", "cosine", "repetition_penalty", "soft_overlong", "language"
]
LOCAL_DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")
GENERATED_PREFIX = "arithmetic:"
# The rows a curation run produced (openrs.curate), in its output folder; data.sources may name the folder.
CURATED_FILE = "train.jsonl"
# Training sets shipped with openrs, by the name a data path gives.
SHIPPED_DATA = {"deepscaler_preview": Path(__file__).parent / "train_data" / "deepscaler_preview_40315.jsonl.gz"}


# A name ending in one of these is a file, never a hub dataset id (which a missing file would be tried as).
_FILE_SUFFIXES = (".json", ".jsonl", ".parquet", ".pq", ".csv", ".tsv", ".txt", ".arrow", ".gz", ".bz2", ".xz", ".zst",
                  ".zip", ".tar", ".lz4", ".7z")  # fmt: skip


def is_hub_id(path: str) -> bool:
    """Whether a data path names a hub dataset (`owner/name`) rather than a shipped set, a local file or folder."""
    local = path.startswith((".", "/", "~")) or path.lower().endswith(_FILE_SUFFIXES) or Path(path).exists()
    return path.count("/") <= 1 and not local and path not in SHIPPED_DATA


def local_file(path: str) -> Path | None:
    """The file a data path reads: a shipped set's, the path itself, or the train.jsonl of a curated output
    folder; None for a hub dataset id. Raises ConfigError when a local path has no such file."""
    if path in SHIPPED_DATA:
        return SHIPPED_DATA[path]
    if is_hub_id(path):
        return None
    local = Path(path).expanduser()
    file = local / CURATED_FILE if local.is_dir() else local
    if not file.is_file():
        raise ConfigError(f"{path}: no such file, nor a curated folder with {CURATED_FILE}; "
                          "for a hub dataset give its id, owner/name")  # fmt: skip
    return file


def read_rows(path: Path) -> Iterator[dict]:
    """The rows of a local data file, lazily (its first row costs one line): JSON lines (.jsonl, or gzipped
    .jsonl.gz), a JSON array of rows (.json) or Parquet. Raises ConfigError naming the file (and line) that
    cannot be read."""
    return (row for _, row in numbered_rows(path))


def numbered_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, row) for each row of a local data file (read_rows), where = `file:line` for JSON lines, else
    `file row N` (N from 1)."""
    try:
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError as err:
                            problem = f"not valid JSON ({err.msg}, column {err.pos + 1})"  # pos: the line may end in \n
                            raise ConfigError(f"{path}:{number}: {problem}") from None
                        yield f"{path}:{number}", row
        elif path.suffix == ".json":
            try:
                rows = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                at = f"line {err.lineno}: {err.msg}, column {err.colno}"
                raise ConfigError(f"{path}: not a JSON array of rows; JSON lines go in a .jsonl file ({at})") from None
            if not isinstance(rows, list):
                raise ConfigError(f"{path}: not a JSON array of rows; JSON lines go in a .jsonl file")
            yield from ((f"{path} row {i}", row) for i, row in enumerate(rows, 1))
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            start = 1
            for batch in pq.ParquetFile(path).iter_batches():
                yield from ((f"{path} row {i}", row) for i, row in enumerate(batch.to_pylist(), start))
                start += batch.num_rows
        else:
            raise ConfigError(f"{path}: unknown data file kind; use one of {', '.join(LOCAL_DATA_SUFFIXES)}")
    except ConfigError:
        raise
    except (OSError, EOFError, ValueError) as err:  # not gzip, cut short, not UTF-8, not Parquet
        raise ConfigError(f"{path}: cannot be read as a {path.name.partition('.')[2]} file ({err})") from None


def check_row(row: Any, where: str, problem_column: str, answer_column: str) -> None:
    """Raise ConfigError unless row is an object with problem text and an answer column (a null or empty answer
    is allowed: such rows are dropped and counted when the mix is built)."""
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: a row must be an object with {problem_column!r} and {answer_column!r}, "
                          f"not {type(row).__name__}")  # fmt: skip
    for key, column in (("problem_column", problem_column), ("answer_column", answer_column)):
        if column not in row:
            raise ConfigError(f"{where}: no data.{key}={column!r} column; this row has {list(row)}: fix the row "
                              f"or set data.{key}")  # fmt: skip
    problem = row[problem_column]
    if not isinstance(problem, str) or not problem.strip():
        raise ConfigError(f"{where}: {problem_column!r} is {problem!r}, not a problem's text: fix or remove the row")


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class TinyModelConfig(_Schema):
    """Shape and warm start of the embedded default model (openrs.tiny)."""

    hidden_size: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    num_layers: int = Field(gt=0)
    num_heads: int = Field(gt=0)
    """Attention heads; hidden_size / num_heads >= 32 so that vLLM can load the model."""
    num_kv_heads: int = Field(gt=0)
    max_positions: int = Field(gt=0)
    """Context in tokens (characters)."""
    warm_start_steps: int = Field(ge=0)
    """Supervised steps on generated arithmetic before RL."""
    warm_start_lr: float = Field(gt=0)
    warm_start_batch: int = Field(gt=0)
    warm_start_problems: int = Field(gt=0)
    """Problems per level drawn for the warm start (train split)."""
    seed: int


class ScaledModelConfig(_Schema):
    """A randomly initialised, scaled-down copy of a real architecture (openrs.miniature): the model's own
    config.json, tokenizer and chat template with these sizes."""

    hidden_size: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    num_hidden_layers: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    """hidden_size / num_attention_heads >= 32 so that vLLM can load the model."""
    num_key_value_heads: int = Field(gt=0)
    seed: int
    """Seed of the random initialisation."""


class ModelConfig(_Schema):
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


class DataSource(_Schema):
    path: str
    """Hub dataset id, a local .jsonl/.jsonl.gz/.json/.parquet file, an output folder of `python -m openrs.curate`,
    `deepscaler_preview` (the DeepScaleR-Preview copy shipped with openrs), or `arithmetic:easy` / `arithmetic:hard`
    (generated problems, openrs.arithmetic)."""
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
    def _one_size(self) -> DataSource:
        if self.generated_level is not None and self.generated_level not in ("easy", "hard"):
            raise ValueError(f"path={self.path!r}: generated sources are arithmetic:easy and arithmetic:hard")
        if self.count is not None and self.fraction is not None:
            raise ValueError(f"set count or fraction, not both (count={self.count}, fraction={self.fraction})")
        return self


class DataConfig(_Schema):
    sources: list[DataSource] = Field(min_length=1)
    """The training mix: one entry per source, drawn with `seed` and concatenated."""
    problem_column: str
    """Column holding the problem text, in every source."""
    answer_column: str
    """Column holding the gold final answer (not a worked solution), in every source."""
    seed: int
    """Seed of the draw from each source."""


class PromptConfig(_Schema):
    system: str
    """System prompt placed before each problem; rendered with the model's chat template."""


class CosineParams(_Schema):
    min_value_wrong: float
    """Reward of a wrong answer of length 0."""
    max_value_wrong: float
    """Reward of a wrong answer at max_len (paper: -0.5)."""
    min_value_correct: float
    """Reward of a correct answer at max_len."""
    max_value_correct: float
    """Reward of a correct answer of length 0."""
    max_len: int = Field(gt=0)
    """Length at which the cosine reaches its end value, in `length_unit`."""
    length_unit: Literal["tokens", "chars"]
    """tokens (clamped to max_len) or chars (the original code's unclamped behaviour)."""


class RepetitionParams(_Schema):
    ngram_size: int = Field(gt=0)
    """n of the repeated n-grams counted, in words."""
    max_penalty: float = Field(le=0)
    """Reward when every n-gram repeats; 0 turns the penalty off."""


class SoftOverlongParams(_Schema):
    buffer: int = Field(gt=0)
    """Tokens before max_len over which the penalty ramps from 0 to -1."""
    max_len: int = Field(gt=0)
    """Completion cap in tokens."""


class LanguageParams(_Schema):
    expected: Literal["en", "zh"]
    """Language whose script share of the completion is rewarded."""


class GradingParams(_Schema):
    timeout_s: float = Field(gt=0)
    """Hard bound on grading one completion (parse + verify), seconds."""
    workers: int | None = Field(gt=0)
    """Grading worker processes; null = number of CPU cores."""
    memory_mb: int = Field(gt=0)
    """Address-space cap per grading worker, MiB; a runaway computation fails there as an error."""
    max_answer_chars: int = Field(gt=0)
    """Boxed answers longer than this are scored 0 (too_long) without parsing."""


class RewardConfig(_Schema):
    funcs: list[RewardName] = Field(min_length=1)
    """Reward functions by registry name, summed with `weights`."""
    weights: list[float]
    """One weight per reward function."""
    cosine: CosineParams
    repetition_penalty: RepetitionParams
    soft_overlong: SoftOverlongParams
    language: LanguageParams
    grading: GradingParams

    @model_validator(mode="after")
    def _weights_match(self) -> RewardConfig:
        if len(self.weights) != len(self.funcs):
            raise ValueError(
                f"reward.weights has {len(self.weights)} entries {self.weights} but reward.funcs has "
                f"{len(self.funcs)} {self.funcs}: give one weight per reward function"
            )
        return self


class LengthConfig(_Schema):
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


class TrainerConfig(_Schema):
    learning_rate: float = Field(gt=0)
    lr_scheduler_type: Literal["cosine_with_min_lr", "cosine", "linear", "constant", "constant_with_warmup"]
    min_lr_rate: float = Field(ge=0, le=1)
    """Floor of cosine_with_min_lr as a share of learning_rate."""
    warmup_ratio: float = Field(ge=0, lt=1)
    max_steps: int = Field(gt=0)
    """Optimizer steps."""
    global_batch_size: int = Field(gt=0)
    """Completions per optimizer step over all ranks (prompts per step x num_generations)."""
    num_generations: int = Field(gt=1)
    """Completions sampled per prompt; GRPO's group size."""
    temperature: float = Field(gt=0)
    top_p: float = Field(gt=0, le=1)
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
    weight_decay: float = Field(ge=0)
    gradient_checkpointing: bool
    save_steps: int = Field(gt=0)
    """Optimizer steps between checkpoints."""
    logging_steps: int = Field(gt=0)
    log_completions: bool

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


class EvalConfig(_Schema):
    benchmarks: list[str] = Field(min_length=1)
    """Shipped names (aime24, amc23, math500, minerva_math, olympiadbench), arithmetic:easy / arithmetic:hard
    (held-out generated problems), local .jsonl/.parquet files or hub ids, with `problem` and `answer`."""
    samples: int = Field(gt=0)
    """Samples per problem (k; pass@1 is the mean over them), unless samples_per_benchmark says otherwise."""
    samples_per_benchmark: dict[str, Annotated[int, Field(gt=0)]]
    """Benchmark -> k, for benchmarks that need more (few problems) or fewer samples than `samples`."""
    temperature: float = Field(ge=0)
    top_p: float = Field(gt=0, le=1)
    max_new_tokens: int = Field(gt=0)
    every_steps: int | None = Field(gt=0)
    """Optimizer steps between step-wise evaluations; null turns them off."""
    batch_size: int = Field(gt=0)
    """Sequences per generate call of the transformers backend (vLLM schedules its own batches)."""
    protocol: Literal["openrs", "paper"]
    """How prompts are built and answers graded. `openrs`: the training prompt (the `prompt` group's system
    prompt + the problem) and the rewards' grading (the last `\\boxed{}`, openrs.answers rules). `paper`: the
    Open-RS paper's lighteval protocol (openrs.paper_protocol): no system prompt, lighteval's
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


class TrackingConfig(_Schema):
    uri: str | None
    """MLflow tracking URI (sqlite:///file.db, relative to the working directory, or http://host:port);
    null disables tracking."""
    experiment: str | None
    """MLflow experiment name; null uses the job's `name`."""
    serve: str | None
    """Backend store (e.g. sqlite:///outputs/mlflow.db) of an `mlflow server` that openrs starts on 127.0.0.1
    at uri's port when nothing answers there, so parallel jobs never write one SQLite file at once; null
    never starts one."""
    registered_model: str | None
    """Model registry name for selected checkpoints; null uses the experiment name."""

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


class SelectionConfig(_Schema):
    alpha: float = Field(gt=0, lt=1)
    """Chance that a run whose true score never drops is declared degraded (openrs.degradation), over all
    its step-wise evaluations."""
    persistence: int = Field(ge=1)
    """Step-wise evaluations from the onset on that must show a drop before degradation is confirmed."""
    checkpoint_variation: float = Field(ge=0, lt=1)
    """Largest standard deviation of the true score from checkpoint to checkpoint (a fraction) for which
    alpha holds; the detector estimates the run's own from its evaluations."""
    early_stop: bool
    """Stop training at the evaluation that confirms degradation (checkpointing that step)."""
    alias: str = Field(min_length=1)
    """Model registry alias moved to the best-scoring registered checkpoint."""


class HardwareConfig(_Schema):
    accelerator: Literal["cpu", "gpu"]
    num_machines: int = Field(gt=0)
    gpus_per_machine: int = Field(ge=0)
    num_processes: int = Field(gt=0)
    """Training processes per machine."""
    max_per_device_batch: int = Field(gt=0)
    """Most completions one process holds in a micro-batch."""
    dtype: Literal["float32", "bfloat16", "float16"]
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"]
    vllm_mode: Literal["colocate", "server"] | None
    """null: transformers generates; colocate: vLLM inside each rank; server: vLLM on its own GPU."""
    vllm_gpu_memory_utilization: float = Field(ge=0, le=1)
    """Share of each GPU's memory (of the machine's memory on a CPU) a vLLM engine takes for weights and KV cache."""
    vllm_enforce_eager: bool
    """The vLLM engines openrs starts itself (evaluation, curation's judge, server mode's server; not TRL's colocated
    engine) skip graph compilation: they start faster and generate slower (the tiny model's engine on 2 CPU cores:
    30 s instead of 70 s to start, 4% fewer tokens per second; benchmarks/vllm_cpu.py)."""
    deepspeed: Literal["zero2", "zero3"] | None
    """DeepSpeed ZeRO stage (config in conf/deepspeed/), or null."""
    gpu_hourly_usd: float | None = Field(ge=0)
    """Price of one GPU for one hour, US dollars, for the cost of a run; null reports no cost."""
    machine_rank: int = Field(ge=0)
    """This machine's rank in a multi-machine job."""
    main_process_ip: str
    main_process_port: int | None = Field(gt=0, lt=65536)
    """Where rank 0 listens; null on one machine: a free port, chosen when the job launches."""
    vllm_server_port: int | None = Field(gt=0, lt=65536)
    """The vLLM server's HTTP port on this machine (vllm_mode=server); null: a free one, chosen at launch."""
    vllm_group_port: int | None = Field(gt=0, lt=65536)
    """The port the ranks send weights to the vLLM server through; null: a free one, chosen at launch."""
    detected: str | None = None
    """Written by hardware=auto (openrs.hardware): what it found and the layout it chose; not a setting."""

    @property
    def launched(self) -> bool:
        """Whether the job runs as children (accelerate ranks, a vLLM server) rather than in-process."""
        return self.world_size > 1 or self.vllm_mode == "server"

    @property
    def world_size(self) -> int:
        """Training processes over all machines."""
        return self.num_machines * self.num_processes

    @property
    def gpus(self) -> int:
        """GPUs the job holds over all machines (0 on a CPU)."""
        return self.num_machines * self.gpus_per_machine if self.accelerator == "gpu" else 0

    @model_validator(mode="after")
    def _consistent(self) -> HardwareConfig:
        if self.accelerator == "cpu" and self.dtype != "float32":
            raise ValueError(f"hardware.accelerator=cpu runs float32, but dtype={self.dtype}: use dtype=float32")
        if self.vllm_mode is not None and self.vllm_gpu_memory_utilization == 0:
            raise ValueError(
                f"hardware.vllm_mode={self.vllm_mode} needs hardware.vllm_gpu_memory_utilization > 0 (the share of "
                "memory a vLLM engine takes), e.g. 0.3"
            )
        if self.num_machines > 1 and self.main_process_port is None:
            raise ValueError(
                f"hardware.num_machines={self.num_machines} needs hardware.main_process_port, the same on every machine"
            )
        needed = self.num_processes + (1 if self.vllm_mode == "server" else 0)
        if self.accelerator == "gpu" and needed > self.gpus_per_machine:
            raise ValueError(
                f"hardware needs {needed} GPUs per machine ({self.num_processes} training"
                f"{' + 1 vLLM server' if self.vllm_mode == 'server' else ''}) but gpus_per_machine="
                f"{self.gpus_per_machine}"
            )
        return self


class BatchPlan(BaseModel):
    """How one optimizer step's completions are split: per_device x world_size x accumulation."""

    per_device: int
    world_size: int
    accumulation: int


def plan_batch(global_batch: int, world_size: int, max_per_device: int) -> BatchPlan:
    """Split `global_batch` completions over `world_size` ranks with the fewest accumulation steps.

    Raises ConfigError when no per-device batch <= max_per_device reaches global_batch exactly.
    """
    for accumulation in range(1, global_batch + 1):
        per_rank_step, rest = divmod(global_batch, world_size * accumulation)
        if rest == 0 and per_rank_step <= max_per_device:
            return BatchPlan(per_device=per_rank_step, world_size=world_size, accumulation=accumulation)
    raise ConfigError(
        f"trainer.global_batch_size={global_batch} cannot be split exactly over {world_size} training "
        f"processes with at most hardware.max_per_device_batch={max_per_device} completions each: choose a "
        f"global batch that is a multiple of {world_size}, or a hardware preset with a process count "
        f"that divides {global_batch}"
    )


# openrs.degradation simulates its thresholds for the planned evaluations in O(n^3) time (once per ratio of
# selection.checkpoint_variation to the sampling error, rounded): 618 s for 101 on 2 busy shared CPU cores.
MAX_STEPWISE_EVALUATIONS = 101


class JobConfig(_Schema):
    """One composed openrs job, validated."""

    name: str = Field(min_length=1)
    """Experiment name: MLflow experiment and output folder."""
    seed: int
    dry_run: bool
    """Validate, print the plan and write the resolved config, but load nothing."""
    resume: bool | str
    """false, true (newest complete checkpoint in output_dir) or a checkpoint path."""
    requeue_exit_code: int = Field(ge=0, le=255)
    """Exit code after SIGTERM was handled by saving a checkpoint (for cluster requeue)."""
    output_dir: str
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
        """Keyword arguments for openrs.degradation.analyse: the selection's levels and the planned evaluations."""
        return {"alpha": self.selection.alpha, "persistence": self.selection.persistence,
                "looks": self.planned_evaluations, "variation": self.selection.checkpoint_variation}  # fmt: skip

    def grpo_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for trl.GRPOConfig, everything the job fixes (lengths in tokens)."""
        from dataclasses import fields

        from transformers import TrainingArguments

        t, hw, batch = self.trainer, self.hardware, self.batch
        # Later transformers 5 releases renamed gradient_checkpointing* (the old names warn; TRL reads the mirrored
        # old names); the gpu extra's vLLM pins a transformers that has only the old ones.
        renamed = "activation_checkpointing" in {f.name for f in fields(TrainingArguments)}
        checkpointing = "activation_checkpointing" if renamed else "gradient_checkpointing"
        kwargs: dict[str, Any] = dict(
            output_dir=self.output_dir,
            seed=self.seed,
            learning_rate=t.learning_rate,
            lr_scheduler_type=t.lr_scheduler_type,
            # transformers 5 takes a float in [0, 1) here as a share of max_steps.
            warmup_steps=t.warmup_ratio,
            max_steps=t.max_steps,
            per_device_train_batch_size=batch.per_device,
            gradient_accumulation_steps=batch.accumulation,
            num_generations=t.num_generations,
            temperature=t.temperature,
            top_p=t.top_p,
            beta=t.beta,
            epsilon=t.epsilon,
            epsilon_high=t.epsilon_high,
            num_iterations=t.num_iterations,
            loss_type=t.loss_type,
            scale_rewards=t.scale_rewards,
            mask_truncated_completions=t.mask_truncated_completions,
            use_bias_correction_kl=t.use_bias_correction_kl,
            optim=t.optim,
            average_tokens_across_devices=t.average_tokens_across_devices,
            max_grad_norm=t.max_grad_norm,
            weight_decay=t.weight_decay,
            **{checkpointing: t.gradient_checkpointing,
               f"{checkpointing}_kwargs": {"use_reentrant": False} if t.gradient_checkpointing else None},
            save_strategy="steps",
            save_steps=t.save_steps,
            logging_steps=t.logging_steps,
            logging_first_step=True,
            log_completions=t.log_completions,
            max_completion_length=self.length.max_completion_length,
            reward_weights=list(self.reward.weights),
            bf16=hw.dtype == "bfloat16",
            fp16=hw.dtype == "float16",
            use_vllm=hw.vllm_mode is not None,
            # openrs logs to MLflow itself (rank 0, its own run layout).
            report_to=[],
        )
        if hw.accelerator == "cpu" and hw.deepspeed:
            # Without it accelerate finds no backend on a machine without GPUs and counts one process, while
            # DeepSpeed's CPU accelerator joins all ranks: its batch check then fails.
            kwargs["ddp_backend"] = "gloo"
        if t.lr_scheduler_type == "cosine_with_min_lr":
            kwargs["lr_scheduler_kwargs"] = {"min_lr_rate": t.min_lr_rate}
        if hw.vllm_mode is not None:
            kwargs.update(
                vllm_mode=hw.vllm_mode,
                vllm_gpu_memory_utilization=hw.vllm_gpu_memory_utilization,
                vllm_max_model_length=self.length.max_model_length,
                vllm_importance_sampling_correction=t.vllm_importance_sampling_correction,
            )
        if hw.vllm_mode == "server":
            kwargs.update(vllm_server_port=hw.vllm_server_port, vllm_group_port=hw.vllm_group_port)
        return kwargs


def _dotted(loc: tuple[Any, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        # Model-level validators put their full sentence in msg; field errors get key = value prefix.
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "value_error":
            lines.append(msg if not loc else f"{_dotted(loc)}: {msg}")
        elif e["type"] == "extra_forbidden":
            lines.append(f"{_dotted(loc)}: unknown key; valid keys are listed by --cfg job for this group")
        elif e["type"] == "missing":
            lines.append(f"{_dotted(loc)}: missing; add it to the group's YAML or pass {_dotted(loc)}=VALUE")
        else:
            lines.append(f"{_dotted(loc)}={e.get('input')!r}: {msg}")
    return "invalid config:\n  " + "\n  ".join(lines)


class CurateSource(_Schema):
    """One source of a curated training set (openrs.curate)."""

    name: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    """Label of its rows (`source` column, the mix's counts, the manifest)."""
    path: str
    """`deepscaler_preview` (the DeepScaleR-Preview copy shipped with openrs), a local .jsonl/.jsonl.gz/.json/.parquet
    file, an output folder of an earlier curation (or one of its step files), or a hub dataset id."""
    split: str
    """Split of a hub dataset (local files have one, `train`)."""
    problem_column: str
    answer_column: str | None
    """Column holding the final answer; null when the `boxed` step takes it from the solution."""
    solution_column: str | None
    """Column holding a worked solution (for `boxed`), or null."""


class BoxedStep(_Schema):
    step: Literal["boxed"]
    """Keep rows whose solution has a \\boxed{} answer; the last one becomes `answer` (rows of sources without
    solution_column pass unchanged)."""


class AnsweredStep(_Schema):
    step: Literal["answered"]
    """Drop rows whose problem has no letter nor digit, or whose answer is missing or empty."""


class DedupeStep(_Schema):
    step: Literal["dedupe"]
    """Keep the first row of each problem, exact or identical up to case, spacing, punctuation and LaTeX layout
    (openrs.curate.normalized: operators and digits count)."""
    conflicting: Literal["drop", "keep_first"]
    """Duplicates whose answers differ: drop every row of the problem (its gold is in doubt), or keep the first."""


class DecontaminateStep(_Schema):
    step: Literal["decontaminate"]
    """Drop rows matching a benchmark problem exactly (up to case, spacing, punctuation and LaTeX layout, as
    `dedupe` compares) or by word n-grams."""
    benchmarks: list[str] = Field(min_length=1)
    """Benchmarks to protect (openrs.evaluation.load_benchmark names or files)."""
    ngram: int = Field(gt=0)
    """Words per n-gram."""
    threshold: float = Field(gt=0, le=1)
    """Share of a training problem's n-grams found in one benchmark problem that makes it a match."""


class DifficultyStep(_Schema):
    step: Literal["difficulty"]
    """Sample each problem `samples` times with the config's model, grade, and keep it when its pass rate
    falls in one of `bands`, labelling its `level` with the band's name."""
    sample: int | None = Field(gt=0)
    """Judge only this many rows, drawn with the seed (the rest are dropped); null judges every row."""
    samples: int = Field(gt=0)
    temperature: float = Field(ge=0)
    top_p: float = Field(gt=0, le=1)
    max_new_tokens: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    """Sequences per generate call of the transformers backend."""
    bands: dict[str, tuple[float, float]] = Field(min_length=1)
    """Level name -> [low, high] pass rate, both inclusive, e.g. {hard: [0.0, 0.75], easy: [0.75, 1.0]}."""

    @model_validator(mode="after")
    def _bands(self) -> DifficultyStep:
        for name, (low, high) in self.bands.items():
            if not 0 <= low <= high <= 1:
                raise ValueError(f"bands.{name}=[{low}, {high}]: need 0 <= low <= high <= 1")
        return self


class MixCount(_Schema):
    source: str
    level: str | None
    """A band of the difficulty step, or null for any level. Without a difficulty step, the level the rows of a
    curated source carry."""
    count: int | None = Field(gt=0)
    """Rows to draw; null takes every row of the source and level, in order."""


class MixStep(_Schema):
    step: Literal["mix"]
    """Draw the final set: `count` rows of each (source, level), with the seed, in the listed order."""
    counts: list[MixCount] = Field(min_length=1)


CurateStep = Annotated[
    BoxedStep | AnsweredStep | DedupeStep | DecontaminateStep | DifficultyStep | MixStep, Field(discriminator="step")
]


class CurateConfig(_Schema):
    """A curation pipeline (python -m openrs.curate): sources read, then named steps in order."""

    sources: list[CurateSource] = Field(min_length=1)
    steps: list[CurateStep] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _in_order(cls, steps: list) -> list:
        order = [s.step for s in steps]
        if order.count("mix") > 1:
            raise ValueError("one 'mix' step at most, the last: it draws the final set; remove the others")
        if "mix" in order[:-1]:
            raise ValueError(f"'mix' must be the last step; move it after {order[-1]!r}")
        if "difficulty" in order:
            first = order.index("difficulty")
            if late := [s for s in ("boxed", "answered") if s in order[first:]]:
                raise ValueError(f"'difficulty' grades answers, so {late[0]!r} must come before it; move {late[0]!r} "
                                 "before 'difficulty'")  # fmt: skip
        bands = [set(s.bands) for s in steps if isinstance(s, DifficultyStep)]
        if bands and order[-1] == "mix":  # without a difficulty step, levels are those of curated sources
            for j, c in enumerate(steps[-1].counts):
                if c.level is not None and c.level not in bands[-1]:
                    raise ValueError(f"mix counts[{j}].level={c.level!r} is no band of the difficulty step; use one "
                                     f"of {sorted(bands[-1])} or null")  # fmt: skip
        return steps

    @model_validator(mode="after")
    def _consistent(self) -> CurateConfig:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"curate.sources: names must differ, got {names}")
        if missing := [s.name for s in self.sources if s.answer_column is None and s.solution_column is None]:
            raise ValueError(f"sources {missing} name neither answer_column nor solution_column")
        no_answer = [s.name for s in self.sources if s.answer_column is None]
        if no_answer and "boxed" not in [s.step for s in self.steps]:
            raise ValueError(f"sources {no_answer} have answer_column=null: add a `boxed` step or name the column")
        for step in self.steps:
            if isinstance(step, MixStep):
                unknown = sorted({c.source for c in step.counts} - set(names))
                if unknown:
                    raise ValueError(f"mix counts name sources {unknown}; the sources are {names}")
        return self


def check_local_columns(data: DataConfig) -> None:
    """Fail fast when a local source is missing, cannot be read, is empty, or has a row that lacks the configured
    problem/answer columns or problem text (check_row): every row of every local source, before anything loads.

    Hub sources are checked when they load (still before the model)."""
    for i, source in enumerate(data.sources):
        if source.generated_level is not None:
            continue
        try:
            path = local_file(source.path)
            if path is None:
                continue
            rows = 0
            for where, row in numbered_rows(path):
                check_row(row, where, data.problem_column, data.answer_column)
                rows += 1
        except ConfigError as err:
            raise ConfigError(f"data.sources[{i}].path: {err}") from None
        if not rows:
            raise ConfigError(f"data.sources[{i}].path: {path} is empty (no rows)")


def load_job(cfg: DictConfig | dict[str, Any], *, trains: bool = True) -> JobConfig:
    """Validate a composed config (Hydra DictConfig or plain dict) into a JobConfig.

    Raises ConfigError with every problem found, each naming key, bad value and the valid choices. trains=False
    (curation without a judge) accepts a model that hardware=auto would not train on this machine."""
    raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    raw, hardware_refusal = resolve_auto({k: v for k, v in raw.items() if k != "hydra"})
    try:
        job = JobConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None
    check_local_columns(job.data)
    if hardware_refusal is not None and trains:
        raise ConfigError(hardware_refusal)
    job.batch  # noqa: B018 - raises ConfigError when the hardware cannot reach the global batch
    return job
