"""openrs's SLURM path (hydra/launcher=slurm_4gpu, over hydra-submitit-launcher) against a real slurmctld and
slurmd: sweeps as SLURM jobs, `scontrol requeue`, a time limit, `scancel`, an Optuna search. Runs where `sinfo`
reaches a cluster with an idle node (`sweeps/slurm_cluster.sh up` starts one on this machine; .ci/run does);
skips elsewhere. Every job is the smoke job on the CPU, under slurm_4gpu's request scaled to the node."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from openrs.run_folder import SLURM_JOBS, is_complete


def _cluster() -> tuple[str | None, str]:
    """(the default partition, '') when sinfo reaches a cluster with an idle node, else (None, why not)."""
    if shutil.which("sinfo") is None:
        return None, "no SLURM client here: sweeps/slurm_cluster.sh up starts a one-node cluster"
    try:
        found = subprocess.run(["sinfo", "-h", "-o", "%P %t"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return None, "sinfo timed out: no slurmctld answers"
    rows = [line.split() for line in found.stdout.splitlines()]
    default = [p.rstrip("*") for p, state in rows if p.endswith("*") and state in ("idle", "mix")]
    if found.returncode or not default:
        return None, f"no idle node in a default SLURM partition ({found.stderr.strip() or found.stdout.strip()})"
    return default[0], ""


PARTITION, WHY_NOT = _cluster()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(PARTITION is None, reason=WHY_NOT)]


def slurm_4gpu(*overrides: str) -> list[str]:
    """slurm_4gpu as shipped (4 GPUs, its time limit and signal delay), its partition this cluster's default
    and its CPUs and memory scaled down to a job that fits this node twice."""
    return ["hydra/launcher=slurm_4gpu", f"hydra.launcher.partition={PARTITION}", "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=4", *overrides]  # fmt: skip


def smoke(tmp: Path, *overrides: str, sweep_file: str | None = None) -> list[str]:
    """A tracked smoke sweep on the CPU (or the sweep file sweeps/SWEEP_FILE.yaml), started with resume=true as
    README asks of SLURM sweeps."""
    what = ["--config-dir", "sweeps", "--config-name", sweep_file] if sweep_file else ["+experiment=smoke"]
    return [sys.executable, "-m", "openrs", "-m", *what, "hardware=cpu", "resume=true",
            f"tracking.uri=sqlite:///{tmp}/mlflow.db", f"hydra.sweep.dir={tmp / 'sweep'}", *overrides]  # fmt: skip


def attempts(run: Path) -> list[dict]:
    """The SLURM attempts a run folder records: {'job', 'restart', 'gpus', ...} each."""
    lines = (run / SLURM_JOBS).read_text().splitlines() if (run / SLURM_JOBS).is_file() else []
    return [{"job": line.split()[0], **dict(f.split("=", 1) for f in line.split()[1:])} for line in lines]


def journal_steps(run: Path) -> list[int]:
    """Steps with a logged loss in the run's MLflow journal so far (its last line may be half-written)."""
    journal = run / "mlflow_journal.jsonl"
    lines = journal.read_text().splitlines()[:-1] if journal.is_file() else []
    return [r["step"] for r in map(json.loads, lines) if r.get("metric") == "loss"]


def wait_for(condition, proc: subprocess.Popen, what: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert proc.poll() is None, f"the sweep ended before {what}: {proc.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} after {timeout_s:.0f} s"
        time.sleep(1)


def start_requeued_jobs_now() -> None:
    """Start the cluster's requeued jobs at once: SLURM holds a requeued job for two minutes (Reason=BeginTime),
    which only makes the tests slower. Nothing else about the requeue changes."""
    pending = subprocess.run(["squeue", "-h", "-t", "PENDING", "-o", "%i %r"], capture_output=True, text=True)
    for job in [line.split()[0] for line in pending.stdout.splitlines() if line.endswith("BeginTime")]:
        subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], capture_output=True)


