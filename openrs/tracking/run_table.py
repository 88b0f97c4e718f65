"""The table of runs (`openrs-report`, and a tracked sweep's summary): one row per run with its
selection (best score with the 95% interval, best step, onset of degradation), its cost (GPU-hours, USD) and
status."""

from __future__ import annotations


def runs_of(client, target: str) -> list:
    """The runs `target` names: an experiment's runs, a parent run's children, or the run itself."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(target)
    if experiment is not None:
        return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    try:
        run = client.get_run(target)
    except MlflowException:
        raise ValueError(f"{target!r} is neither an experiment name nor a run id in {client.tracking_uri}") from None
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{target}'", order_by=["attributes.start_time ASC"]
    )
    return children or [run]


def jobs(client, parent_id: str) -> list:
    """The runs of a sweep's jobs, oldest first."""
    return [r for r in runs_of(client, parent_id) if r.info.run_id != parent_id]


COLUMNS = ["run", "status", "best pass@1 %", "best step", "onset", "hours", "GPU-hours", "USD", "run id"]


def rows(runs: list) -> list[dict]:
    """One dict per run: name, status, best score % [low, high], best step, onset, hours, GPU-hours, USD."""
    table = []
    for run in runs:
        m, t = run.data.metrics, run.data.tags
        score = (
            f"{100 * m['best/score']:.1f} [{100 * m['best/score_low']:.1f}, {100 * m['best/score_high']:.1f}]"
            if "best/score" in m
            else ""
        )
        cost = [f"{m[k]:.2f}" if k in m else "" for k in ("cost/hours", "cost/gpu_hours", "cost/usd")]
        values = [run.info.run_name, run.info.status, score, t.get("selection.best_step", ""),
                  t.get("selection.onset_step", ""), *cost, run.info.run_id]  # fmt: skip
        table.append(dict(zip(COLUMNS, values, strict=True)))
    return table


def _cell(value) -> str:
    """A table cell on one line: an error message may hold newlines and pipes."""
    return " ".join(str(value).split()).replace("|", "\\|")


def markdown(table: list[dict]) -> str:
    if not table:
        return "no runs\n"
    keys = list(table[0])
    lines = ["| " + " | ".join(keys) + " |", "|---" * len(keys) + "|"]
    lines += ["| " + " | ".join(_cell(r[k]) for k in keys) + " |" for r in table]
    return "\n".join(lines) + "\n"
