"""Sweeps: every ready sweep composes, and a tracked sweep with failing jobs finishes the others and
compares them in its parent MLflow run."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from openrs.run_folder import PARENT_FILE, is_complete

REPO = Path(__file__).resolve().parents[2]  # module level: the parametrize lists read it
SWEEPS = sorted(p.stem for p in (REPO / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("name", SWEEPS)
def test_every_ready_sweep_composes_its_jobs(name, tmp_path, run_openrs):
    # Planned for the paper's node: hardware=auto would refuse the 1.5B model on a machine without a GPU.
    hardware = [] if "smoke" in name else ["hardware=a40x4"]
    proc = run_openrs("-m", "openrs", "-m", "--config-dir", "sweeps", "--config-name", name, "dry_run=true",
                      *hardware, f"hydra.sweep.dir={tmp_path}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(tmp_path.glob("*/job.yaml"))
    assert len(jobs) >= 2 and proc.stdout.count("dry run: resolved config written") == len(jobs)


def test_a_failing_job_under_the_default_launcher_does_not_stop_the_sweep(tmp_path, run_openrs):
    # Hydra's basic launcher runs jobs one after another in this process: job 0 (7 generations do not divide 64
    # completions) fails first, and the two jobs after it still run.
    proc = run_openrs("-m", "openrs", "-m", "+experiment=smoke", "dry_run=true", "trainer.num_generations=7,8,4",
                      f"hydra.sweep.dir={tmp_path}")  # fmt: skip
    assert proc.returncode != 0  # the sweep reports its failed job, after running them all
    assert "num_generations" in (tmp_path / "0" / "error.txt").read_text()
    assert not (tmp_path / "0" / "job.yaml").exists()
    for job, generations in [(1, 8), (2, 4)]:
        written = yaml.safe_load((tmp_path / str(job) / "job.yaml").read_text())
        assert written["trainer"]["num_generations"] == generations
    assert proc.stdout.count("dry run: resolved config written") == 2


@pytest.fixture(scope="module")
def tracked_sweep(tmp_path_factory, run_openrs):
    """A tracked sweep through submitit's local executor (the SLURM launcher's code path, jobs side by side):
    six short smoke jobs, two that train and four that fail, one of them after opening its MLflow run."""
    tmp = tmp_path_factory.mktemp("tracked_sweep")
    proc = run_openrs(
        "-m", "openrs", "-m", "+experiment=smoke", "hydra/launcher=submitit_local", "trainer.max_steps=2",
        "eval.every_steps=2", "eval.benchmarks=[arithmetic:easy]", "trainer.beta=0.04", "trainer.global_batch_size=16",
        "trainer.num_generations=8,4,7", "model.tokenizer=null,/nonexistent/tok",
        f"tracking.uri=sqlite:///{tmp}/mlflow.db", f"hydra.sweep.dir={tmp / 'sweep'}",
    )  # fmt: skip
    return tmp / "sweep", f"sqlite:///{tmp}/mlflow.db", proc


@pytest.mark.slow
def test_failing_jobs_do_not_stop_a_tracked_sweep(tracked_sweep):
    sweep, uri, proc = tracked_sweep
    assert (sweep / "sweep_summary.csv").is_file(), proc.stdout[-2000:] + proc.stderr[-3000:]
    with open(sweep / "sweep_summary.csv") as f:
        table = {row["run"]: row for row in csv.DictReader(f)}
    assert len(table) == 6, table
    common = (
        "trainer.max_steps=2 eval.every_steps=2 eval.benchmarks=[arithmetic:easy] trainer.beta=0.04 "
        "trainer.global_batch_size=16"
    )
    for n in (8, 4):
        ok = table[f"smoke {common} trainer.num_generations={n} model.tokenizer=null"]
        assert ok["status"] == "FINISHED" and ok["best step"] in ("0", "2") and ok["best pass@1 %"]
    assert f"job 4: {common} trainer.num_generations=7 model.tokenizer=null" in table
    failed = [row for row in table.values() if row["status"] == "FAILED"]
    assert len(failed) == 4
    assert sum("/nonexistent/tok" in row["error"] for row in failed) == 2  # opened their runs, then failed
    before = [row["error"] for row in failed if row["error"].startswith("failed before its run opened: ")]
    assert len(before) == 2 and all("num_generations=7" in e for e in before)  # an invalid batch split
    parent = json.loads((sweep / PARENT_FILE).read_text())["run_id"]
    client = MlflowClient(uri)
    assert {a.path for a in client.list_artifacts(parent)} >= {"sweep_summary.md", "sweep_curves.png"}
    assert client.get_run(parent).info.status == "FAILED"  # some of its jobs failed
    assert proc.returncode != 0  # and so does the sweep, after running them all
    children = client.search_runs([client.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == 4


@pytest.mark.slow
@pytest.mark.parametrize("notebook", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_executes_against_a_smoke_sweep(notebook, tracked_sweep, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("OPENRS_SWEEP", str(tracked_sweep[0]))
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(notebook.parent)}}).execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # accuracy; length and KL
    table = outputs[-1]["data"]["text/plain"]  # Table 1: both finished jobs at their selected steps
    assert "trainer.num_generations=8" in table and "trainer.num_generations=4" in table and "[" in table


def test_a_trial_spec_survives_hydras_override_grammar(monkeypatch):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from openrs.base.trial import TRIAL_ENV, encode_trial, trial_spec

    spec = {"storage": "sqlite:////tmp/it's a \\ ${x}/optuna.db", "study": 'say "hi"', "trial": 3, "pruner": {}}
    [override] = OverridesParser.create().parse_overrides([f"+hydra.job.env_set.{TRIAL_ENV}='{encode_trial(spec)}'"])
    monkeypatch.setenv(TRIAL_ENV, override.value())
    assert trial_spec() == spec


@pytest.mark.slow
def test_optuna_search_resumes_its_study_after_a_kill(tmp_path, run_openrs):
    import optuna
    from optuna.trial import TrialState

    storage = f"sqlite:///{tmp_path}/optuna.db"
    args = [sys.executable, "-m", "openrs", "-m", "--config-dir", "sweeps", "--config-name", "optuna_smoke",
            "trainer.max_steps=2", "eval.every_steps=2", "eval.benchmarks=[arithmetic:easy]",
            "hydra.sweeper.n_trials=2", f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
            f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"]  # fmt: skip

    def trials(*states):
        try:
            study = optuna.load_study(study_name="smoke_lr_kl", storage=storage)
        except KeyError:  # the sweep has created the file, not yet the study
            return []
        return [t for t in study.trials if t.state in states]

    log = tmp_path / "first_sweeper.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)

    def still_running() -> bool:
        return proc.poll() is None or pytest.fail(f"the sweeper ended early:\n{log.read_text()[-3000:]}")

    # Not a look at the storage before the first trial's job folder exists: opening a SQLite study while the
    # sweeper is still creating its tables made the sweeper fail at start (exit 2, once in a full run).
    while not (tmp_path / "sweep" / "0").is_dir() or not trials(TrialState.COMPLETE, TrialState.PRUNED):
        assert still_running()
        time.sleep(1)
    while not trials(TrialState.RUNNING):  # the second trial has started
        assert still_running()
        time.sleep(0.2)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")  # the first trial created the store
    trial_run = f"tags.`openrs.optuna_trial` = 'smoke_lr_kl:{trials(TrialState.RUNNING)[0].number}'"
    while not client.search_runs(["1"], trial_run):  # its job has opened its MLflow run
        assert still_running()
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    first = trials(TrialState.COMPLETE, TrialState.PRUNED)
    interrupted = trials(TrialState.RUNNING)[0]
    restarted = run_openrs(*args[1:])
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    finished = trials(TrialState.COMPLETE, TrialState.PRUNED)
    assert len(finished) == 2 and [t.number for t in finished][: len(first)] == [t.number for t in first]
    failed = trials(TrialState.FAIL)
    assert [t.number for t in failed] == [interrupted.number] and failed[0].user_attrs["interrupted"]
    assert interrupted.params in [t.params for t in finished if t.number > interrupted.number]  # run again
    assert (tmp_path / "sweep" / "optimization_results.yaml").is_file()
    [run] = client.search_runs(["1"], f"tags.`openrs.optuna_trial` = 'smoke_lr_kl:{interrupted.number}'")
    assert run.info.status == "FAILED" and run.data.tags["openrs.error"] == "interrupted: its sweeper stopped"


def gpu_slots_app(tmp_path: Path, gpus: list[int], gpus_per_job: int, **values) -> list[str]:
    """The command of tests/apps/gpu_slots_app.py under the gpu_slots launcher, its config written to tmp_path;
    values set the app's keys (seconds each job sleeps, which job fails, dies or exits)."""
    values = {"seconds": 0, "fail": -1, "die": -1, "job": 0} | values
    (tmp_path / "app.yaml").write_text(
        "defaults:\n  - override hydra/launcher: gpu_slots\n  - _self_\n"
        f"hydra:\n  searchpath: ['file://{REPO / 'conf'}']\n  launcher:\n    gpus: {gpus}\n"
        f"    gpus_per_job: {gpus_per_job}\n  sweep:\n    dir: {tmp_path / 'sweep'}\n"
        + "".join(f"{key}: {value}\n" for key, value in values.items())
    )
    return [sys.executable, str(REPO / "tests/apps/gpu_slots_app.py"), "-m", "--config-dir", str(tmp_path)]


