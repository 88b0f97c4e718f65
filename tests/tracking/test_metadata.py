

from openrs.tracking.metadata import ui_link


def test_the_run_link_asks_for_the_model_training_view():
    page = "#/experiments/3/runs/abc/model-metrics?workflowType=machine_learning"
    assert ui_link("http://host:5000/", "3", "abc") == f"http://host:5000/{page}"
    assert ui_link("sqlite:////x/m.db", "3", "abc").startswith(f"http://127.0.0.1:5000/{page} (mlflow ui --backend")
