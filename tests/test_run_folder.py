
import pytest

from openrs.base.errors import ConfigError
from openrs.run_folder import newest_checkpoint


def test_newest_checkpoint_skips_incomplete_ones(tmp_path, job):
    # 30: no trainer_state.json yet; 40: an empty one (a full disk); 50: cut short mid-write.
    for step, state in [(10, "{}"), (20, '{"global_step": 20}'), (30, None), (40, ""), (50, '{"global_step": 5')]:
        (tmp_path / f"checkpoint-{step}").mkdir()
        if state is not None:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-x").mkdir()
    assert newest_checkpoint(tmp_path) == tmp_path / "checkpoint-20"
    assert newest_checkpoint(tmp_path / "checkpoint-30") is None
    from openrs.run_folder import resume_checkpoint

    resumed = job("+experiment=smoke", "resume=true", output_dir=str(tmp_path))
    assert resume_checkpoint(resumed) == tmp_path / "checkpoint-20"
    for step in (40, 50):
        at_step = job("+experiment=smoke", f"resume={tmp_path}/checkpoint-{step}")
        with pytest.raises(ConfigError, match="no complete checkpoint there"):
            resume_checkpoint(at_step)


def test_resume_from_a_path_without_checkpoint_is_a_config_error(tmp_path, job):
    from openrs.run_folder import resume_checkpoint

    resuming = job("+experiment=smoke", f"resume={tmp_path}")
    with pytest.raises(ConfigError, match="no complete checkpoint"):
        resume_checkpoint(resuming)


HOLD = """
import sys, time
from pathlib import Path
from openrs.run_folder import claim
lock = claim(Path(sys.argv[1]), "a test holder")
print("held", flush=True)
time.sleep(600)
"""


def test_a_folder_is_held_by_one_process_and_freed_when_it_dies(tmp_path, run_openrs):
    import signal
    import subprocess
    import sys

    from openrs.run_folder import claim

    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(ConfigError, match=rf"is in use by a test holder \(process {holder.pid} on .*, since "):
            claim(tmp_path, "a second process")
        # A real job stops at once, in one line, exit 2, and writes nothing.
        job = run_openrs("-m", "openrs", "+experiment=smoke", "dry_run=true", f"hydra.run.dir={tmp_path}")
        assert job.returncode == 2 and f"process {holder.pid}" in job.stderr and not (tmp_path / "job.yaml").exists()
        assert job.stderr.strip().count("\n") == 0, job.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The dead holder's lock is free: the next process takes the folder over and names itself.
    with claim(tmp_path, "the next job"):
        assert (tmp_path / "run.lock").read_text().startswith("the next job (process ")
    assert not (tmp_path / "run.lock").exists()  # released: no stale lock file left