def finish(proc: subprocess.Popen, timeout_s: float = 900) -> str:
    """Wait for the sweep, starting its requeued jobs at once; its output."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        assert time.monotonic() < deadline, f"the sweep did not end within {timeout_s:.0f} s"
        start_requeued_jobs_now()
        time.sleep(2)
    return proc.stdout.read()


def mlflow_run(tmp: Path, run: Path):
    """(client, the MLflow run of a run folder)."""
    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    return client, client.get_run(json.loads((run / "mlflow_run.json").read_text())["run_id"])


def stopped_at(run: Path, steps: int) -> int:
    """The step of the one checkpoint a signal made (checkpoints are otherwise never written before `steps`)."""
    (step,) = [int(p.name.split("-")[1]) for p in run.glob("checkpoint-*") if int(p.name.split("-")[1]) < steps]
    assert is_complete(run / f"checkpoint-{step}")
    return step


def job_log(sweep: Path, attempt: dict) -> str:
    """What the SLURM job of an attempt printed (submitit's log files, a folder per task of its job array)."""
    folder = sweep / ".submitit" / attempt["array"]
    return "".join(p.read_text(errors="replace") for p in sorted(folder.glob("*_log.*")))


@pytest.fixture(scope="module")
def length_cap_sweep(tmp_path_factory, repo):
    """The smoke length-cap sweep (sweeps/smoke_length_caps.yaml), each job a SLURM job under slurm_4gpu."""
    tmp = tmp_path_factory.mktemp("slurm_length_caps")
    cmd = smoke(tmp, "trainer.max_steps=2", "eval.every_steps=2", "eval.benchmarks=[arithmetic:easy]", *slurm_4gpu(),
                sweep_file="smoke_length_caps")  # fmt: skip
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=1200)
    return tmp, proc


def test_a_sweep_runs_as_slurm_jobs_under_slurmd(length_cap_sweep):
    tmp, proc = length_cap_sweep
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    sweep, client = tmp / "sweep", MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(runs) == 3
    for run in runs:
        (attempt,) = attempts(run)  # one attempt, a task of the job array that submitit's folders name too
        assert (sweep / ".submitit" / attempt["array"]).is_dir()
        run_id = json.loads((run / "mlflow_run.json").read_text())["run_id"]
        mlflow_run = client.get_run(run_id)
        assert mlflow_run.info.status == "FINISHED" and mlflow_run.data.tags["openrs.slurm_job_id"] == attempt["job"]
    assert (sweep / "sweep_summary.csv").is_file() and (sweep / "sweep_curves.png").is_file()


def test_the_slurm_4gpu_preset_is_granted_its_4_gpus(length_cap_sweep):
    tmp, proc = length_cap_sweep
    assert proc.returncode == 0, proc.stderr[-3000:]
    granted = [a["gpus"] for run in (tmp / "sweep").glob("[0-9]*") for a in attempts(run)]
    assert granted == ["4", "4", "4"]  # SLURM_GPUS_ON_NODE of each job: slurm_4gpu's gpus_per_node


def a_job_that_trains_on(tmp: Path, steps: int, *launcher: str) -> list[str]:
    """One smoke job of `steps` steps that checkpoints only when a signal asks (or at its end), logging every step."""
    return smoke(tmp, f"trainer.max_steps={steps}", f"trainer.save_steps={steps}", "trainer.logging_steps=1",
                 "eval.every_steps=null", *slurm_4gpu(*launcher))  # fmt: skip


