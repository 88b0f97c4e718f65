"""The paper's per-checkpoint curves as MLflow runs, beside a user's: openrs's metric names
(benchmark/<benchmark>/pass_at_1 with _low and _high, the 95% interval of one sample per problem) at the
paper's steps, so the MLflow UI overlays them on a run's step-wise evaluations."""

from __future__ import annotations

import yaml

from openrs import CONF_DIR
from openrs.tracking.metadata import eval_metric
from openrs.tracking.store import experiment_id
from openrs.verdict.comparison import one_sample_score
from openrs.verdict.paper import paper

REFERENCE_TAG = "openrs.reference"


def log_paper_runs(uri: str, experiment: str | None = None) -> dict[str, str]:
    """One run per paper experiment (exp1-3) in the store at uri, in `experiment` or else in the experiment of
    the same name (where openrs logs that preset's jobs); a run logged before is kept, not logged twice.
    Returns experiment -> run id."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client, ref, ids = MlflowClient(uri), paper(), {}
    # What openrs-verdict reads of a run besides its curve: the paper's base model and protocol, and the detector's
    # settings (openrs's defaults, from conf/config.yaml).
    defaults = yaml.safe_load((CONF_DIR / "config.yaml").read_text())["selection"]
    selection = {f"selection.{k}": str(v) for k, v in defaults.items()}
    for name, curve in ref.curves.items():
        where = experiment_id(client, experiment or name, uri)
        logged = client.search_runs([where], f"tags.`{REFERENCE_TAG}` = '{name}'")
        if logged:
            ids[name] = logged[0].info.run_id
            continue
        run = client.create_run(where, run_name=f"paper {name} ({ref.rows_of[name]})", tags={REFERENCE_TAG: name})
        metrics = []
        for step, scores in curve.items():
            for benchmark, value in scores.items():
                s = one_sample_score(value, ref.problems[benchmark])
                for statistic, v in (("pass_at_1", s.value), ("pass_at_1_low", s.low), ("pass_at_1_high", s.high)):
                    metrics.append(Metric(eval_metric(benchmark, statistic), v, 0, step))
        params = {"name": name, "model.name_or_path": ref.base_model, "eval.protocol": "paper", **selection}
        client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()],
                         tags=[RunTag("mlflow.note.content", _note(name))])  # fmt: skip
        client.set_terminated(run.info.run_id)
        ids[name] = run.info.run_id
    return ids


def _note(name: str) -> str:
    ref = paper()
    return (f"The Open-RS paper's {name} as the open-rs repository logged it (lighteval, one sample per problem, "
            f"AIME24, AMC23 and MATH-500 every 50 steps); the paper kept step {ref.chosen_step[name]} as "
            f"{ref.rows_of[name]}. Source: openrs/verdict/open_rs_paper.json.")
