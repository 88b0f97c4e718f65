"""A seed study's sweep summary in a real SQLite store: the parent run tagged, the mean over the seeds by benchmark and
step with its t interval, the band figure; a sweep that changes more than the seed gets none of it."""

import csv
import json

import pytest
from mlflow import MlflowClient

from openrs.base.seeds import over_seeds
from openrs.run_folder import PARENT_FILE
from openrs.tracking.metadata import SWEEP_TAG, eval_metric, flatten
from openrs.tracking.seed_study import STUDY, STUDY_TAG
from openrs.tracking.sweep_summary import write_summary

# Seed -> step -> pass@1 on two benchmarks; seed 2 has not evaluated step 100 yet.
CURVES = {0: {0: (0.50, 0.20), 50: (0.60, 0.25), 100: (0.70, 0.30)},
          1: {0: (0.52, 0.22), 50: (0.64, 0.27), 100: (0.66, 0.26)},
          2: {0: (0.48, 0.18), 50: (0.62, 0.23)}}  # fmt: skip


def tracked_sweep(tmp_path, job, overrides_of_the_last: tuple[str, ...] = ()):
    """A sweep folder whose parent run has one child per seed of CURVES, logged as jobs log them; (client, parent)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("smoke")
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    parent = client.create_run(experiment, tags={SWEEP_TAG: str(sweep)}).info.run_id
    (sweep / PARENT_FILE).write_text(json.dumps({"run_id": parent, "tracking_uri": uri}))
    for seed, curve in CURVES.items():
        extra = overrides_of_the_last if seed == max(CURVES) else ()
        config = job("+experiment=smoke", f"seed={seed}", *extra, output_dir=str(sweep / str(seed))).model_dump()
        run = client.create_run(experiment, run_name=f"smoke seed={seed}", tags={"mlflow.parentRunId": parent})
        for key, value in flatten(config).items():
            client.log_param(run.info.run_id, key, value)
        for step, scores in curve.items():
            for name, value in zip(("arithmetic:easy", "arithmetic:hard"), scores, strict=True):
                client.log_metric(run.info.run_id, eval_metric(name, "pass_at_1"), value, step=step)
        client.set_terminated(run.info.run_id)
    return client, parent, sweep


def test_a_seed_studys_summary_gives_the_mean_over_seeds_with_its_interval_at_every_step(tmp_path, job):
    client, parent, sweep = tracked_sweep(tmp_path, job)
    write_summary(sweep, final=True)
    assert client.get_run(parent).data.tags[STUDY_TAG] == STUDY
    with open(sweep / "sweep_study.csv") as f:
        table = {(r["benchmark"], int(r["step"])): r for r in csv.DictReader(f)}
    assert set(table) == {(b, s) for b in ("arithmetic:easy", "arithmetic:hard") for s in (0, 50, 100)}
    for (name, step), row in table.items():
        values = [curve[step][name == "arithmetic:hard"] for curve in CURVES.values() if step in curve]
        expected = over_seeds(values)
        assert int(row["seeds"]) == len(values) == (2 if step == 100 else 3)
        assert [float(row[k]) for k in ("mean", "sd", "low", "high")] == pytest.approx(
            [expected.mean, expected.sd, expected.low, expected.high]
        )
    summary = (sweep / "sweep_summary.md").read_text()
    assert "Over the seeds:" in summary and "| arithmetic:easy | 50 | 3 | 62.0 | 2.0 | 57.0-67.0 |" in summary
    assert (sweep / "sweep_curves.png").stat().st_size > 10_000
    assert {a.path for a in client.list_artifacts(parent)} >= {"sweep_study.csv", "sweep_curves.png"}


def test_a_sweep_that_changes_more_than_the_seed_is_no_study(tmp_path, job):
    client, parent, sweep = tracked_sweep(tmp_path, job, ("trainer.learning_rate=1e-30",))
    write_summary(sweep, final=True)
    assert STUDY_TAG not in client.get_run(parent).data.tags
    assert not (sweep / "sweep_study.csv").exists() and "Over the seeds" not in (sweep / "sweep_summary.md").read_text()