def test_scontrol_requeue_checkpoints_requeues_and_resumes_into_the_same_run(tmp_path, repo):
    steps = 40
    proc = subprocess.Popen(a_job_that_trains_on(tmp_path, steps), cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    run = tmp_path / "sweep" / "0"
    wait_for(lambda: len(journal_steps(run)) >= 3, proc, "three trained steps")
    first = attempts(run)[0]
    subprocess.run(["scontrol", "requeue", first["job"]], check=True)
    output = finish(proc)
    assert proc.returncode == 0, output[-3000:]
    assert [(a["job"], a["restart"]) for a in attempts(run)] == [(first["job"], "0"), (first["job"], "1")]
    stopped = stopped_at(run, steps)
    log = job_log(tmp_path / "sweep", first)
    assert "SIGTERM received, saving a checkpoint after this step" in log, log[-3000:]
    assert f"resuming from {run / f'checkpoint-{stopped}'}" in log
    client, mlflow = mlflow_run(tmp_path, run)
    assert [m.step for m in client.get_metric_history(mlflow.info.run_id, "loss")] == list(range(1, steps + 1))
    assert mlflow.info.status == "FINISHED" and (run / "final" / "config.json").is_file()
    assert len(client.search_runs([mlflow.info.experiment_id])) == 2  # the sweep's and this one


def test_a_time_limit_checkpoints_on_slurms_warning_and_requeues_until_done(tmp_path, repo):
    # A 2-minute limit, SLURM's warning (SIGUSR2) 60 s before it: more steps than fit in one allocation.
    steps = 90
    cmd = a_job_that_trains_on(tmp_path, steps, "hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=60")
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = finish(proc)
    assert proc.returncode == 0, output[-3000:]
    run = tmp_path / "sweep" / "0"
    tries = attempts(run)
    assert len(tries) >= 2 and [a["restart"] for a in tries] == [str(i) for i in range(len(tries))]
    log = job_log(tmp_path / "sweep", tries[0])
    assert "SLURM's time-limit warning: checkpointing, then requeueing" in log, log[-3000:]
    client, mlflow = mlflow_run(tmp_path, run)
    assert [m.step for m in client.get_metric_history(mlflow.info.run_id, "loss")] == list(range(1, steps + 1))
    assert mlflow.info.status == "FINISHED"


def test_scancel_ends_the_run_killed_with_its_checkpoint_and_a_rerun_resumes_it(tmp_path, repo):
    steps = 40
    cmd = a_job_that_trains_on(tmp_path, steps)
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = tmp_path / "sweep" / "0"
    wait_for(lambda: len(journal_steps(run)) >= 3, proc, "three trained steps")
    subprocess.run(["scancel", attempts(run)[0]["job"]], check=True)
    output = finish(proc)
    assert proc.returncode != 0 and "CANCELLED" in output, output[-3000:]  # the sweep says what became of its job
    stopped = stopped_at(run, steps)
    client, mlflow = mlflow_run(tmp_path, run)
    assert mlflow.info.status == "KILLED" and not (run / "final").exists()
    rerun = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming from {run / f'checkpoint-{stopped}'}" in job_log(tmp_path / "sweep", attempts(run)[-1])
    assert [m.step for m in client.get_metric_history(mlflow.info.run_id, "loss")] == list(range(1, steps + 1))
    assert client.get_run(mlflow.info.run_id).info.status == "FINISHED"


def test_an_optuna_search_runs_two_trials_at_a_time_and_prunes_one(tmp_path, repo):
    import optuna
    from optuna.trial import TrialState

    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="smoke_lr", storage=storage, direction="maximize")
    for _ in range(2):  # MedianPruner's two finished trials, at 10% pass@1 after step 2
        finished = study.ask()
        finished.report(0.1, 2)
        study.tell(finished, 0.1)
    # The search's two trials: a learning rate that keeps the warm start (above 10%: completes) and one that
    # wrecks it (below: pruned at step 2); TPE's seed gives each one of them.
    (tmp_path / "slurm_optuna.yaml").write_text(
        "defaults: [config, {experiment: smoke}, {override hydra/sweeper: optuna}, _self_]\n"
        "hydra: {sweeper: {study_name: smoke_lr, n_trials: 4, n_jobs: 2, sampler: {seed: 0},\n"
        "                  params: {trainer.learning_rate: 'choice(1e-9, 0.5)'}}}\n"
    )
    cmd = [sys.executable, "-m", "openrs", "-m", "--config-dir", str(tmp_path), "--config-name", "slurm_optuna",
           "hardware=cpu", "trainer.max_steps=4", "eval.every_steps=2", "eval.benchmarks=[arithmetic:easy]",
           f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
           f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", *slurm_4gpu()]  # fmt: skip
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = optuna.load_study(study_name="smoke_lr", storage=storage).trials[2:]
    states = {t.params["trainer.learning_rate"]: t.state for t in trials}
    assert states == {1e-9: TrialState.COMPLETE, 0.5: TrialState.PRUNED}, states
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    for trial in trials:
        [run] = client.search_runs(["1"], f"tags.`openrs.optuna_trial` = 'smoke_lr:{trial.number}'")
        assert run.info.status == {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED"}[trial.state]
        assert run.data.tags["openrs.slurm_job_id"]
    # Two at a time: both trials went to SLURM together, as two tasks of one job array.
    arrays = sorted(a["array"] for run in (tmp_path / "sweep").glob("[0-9]*") for a in attempts(run))
    assert len(arrays) == 2 and arrays[0].split("_")[0] == arrays[1].split("_")[0] and arrays[0] != arrays[1]