def test_gpu_slot_launcher_never_puts_two_jobs_on_one_gpu(tmp_path):
    app = gpu_slots_app(tmp_path, [0, 1, 2, 3, 5], 2, seconds=2, fail=3, die=5)
    proc = subprocess.run([*app, "job=0,1,2,3,4,5"], capture_output=True, text=True, cwd=tmp_path)
    assert "job 3 fails on purpose" in proc.stderr and proc.returncode != 0
    ran = [json.loads(p.read_text()) for p in sorted((tmp_path / "sweep").glob("*/ran.json"))]
    assert len(ran) == 5 and len({r["pid"] for r in ran}) == 5  # all ran, each in its own process
    # The job that killed itself could not say so: the launcher did, where the sweep summary reads it.
    assert (tmp_path / "sweep/5/error.txt").read_text() == "RuntimeError: the job's process died (exit code -9)"
    assert {r["devices"] for r in ran} == {"0,1", "2,3"}  # GPU 5 is left over: no slot of 2
    overlapping = [(a, b) for i, a in enumerate(ran) for b in ran[i + 1 :]
                   if a["start"] < b["end"] and b["start"] < a["end"]]  # fmt: skip
    assert overlapping and all(a["devices"] != b["devices"] for a, b in overlapping)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's parent-death signal; reads /proc")
