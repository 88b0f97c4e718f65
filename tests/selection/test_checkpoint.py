from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from simulated_runs import simulate_run

from openrs.run_folder import SELECTION_JSON, claim, resume_checkpoint
from openrs.selection.__main__ import main as openrs_select
from openrs.selection.checkpoint import eval_set, select
from openrs.tracking.registry import EVAL_SET_TAG
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


def test_the_eval_set_names_what_a_score_means(job):
    evaluation = job("+experiment=smoke").eval
    key = eval_set(evaluation)
    assert key == eval_set(evaluation.model_copy(update={"benchmarks": evaluation.benchmarks[::-1]}))
    assert key.startswith("arithmetic:easy*1,arithmetic:hard*1 protocol=openrs ")
    for change in ({"benchmarks": ["arithmetic:easy"]}, {"samples": 4}, {"protocol": "paper"}, {"temperature": 0.6},
                   {"max_new_tokens": 4096}, {"samples_per_benchmark": {"arithmetic:hard": 8}}):  # fmt: skip
        assert eval_set(evaluation.model_copy(update=change)) != key, change


def test_an_analysis_of_a_job_still_training_selects_but_registers_nothing(tmp_path, make_job, write_eval, capsys):
    job = make_job(tmp_path)
    out = Path(job.output_dir)
    run_id = start_run(job, {}, [], None, resumed_from=resume_checkpoint(job))
    write_eval(out, simulate_run(np.random.default_rng(0), 200, 4, [0, 0.2, 0.2, 0.2]))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    with claim(out, "openrs job smoke"):  # the job, still training
        openrs_select([str(out)])
        assert (out / SELECTION_JSON).is_file()
        assert client.search_model_versions("name='smoke'") == []
        assert "still training (run.lock held by openrs job smoke (process" in capsys.readouterr().err
        assert "selection.best_step" not in client.get_run(run_id).data.tags  # the job logs its own at its end
        select(out)  # the job itself at its end, holding its folder, registers
    champion = client.get_model_version_by_alias("smoke", "champion")
    assert champion.run_id == run_id and champion.tags[EVAL_SET_TAG] == eval_set(job.eval)
    assert client.get_run(run_id).data.tags[EVAL_SET_TAG] == eval_set(job.eval)
