"""The command line as a user meets it: inspection without torch, clean errors, a non-editable install."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from openrs.resolve.auto_hardware import vllm_cpu_prepacks


def test_cfg_job_prints_resolved_preset_without_importing_torch(run_openrs):
    proc = run_openrs("-X", "importtime", "-m", "openrs", "+experiment=exp3", "reward=cosine", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr
    assert "name: exp3" in proc.stdout and "- cosine" in proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "openrs" in imported
    assert not imported & {"torch", "transformers", "trl", "vllm", "mlflow"}


@pytest.mark.parametrize("override", ["trainer.num_generations=7", "reward.funcs=[format,acuracy]",
                                      "model.name_or_path=/nonexistent/model", "hardware.vllm_mode=server"])
def test_a_job_that_fails_its_checks_exits_2_before_importing_anything_heavy(override, tmp_path, run_openrs):
    """The real failure path of a job (not --cfg job): an impossible batch, an unknown reward, a missing model,
    vLLM training on a CPU."""
    proc = run_openrs("-X", "importtime", "-m", "openrs", "+experiment=smoke", override, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2, proc.stderr[-3000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "openrs" in imported
    assert not imported & {"torch", "transformers", "trl", "vllm", "mlflow", "datasets"}


def test_help_lists_groups_and_options(run_openrs):
    proc = run_openrs("-m", "openrs", "--help")
    assert proc.returncode == 0
    for line in [
        "experiment: exp1, exp2, exp3, smoke",
        "length: l2048, l3584, l4096, l64, l8192",
        "hardware: a40x4, auto, colocate, cpu, h100x1",
    ]:
        assert line in proc.stdout


@pytest.mark.parametrize(
    "override, expected",
    [
        ("reward.funcs=[format,acuracy]", "reward.funcs[1]='acuracy'"),
        ("trainer.num_generations=7", "not a multiple of trainer.num_generations=7"),
        ("trainer.max_steps=-1", "trainer.max_steps=-1"),
    ],
)
def test_bad_values_exit_nonzero_with_one_message(override, expected, tmp_path, run_openrs):
    proc = run_openrs("-m", "openrs", override, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.startswith("openrs: invalid config:")
    assert expected in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("mode, why", [("colocate", "prepacks its linear weights"), ("server", "over NCCL")])
def test_training_with_vllm_on_a_cpu_is_refused_with_the_reason(mode, why, tmp_path, run_openrs):
    if mode == "colocate" and not vllm_cpu_prepacks():
        pytest.skip("vLLM keeps its weights on this processor: colocated training is allowed (the test below)")
    proc = run_openrs("-m", "openrs", "+experiment=smoke", "hardware=cpu", f"hardware.vllm_mode={mode}",
                      f"hydra.run.dir={tmp_path}")  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"hardware.vllm_mode={mode} on a CPU" in proc.stderr and why in proc.stderr
    assert "hardware.vllm_mode=null" in proc.stderr and not list(tmp_path.glob("*.jsonl"))


@pytest.mark.skipif(vllm_cpu_prepacks(env={"ONEDNN_MAX_CPU_ISA": "AVX2"}), reason="not an x86 processor")
def test_colocated_vllm_on_a_processor_where_vllm_keeps_its_weights_is_planned(tmp_path, run_openrs):
    """oneDNN capped at AVX2 decides as an AVX2-only processor does (tests/e2e/test_vllm.py trains there)."""
    proc = run_openrs("-m", "openrs", "+experiment=smoke", "hardware=cpu", "hardware.vllm_mode=colocate",
                      "dry_run=true", f"hydra.run.dir={tmp_path}", env={"ONEDNN_MAX_CPU_ISA": "AVX2"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "vLLM colocate" in proc.stdout


def test_unreachable_tracking_server_fails_before_any_model_loads(tmp_path, run_openrs):
    proc = run_openrs("-m", "openrs", "+experiment=smoke", "tracking=server", "tracking.uri=http://127.0.0.1:9",
                      f"hydra.run.dir={tmp_path}")  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "tracking.uri='http://127.0.0.1:9': MLflow cannot be reached" in proc.stderr
    assert "tracking=sqlite" in proc.stderr and not (tmp_path / "checkpoint-50").exists()


@pytest.mark.parametrize("override, options", [("hardware=a100x9", "a40x4"), ("model=nope", "tiny")])
def test_unknown_group_option_lists_the_options_and_exits_2(override, options, run_openrs):
    proc = run_openrs("-m", "openrs", override)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    group, name = override.split("=")
    assert f"Could not find '{group}/{name}'" in proc.stderr and options in proc.stderr


def test_an_unusable_output_folder_is_one_line_and_exit_2(tmp_path, run_openrs):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    # root writes through permission bits; /sys refuses everyone
    locked = Path("/sys/kernel/openrs-run") if os.geteuid() == 0 else tmp_path / "locked" / "run"
    if os.geteuid() != 0:
        locked.parent.mkdir()
        locked.parent.chmod(0o500)
    for folder, problem in [(a_file, "a file is there, not a folder"), (locked, "cannot be written")]:
        proc = run_openrs("-m", "openrs", "+experiment=smoke", f"hydra.run.dir={folder}")
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-2000:]
        assert proc.stderr.startswith(f"openrs: hydra.run.dir={folder}: {problem}")


def data_source(path: Path) -> str:
    return f"data.sources=[{{path: {path}, split: train, count: null, fraction: null}}]"


def test_a_bad_data_row_stops_the_job_before_its_run_opens(tmp_path, run_openrs):
    rows = [json.dumps({"problem": f"{i}+1", "answer": str(i + 1)}) for i in range(40)]
    rows[20] = '{"problem": "20+1", "answer": 21'
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    proc = run_openrs("-m", "openrs", "+experiment=smoke", data_source(data), f"hydra.run.dir={run}",
                      f"tracking.uri=sqlite:///{tmp_path}/mlflow.db")  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"{data}:21: not valid JSON" in proc.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (run / "job.yaml").exists()


@pytest.fixture
def finished_run(tmp_path: Path, job) -> tuple[Path, MlflowClient, str]:
    """A run folder with a checkpoint whose tracked run FINISHED, as a completed job leaves it."""
    from openrs.run_folder import resume_checkpoint
    from openrs.tracking.run_log import RunLog
    from openrs.tracking.run_start import start_run

    run, uri = tmp_path / "run", f"sqlite:///{tmp_path}/mlflow.db"
    smoke = job("+experiment=smoke", f"tracking.uri={uri}", output_dir=str(run))
    run.mkdir()
    run_id = start_run(smoke, {}, [], None, resumed_from=resume_checkpoint(smoke))
    (run / "job.yaml").write_text(yaml.safe_dump(smoke.model_dump()))
    (run / "checkpoint-5").mkdir()
    (run / "checkpoint-5" / "trainer_state.json").write_text('{"global_step": 5}')
    RunLog(run).finish("FINISHED")
    return run, MlflowClient(uri), run_id


def test_a_rerun_that_fails_its_checks_changes_nothing(tmp_path, finished_run, run_openrs):
    run, client, run_id = finished_run
    data = tmp_path / "d.jsonl"
    data.write_text('{"problem": "1+1", "answer": "2"}\n{"problem": null, "answer": "3"}\n')
    uri = f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"
    config = (run / "job.yaml").read_text()
    for args, message in [
        (["trainer.max_steps=99", "tracking=none"], f"{run} holds a run (checkpoint-5, mlflow_run.json)"),
        (["resume=/nonexistent", "trainer.max_steps=99", uri], f"{run} holds a run (checkpoint-5, mlflow_run.json)"),
        (["resume=true", data_source(data), uri], f"changes what {run}'s run trains (data.sources: "),
    ]:
        proc = run_openrs("-m", "openrs", "+experiment=smoke", f"hydra.run.dir={run}", *args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert message in proc.stderr
        assert (run / "job.yaml").read_text() == config
        finished = client.get_run(run_id)
        assert finished.info.status == "FINISHED" and "openrs.error" not in finished.data.tags


@pytest.mark.slow
def test_a_rerun_that_crashes_leaves_a_finished_run_finished(tmp_path, finished_run, run_openrs):
    run, client, run_id = finished_run  # its checkpoint has no weights: resuming it crashes
    proc = run_openrs("-m", "openrs", "+experiment=smoke", f"hydra.run.dir={run}", "resume=true",
                      "eval.every_steps=null", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db")  # fmt: skip
    assert proc.returncode == 1 and "checkpoint-5" in proc.stderr, proc.stderr[-3000:]
    finished = client.get_run(run_id)
    assert finished.info.status == "FINISHED" and "openrs.error" not in finished.data.tags


def test_dry_run_writes_the_resolved_job(tmp_path, run_openrs):
    proc = run_openrs("-m", "openrs", "+experiment=exp2", "hardware=a40x4", "dry_run=true", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert "6 per device x 3 processes x 4 accumulation" in proc.stdout
    assert "max_completion_length: 3584" in (tmp_path / "job.yaml").read_text()


def test_non_editable_install_finds_its_configs(tmp_path, repo, run_openrs):
    """The wheel ships conf/ inside the package; run it from a folder that has no conf/."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(repo)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("openrs-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "openrs/conf/experiment/exp3.yaml" in names and "openrs/data/benchmarks/amc23.jsonl" in names
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    proc = run_openrs("-m", "openrs", "+experiment=exp1", "--cfg", "job", cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stderr
    assert "max_completion_length: 4096" in proc.stdout
    locate = run_openrs("-c", "import openrs; print(openrs.CONF_DIR)", cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert locate.stdout.strip() == str(site / "openrs" / "conf")


@pytest.mark.parametrize("name", ["../escaped", "a/b", ".."])
def test_a_name_that_is_not_one_folder_is_refused_before_any_folder_is_made(tmp_path, name, run_openrs):
    work = tmp_path / "work"
    work.mkdir()
    proc = run_openrs("-m", "openrs", "+experiment=smoke", f"name={name}", "dry_run=true", cwd=work)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"openrs: name={name}: a name is one folder under outputs/ (and an MLflow experiment): no / or \\, not . or .."
    )
    assert list(tmp_path.rglob("*")) == [work]  # not outputs/, not ../escaped


@pytest.mark.parametrize(
    "env, problem",
    [
        ({}, "name=${oc.env:OPENRS_TEST_NAME}: cannot be resolved (KeyError raised while resolving interpolation: "
             "\"Environment variable 'OPENRS_TEST_NAME' not found\"); set what it refers to, or pass name=NAME"),
        ({"OPENRS_TEST_NAME": "a\nb"}, "name='a\\nb': a name is one line of printable characters: no newline, tab "
                                       "or other control character"),
    ],
)  # fmt: skip
def test_a_name_that_cannot_be_resolved_or_spans_lines_is_one_line_and_no_folder(tmp_path, env, problem, run_openrs):
    work = tmp_path / "work"
    work.mkdir()
    proc = run_openrs("-m", "openrs", "+experiment=smoke", "name=${oc.env:OPENRS_TEST_NAME}", "dry_run=true",
                      cwd=work, env=env)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr == f"openrs: {problem}\n", proc.stderr[-2000:]
    assert list(tmp_path.rglob("*")) == [work]


@pytest.mark.parametrize("override, shown", [("reward.grading.timeout_s=1e300", "1e+300"),
                                             ("reward.grading.timeout_s=1e-9", "1e-09"),
                                             ("trainer.learning_rate=1e308", "1e+308")])  # fmt: skip
def test_a_value_past_its_bound_stops_the_job_before_it_trains(override, shown, tmp_path, run_openrs):
    proc = run_openrs("-m", "openrs", "+experiment=smoke", override, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.startswith(f"openrs: invalid config:\n  {override.split('=')[0]}={shown}: Input should be ")
    assert not (tmp_path / "job.yaml").exists()


def test_an_output_dir_that_is_a_file_is_one_line_and_exit_2(tmp_path, run_openrs):
    a_file = tmp_path / "a_file"
    a_file.write_text("kept")
    proc = run_openrs("-m", "openrs", "+experiment=smoke", f"output_dir={a_file}", "dry_run=true",
                      f"hydra.run.dir={tmp_path}/run")  # fmt: skip
    assert proc.returncode == 2 and proc.stderr == (
        f"openrs: output_dir={a_file}: a file is there, not a folder; choose another folder\n"
    ), proc.stderr[-2000:]
    assert a_file.read_text() == "kept"


def test_a_refused_job_leaves_no_folder_and_a_dry_run_no_lock_or_empty_log(tmp_path, run_openrs):
    refused = run_openrs("-m", "openrs", "+experiment=smoke", "trainer.global_batch_size=7",
                         f"hydra.run.dir={tmp_path}/new/a/b")  # fmt: skip
    assert refused.returncode == 2 and "global_batch_size=7" in refused.stderr, refused.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []  # not even new/: Hydra's folders go with the refusal
    (tmp_path / "kept").mkdir()  # a folder that was there before stays
    refused = run_openrs("-m", "openrs", "+experiment=smoke", "trainer.global_batch_size=7",
                         f"hydra.run.dir={tmp_path}/kept/b")  # fmt: skip
    assert refused.returncode == 2 and list(tmp_path.iterdir()) == [tmp_path / "kept"]
    assert list((tmp_path / "kept").iterdir()) == []
    planned = run_openrs("-m", "openrs", "+experiment=smoke", "dry_run=true", f"hydra.run.dir={tmp_path}/plan")
    assert planned.returncode == 0 and {p.name for p in (tmp_path / "plan").iterdir()} == {".hydra", "job.yaml"}


@pytest.mark.parametrize(
    ("password", "where"),
    [("SECRET/pw", "tracking.uri=http://alice:{password}@127.0.0.1:9"),
     ("SECRET pw", "tracking.serve=postgresql://alice:{password}@db/mlflow"),
     ("SECRET@pw", "tracking.uri=postgresql://alice:{password}@db/mlflow"),
     ("SECRET:pw", "tracking.uri=https://alice:{password}@mlflow.example.org")],
)  # fmt: skip
def test_a_tracking_uri_with_a_password_is_refused_before_anything_is_written(tmp_path, run_openrs, password, where):
    # The run folder would keep it in job.yaml, .hydra/ and mlflow_run.json: the credentials belong in the env.
    for mode in ([], ["-m"]):
        job = run_openrs("-m", "openrs", *mode, "+experiment=smoke", where.format(password=password),
                         f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep")  # fmt: skip
        assert job.returncode == 2 and job.stderr.count("\n") == 1, job.stderr[-2000:]
        assert "holds a password" in job.stderr and "MLFLOW_TRACKING_PASSWORD" in job.stderr
        assert "SECRET" not in job.stdout + job.stderr and not list(tmp_path.iterdir())
