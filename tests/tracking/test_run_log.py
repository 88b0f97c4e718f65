"""MLflow tracking on a real SQLite store and a real `mlflow server`: run layout, no secrets, each step once
across resumes, nothing lost when the server goes away, selection with a registered champion, early stop."""

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from simulated_runs import simulate_run

from openrs.config.job import TrackingConfig
from openrs.run_folder import RUN_FILE, is_complete, resume_checkpoint
from openrs.selection.checkpoint import select
from openrs.tracking.run_log import RunLog, metric_key
from openrs.tracking.run_start import start_run
from openrs.tracking.server import serve


def history(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def test_metric_names_are_made_valid_for_mlflow():
    assert metric_key("benchmark/arithmetic:easy/pass@1") == "benchmark/arithmetic:easy/pass_1"
    assert metric_key("benchmark//data/x.jsonl/pass_at_1") == "benchmark/data/x.jsonl/pass_at_1"


def test_run_layout_and_no_secret_reaches_mlflow(tmp_path, monkeypatch, secret, make_job):
    monkeypatch.setenv("HF_TOKEN", secret)
    job = make_job(
        tmp_path, f"prompt.system=use {secret} here", "model.tokenizer=https://alice:hunter2pw@hub.example/tok"
    )
    run_id = start_run(job, {"model": "tiny", "reward": "accuracy"}, [f"prompt.system=use {secret} here"], None,
                       resumed_from=None)
    log = RunLog(Path(job.output_dir))
    log.set_tags({"leak": f"token {secret}"})
    log.log_metrics({"loss": 1.0, "note": "text is skipped"}, step=1)
    run = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_run(run_id)
    assert run.info.experiment_id and run.data.params["trainer.max_steps"] == str(job.trainer.max_steps)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")  # MLflow's UI opens its model-training view
    assert client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    assert run.data.tags["openrs.choice.model"] == "tiny" and run.data.tags["openrs.output_dir"] == job.output_dir
    assert run.data.params["model.tokenizer"] == "https://***@hub.example/tok"
    assert run.data.metrics == {"loss": 1.0}
    # Nowhere in the store or its artifacts: not as param, tag, run name or in the job.yaml artifact.
    stored = [tmp_path / "mlflow.db", *(p for p in (tmp_path / "mlartifacts").rglob("*") if p.is_file())]
    assert any(p.name == "job.yaml" for p in stored) and not (Path(job.output_dir) / "mlflow").exists()  # no copy
    for path in stored:
        data = path.read_bytes()
        assert secret.encode() not in data and b"hunter2pw" not in data, path


def test_a_resumed_run_logs_each_metric_step_once(tmp_path, make_job):
    job = make_job(tmp_path)
    run_id = start_run(job, {}, [], None, resumed_from=resume_checkpoint(job))
    first = RunLog(Path(job.output_dir))
    for step in range(5):
        first.log_metrics({"loss": step}, step)
    second = RunLog(Path(job.output_dir))  # a resumed job from checkpoint-2 repeats steps 3 and 4
    for step in range(3, 8):
        second.log_metrics({"loss": 10 + step}, step)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    assert history(client, run_id, "loss") == list(range(8))
    second.replay()  # replaying the whole journal adds nothing
    assert history(client, run_id, "loss") == list(range(8))


def test_a_run_resumed_after_a_kill_keeps_no_point_of_the_abandoned_steps(tmp_path, make_job):
    job = make_job(tmp_path)
    out, client = Path(job.output_dir), MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    killed = start_run(job, {}, [], None, resumed_from=resume_checkpoint(job))
    first = RunLog(out)
    for step in range(1, 8):  # killed at step 7, after checkpoint-5
        first.log_metrics({"loss": step}, step)
    (out / "checkpoint-5").mkdir()
    (out / "checkpoint-5" / "trainer_state.json").write_text('{"global_step": 5}')
    job = make_job(tmp_path, "resume=true")
    run_id = start_run(job, {}, [], None, resumed_from=resume_checkpoint(job))
    assert run_id != killed and client.get_run(killed).info.lifecycle_stage == "deleted"
    assert client.get_run(killed).info.status == "KILLED"
    assert client.get_run(run_id).data.tags["openrs.replaces_run"] == killed
    second = RunLog(out)  # the resumed trainer logs its restored history, then steps 6 to 10 again
    for step in range(1, 11):
        second.log_metrics({"loss": step if step <= 5 else 100 + step}, step)
    second.replay()
    points = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "loss"))
    assert points == [(s, s) for s in range(1, 6)] + [(s, 100 + s) for s in range(6, 11)]
    # Resumed from its newest step, a run is reattached, not replaced.
    (out / "checkpoint-10").mkdir()
    (out / "checkpoint-10" / "trainer_state.json").write_text('{"global_step": 10}')
    job = make_job(tmp_path, "resume=true")
    assert start_run(job, {}, [], None, resumed_from=resume_checkpoint(job)) == run_id


