"""The MLflow model registry: a version per selected checkpoint, and the alias that names the best one."""

from __future__ import annotations

# What a score means depends on what it was measured on: the tag names a job's evaluation set (benchmarks with
# their samples, protocol, sampling; openrs.selection.checkpoint.eval_set), on its run and on each model version.
EVAL_SET_TAG = "openrs.eval_set"


def register(client, name: str, source: str, run_id: str, score: float, alias: str) -> str:
    """A model version of source (once per run and source) in registered model `name`, tagged with its score and
    its run's evaluation set (EVAL_SET_TAG); move `alias` to the version with the highest best_score tag among those
    evaluated on the same set as the newest version (versions without the tag, registered before it existed, compete
    only with each other). Returns this run's version."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException:
        pass  # it exists
    versions = client.search_model_versions(f"name='{name}'")
    mine = next((v for v in versions if v.run_id == run_id and v.source == source), None)
    if mine is None:
        tags = {"best_score": f"{score:.6f}"}
        if (eval_set := client.get_run(run_id).data.tags.get(EVAL_SET_TAG)) is not None:
            tags[EVAL_SET_TAG] = eval_set
        mine = client.create_model_version(name, source, run_id=run_id, tags=tags)
        versions.append(mine)
    # The newest version's set, not this one's: replaying an older run's registration moves nothing.
    newest = max(versions, key=lambda v: int(v.version)).tags.get(EVAL_SET_TAG)
    rivals = [v for v in versions if v.tags.get(EVAL_SET_TAG) == newest]
    best = max(rivals, key=lambda v: float(v.tags.get("best_score", "-inf")))
    client.set_registered_model_alias(name, alias, best.version)
    return mine.version
