"""A Hydra launcher that runs a sweep's jobs side by side on one node, each on its own GPUs.

The node's GPUs (`gpus`; null: CUDA_VISIBLE_DEVICES, else every GPU torch sees) are cut into slots of
`gpus_per_job`. Each job runs in a fresh process whose CUDA_VISIBLE_DEVICES is one free slot; when a job
ends its slot takes the next job. Two jobs never share a GPU, and a failing job does not stop the others.
A job whose launcher dies (killed, even by SIGKILL) gets SIGTERM: it checkpoints and ends rather than hold
its GPUs as an orphan. Config: conf/hydra/launcher/gpu_slots.yaml.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cloudpickle
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from omegaconf import OmegaConf, open_dict

log = logging.getLogger(__name__)


def slots(gpus: Sequence[int | str] | None, gpus_per_job: int) -> list[str]:
    """The node's GPU ids cut into groups of gpus_per_job, as CUDA_VISIBLE_DEVICES values: ["0,1", "2,3"]."""
    if gpus is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            gpus = [g for g in visible.split(",") if g]
        else:
            import torch

            gpus = list(range(torch.cuda.device_count()))
    ids = [str(g) for g in gpus]
    if len(set(ids)) != len(ids):
        raise ValueError(f"hydra.launcher.gpus={ids} lists a GPU twice")
    if gpus_per_job < 1 or len(ids) < gpus_per_job:
        raise ValueError(
            f"hydra.launcher.gpus_per_job={gpus_per_job} does not fit the node's {len(ids)} GPUs {ids}: "
            "set hydra.launcher.gpus (the ids to use) or a smaller gpus_per_job"
        )
    return [",".join(ids[i : i + gpus_per_job]) for i in range(0, len(ids) - gpus_per_job + 1, gpus_per_job)]


def _reference(function) -> tuple[str, str]:
    """Module and name the job process imports the task function from. Under `python -m openrs` it is
    `__main__.main`, and a spawned process does not run a package's __main__, so it imports openrs.__main__."""
    module = function.__module__
    spec = getattr(sys.modules[module], "__spec__", None)
    return (spec.name if module == "__main__" and spec is not None else module), function.__qualname__


def _run(payload: bytes, result_pipe, launcher: int) -> None:
    """One job in its own process: Hydra's run_job with CUDA_VISIBLE_DEVICES set to its slot. payload is the
    cloudpickled (hydra_context, task reference, config, overrides, idx, devices, Hydra's singleton state):
    plain pickle cannot carry the resolvers Hydra registers. Sends the job's folder on `result_pipe` (a pipe), then
    its JobReturn, or the error that stopped it before Hydra ran it (a config that does not compose). launcher:
    the launcher's pid, whose end ends the job."""
    from openrs.base.processes import end_with_parent

    end_with_parent(launcher, signal.SIGTERM)
    try:
        _job(payload, result_pipe)
    except SystemExit as exit:  # a preempted job (openrs.__main__): the launcher stops the sweep, to be requeued
        result_pipe.send(SystemExit(exit.code))
    except Exception as err:  # noqa: BLE001 - sent as text: the launcher may not unpickle it
        result_pipe.send(RuntimeError(f"{type(err).__name__}: {err}"))


