"""A seed study on the CPU miniature (the smoke_study fixture): three smoke seeds tell a gain over the base model
from the seed, the same study with the GRPO update off does not, and a run of another recipe is refused."""

import json
import re

import pytest
from mlflow import MlflowClient

from openrs.run_folder import PARENT_FILE
from openrs.tracking.seed_study import STUDY, STUDY_TAG


def verdict(run_openrs, *targets: str, cwd=None):
    proc = run_openrs("-m", "openrs.verdict", *targets, cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr.strip()


GAIN = re.compile(r"- gain over base ([+-][\d.]+) points \(95% \[([+-][\d.]+), ([+-][\d.]+)\]\) on "
                  r"arithmetic:hard over 3 seeds(: not distinguishable from no gain)?\.")  # fmt: skip


@pytest.mark.slow
def test_three_smoke_seeds_gain_over_base_beyond_their_spread(smoke_study, run_openrs):
    tmp, learning, _ = smoke_study
    assert learning.stdout.startswith("openrs: a seed study: 3 runs identical but for the seed, 100 steps each")
    code, out, err = verdict(run_openrs, str(tmp / "learning"))
    assert code == 0, err
    gain = GAIN.search(out)
    assert gain and float(gain[2]) > 0 and gain[4] is None, out
    # The study in MLflow: its parent run tagged, the mean over seeds in the summary, the same verdict from the parent.
    parent = json.loads((tmp / "learning" / PARENT_FILE).read_text())["run_id"]
    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    assert client.get_run(parent).data.tags[STUDY_TAG] == STUDY
    assert "| arithmetic:hard | 100 | 3 |" in (tmp / "learning" / "sweep_summary.md").read_text()
    code, from_mlflow, err = verdict(run_openrs, parent, "--tracking-uri", f"sqlite:///{tmp}/mlflow.db", cwd=tmp)
    assert code == 0, err
    # Read from each job's job.yaml and eval/ artifacts, the same verdict, but for the names of its runs.
    assert [line for line in from_mlflow.splitlines() if not line.startswith("| MLflow run ")] == [
        line for line in out.splitlines() if not line.startswith("| run folder ")
    ]
    assert {p.name for p in (tmp / "outputs" / "verdict" / parent).iterdir()} == {"verdict.md", "verdict.csv",
                                                                                   "curves.png"}  # fmt: skip


@pytest.mark.slow
def test_with_the_update_off_the_gain_is_not_distinguishable_from_none(smoke_study, run_openrs):
    tmp, _, off = smoke_study
    code, out, err = verdict(run_openrs, str(tmp / "off"))
    assert code == 0, err
    gain = GAIN.search(out)
    assert gain and gain[4] == ": not distinguishable from no gain", out


@pytest.mark.slow
def test_a_run_of_another_learning_rate_is_no_part_of_the_study(smoke_study, run_openrs):
    tmp, _, _ = smoke_study
    mixed = (str(tmp / "learning" / "0"), str(tmp / "learning" / "1"), str(tmp / "off" / "2"))
    code, out, err = verdict(run_openrs, *mixed)
    assert code == 2 and out == "" and err.count("\n") == 0, err
    assert re.search(r"these runs differ in more than the seed \(.*trainer\.learning_rate.*\)", err), err