def test_jobs_of_a_killed_gpu_slot_launcher_end_with_it(tmp_path, running):
    sweeper = subprocess.Popen([*gpu_slots_app(tmp_path, [0, 1], 1, seconds=600), "job=0,1"], cwd=tmp_path)
    while len(pid_files := list((tmp_path / "sweep").glob("*/pid"))) < 2 or not all(p.read_text() for p in pid_files):
        assert sweeper.poll() is None
        time.sleep(0.2)
    jobs = [int(p.read_text()) for p in pid_files]
    sweeper.kill()  # SIGKILL: the launcher cannot stop its jobs itself
    sweeper.wait()

    try:  # the test's timeout (pytest-timeout) fails it if they outlive their launcher
        while any(running(pid) for pid in jobs):
            time.sleep(0.2)
    finally:
        for pid in filter(running, jobs):
            if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes():  # not a reused pid
                os.kill(pid, signal.SIGKILL)


def test_a_preempted_job_stops_a_gpu_slots_sweep_to_be_requeued(tmp_path):
    app = gpu_slots_app(tmp_path, [0], 1, exit=0)
    proc = subprocess.run([*app, "job=0,1"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 124, proc.stderr[-2000:]  # as with the other launchers; job 1 never starts
    assert not (tmp_path / "sweep/0/error.txt").exists() and not (tmp_path / "sweep/1").exists()


def test_gpu_slots_must_fit_the_node():
    from hydra_plugins.openrs_gpu_slots.gpu_slots_launcher import slots

    assert slots([0, 1, 2, 3], 1) == ["0", "1", "2", "3"] and slots(["4", "7", "2"], 2) == ["4,7"]
    with pytest.raises(ValueError, match="gpus_per_job=4 does not fit the node's 2 GPUs"):
        slots([0, 1], 4)
    with pytest.raises(ValueError, match="lists a GPU twice"):
        slots([0, 0], 1)


def test_load_sweep_names_what_it_was_given(tmp_path):
    from openrs.tracking.sweep_summary import load_sweep

    with pytest.raises(ValueError, match="has no mlflow_parent.json: not the folder of a tracked sweep"):
        load_sweep(tmp_path)
    with pytest.raises(ValueError, match="say which MLflow store holds it"):
        load_sweep("0123456789abcdef0123456789abcdef")


def test_search_space_follows_hydra_sweep_syntax():
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from optuna.distributions import CategoricalDistribution, IntDistribution

    from hydra_plugins.openrs_optuna.optuna_sweeper import distribution

    def space(text):
        return distribution(OverridesParser.create().parse_overrides([f"key={text}"])[0])

    assert space("range(1,5)") == IntDistribution(1, 4)  # Hydra's range leaves out its stop
    floats = space("range(0.1,0.5,0.1)")
    assert floats.low == 0.1 and floats.high == pytest.approx(0.4) and floats.step == 0.1
    assert space("choice(a,b)") == space("a,b") == CategoricalDistribution(["a", "b"])
    assert space("tag(log, interval(1e-5, 1e-3))").log
    with pytest.raises(ValueError, match="not a search space"):
        space("3")


def test_a_trial_belongs_to_its_sweeper_while_it_lives():
    import socket

    import optuna

    from hydra_plugins.openrs_optuna.optuna_sweeper import OWNER, alive

    study = optuna.create_study()
    trial = study.ask()
    ended = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "beat": time.time()}

    def owned_by(owner):
        trial.set_user_attr(OWNER, owner)
        return study.trials[0]

    assert alive(owned_by(me), stale_after_s=600)
    assert not alive(owned_by(me | {"pid": ended}), stale_after_s=600)  # its sweeper's process is gone
    assert alive(owned_by(me | {"host": "elsewhere", "pid": ended}), stale_after_s=600)  # told by its heartbeat
    assert not alive(owned_by(me | {"host": "elsewhere", "beat": time.time() - 700}), stale_after_s=600)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["+experiment=smoke", "hydra/sweeper=optuna"], "hydra.sweeper.params has nothing to search"),
        (["--config-dir", "sweeps", "--config-name", "optuna_smoke", "model=tiny,nope"],
         "hydra.sweeper.params: model=nope does not compose: In 'config': Could not find 'model/nope'"),
        (["--config-dir", "sweeps", "--config-name", "optuna_smoke", "eval.every_steps=null"],
         "eval.every_steps=null: an Optuna trial is scored and pruned by its step-wise evaluations"),
    ],
)  # fmt: skip
def test_an_optuna_search_that_cannot_run_stops_before_its_study(overrides, message, tmp_path, run_openrs):
    proc = run_openrs("-m", "openrs", "-m", *overrides, f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db",
                      f"hydra.sweep.dir={tmp_path / 'sweep'}")  # fmt: skip
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-3000:]
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "sweep").exists()


