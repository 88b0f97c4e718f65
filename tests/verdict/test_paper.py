"""The paper's numbers shipped in openrs/verdict/open_rs_paper.json, checked against their sources: the open-rs
repository's lighteval logs (copied unchanged into tests/verdict/open_rs_logs, MIT) and Table 1 of the paper."""

import json
import re
from pathlib import Path

import pytest

from openrs.verdict.paper import paper

LOGS = Path(__file__).with_name("open_rs_logs")
REPO = Path(__file__).resolve().parents[2]
PAPER_TEXT = REPO.parent / "shared" / "paper" / "open-rs-paper.txt"
LIGHTEVAL = {"aime24": "aime24", "math_500": "math500", "amc23": "amc23", "minerva": "minerva_math",
             "olympiadbench": "olympiadbench"}  # fmt: skip


def logged(folder: str) -> dict[tuple[int, int], dict[str, float]]:
    """(experiment, step) -> benchmark -> extractive_match of every results_*.json under LOGS/folder."""
    found: dict[tuple[int, int], dict[str, float]] = {}
    for path in LOGS.glob(f"{folder}/Exp*_*/results/*/*/results_*.json"):
        exp, step = map(int, re.fullmatch(r"Exp(\d)_(\d+)", path.parts[len(LOGS.parts) + 1]).groups())
        for task, scores in json.loads(path.read_text())["results"].items():
            if task != "all":
                benchmark = LIGHTEVAL[task.split("|")[1]]
                value, seen = scores["extractive_match"], found.setdefault((exp, step), {})
                assert seen.get(benchmark, value) == value  # a step's repeated logs agree
                seen[benchmark] = value
    return found


def test_the_checkpoint_curves_are_the_logs_own_values():
    shipped = {(int(e[-1]), step): scores for e, curve in paper().curves.items() for step, scores in curve.items()}
    assert shipped == logged("evals")
    assert len(shipped) == 21 and all(set(s) == {"aime24", "math500", "amc23"} for s in shipped.values())


def test_the_open_rs_rows_are_the_final_evaluations_logged_rounded():
    ref = paper()
    for (exp, step), scores in logged("overall").items():
        assert ref.chosen_step[f"exp{exp}"] == step
        row = ref.rows[ref.rows_of[f"exp{exp}"]]
        assert {b: round(100 * v, 1) for b, v in scores.items()} == pytest.approx(
            {b: 100 * row[b] for b in scores}, abs=0.051)  # Table 1 rounds half up or down


@pytest.mark.skipif(not PAPER_TEXT.is_file(), reason="../shared/paper is not beside the checkout")
def test_table_1_is_the_papers():
    text = PAPER_TEXT.read_text()
    columns = ["aime24", "math500", "amc23", "minerva_math", "olympiadbench", "average"]
    for model, scores in paper().rows.items():
        line = next(li for li in text.splitlines() if li.startswith(model + "\t"))
        printed = dict(zip(columns, line.split("\t")[1:], strict=True))
        assert {b: f"{100 * v:.1f}" for b, v in scores.items()} == {b: v for b, v in printed.items() if v != "-"}
    assert len(paper().rows) == 12 and paper().base_row in paper().rows