def logged(out: Path, key: str, step: int) -> bool:
    """Whether the job in out has journaled metric key at step."""
    journal = out / "mlflow_journal.jsonl"
    lines = journal.read_text().splitlines() if journal.is_file() else []
    return any(r.get("metric") == key and r["step"] == step for r in map(json.loads, lines))


def test_the_journal_retries_an_unreachable_store_and_a_replay_adds_nothing_twice(
    tmp_path, monkeypatch, capsys, free_port
):
    store, uri = f"sqlite:///{tmp_path}/mlflow.db", f"http://127.0.0.1:{free_port()}"
    run_id = MlflowClient(store).create_run("0").info.run_id
    out = tmp_path / "run"
    out.mkdir()
    (out / RUN_FILE).write_text(json.dumps({"tracking_uri": uri, "run_id": run_id}))
    monkeypatch.setattr(RunLog, "RETRY_S", 1.0)
    log = RunLog(out)
    log.log_metrics({"loss": 1.0}, 1)  # no server at uri yet
    log.log_metrics({"loss": 2.0}, 2)
    assert "MLflow unreachable" in capsys.readouterr().err
    server = serve(TrackingConfig(uri=uri, experiment=None, serve=store, registered_model=None))
    try:
        time.sleep(RunLog.RETRY_S)
        log.log_metrics({"loss": 3.0}, 3)  # the first write after the retry interval sends what is unsent
        client = MlflowClient(uri)
        assert [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")] == [(1, 1.0), (2, 2.0), (3, 3.0)]
        assert RunLog(out).replay() == 3  # `python -m openrs.tracking replay` after the job
        assert len(client.get_metric_history(run_id, "loss")) == 3
    finally:
        server.terminate()
        server.wait()


@pytest.mark.parametrize(
    ("run_file", "journal", "message"),
    [
        (None, None, "{out} has no mlflow_run.json: not the output folder of a tracked job"),
        ('{"tracking_uri": "URI", "run_id": "ID"}', None, "{out} has no mlflow_journal.jsonl: its job logged nothing"),
        ("", "", "{out}/mlflow_run.json holds '', not a JSON object with run_id and tracking_uri: write it again as "
                 '{{"tracking_uri": "URI", "run_id": "RUN_ID"}} of the job\'s MLflow run'),  # fmt: skip
        ("not json" * 1000, "", "{out}/mlflow_run.json holds 'not jsonnot jsonnot jsonnot jsonnot jsonnot jsonnot "
                                "jsonnot... (8002 characters), not a JSON object"),  # fmt: skip
        ('{"tracking_uri": "URI"}', "", """{out}/mlflow_run.json holds '{{"tracking_uri": "URI"}}', not a JSON"""),
        ('{"tracking_uri": "sqlite:///{tmp}/gone/mlflow.db", "run_id": "ID"}', "", "{out}/mlflow_run.json names a "
         "store that is not there (no MLflow store at "),  # fmt: skip
        ('{"tracking_uri": "sqlite:///{tmp}/mlflow.db", "run_id": "{run}"}', '{"tag": "a", "value": "b"}\n{"tag": ',
         "{out}/mlflow_journal.jsonl:2: not a journal record (Expecting value, column 9); remove the line, then "
         "replay again"),  # fmt: skip
    ],
)
def test_replay_refuses_a_folder_it_cannot_replay_in_one_line(tmp_path, capsys, run_file, journal, message):
    from openrs.tracking.__main__ import main

    if "{run}" in (run_file or ""):  # a real run: only the journal is wrong
        run = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").create_run("0").info.run_id
        run_file = run_file.replace("{run}", run)
    run_file = run_file and run_file.replace("{tmp}", str(tmp_path))
    out = tmp_path / "run"
    out.mkdir()
    for name, text in ((RUN_FILE, run_file), ("mlflow_journal.jsonl", journal)):
        if text is not None:
            (out / name).write_text(text)
    before = sorted(out.iterdir())
    capsys.readouterr()  # MLflow's own lines on creating the store
    with pytest.raises(SystemExit) as stop:
        main(["replay", str(out)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("openrs: " + message.format(out=out)), err
    assert sorted(out.iterdir()) == before  # nothing written: not even the folder's lock
    assert not (tmp_path / "gone").exists()  # nor a store the run file names


@pytest.mark.slow
def test_killed_and_resumed_run_has_every_step_once(tmp_path, repo, run_openrs):
    out = tmp_path / "run"
    # What is checked is which steps are logged, not what training or the evaluations find: 16 completions a step, not
    # 64, and one held-out benchmark (157 problems, not the default's 896).
    args = ["-m", "openrs", "+experiment=smoke", "trainer.max_steps=20", "trainer.save_steps=5",
            "trainer.logging_steps=1", "trainer.global_batch_size=16", "eval.every_steps=10",
            "eval.benchmarks=[arithmetic:easy]", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
            f"hydra.run.dir={out}"]  # fmt: skip
    job = subprocess.Popen([sys.executable, *args], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not (logged(out, "loss", 7) and (out / "checkpoint-5" / "trainer_state.json").is_file()):
        assert job.poll() is None and time.monotonic() < deadline, job.stdout.read()
        time.sleep(0.2)
    job.kill()  # no chance to checkpoint: the resumed job repeats the steps after checkpoint-5
    job.wait()
    newest = max(int(c.name.removeprefix("checkpoint-")) for c in out.glob("checkpoint-*") if is_complete(c))
    resumed = run_openrs(*args, "resume=true")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # It resumed (MLflow keeps one point per step, so the history alone could not tell it from a restart).
    assert f"openrs: resuming from {out / f'checkpoint-{newest}'}" in resumed.stderr, resumed.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = json.loads((out / RUN_FILE).read_text())["run_id"]
    assert history(client, run_id, "loss") == list(range(1, 21))
    assert history(client, run_id, "benchmark/arithmetic:easy/pass_at_1") == [0, 10, 20]
    # MLflow's UI groups a run's charts by the name before the last "/" and sorts the groups by name
    # (getBaseChartAndSectionConfigs in its runs-charts.types.ts): the evaluation curves come first.
    groups = sorted({k.rsplit("/", 1)[0] for k in client.get_run(run_id).data.metrics if "/" in k})
    assert groups[0].startswith("benchmark/"), groups
    assert f"runs/{run_id}/model-metrics?workflowType=machine_learning" in resumed.stderr
    assert client.get_run(run_id).info.status == "FINISHED"
    # Every point is the finished branch's: none from the steps after checkpoint-5 that the kill abandoned.
    state = json.loads((out / "checkpoint-20" / "trainer_state.json").read_text())
    losses = {e["step"]: e["loss"] for e in state["log_history"] if "loss" in e}
    assert {m.step: m.value for m in client.get_metric_history(run_id, "loss")} == pytest.approx(losses)


@pytest.mark.slow
def test_server_stopped_mid_run_loses_nothing_after_replay(tmp_path, repo, free_port):
    port, store = free_port(), f"sqlite:///{tmp_path}/mlflow.db"
    tracking = TrackingConfig(uri=f"http://127.0.0.1:{port}", experiment=None, serve=store, registered_model=None)
    server = serve(tracking)
    out = tmp_path / "run"
    # What is checked is what reaches the store, not what training or the evaluations find: 16 completions a step,
    # not 64, and one held-out benchmark (157 problems, not the default's 896).
    job = subprocess.Popen(
        [sys.executable, "-m", "openrs", "+experiment=smoke", "trainer.max_steps=16", "trainer.save_steps=8",
         "trainer.logging_steps=1", "trainer.global_batch_size=16", "eval.every_steps=8",
         "eval.benchmarks=[arithmetic:easy]", f"tracking.uri={tracking.uri}", f"hydra.run.dir={out}"],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline, journal = time.monotonic() + 600, out / "mlflow_journal.jsonl"
    while not logged(out, "loss", 3):
        assert job.poll() is None and time.monotonic() < deadline, job.stdout.read()
        time.sleep(0.5)
    server.terminate()
    server.wait()
    output, _ = job.communicate(timeout=600)
    assert job.returncode == 0, output[-3000:]
    assert "MLflow unreachable" in output
    server = serve(tracking)
    try:
        replay = subprocess.run([sys.executable, "-m", "openrs.tracking", "replay", str(out)], capture_output=True,
                                text=True, cwd=repo)  # fmt: skip
        assert replay.returncode == 0, replay.stderr
        client = MlflowClient(tracking.uri)
        run_id = json.loads((out / RUN_FILE).read_text())["run_id"]
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        journaled = {(r["metric"], r["step"]) for r in records if "metric" in r}
        for key in {k for k, _ in journaled}:
            assert history(client, run_id, key) == sorted(s for k, s in journaled if k == key), key
        assert history(client, run_id, "loss") == list(range(1, 17))
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and "selection.best_step" in run.data.tags
    finally:
        server.terminate()
        server.wait()


def registered_weights(client: MlflowClient, tmp_path: Path, name: str, alias: str) -> str:
    """The model.safetensors of the version `alias` points at, downloaded from the store."""
    from mlflow.artifacts import download_artifacts

    version = client.get_model_version_by_alias(name, alias)
    files = Path(download_artifacts(version.source, dst_path=str(tmp_path / f"download-{version.version}"),
                                    tracking_uri=client.tracking_uri))  # fmt: skip
    assert sorted(p.name for p in files.iterdir()) == ["README.md", "model.safetensors"]  # no optimizer state
    assert "by openrs, from openrs's tiny model" in (files / "README.md").read_text()  # the card names its base
    return (files / "model.safetensors").read_text()


@pytest.mark.slow  # two server starts and an outage: minutes on a loaded machine
def test_a_server_registers_the_selected_checkpoint_and_replay_finishes_a_failed_registration(
    tmp_path, repo, make_job, write_eval, free_port
):
    port = free_port()
    tracking = TrackingConfig(uri=f"http://127.0.0.1:{port}", experiment=None,
                              serve=f"sqlite:///{tmp_path}/mlflow.db", registered_model=None)  # fmt: skip
    rng = np.random.default_rng(0)
    server = serve(tracking)
    try:
        client = MlflowClient(tracking.uri)
        up = make_job(tmp_path / "up", f"tracking.uri={tracking.uri}")
        start_run(up, {}, [], None, resumed_from=resume_checkpoint(up))
        write_eval(Path(up.output_dir), simulate_run(rng, 200, 4, [0, 0.02, 0.02, 0.02]))
        chosen = select(Path(up.output_dir))
        assert client.get_run(json.loads((Path(up.output_dir) / RUN_FILE).read_text())["run_id"]).data.tags[
            "selection.registered_model"] == "smoke/1"  # fmt: skip
        assert registered_weights(client, tmp_path, "smoke", "champion") == f"weights of step {chosen.best_step}"
        # The server goes away after the run opened: selection still finishes, registration waits in the journal.
        down = make_job(tmp_path / "down", f"tracking.uri={tracking.uri}")
        start_run(down, {}, [], None, resumed_from=resume_checkpoint(down))
    finally:
        server.terminate()
        server.wait()
    write_eval(Path(down.output_dir), simulate_run(rng, 200, 4, [0, 0.3, 0.3, 0.3]))
    better = select(Path(down.output_dir))
    server = serve(tracking)
    try:
        assert len(client.search_model_versions("name='smoke'")) == 1
        replay = subprocess.run([sys.executable, "-m", "openrs.tracking", "replay", down.output_dir],
                                capture_output=True, text=True, cwd=repo)  # fmt: skip
        assert replay.returncode == 0, replay.stderr
        assert len(client.search_model_versions("name='smoke'")) == 2
        assert registered_weights(client, tmp_path, "smoke", "champion") == f"weights of step {better.best_step}"
        subprocess.run([sys.executable, "-m", "openrs.tracking", "replay", down.output_dir], check=True, cwd=repo)
        assert len(client.search_model_versions("name='smoke'")) == 2  # replaying again registers nothing twice
    finally:
        server.terminate()
        server.wait()


@pytest.mark.slow
def test_replay_prints_no_password_of_the_store(tmp_path, secret, run_openrs, make_job, free_port):
    port = free_port()
    tracking = TrackingConfig(uri=f"http://127.0.0.1:{port}", experiment=None, serve=f"sqlite:///{tmp_path}/mlflow.db",
                              registered_model=None)  # fmt: skip
    server = serve(tracking)
    try:
        # The credentials in the environment, as README says (a URI holding a password is refused).
        credentials = {"MLFLOW_TRACKING_USERNAME": "openrs", "MLFLOW_TRACKING_PASSWORD": secret}
        job = make_job(tmp_path, f"tracking.uri=http://127.0.0.1:{port}")
        start_run(job, {}, [], None, resumed_from=resume_checkpoint(job))
        RunLog(Path(job.output_dir)).finish("FINISHED")  # MLflow prints the run's link when a status is sent
        replay = run_openrs("-m", "openrs.tracking", "replay", job.output_dir, env=credentials)
        assert replay.returncode == 0, replay.stderr[-2000:]
        assert "replayed" in replay.stdout and secret not in replay.stdout + replay.stderr
    finally:
        server.terminate()
        server.wait()


def test_a_full_disk_keeps_the_journal_whole_and_mlflow_gets_what_it_could_not_keep(
    tmp_path, capsys, make_job, small_disk
):
    job = make_job(tmp_path)
    start_run(job, {}, [], None, resumed_from=resume_checkpoint(job))
    out = small_disk(tmp_path / "disk", "64k")
    (out / RUN_FILE).write_text((Path(job.output_dir) / RUN_FILE).read_text())
    log = RunLog(out)
    log.log_metrics({"loss": 0.5}, 1)
    with contextlib.suppress(OSError), open(out / "filler", "wb", buffering=0) as filler:  # the disk full
        while True:
            filler.write(b"x" * 1024)
    for step in range(2, 200):  # more than the disk has room for
        log.log_metrics({"loss": 0.5, "reward": 1.0}, step)
    log.finish("FAILED")
    assert "the MLflow journal cannot be written" in capsys.readouterr().err
    whole = [json.loads(line) for line in (out / "mlflow_journal.jsonl").read_text().splitlines()]
    assert whole[0]["metric"] == "loss" and len(whole) < 2 * 199  # every line parses; the rest never fitted
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    assert history(client, log.run_id, "reward") == list(range(2, 200))
    assert client.get_run(log.run_id).info.status == "FAILED"
