"""openrs-verdict end to end: the paper's own curves judged consistent, a lowered benchmark judged below, runs
that cannot be compared refused in one line; the paper's curves as MLflow runs."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from openrs.evaluation.harness import ProblemResult, write_report
from openrs.verdict.paper import paper
from openrs.verdict.paper_runs import log_paper_runs


def results(scores: dict[str, float]) -> list[ProblemResult]:
    """One sample per problem, round(pass@1 x problems) right, in the harness's own records."""
    rows = []
    for benchmark, value in scores.items():
        n = paper().problems.get(benchmark, 100)
        for i in range(n):
            ok = i < round(value * n)
            rows.append(ProblemResult(benchmark, i, "1", correct=int(ok), samples=1, predictions=["1"],
                                      outcomes=["correct" if ok else "wrong"], lengths=[100]))  # fmt: skip
    return rows


@pytest.fixture(scope="session")
def verdict(run_openrs):
    """verdict(*args): `python -m openrs.verdict ARGS`'s exit code, output and error output."""

    def run(*args: str):
        proc = run_openrs("-m", "openrs.verdict", *args)
        return proc.returncode, proc.stdout, proc.stderr.strip()

    return run


def rows_of(report: str) -> dict[str, str]:
    """benchmark -> verdict from the printed table."""
    return {cells[1].strip(): cells[5].strip() for cells in (line.split("|") for line in report.splitlines())
            if len(cells) == 7 and cells[5].strip() in ("consistent", "above", "below")}  # fmt: skip


@pytest.mark.parametrize("exp", ["exp1", "exp2", "exp3"])
def test_the_papers_own_logs_as_a_run_are_consistent(tmp_path, exp, verdict):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run_id = log_paper_runs(uri)[exp]
    assert log_paper_runs(uri)[exp] == run_id  # logged once
    code, out, err = verdict(run_id, "--tracking-uri", uri, "--out", str(tmp_path / "verdict"))
    assert code == 0, err
    assert rows_of(out) == {"aime24": "consistent", "math500": "consistent", "amc23": "consistent",
                            "average": "consistent"}  # fmt: skip
    step = paper().chosen_step[exp]
    assert f"at step {step} against the paper's {paper().rows_of[exp]}" in out
    assert "Overall: consistent with the paper on 3 of 3 benchmarks" in out
    files = {p.name for p in (tmp_path / "verdict").iterdir()}
    assert files == {"verdict.md", "verdict.csv", "verdict.png", "curves.png"}
    # Its curve falls after its peak, and the verdict says by how much, beside what one sample per problem confirms.
    said = re.search(r"The paper's run peaked at step \d+ and shows no confirmed degradation, by openrs.selection."
                     r"degradation: from step \d+ its evaluations lie ([\d.]+) points below those before; at 570 "
                     r"problems with 1 sample each, a drop must be about ([\d.]+) points to be confirmed \(half the "
                     r"time\); (averaged over \d+ seeds, one of \1 points would be|no number of seeds would "
                     r"confirm one of \1 points at the detector's bound on checkpoint variation)", out)  # fmt: skip
    assert said and float(said[1]) < float(said[2]), out


@pytest.fixture(scope="session")
def run_folder(job):
    """run_folder(tmp_path, curve, *overrides): a run folder tmp_path/run of exp2 evaluated with eval=paper at the
    curve's steps (job.yaml as the job writes it)."""

    def write(tmp_path, curve: dict[int, dict[str, float]], *overrides: str):
        out = tmp_path / "run"
        exp2 = job("+experiment=exp2", "hardware=a40x4", "eval=paper", "eval.every_steps=50", *overrides,
                   output_dir=str(out))  # fmt: skip
        out.mkdir()
        (out / "job.yaml").write_text(yaml.safe_dump(exp2.model_dump()))
        for step, scores in curve.items():
            write_report(results(scores), out / "eval" / f"step-{step}", f"step {step}", exp2.eval.protocol)
        return out

    return write


def test_a_run_eight_points_lower_on_math500_is_below_there_only(tmp_path, verdict, run_folder):
    curve = {s: dict(v) for s, v in paper().curves["exp2"].items()}
    for scores in curve.values():
        scores["math500"] -= 0.08
    code, out, err = verdict(str(run_folder(tmp_path, curve)))
    assert code == 0, err
    assert rows_of(out) == {"aime24": "consistent", "math500": "below", "amc23": "consistent", "average": "consistent"}
    assert "math500 below by 8.0 points" in out
    # The step-wise curves: both analysed by the degradation detector, drawn together.
    assert "The run peaked at step" in out and "The paper's run peaked at step 150" in out
    assert (tmp_path / "run" / "verdict" / "curves.png").stat().st_size > 10_000
    table = (tmp_path / "run" / "verdict" / "verdict.csv").read_text().splitlines()
    assert table[0].startswith("benchmark,run,run_low") and len(table) == 5


