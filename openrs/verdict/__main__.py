"""`openrs-verdict RUN_FOLDER | EVALUATE_FOLDER | MLFLOW_RUN_ID` (or `python -m openrs.verdict`): did it reproduce
Open-RS? Per benchmark, the run's pass@1 against the paper's, a verdict, and the curves where there are steps.
`openrs-verdict SWEEP_FOLDER | SWEEP_PARENT_RUN_ID` or `openrs-verdict RUN_FOLDER RUN_FOLDER ...`: the same over a
seed study's runs (openrs.verdict.study), with the seed variance counted."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from openrs.base.redaction import redact
from openrs.resolve.output_dir import unusable
from openrs.run_folder import JOB_FILE, VERDICT_DIR
from openrs.selection.degradation import analyse
from openrs.tracking.store import default_tracking_uri
from openrs.verdict.comparison import compare, one_sample_results, one_sample_score
from openrs.verdict.evidence import Evaluated, read, read_study, sweep_run
from openrs.verdict.paper import Paper, paper
from openrs.verdict.render import Curves, markdown, study_markdown, write, write_study
from openrs.verdict.study import judge


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="openrs-verdict", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="+", help="a run folder, an openrs-evaluate folder, an MLflow run id; or a "
                        "seed study: a sweep folder, a sweep's parent run id, or several run folders")  # fmt: skip
    parser.add_argument("--against", help="the Table 1 row to compare with (default: the run's experiment's, or the "
                        "base model's for an evaluation of it)")  # fmt: skip
    parser.add_argument("--step", type=int, help="the run's step to compare (default: the step the paper kept)")
    parser.add_argument("--tracking-uri", help="store of an MLflow run id (default: tracking=sqlite's)")
    parser.add_argument("--out", type=Path, help="folder for the verdict's files (default: TARGET/verdict, or "
                        "outputs/verdict/RUN_ID for an MLflow run)")  # fmt: skip
    args = parser.parse_args(argv)
    ref = paper()
    uri, first = args.tracking_uri or default_tracking_uri(), Path(args.target[0])
    sweep = first.is_dir() and not (first / JOB_FILE).is_file() and any(first.glob(f"*/{JOB_FILE}"))
    if len(args.target) > 1 or sweep or sweep_run(args.target[0], uri):
        _study(args, ref, uri)
        return
    args.target = args.target[0]
    try:
        run = read(args.target, uri)
        row, step, skipped = _judged(run, ref, args.against, args.step)
        out = args.out or (run.folder / VERDICT_DIR if run.folder else Path("outputs") / VERDICT_DIR / args.target)
        if problem := unusable(out):
            raise ValueError(f"--out {out}: {problem}; choose another folder")
    except ValueError as err:
        print(f"openrs-verdict: refused: {redact(str(err))}", file=sys.stderr)
        sys.exit(2)
    rows = compare(run.steps[step], ref.rows[row], ref.problems)
    curves = _curves(run, ref, row)
    text = markdown(run.what, row, step, rows, curves, skipped)
    _publish(out, text, lambda: write(out, text, rows, curves, f"{run.what} vs {row}"))


def _study(args: argparse.Namespace, ref: Paper, tracking_uri: str) -> None:
    """The verdict over a seed study, written to --out (default: SWEEP_FOLDER/verdict, outputs/verdict/RUN_ID for
    a sweep's parent run in MLflow, or outputs/verdict/study)."""
    try:
        study = judge(read_study(args.target, tracking_uri), ref, args.step)
        single = args.target[0] if len(args.target) == 1 else None
        folder = Path(single) / VERDICT_DIR if single and Path(single).is_dir() else None
        out = args.out or folder or Path("outputs") / VERDICT_DIR / (single or "study")
        if problem := unusable(out):
            raise ValueError(f"--out {out}: {problem}; choose another folder")
    except ValueError as err:
        print(f"openrs-verdict: refused: {redact(str(err))}", file=sys.stderr)
        sys.exit(2)
    text = study_markdown(study)
    _publish(out, text, lambda: write_study(out, study, text, f"{study.experiment or study.model}, "
                                            f"{len(study.seeds)} seeds"))  # fmt: skip


def _publish(out: Path, text: str, write_files: Callable[[], list[Path]]) -> None:
    """Write the verdict's files (exit 2, one line, when they cannot be: nothing is left there), then print it."""
    try:
        files = write_files()
    except OSError as err:
        print(f"openrs-verdict: cannot write the verdict to {out} ({err.strerror or err}); nothing was written there: "
              "free space or choose another folder with --out", file=sys.stderr)  # fmt: skip
        sys.exit(2)
    print(text)
    print(f"openrs-verdict: {', '.join(f.name for f in files)} are in {out}", file=sys.stderr)


def _judged(run: Evaluated, ref: Paper, against: str | None, step: int | None) -> tuple[str, int | None, list[str]]:
    """The Table 1 row and the run's step to compare, and the benchmarks left out; ValueError (one line) when the
    run cannot be compared with the paper."""
    if run.paper_model != ref.base_model:
        raise ValueError(f"{run.what} is of {run.model}, not {ref.base_model}: the paper's numbers say nothing "
                         "about it")  # fmt: skip
    if run.protocol != "paper":
        raise ValueError(f"{run.what} was graded with eval.protocol={run.protocol}, not the paper's lighteval "
                         "protocol: evaluate with eval=paper (python -m openrs.evaluation eval=paper "
                         "model.name_or_path=CHECKPOINT)")  # fmt: skip
    if against is not None:
        if against not in ref.rows:
            raise ValueError(f"--against {against!r} is not a row of Table 1; its rows: {', '.join(ref.rows)}")
        row = against
    elif run.experiment in ref.rows_of:
        row = ref.rows_of[run.experiment]
    elif run.experiment is None:
        row = ref.base_row
    else:
        raise ValueError(f"{run.what} is job {run.experiment!r}, not one of the paper's experiments "
                         f"({', '.join(ref.rows_of)}): name the Table 1 row to compare with, e.g. --against "
                         f"{ref.rows_of['exp2']!r}")  # fmt: skip
    if None in run.steps:
        step = None
    else:
        step = step if step is not None else ref.chosen_step.get(run.experiment, max(run.steps, default=0))
        if step not in run.steps:
            raise ValueError(f"{run.what} has no evaluation at step {step} (evaluated at steps "
                             f"{', '.join(map(str, sorted(run.steps))) or 'none'}): pass --step")  # fmt: skip
    scores = run.steps[step]
    if not set(scores) & set(ref.rows[row]):
        raise ValueError(f"{run.what} evaluated {', '.join(sorted(scores))}, none of which the paper reported for "
                         f"{row} ({', '.join(b for b in ref.rows[row] if b != 'average')})")  # fmt: skip
    return row, step, sorted(set(scores) - set(ref.rows[row]))


def _curves(run: Evaluated, ref: Paper, row: str) -> Curves | None:
    """The run's curve and the paper's run's, on the benchmarks both evaluated, each analysed for its peak and
    degradation with the run's detector settings; None for a single evaluation or a row with no logged curve."""
    experiment = next((e for e, r in ref.rows_of.items() if r == row), None)
    if experiment is None or None in run.steps or len(run.steps) < 2 or run.selection is None:
        return None
    theirs = ref.curves[experiment]
    names = sorted(set.intersection(*(set(s) for s in run.steps.values())) & set(next(iter(theirs.values()))))
    if not names:
        return None
    mine = {step: {b: scores[b] for b in names} for step, scores in run.steps.items()}
    paper_curve = {s: {b: one_sample_score(v[b], ref.problems[b]) for b in names} for s, v in theirs.items()}
    if run.per_problem is not None:
        results = {s: {k: v for k, v in r.items() if k[0] in names} for s, r in run.per_problem.items()}
    else:
        results = one_sample_results({s: {b: v.value for b, v in sc.items()} for s, sc in mine.items()}, ref.problems)
    paper_results = one_sample_results({s: {b: v[b] for b in names} for s, v in theirs.items()}, ref.problems)
    s = run.selection
    settings = dict(alpha=s.alpha, persistence=s.persistence, variation=s.checkpoint_variation)
    return Curves(mine, paper_curve, analyse(results, **settings), analyse(paper_results, **settings))


if __name__ == "__main__":
    main()
