"""The MLflow store: commands side by side on a new SQLite store create its tables once, one at a time, and write
nothing beside it in the user's folder."""

import os
import subprocess
import sys
import time
from pathlib import Path

from openrs.tracking.store import store_lock, store_uri


def waiting(folder: Path) -> int:
    """Processes blocked on a flock of folder: Linux's /proc/locks lists each waiter with `->`."""
    inode = f":{os.stat(folder).st_ino} "
    return sum("-> FLOCK" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


def test_two_paper_commands_at_once_on_a_new_store_both_log_the_same_runs(tmp_path, repo):
    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store}/mlflow.db"
    command = [sys.executable, "-m", "openrs.tracking", "paper", "--tracking-uri", uri]
    with store_lock(uri):  # both start while the store is held, so both open it the moment it is free
        procs = [subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]  # fmt: skip
        deadline = time.monotonic() + 120  # imports take seconds on a busy machine
        while waiting(store) < 2 and not (store / "mlflow.db").exists() and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.2)
        assert waiting(store) == 2 and not (store / "mlflow.db").exists()  # they wait for the store, not race
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    # The second finds the first's runs instead of logging them again; no lock file is left in the folder.
    assert outputs[0][0] == outputs[1][0] and outputs[0][0].count("openrs: the paper's exp") == 3
    assert sorted(os.listdir(store)) == ["mlflow.db"]


def test_a_sqlite_stores_folder_is_made_for_an_absolute_path_too(tmp_path):
    folder = tmp_path / "new" / "stores"
    assert store_uri(f"sqlite:///{folder}/mlflow.db") == f"sqlite:///{folder}/mlflow.db" and folder.is_dir()
