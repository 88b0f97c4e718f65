"""The MLflow model registry: a version per selected checkpoint, and the alias that names the best one."""

from __future__ import annotations


def register(client, name: str, source: str, run_id: str, score: float, alias: str) -> str:
    """A model version of source (once per run and source) in registered model `name`; move `alias` to the
    version with the highest best_score tag. Returns this run's version."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException:
        pass  # it exists
    versions = client.search_model_versions(f"name='{name}'")
    mine = next((v for v in versions if v.run_id == run_id and v.source == source), None)
    if mine is None:
        mine = client.create_model_version(name, source, run_id=run_id, tags={"best_score": f"{score:.6f}"})
        versions.append(mine)
    best = max(versions, key=lambda v: float(v.tags.get("best_score", "-inf")))
    client.set_registered_model_alias(name, alias, best.version)
    return mine.version
