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
    """A finished 2-step smoke run (no tracking, no evaluation)."""
    out = tmp_path_factory.mktemp("run")
    job = run_openrs("-m", "openrs", "+experiment=smoke", "trainer.max_steps=2", "trainer.save_steps=2",
                     "eval.every_steps=null", "tracking=none", f"hydra.run.dir={out}")  # fmt: skip
    assert job.returncode == 0, job.stderr[-3000:]
    return out


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
def test_a_sweep_job_into_a_folder_that_holds_a_run_is_refused(run, run_openrs):
    # Hydra writes a sweep job's .hydra/ before the job starts; the job itself refuses the folder, so its run's
    # checkpoints, final/ and job.yaml stay as they were. The sweep records why the job failed (error.txt).
    def run_files():
        return {name: data for name, data in snapshot(run).items() if not name.startswith((".hydra/", "error.txt"))}

    before = run_files()
    job = run_openrs("-m", "openrs", "-m", "+experiment=smoke", "trainer.max_steps=1", "eval.every_steps=null",
                     "tracking=none", f"hydra.sweep.dir={run.parent}", f"hydra.sweep.subdir={run.name}")  # fmt: skip
    assert job.returncode != 0 and "holds a run (checkpoint-2, final): continue it with resume=true" in job.stderr
    assert run_files() == before and "holds a run" in (run / "error.txt").read_text()
