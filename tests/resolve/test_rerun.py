"""One folder, one run: a rerun into a folder that holds a run is refused unless it resumes it, and a resume
may not change what the run trains. Nothing of the run is touched by a refused job."""

import pytest
import yaml

from openrs.base.errors import ConfigError
from openrs.resolve.rerun import check_rerun


@pytest.fixture(scope="session")
def smoke(job):
    """smoke(*overrides): the smoke job with these overrides, as job.yaml holds it."""

    def fields(*overrides: str) -> dict:
        return job("+experiment=smoke", *overrides).model_dump()

    return fields


def test_a_folder_without_a_run_takes_any_job(tmp_path, smoke):
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(smoke()))  # a dry run's plan only
    check_rerun(smoke("trainer.learning_rate=0.001"), tmp_path)


def test_a_run_is_resumed_only_with_what_may_change(tmp_path, smoke):
    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(smoke()))
    with pytest.raises(ConfigError, match=r"holds a run \(checkpoint-2\): continue it with resume=true"):
        check_rerun(smoke(), tmp_path)
    check_rerun(smoke("resume=true", "trainer.max_steps=300", "eval.every_steps=25", "tracking=none"), tmp_path)
    check_rerun(smoke(f"resume={tmp_path}/checkpoint-2"), tmp_path)
    with pytest.raises(ConfigError) as refused:
        check_rerun(smoke("resume=true", "trainer.learning_rate=0.001", "reward=cosine"), tmp_path)
    assert "trainer.learning_rate: 5e-05 -> 0.001" in str(refused.value)
    assert "reward.funcs: ['format', 'accuracy'] -> ['format', 'cosine']" in str(refused.value)
    with pytest.raises(ConfigError, match="holds a run"):  # another run's checkpoint is a new run's start
        check_rerun(smoke(f"resume={tmp_path.parent}/elsewhere/checkpoint-5"), tmp_path)


@pytest.fixture(scope="module")
def run(tmp_path_factory, run_openrs):
    """A finished 2-step smoke run (no tracking, no evaluation); its console output is in ../stdout.txt."""
    out = tmp_path_factory.mktemp("run") / "run"
    job = run_openrs("-m", "openrs", "+experiment=smoke", "trainer.max_steps=2", "trainer.save_steps=2",
                     "eval.every_steps=null", "tracking=none", f"hydra.run.dir={out}")  # fmt: skip
    assert job.returncode == 0, job.stderr[-3000:]
    (out.parent / "stdout.txt").write_text(job.stdout)
    return out


def test_a_finished_run_leaves_no_lock_and_no_empty_log_and_names_only_what_it_holds(run):
    assert not (run / "run.lock").exists() and not (run / "mlflow").exists()
    assert not (run / "__main__.log").exists() or (run / "__main__.log").stat().st_size > 0
    # No evaluation, so no selection.md: the last line does not name it.
    last = (run.parent / "stdout.txt").read_text().strip().splitlines()[-1]
    assert last == f"openrs: done; {run} holds checkpoints, the final model" and not (run / "selection.md").exists()


def snapshot(folder) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("run.lock", "__main__.log")}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.max_steps=1"], "holds a run (checkpoint-2, final): continue it with resume=true"),
        (["resume=true", "trainer.learning_rate=0.001", "reward=cosine"],
         "changes what {out}'s run trains (reward.funcs: ['format', 'accuracy'] -> ['format', 'cosine']; "
         "trainer.learning_rate: 5e-05 -> 0.001)"),
    ],
)  # fmt: skip
def test_a_refused_rerun_leaves_the_run_as_it_was(run, overrides, message, run_openrs):
    before = snapshot(run)
    job = run_openrs("-m", "openrs", "+experiment=smoke", "trainer.save_steps=2", "eval.every_steps=null",
                     "tracking=none", *overrides, f"hydra.run.dir={run}")  # fmt: skip
    assert job.returncode == 2 and message.format(out=run) in job.stderr, job.stderr[-2000:]
    assert job.stderr.strip().count("\n") == 0, job.stderr
    assert snapshot(run) == before  # final/, checkpoints, job.yaml and .hydra/ untouched


@pytest.mark.slow
def test_a_sweep_into_a_folder_that_holds_a_run_is_refused_before_hydra_writes_there(run, run_openrs):
    before = snapshot(run)
    sweep = ("-m", "openrs", "-m", "+experiment=smoke", "trainer.max_steps=1", "eval.every_steps=null",
             "tracking=none", f"hydra.sweep.dir={run.parent}", f"hydra.sweep.subdir={run.name}")  # fmt: skip
    job = run_openrs(*sweep)
    assert job.returncode == 2 and job.stderr.strip().count("\n") == 0, job.stderr
    assert f"{run.name}/ holds a run (checkpoint-2, final): resume=true continues its sweep" in job.stderr
    assert snapshot(run) == before  # .hydra/ too, and no error.txt
    # resume=true may rerun it, but a refused rerun (a changed config) writes no error.txt into the finished run.
    job = run_openrs(*sweep, "resume=true", "trainer.learning_rate=0.001")
    assert job.returncode != 0 and "changes what" in job.stderr
    assert {k: v for k, v in snapshot(run).items() if not k.startswith(".hydra/")} == {
        k: v for k, v in before.items() if not k.startswith(".hydra/")
    }