def test_the_base_model_evaluated_with_eval_paper_is_set_against_its_table_1_row(tmp_path, verdict):
    base = {b: v for b, v in paper().rows[paper().base_row].items() if b != "average"}
    write_report(results(base), tmp_path / "eval", paper().base_model, "paper")
    code, out, err = verdict(str(tmp_path / "eval"))
    assert code == 0, err
    assert "against the paper's DeepSeek-R1-Distill-Qwen-1.5B" in out
    assert set(rows_of(out).values()) == {"consistent"} and len(rows_of(out)) == 6


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("smoke", "is of openrs's tiny model, not deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"),
        ("mini", "scaled down (model.scaled, random weights), not deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"),
        ("stepwise", "graded with eval.protocol=openrs, not the paper's lighteval protocol: evaluate with eval=paper"),
        ("gsm8k", "evaluated gsm8k, none of which the paper reported"),
        ("no step", "has no evaluation at step 50 (evaluated at steps 100, 150): pass --step"),
    ],
)
def test_runs_that_cannot_be_compared_are_refused_in_one_line(tmp_path, case, reason, verdict, run_folder, run_openrs):
    if case in ("smoke", "mini", "stepwise"):
        extra = {"smoke": ["+experiment=smoke"], "mini": ["+experiment=exp3", "model=r1_mini", "hardware=cpu"],
                 "stepwise": ["+experiment=exp3", "hardware=a40x4"]}[case]  # fmt: skip
        job = run_openrs("-m", "openrs", *extra, "dry_run=true", f"hydra.run.dir={tmp_path / 'run'}")
        assert job.returncode == 0, job.stderr[-2000:]
        target = tmp_path / "run"
    elif case == "gsm8k":
        write_report(results({"gsm8k": 0.8}), tmp_path / "eval", paper().base_model, "paper")
        target = tmp_path / "eval"
    else:
        target = run_folder(tmp_path, {s: paper().curves["exp2"][s] for s in (100, 150)})
    code, out, err = verdict(str(target))
    assert code == 2 and out == ""
    assert err.count("\n") == 0 and err.startswith("openrs-verdict: refused: ") and reason in err, err
    assert not (target / "verdict").exists()


def test_an_evaluation_of_a_checkpoint_is_set_against_its_experiments_row(tmp_path, verdict, run_folder):
    run = run_folder(tmp_path, {})
    (run / "checkpoint-50").mkdir()
    write_report(results(paper().curves["exp2"][50]), tmp_path / "eval", str(run / "checkpoint-50"), "paper")
    code, out, err = verdict(str(tmp_path / "eval"))
    assert code == 0, err
    assert "against the paper's Open-RS2 (50 steps)" in out and set(rows_of(out).values()) == {"consistent"}


def test_a_scaled_model_run_in_mlflow_is_refused_as_its_run_folder_is(tmp_path, verdict, job):
    """MLflow holds the scaled model's settings flat (model.scaled.hidden_size, ...): the same model, the same
    refusal."""
    from openrs.tracking.run_start import start_run

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mini = job("+experiment=exp3", "model=r1_mini", "eval=paper", f"tracking.uri={uri}", output_dir=str(tmp_path / "r"))
    (tmp_path / "r").mkdir()
    run_id = start_run(mini, {}, [], None, resumed_from=None)
    code, out, err = verdict(run_id, "--tracking-uri", uri, "--out", str(tmp_path / "verdict"))
    assert code == 2 and out == "" and "scaled down (model.scaled, random weights)" in err, err
    assert not (tmp_path / "verdict").exists()


SUMMARY = "benchmark,model,protocol,problems,k,pass@1,low,high\n"


@pytest.mark.parametrize(
    ("summary", "reason"),
    [
        (SUMMARY + "amc23,M,paper,40,1,nan,0.5,0.9\n", "is not a fraction inside its interval"),
        (SUMMARY + "amc23,M,paper,40,1,1.7,0.5,0.9\n", "is not a fraction inside its interval"),
        (SUMMARY + "amc23,M,paper,40,1,0.7,0.9,0.5\n", "is not a fraction inside its interval"),
        (SUMMARY + "amc23,M,paper,40,1,inf,0.5,0.9\n", "is not a fraction inside its interval"),
        (SUMMARY + "amc23,M,paper,40,1,seventy,0.5,0.9\n", "is not a number"),
        (SUMMARY.replace("pass@1,", "") + "amc23,M,paper,40,1,0.5,0.9\n", "no column pass@1"),
        (SUMMARY, "no rows"),
    ],
    ids=["nan", "above-1", "low-above-high", "inf", "text", "no-pass@1", "empty"],
)
def test_scores_that_are_not_fractions_inside_their_interval_are_refused_naming_the_file(tmp_path, verdict, summary,
                                                                                          reason):
    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "summary.csv").write_text(summary.replace(",M,", f",{paper().base_model},"))
    code, out, err = verdict(str(folder))
    assert code == 2 and out == "", err
    assert err.startswith(f"openrs-verdict: refused: {folder / 'summary.csv'}") and reason in err, err
    assert err.count("\n") == 0 and not (folder / "verdict").exists()


