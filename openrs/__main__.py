"""`python -m openrs`: compose a GRPO job from conf/, validate it, and run it.

python -m openrs +experiment=exp3 reward=cosine --cfg job   # resolved config, no torch import
python -m openrs +experiment=exp2 hardware=a40x4 dry_run=true
"""

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import hydra
from omegaconf import DictConfig, OmegaConf

from openrs import CONF_DIR, TRAINING_CONFIG
from openrs.base.errors import ConfigError
from openrs.base.redaction import redact
from openrs.config.job import JobConfig
from openrs.model.lookup import estimated_parameters
from openrs.resolve.auto_hardware import vllm_cpu_prepacks
from openrs.resolve.load import load_job
from openrs.resolve.output_dir import remove_unused
from openrs.resolve.rerun import check_owned, check_rerun
from openrs.run_folder import (
    FINAL_DIR,
    JOB_FILE,
    PRUNED_MARKER,
    SELECTION_MD,
    SLURM_JOBS,
    claim,
    full_disk,
    resume_checkpoint,
)
from openrs.train import preemption

# Set once Hydra has composed the config and started the job (main). A plain dict, not a threading.Event:
# launchers such as submitit pickle main with this module's globals, and a lock cannot be pickled.
_started = {"job": False}


def describe(job: JobConfig) -> str:
    """A few lines saying what the job will do: model, data, rewards, batch split, lengths."""
    b, t, hw = job.batch, job.trainer, job.hardware
    sources = ", ".join(
        f"{s.path}" + (f" x{s.count}" if s.count else f" x{s.fraction:.0%}" if s.fraction else "")
        for s in job.data.sources
    )
    model = job.model.name_or_path
    if job.model.tiny is not None or job.model.scaled is not None:  # built here: the name is only its architecture
        params = estimated_parameters(job.model.model_dump())
        size = f"{params / 1e6:.1f}M parameters" if params else "size unknown"
        how = "warm-started on arithmetic" if job.model.tiny else "randomly initialised"
        model = f"{'openrs tiny model' if job.model.tiny else model + ' scaled down'} ({size}, {how})"
    rewards = " + ".join(f"{w:g}*{f}" for f, w in zip(job.reward.funcs, job.reward.weights, strict=True))
    return "\n".join(
        [
            f"job {job.name}: {model} on {sources}",
            f"  rewards   {rewards}",
            f"  batch     {t.global_batch_size} completions/step = {t.global_batch_size // t.num_generations} "
            f"prompts x {t.num_generations} = {b.per_device} per device x {b.world_size} processes x "
            f"{b.accumulation} accumulation",
            f"  lengths   prompt <= {job.length.max_prompt_length}, completion <= "
            f"{job.length.max_completion_length}, context {job.length.max_model_length} tokens",
            f"  schedule  {t.max_steps} steps, lr {t.learning_rate:g} ({t.lr_scheduler_type}), "
            f"checkpoint every {t.save_steps}",
            f"  hardware  {hw.accelerator}, {hw.dtype}, vLLM {hw.vllm_mode or 'off'}, "
            f"DeepSpeed {hw.deepspeed or 'off'}" + (f" ({hw.detected})" if hw.detected else ""),
            f"  output    {job.output_dir}",
        ]
    )