@pytest.mark.slow
def test_a_sweep_into_a_run_folder_itself_is_refused(run, run_openrs):
    before = snapshot(run)
    job = run_openrs("-m", "openrs", "-m", "+experiment=smoke", "tracking=none", f"hydra.sweep.dir={run}")
    assert job.returncode == 2 and "it is a run's folder; a sweep's folder holds a folder per job" in job.stderr
    assert snapshot(run) == before and not (run / "0").exists()


@pytest.mark.slow
def test_a_sweep_with_its_own_subdir_names_is_refused_where_an_earlier_job_left_a_run(run, run_openrs):
    before = snapshot(run)
    job = run_openrs("-m", "openrs", "-m", "+experiment=smoke", "tracking=none", f"hydra.sweep.dir={run.parent}",
                     "hydra.sweep.subdir=job_${hydra:job.num}")  # fmt: skip
    assert job.returncode == 2 and f"{run.name}/ holds a run (checkpoint-2, final)" in job.stderr, job.stderr
    assert snapshot(run) == before and not list(run.parent.glob("job_*"))


def test_only_a_folder_openrs_made_is_written(tmp_path, smoke):
    from openrs.resolve.rerun import check_owned

    check_owned(tmp_path / "new", None)
    check_owned(tmp_path, None)
    (tmp_path / ".hydra").mkdir()
    (tmp_path / "run.lock").touch()  # what Hydra and a job leave before job.yaml
    check_owned(tmp_path, None)
    (tmp_path / "pruned").touch()
    with pytest.raises(ConfigError, match=r"it holds pruned and no job.yaml\): a job writes only into a new or empty"):
        check_owned(tmp_path, None)
    (tmp_path / "job.yaml").write_text(yaml.safe_dump({"title": "my notes"}))
    with pytest.raises(ConfigError, match="its job.yaml is not an openrs job's config"):
        check_owned(tmp_path, None)
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(smoke()))
    check_owned(tmp_path, None)
    (tmp_path / ".hydra" / "config.yaml").write_text("db: postgres\n")
    with pytest.raises(ConfigError, match=r"its .hydra/config.yaml is not an openrs job's config"):
        check_owned(tmp_path, None)
    (tmp_path / ".hydra" / "config.yaml").unlink()
    (tmp_path / "mlflow.db").touch()  # the job's own store, where its tracking.uri keeps it: the job's too
    (tmp_path / "mlartifacts").mkdir()
    check_owned(tmp_path, f"sqlite:///{tmp_path}/mlflow.db")
    with pytest.raises(ConfigError, match=r"it holds mlartifacts, mlflow.db\)"):  # another job's store
        check_owned(tmp_path, f"sqlite:///{tmp_path}/elsewhere/mlflow.db")
    (tmp_path / "mlflow.db").unlink()
    (tmp_path / "mlartifacts").rmdir()
    for name in ("notes.txt", "data", "e", "f", "g"):
        (tmp_path / name).touch()
    with pytest.raises(ConfigError, match=r"it holds data, e, f, g and 1 more\)"):  # pruned is ours
        check_owned(tmp_path, None)


@pytest.mark.slow
def test_a_users_folder_is_refused_before_anything_is_written(tmp_path, run_openrs):
    (tmp_path / "README.md").write_text("my project")
    (tmp_path / "job.yaml").write_text("slurm: {partition: gpu}\n")
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("mine: true\n")
    (tmp_path / "pruned").touch()
    before = snapshot(tmp_path)
    job = run_openrs("-m", "openrs", "+experiment=smoke", "tracking=none", f"hydra.run.dir={tmp_path}")
    assert job.returncode == 2 and job.stderr.strip().count("\n") == 0, job.stderr
    assert "is not a run folder openrs made (its job.yaml is not an openrs job's config)" in job.stderr
    assert snapshot(tmp_path) == before and not (tmp_path / "run.lock").exists()


@pytest.mark.slow
def test_a_stale_pruned_marker_is_cleared_when_the_run_goes_on(run, run_openrs):
    # Last in this file: it resumes the shared run. A marker outside a trial (a pruned trial's folder resumed
    # by hand, or a stray file) must not end the run as pruned.
    (run / "pruned").touch()
    job = run_openrs("-m", "openrs", "+experiment=smoke", "trainer.max_steps=2", "trainer.save_steps=2",
                     "eval.every_steps=null", "tracking=none", "resume=true", f"hydra.run.dir={run}")  # fmt: skip
    assert job.returncode == 0 and "TrialPruned" not in job.stderr, job.stderr[-2000:]
    assert not (run / "pruned").exists()
