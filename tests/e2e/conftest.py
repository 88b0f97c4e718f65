"""The CPU miniature's seed study, shared by the tests that read a trained smoke run."""

import pytest

# Shorter than sweeps/smoke_seeds.yaml's jobs: by step 100 the smoke recipe gains about 10 points on arithmetic:hard
# (+9.5, 95% [+4.9, +14.0] over seeds 0-2 on the development machine), evaluated at steps 0 and 100.
SHORT = ("eval.benchmarks=[arithmetic:hard]", "selection.early_stop=false")


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory, run_openrs):
    """(folder, the learning sweep's process, the update-off sweep's process): sweeps/smoke_seeds.yaml (seeds 0, 1, 2)
    trained 100 steps into folder/learning, and again with the GRPO update off (learning rate 1e-30) into
    folder/off, both tracked in folder/mlflow.db. With the update off the weights never move, so one step shows what
    a hundred would: only the evaluation's sampling differs between step 0 and step 1."""
    tmp = tmp_path_factory.mktemp("smoke_study")
    uri = f"tracking.uri=sqlite:///{tmp}/mlflow.db"
    study = ("-m", "openrs", "-m", "--config-dir", "sweeps", "--config-name", "smoke_seeds", *SHORT, uri)
    learning = run_openrs(*study, "trainer.max_steps=100", "trainer.save_steps=100", "eval.every_steps=100",
                          f"hydra.sweep.dir={tmp / 'learning'}")  # fmt: skip
    off = run_openrs(*study, "trainer.learning_rate=1e-30", "trainer.max_steps=1", "trainer.save_steps=1",
                     "eval.every_steps=1", f"hydra.sweep.dir={tmp / 'off'}")  # fmt: skip
    for proc in (learning, off):
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return tmp, learning, off
