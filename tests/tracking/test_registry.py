"""The model registry on a real SQLite store: a version competes for the alias only with versions evaluated on the
same set (tag openrs.eval_set); versions registered before the tag existed never compete with tagged ones."""

import pytest
from mlflow import MlflowClient

from openrs.tracking.registry import EVAL_SET_TAG, register

EASY = "arithmetic:easy*1 protocol=openrs temperature=1.0 top_p=1.0 max_new_tokens=64"
FULL = "arithmetic:easy*1,arithmetic:hard*1 protocol=openrs temperature=1.0 top_p=1.0 max_new_tokens=64"


@pytest.fixture
def client(tmp_path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")


def registered(client: MlflowClient, eval_set: str | None, score: float) -> str:
    """A new run (with eval_set as its run tag, as openrs.selection sets it) registered with score; its version."""
    experiment = client.get_experiment_by_name("jobs") or client.get_experiment(client.create_experiment("jobs"))
    run_id = client.create_run(experiment.experiment_id, tags={EVAL_SET_TAG: eval_set} if eval_set else {}).info.run_id
    return register(client, "model", f"runs:/{run_id}/checkpoints/checkpoint-2", run_id, score, "champion")


def champion(client: MlflowClient) -> str:
    return client.get_model_version_by_alias("model", "champion").version


def test_the_champion_is_the_best_of_the_newest_versions_evaluation_set(client):
    full = registered(client, FULL, 0.40)
    sweep = registered(client, EASY, 0.90)  # a 2-step sweep job scored on the easy benchmark only
    assert champion(client) == sweep  # the only version of the newest set
    assert registered(client, FULL, 0.30) and champion(client) == full  # 0.90 on easy alone does not outrank 0.40
    assert registered(client, EASY, 0.50) and champion(client) == sweep
    tags = {int(v.version): v.tags[EVAL_SET_TAG] for v in client.search_model_versions("name='model'")}
    assert tags == {1: FULL, 2: EASY, 3: FULL, 4: EASY}


def test_versions_without_the_tag_never_compete_with_tagged_ones_and_a_replay_moves_nothing(client):
    experiment = client.create_experiment("jobs")
    old = client.create_run(experiment).info.run_id  # selected before the tag existed
    source = f"runs:/{old}/checkpoints/checkpoint-2"
    first = register(client, "model", source, old, 0.99, "champion")
    assert champion(client) == first
    tagged = registered(client, FULL, 0.20)
    assert champion(client) == tagged
    # The old run's journal replayed: its version exists, and the alias stays with the newest version's set.
    assert register(client, "model", source, old, 0.99, "champion") == first and champion(client) == tagged
    assert len(client.search_model_versions("name='model'")) == 2