def test_a_value_given_on_the_command_line_is_not_searched(tmp_path, run_openrs):
    proc = run_openrs("-m", "openrs", "-m", "--config-dir", "sweeps", "--config-name", "optuna_smoke", "dry_run=true",
                      "trainer.beta=0.5", f"hydra.sweep.dir={tmp_path}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = [yaml.safe_load(p.read_text())["trainer"] for p in sorted(tmp_path.glob("*/job.yaml"))]
    assert len(jobs) == 4 and {j["beta"] for j in jobs} == {0.5} and len({j["learning_rate"] for j in jobs}) == 4


def test_a_seed_study_runs_jobs_identical_but_for_the_seed(tmp_path, run_openrs):
    """sweeps/seeds.yaml (Exp 3, five seeds); sweeps/smoke_seeds.yaml trains in tests/e2e/test_smoke_study.py."""
    proc = run_openrs("-m", "openrs", "-m", "--config-dir", "sweeps", "--config-name", "seeds", "dry_run=true",
                      "hardware=cpu", f"hydra.sweep.dir={tmp_path}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = [yaml.safe_load(p.read_text()) for p in sorted(tmp_path.glob("*/job.yaml"))]
    assert sorted(j["seed"] for j in jobs) == [0, 1, 2, 3, 4]
    steps = jobs[0]["trainer"]["max_steps"]
    assert proc.stdout.startswith(f"openrs: a seed study: {len(jobs)} runs identical but for the seed, {steps} steps "
                                  f"each ({len(jobs) * steps} in all); when they end, openrs-verdict {tmp_path}")
    for job in jobs:
        del job["seed"], job["output_dir"]
    assert all(job == jobs[0] for job in jobs)


def test_only_a_sweep_of_seeds_alone_is_announced_as_a_study(tmp_path, run_openrs):
    seeds = run_openrs("-m", "openrs", "-m", "+experiment=smoke", "dry_run=true", "seed=3,4",
                       f"hydra.sweep.dir={tmp_path}/a")  # fmt: skip
    assert seeds.returncode == 0 and "openrs: a seed study: 2 runs identical but for the seed" in seeds.stdout
    mixed = run_openrs("-m", "openrs", "-m", "+experiment=smoke", "dry_run=true", "seed=3,4", "trainer.beta=0,0.1",
                       f"hydra.sweep.dir={tmp_path}/b")  # fmt: skip
    assert mixed.returncode == 0 and "seed study" not in mixed.stdout


def test_summary_lists_a_job_without_a_run_once_it_failed_and_closes_dead_runs(tmp_path):
    from openrs.run_folder import ERROR_FILE
    from openrs.tracking.metadata import SWEEP_TAG
    from openrs.tracking.sweep_summary import close_dead_runs, summary

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("sweep")
    parent = client.create_run(experiment, tags={SWEEP_TAG: str(tmp_path / "sweep")}).info.run_id
    for job, override in (("0", "x=1"), ("1", "x=2")):  # 0 is still starting, 1 failed before opening its run
        (tmp_path / "sweep" / job / ".hydra").mkdir(parents=True)
        (tmp_path / "sweep" / job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([override]))
    (tmp_path / "sweep" / "1" / ERROR_FILE).write_text("ValueError: bad batch")
    (tmp_path / "sweep" / PARENT_FILE).write_text(json.dumps({"run_id": parent, "tracking_uri": uri}))
    table, _ = summary(client, parent, tmp_path / "sweep")
    assert [(r["run"], r["status"], r["error"]) for r in table] == [
        ("job 1: x=2", "FAILED", "failed before its run opened: ValueError: bad batch")
    ]
    dead = client.create_run(experiment, run_name="killed", tags={"mlflow.parentRunId": parent, "k": "v"})
    assert close_dead_runs(uri, "tags.k = 'v'", "the job's process died") == 1
    run = client.get_run(dead.info.run_id)
    assert run.info.status == "FAILED" and run.data.tags["openrs.error"] == "the job's process died"
    assert client.get_run(parent).info.status == "FAILED"  # its sweep's summary, rewritten, says so
    assert "killed" in (tmp_path / "sweep" / "sweep_summary.md").read_text()


def test_report_names_an_unknown_target(tmp_path):
    from openrs.tracking.run_table import runs_of

    with pytest.raises(ValueError, match="'nope' is neither an experiment name nor a run id"):
        runs_of(MlflowClient(f"sqlite:///{tmp_path}/mlflow.db"), "nope")


def test_a_trial_job_prunes_with_the_sweepers_pruner(tmp_path):
    import optuna

    from openrs.selection.pruning import trial_of

    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    for _ in range(2):  # two finished trials, scored 0.5 at step 10
        finished = study.ask()
        finished.report(0.5, 10)
        study.tell(finished, 0.5)
    study.ask()
    pruner = yaml.safe_load((REPO / "conf/hydra/sweeper/optuna.yaml").read_text())["pruner"]
    trial = trial_of({"storage": storage, "study": "s", "trial": 2, "pruner": pruner})
    trial.report(0.1, 10)
    assert trial.should_prune()  # Optuna's default pruner would wait for 5 finished trials


@pytest.mark.slow
def test_a_pruned_trial_ends_with_its_checkpoint_and_the_pruned_state(tmp_path, run_openrs):
    import optuna
    from optuna.trial import TrialState

    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="smoke_lr_kl", storage=storage, direction="maximize")
    for _ in range(2):  # two finished trials that scored above any real score at step 2
        finished = study.ask()
        finished.report(2.0, 2)
        study.tell(finished, 2.0)
    proc = run_openrs(
        "-m", "openrs", "-m", "--config-dir", "sweeps", "--config-name", "optuna_smoke", "trainer.max_steps=4",
        "eval.every_steps=2", "eval.benchmarks=[arithmetic:easy]", "hydra.sweeper.n_trials=3",
        f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    trial = optuna.load_study(study_name="smoke_lr_kl", storage=storage).trials[2]
    assert trial.state == TrialState.PRUNED and list(trial.intermediate_values) == [2]
    out = tmp_path / "sweep" / "2"
    assert (out / "pruned").is_file() and is_complete(out / "checkpoint-2")
    assert not (out / "checkpoint-4").exists()  # it stopped at the step it was pruned
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    [run] = client.search_runs(["1"], "tags.`openrs.optuna_trial` = 'smoke_lr_kl:2'")
    assert run.info.status == "KILLED"  # its run waits for no more steps


def test_two_sweepers_reclaiming_one_trial_run_its_parameters_once(tmp_path):
    from types import SimpleNamespace

    from omegaconf import OmegaConf
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState

    from hydra_plugins.openrs_optuna.optuna_sweeper import OptunaSweeper

    sampler, pruner = (
        OmegaConf.create({"_target_": f"optuna.{c}"}) for c in ("samplers.RandomSampler", "pruners.NopPruner")
    )
    sweeper = OptunaSweeper("s", f"sqlite:///{tmp_path}/optuna.db", "maximize", n_trials=1, n_jobs=1,
                            sampler=sampler, pruner=pruner, stale_after_s=600)  # fmt: skip
    sweeper.config = OmegaConf.create({"tracking": {"uri": None}})
    study = sweeper._study()
    trial = study.ask({"x": FloatDistribution(0, 1)})
    for _ in range(2):  # two sweepers take it for interrupted, one after the other
        sweeper._interrupted(study, study.trials[0], "its sweeper stopped")
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]  # queued again once
    OptunaSweeper._tell(study, trial, SimpleNamespace(_return_value=0.5))  # its own sweeper, late: no error
    assert study.trials[0].state == TrialState.FAIL


def test_the_children_of_a_launched_job_ignore_slurms_warning():
    from openrs.train.launch import _start

    child = _start([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGUSR2)"], dict(os.environ),
                   "child")  # fmt: skip
    assert child.wait(timeout=60) == 0  # SIGUSR2's default action would have killed it