# Why vLLM on a CPU cannot train (tests/e2e/test_vllm.py shows both failures): where it can, it generates for
# evaluation and curation, and colocated for training on a processor where vLLM keeps its weights (README).
CPU_VLLM_CANNOT_TRAIN = {
    mode: f"hardware.vllm_mode={mode} on a CPU: {why}, so training could never update vLLM's copy of the policy. "
    "Train on a CPU with hardware.vllm_mode=null (transformers generates); vLLM on a CPU serves python -m "
    "openrs.evaluation and curation's judge"
    for mode, why in [
        ("colocate", "on this processor (AVX-512: oneDNN has a bfloat16 matmul) vLLM's CPU backend prepacks its "
                     "linear weights and drops the parameters TRL loads new weights into"),
        ("server", "TRL sends weights to a vLLM server over NCCL, which needs CUDA"),
    ]
}


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=TRAINING_CONFIG)
def main(cfg: DictConfig) -> float | None:
    _started["job"] = True
    # From here a signal is held until the folder, job.yaml and MLflow run are written, then stops the job.
    preemption.handler.install()
    try:
        job = load_job(cfg)  # every row of every local data source included
        mode = job.hardware.vllm_mode
        if job.hardware.accelerator == "cpu" and (mode == "server" or (mode == "colocate" and vllm_cpu_prepacks())):
            raise ConfigError(CPU_VLLM_CANNOT_TRAIN[mode])
        if not job.dry_run:
            from openrs.model.lookup import check_available

            check_available(job.model)  # before the run folder and the MLflow run, in seconds
            if job.hardware.accelerator == "gpu":
                from openrs.train.launch import visible_gpus

                visible_gpus(job.hardware)  # the GPUs this job was given are enough for its preset
        # Resolved once (the ranks and the MLflow run get it from here); a resume target without a complete
        # checkpoint stops the job before its folder is made.
        checkpoint = resume_checkpoint(job)
        # The folder is this job's until it ends (another job there stops here), and its run is never mixed.
        check_owned(Path(job.output_dir), job.tracking.uri)
        folder = claim(Path(job.output_dir), f"openrs job {job.name}")
    except ConfigError as err:
        _fail(err, 2)
    with folder:
        try:
            check_rerun(job.model_dump(), Path(job.output_dir))
        except ConfigError as err:
            _fail(err, 2)
        return _run(job, checkpoint)


def _run(job: JobConfig, checkpoint: Path | None) -> float | None:
    """The job, resumed from `checkpoint` when not None, once every check has passed (reaching MLflow is the
    last): only now is the output folder written to. Returns the selected checkpoint's score."""
    out = Path(job.output_dir)
    print(describe(job))
    if job.dry_run:
        _write_job(job)
        print(f"dry run: resolved config written to {out / JOB_FILE}")
        return None
    run_log, finished_before = _open_run(job, checkpoint) if job.tracking.uri is not None else (None, False)
    _write_job(job)
    (out / PRUNED_MARKER).unlink(missing_ok=True)  # a pruned trial's, resumed: only this job's pruner says now
    if (slurm_job := _record_slurm_attempt(out)) is not None and run_log is not None:
        run_log.set_tags({"openrs.slurm_job_id": slurm_job})
    requeue = _on_slurm_warning()
    status = "FAILED"
    try:
        code = _train(job, checkpoint)
        if code == job.requeue_exit_code:
            status = "KILLED"
            if run_log is not None:  # closed before requeue(), which may end this process
                run_log.finish("FINISHED" if finished_before else status)
                run_log = None
            requeue()
            sys.exit(code)  # preempted: the whole sweep stops too, to be requeued
        if code:
            raise _RanksFailed(code)
        from openrs.selection.checkpoint import select

        selection = select(out)
        if (out / PRUNED_MARKER).exists():
            import optuna

            status = "KILLED"
            raise optuna.TrialPruned(f"pruned by the Optuna study; checkpoint and selection are in {out}")
        status = "FINISHED"
    except Exception as err:
        if run_log is not None and not finished_before:
            run_log.set_tags({"openrs.error": f"{type(err).__name__}: {err}"[:5000]})
        if isinstance(err, ConfigError):  # a hub data source, checked as it loads (still before the model)
            _fail(err, 2)
        if (space := full_disk(out, err)) is not None:
            _fail(RuntimeError(f"no space left on device ({space}; {type(err).__name__}: {str(err)[:200]}): free "
                               "space, then rerun with resume=true, which continues from the newest complete "
                               "checkpoint (a half-written one is skipped)"), 2)  # fmt: skip
        if isinstance(err, _RanksFailed):
            _fail(err, err.code)
        raise
    finally:
        if run_log is not None:
            # A rerun of a finished run (resume=true on its folder) never changes its status.
            run_log.finish("FINISHED" if finished_before else status)
    written = [what for what, name in (("checkpoints", "checkpoint-*"), ("the final model", FINAL_DIR),
                                       (SELECTION_MD, SELECTION_MD)) if any(out.glob(name))]  # fmt: skip
    print(f"openrs: done; {out} holds {', '.join(written) or 'no checkpoint'}")
    # Hydra hands the return value to sweepers: the selected checkpoint's score is what a search maximises.
    return selection.best_score if selection is not None else None


class _RanksFailed(RuntimeError):
    def __init__(self, code: int):
        super().__init__(f"the training processes exited with code {code}; their output is above")
        self.code = code