@pytest.mark.parametrize("broken", ["job.yaml", "per_problem.jsonl"])
def test_a_corrupt_run_folder_file_is_refused_naming_it(tmp_path, verdict, run_folder, broken):
    run = run_folder(tmp_path, {50: paper().curves["exp2"][50]})
    path = run / "job.yaml" if broken == "job.yaml" else run / "eval" / "step-50" / "per_problem.jsonl"
    path.write_text("{not: [valid\n" if broken == "job.yaml" else '{"benchmark": "amc23", "id": 1}\n')
    code, out, err = verdict(str(run))
    assert code == 2 and out == "" and err.startswith(f"openrs-verdict: refused: {path}"), err
    assert err.count("\n") == 0 and not (run / "verdict").exists()


@pytest.mark.parametrize("where", ["proc", "file", "dev-full", "read-only", "16k"])
def test_an_out_folder_that_cannot_hold_the_verdict_is_refused_and_nothing_is_left(tmp_path, verdict, run_folder,
                                                                                    small_disk, where):
    run = run_folder(tmp_path, {50: paper().curves["exp2"][50]})
    if where == "file":
        (out := tmp_path / "a-file").write_text("mine")
    elif where == "read-only":  # a read-only mount (root ignores a folder's mode)
        out = small_disk(tmp_path / "ro", "1M")
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
    elif where == "16k":
        out = small_disk(tmp_path / "small", "16k") / "verdict"
    else:
        out = Path({"proc": "/proc/openrs-verdict", "dev-full": "/dev/full"}[where])
    code, out_text, err = verdict(str(run), "--out", str(out))
    assert code == 2 and out_text == "" and err.count("\n") == 0 and "Traceback" not in err, err
    assert f"{out}" in err
    if where == "16k":
        assert not out.exists() and not list(out.parent.iterdir())  # no half-written file, no folder
    if where == "file":
        assert out.read_text() == "mine"


def test_a_target_that_is_neither_a_folder_nor_a_run_id_creates_no_store(tmp_path, verdict, run_openrs):
    proc = run_openrs("-m", "openrs.verdict", "does/not/exist", cwd=tmp_path)
    assert proc.returncode == 2 and "is no folder here, nor an MLflow run id" in proc.stderr, proc.stderr
    assert not list(tmp_path.iterdir())  # no outputs/mlflow.db
    proc = run_openrs("-m", "openrs.verdict", "0" * 32, cwd=tmp_path)
    assert proc.returncode == 2 and "no MLflow store at" in proc.stderr and not list(tmp_path.iterdir()), proc.stderr


@pytest.mark.parametrize("password", ["SECRET/pw", "SECRET pw", "SECRET@pw", "SECRET:pw"])
def test_a_store_password_never_reaches_the_console(tmp_path, verdict, run_openrs, free_port, password):
    """An unreachable store (port 9 refuses at once) for the verdict, and a real `mlflow server` for the paper's
    runs, whose own "View run" links would carry the password."""
    from urllib.parse import quote

    from openrs.config.job import TrackingConfig
    from openrs.tracking.server import serve

    code, out, err = verdict("0" * 32, "--tracking-uri", f"http://alice:{password}@127.0.0.1:9")
    assert code == 2 and "Traceback" not in err and err.count("\n") == 0, err
    assert "SECRET" not in out + err and "pw" not in err.replace("pwd", ""), err
    port = free_port()
    server = serve(TrackingConfig(uri=f"http://127.0.0.1:{port}", experiment=None, serve=f"sqlite:///{tmp_path}/m.db",
                                  registered_model=None))  # fmt: skip
    try:
        uri = f"http://alice:{quote(password, safe='')}@127.0.0.1:{port}"
        proc = run_openrs("-m", "openrs.tracking", "paper", "--tracking-uri", uri)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.count("openrs: the paper's") == 3 and "SECRET" not in proc.stdout + proc.stderr
    finally:
        server.terminate()
        server.wait()
