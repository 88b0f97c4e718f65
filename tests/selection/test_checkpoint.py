from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from simulated_runs import simulate_run

from openrs.run_folder import resume_checkpoint
from openrs.selection.checkpoint import select
from openrs.tracking.run_start import start_run


def test_selection_is_logged_and_the_best_run_holds_the_champion_alias(tmp_path, make_job, write_eval):
    rng = np.random.default_rng(0)
    scores = {}
    for name, curve in [("low", [0, 0.02, 0.02, 0.02]), ("high", [0, 0.2, 0.2, 0.2])]:
        job = make_job(tmp_path / name, f"tracking.uri=sqlite:///{tmp_path}/mlflow.db")
        start_run(job, {}, [], None, resumed_from=resume_checkpoint(job))
        write_eval(Path(job.output_dir), simulate_run(rng, 200, 4, curve))
        s = select(Path(job.output_dir))
        scores[name] = s
        assert (Path(job.output_dir) / "degradation.png").stat().st_size > 10_000
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    champion = client.get_model_version_by_alias("smoke", "champion")
    step = scores["high"].best_step
    assert champion.source == f"runs:/{champion.run_id}/checkpoints/checkpoint-{step}" and step > 0
    assert Path(scores["high"].checkpoint).name == f"checkpoint-{step}"
    run = client.get_run(champion.run_id)
    assert run.data.tags["selection.best_step"] == str(scores["high"].best_step)
    assert run.data.metrics["best/score"] == pytest.approx(scores["high"].best_score)
    assert {a.path for a in client.list_artifacts(run.info.run_id, "selection")} >= {"selection/degradation.png"}