def _write_job(job: JobConfig) -> None:
    out = Path(job.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(job.model_dump(), out / JOB_FILE)


def _record_slurm_attempt(out: Path) -> str | None:
    """Under SLURM: this attempt's job id, appended to OUTPUT_DIR/slurm_jobs.txt with its id in a job array (as
    squeue and submitit name it: ARRAY_TASK), its restart count (a requeued job keeps its id), the GPUs SLURM
    granted it, host and start time; None elsewhere."""
    job_id, env = os.environ.get("SLURM_JOB_ID"), os.environ
    if job_id is None:
        return None
    array = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}" if "SLURM_ARRAY_JOB_ID" in env else job_id
    start = datetime.now().isoformat(timespec="seconds")
    with open(out / SLURM_JOBS, "a") as f:
        f.write(f"{job_id} array={array} restart={env.get('SLURM_RESTART_COUNT', '0')} "
                f"gpus={env.get('SLURM_GPUS_ON_NODE', '0')} host={socket.gethostname()} start={start}\n")  # fmt: skip
    return job_id


def _open_run(job: JobConfig, checkpoint: Path | None):
    """Open the job's MLflow run (or reattach to the run of `checkpoint`) before anything heavy loads; exit 2 when
    unreachable. Returns the RunLog and whether the run had finished before (a rerun of a finished run)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from openrs.tracking.run_log import RunLog
    from openrs.tracking.run_start import resumed_status, start_run

    hydra_cfg = HydraConfig.get()
    sweep = Path(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None
    try:
        finished_before = resumed_status(checkpoint) == "FINISHED"
        start_run(job, dict(hydra_cfg.runtime.choices), list(hydra_cfg.overrides.task), sweep, resumed_from=checkpoint)
    except ConfigError as err:
        _fail(err, 2)
    return RunLog(Path(job.output_dir)), finished_before


def _fail(err: Exception, code: int) -> NoReturn:
    """Exit with the message and code; in a sweep, raise instead: Hydra then records this job as failed and
    runs the others."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.get().mode == RunMode.MULTIRUN:
        raise err
    remove_unused(Path(HydraConfig.get().runtime.output_dir))
    print(f"openrs: {redact(str(err))}", file=sys.stderr)
    sys.exit(code)


def _on_slurm_warning() -> Callable[[], None]:
    """Under submitit (hydra/launcher=slurm_4gpu) SLURM sends SIGUSR2 signal_delay_s before the time limit, and
    submitit's handler requeues the job and exits at once, before training saves a checkpoint. Send the signal
    down the preemption path instead (SIGTERM to this process: training checkpoints after its current step and
    stops), and return what requeues the job once that is done: submitit's handler if the warning came, else
    nothing."""
    submitit_handler = signal.getsignal(signal.SIGUSR2)
    if not type(getattr(submitit_handler, "__self__", None)).__module__.startswith("submitit."):
        return lambda: None
    warned = threading.Event()

    def on_warning(signum, frame) -> None:
        print("openrs: SLURM's time-limit warning: checkpointing, then requeueing", file=sys.stderr, flush=True)
        warned.set()
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGUSR2, on_warning)
    return lambda: submitit_handler(signal.SIGUSR2, None) if warned.is_set() else None


def _train(job: JobConfig, checkpoint: Path | None) -> int:
    """Run the job (resumed from `checkpoint` when not None) in this process or as launched ranks; 0 when it
    finished, job.requeue_exit_code when preempted, another exit code when the ranks failed."""
    try:
        preemption.handler.arm()
        if job.hardware.launched:
            from openrs.train.launch import launch

            return launch(job, Path(job.output_dir) / JOB_FILE, checkpoint)
        from openrs.train.recipe import train

        return 0 if train(job, checkpoint) is not None else job.requeue_exit_code
    except preemption.Preempted as stop:
        print(f"openrs: {stop}: nothing to save; resume=true starts it again", file=sys.stderr)
        return job.requeue_exit_code


def run() -> None:
    """The `openrs` command (and `python -m openrs`): main, with Hydra's own input errors exiting 2."""
    try:
        main()
    except SystemExit as stop:
        # Hydra exits 1 on any error before the job starts: an unknown group option (model=nope), a bad
        # override or YAML. Those are bad input, exit 2 like every other.
        if stop.code == 1 and not _started["job"]:
            sys.exit(2)
        raise


if __name__ == "__main__":
    run()