def _job(payload: bytes, result_pipe) -> None:
    hydra_context, task, config, overrides, idx, devices, singleton_state = cloudpickle.loads(payload)
    task_function = getattr(importlib.import_module(task[0]), task[1])
    setup_globals()
    Singleton.set_state(singleton_state)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
        sweep_config.hydra.job.env_set.CUDA_VISIBLE_DEVICES = devices
    os.environ["CUDA_VISIBLE_DEVICES"] = devices  # before anything in this process touches CUDA
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(sweep_config)
    result_pipe.send(Path(sweep_config.hydra.sweep.dir, str(sweep_config.hydra.sweep.subdir)))
    done = run_job(hydra_context=hydra_context, task_function=task_function, config=sweep_config,
                   job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")  # fmt: skip
    # Only what sweepers read goes back: the job's configs refer to classes this process imported itself,
    # and an exception the launcher could not unpickle goes back as its message.
    value = done._return_value
    try:
        pickle.loads(pickle.dumps(value))
    except Exception:  # noqa: BLE001
        value = RuntimeError(f"{type(value).__name__}: {value}")
    result_pipe.send(JobReturn(overrides=done.overrides, status=done.status, _return_value=value,
                          working_dir=done.working_dir, task_name=done.task_name))  # fmt: skip


def _died(job_dir: Path, error: str, config) -> None:
    """A job whose process died could not record why: its error.txt and MLflow run say it, and the sweep's
    summary lists it (openrs.tracking.sweep_summary)."""
    from openrs.run_folder import ERROR_FILE
    from openrs.tracking.sweep_summary import close_dead_runs, write_summary

    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / ERROR_FILE).write_text(error)
    try:
        if uri := OmegaConf.select(config, "tracking.uri"):
            close_dead_runs(uri, f"tags.`openrs.output_dir` = '{job_dir.resolve()}'", error)
    except Exception as err:  # noqa: BLE001 - the store is unreachable: the other jobs go on
        log.warning(f"the MLflow run of {job_dir} could not be closed: {err}")
    write_summary(Path(config.hydra.sweep.dir), final=False)


class GPUSlotsLauncher(Launcher):
    def __init__(self, gpus: list[int | str] | None, gpus_per_job: int):
        self.gpus, self.gpus_per_job = gpus, gpus_per_job

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(self.config.hydra.sweep.dir).mkdir(parents=True, exist_ok=True)
        free: queue.Queue[str] = queue.Queue()
        for slot in slots(self.gpus, self.gpus_per_job):
            free.put(slot)
        state, task = Singleton.get_state(), _reference(self.task_function)
        spawn = multiprocessing.get_context("spawn")  # a fresh process: CUDA not yet initialised, nothing inherited

        preempted = threading.Event()  # a job exited to be requeued: the sweep stops, no other job starts

        def run(idx: int, overrides: Sequence[str]) -> JobReturn:
            devices = free.get()  # as many threads as slots: one is always free here
            job_dir = None
            try:
                if preempted.is_set():
                    return JobReturn(overrides=list(overrides), status=JobStatus.UNKNOWN)
                log.info(f"\t#{idx} on GPUs {devices}: {' '.join(overrides)}")
                receive, send = spawn.Pipe(duplex=False)
                payload = (self.hydra_context, task, self.config, overrides, idx, devices, state)
                process = spawn.Process(target=_run, args=(cloudpickle.dumps(payload), send, os.getpid()))
                process.start()
                send.close()  # only the job holds it now: its end is when the job's process ends
                try:
                    while not isinstance(message := receive.recv(), JobReturn):
                        if isinstance(message, BaseException):
                            raise message
                        job_dir = message
                    return message
                except EOFError:
                    process.join()
                    raise RuntimeError(f"the job's process died (exit code {process.exitcode})") from None
                finally:
                    process.join()
            except SystemExit:
                preempted.set()
                raise
            except Exception as err:  # noqa: BLE001 - the process died (killed, out of memory): this job failed
                log.error(f"\t#{idx} failed: {err}")
                if job_dir is not None:
                    _died(job_dir, f"{type(err).__name__}: {err}", self.config)
                failed = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
                failed.return_value = err
                return failed
            finally:
                free.put(devices)

        log.info(f"Launching {len(job_overrides)} jobs on {free.qsize()} GPU slots of {self.gpus_per_job}")
        with ThreadPoolExecutor(free.qsize()) as threads:
            jobs = [threads.submit(run, initial_job_idx + i, o) for i, o in enumerate(job_overrides)]
            return [job.result() for job in jobs]
