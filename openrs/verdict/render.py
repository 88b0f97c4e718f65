"""A verdict written out: verdict.md, verdict.csv, verdict.png (run vs paper per benchmark) and, for step-wise
evaluations, curves.png (the run's curve over the paper's per-checkpoint curve); for a seed study verdict.md,
verdict.csv and curves.png (the seeds' curves under their mean)."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from openrs.base.seeds import gain_sentence
from openrs.selection.degradation import Degradation
from openrs.tracking.seed_study import draw
from openrs.verdict.comparison import Comparison, Score, mean, overall, points_of
from openrs.verdict.study import Study, shape_sentence

REPORT, TABLE, FIGURE, CURVES = "verdict.md", "verdict.csv", "verdict.png", "curves.png"


@dataclass
class Curves:
    run: dict[int, dict[str, Score]]
    """The run's step -> benchmark -> pass@1, on the benchmarks both curves have."""
    paper: dict[int, dict[str, Score]]
    """The paper's, likewise (one sample per problem)."""
    run_analysis: Degradation
    paper_analysis: Degradation


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def markdown(what: str, row: str, step: int | None, rows: list[Comparison], curves: Curves | None,
             skipped: list[str]) -> str:  # fmt: skip
    at = "" if step is None else f" at step {step}"
    lines = [f"# Did it reproduce? {what}{at} against the paper's {row}", "",
             "| benchmark | run pass@1 (95%) | paper pass@1 (95%, one sample per problem) | difference, points (95%) "
             "| verdict |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r.benchmark} | {_pct(r.run.value)} ({_pct(r.run.low)}-{_pct(r.run.high)}) | "
                     f"{_pct(r.paper.value)} ({_pct(r.paper.low)}-{_pct(r.paper.high)}) | "
                     f"{points_of(r.difference)} ({points_of(r.low)} to {points_of(r.high)}) "
                     f"| {r.verdict} |")  # fmt: skip
    lines += ["", f"Overall: {overall(rows)}."]
    if skipped:
        lines.append(f"Not compared (the paper did not report them): {', '.join(skipped)}.")
    if curves is not None:
        lines += ["", _curve_sentence("The run", curves.run_analysis),
                  _curve_sentence("The paper's run", curves.paper_analysis)]  # fmt: skip
    return "\n".join(lines) + "\n"


def _curve_sentence(who: str, d: Degradation) -> str:
    """Where a curve peaked and degraded, and how large its drop is against the smallest its evidence confirms."""
    drop = (f"degraded from step {d.onset_step} (confirmed at {d.confirmed_at})" if d.onset_step is not None
            else "shows no confirmed degradation")  # fmt: skip
    said = f"{who} peaked at step {d.peak_step} and {drop}, by openrs.selection.degradation"
    if (e := d.drop) is None:
        return f"{said}; no evaluations lie below those before them."
    samples = f"{e.samples_now} sample{'s' if e.samples_now != 1 else ''}"
    evidence = (f"at {e.problems} problems with {samples} each, a drop must be about "
                f"{100 * e.smallest_confirmable:.1f} points to be confirmed (half the time)")  # fmt: skip
    said += f": from step {e.onset_step} its evaluations lie {100 * e.size:.1f} points below those before; {evidence}"
    if e.size >= e.smallest_confirmable:
        return f"{said}."
    if e.seeds_to_confirm is None:
        return (f"{said}; no number of seeds would confirm one of {100 * e.size:.1f} points at the detector's bound "
                "on checkpoint variation (selection.checkpoint_variation).")
    return f"{said}; averaged over {e.seeds_to_confirm} seeds, one of {100 * e.size:.1f} points would be."


def write(out: Path, text: str, rows: list[Comparison], curves: Curves | None, title: str) -> list[Path]:
    """The verdict on one run in out (write_files); returns the files' paths."""
    files = {REPORT: lambda path: path.write_text(text), TABLE: lambda path: _table(path, rows),
             FIGURE: lambda path: _bars(path, rows, title)}  # fmt: skip
    if curves is not None:
        files[CURVES] = lambda path: _curves(path, curves, title)
    return write_files(out, files)


def write_study(out: Path, study: Study, text: str, title: str) -> list[Path]:
    """The verdict on a seed study in out (write_files): verdict.md, verdict.csv (a row per benchmark) and
    curves.png (each seed's curve thin, the mean over seeds with its 95% band); returns the files' paths."""
    return write_files(out, {REPORT: lambda path: path.write_text(text), TABLE: lambda path: _study_table(path, study),
                             CURVES: lambda path: _study_curves(path, study, title)})  # fmt: skip


def write_files(out: Path, files: dict[str, Callable[[Path], object]]) -> list[Path]:
    """Each file name -> the function that writes it at the path given. Each is written under a temporary name first
    and all are moved into place once every one is whole, so a write that fails (a full disk, a read-only folder)
    raises OSError and leaves nothing behind: no half-written file, and no folder this call made."""
    made = next((p for p in reversed([out, *out.parents]) if not p.exists()), None)  # the first folder made here
    out.mkdir(parents=True, exist_ok=True)
    final = [out / name for name in files]
    temporary = [path.with_name(f".{path.name}.tmp{path.suffix}") for path in final]
    try:
        for path, writer in zip(temporary, files.values(), strict=True):
            writer(path)
    except BaseException:
        for path in temporary:
            path.unlink(missing_ok=True)
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise
    for path, done in zip(temporary, final, strict=True):
        path.replace(done)
    return final


def _table(path: Path, rows: list[Comparison]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["benchmark", "run", "run_low", "run_high", "paper", "paper_low", "paper_high",
                         "difference", "difference_low", "difference_high", "verdict"])  # fmt: skip
        for r in rows:
            writer.writerow([r.benchmark, r.run.value, r.run.low, r.run.high, r.paper.value, r.paper.low,
                             r.paper.high, r.difference, r.low, r.high, r.verdict])  # fmt: skip


def study_markdown(study: Study) -> str:
    """The five parts of a study's verdict (the fifth, runs that differ in more than the seed, is a refusal)."""
    k = len(study.seeds)
    lines = [f"# Over {k} seeds: {study.experiment or study.model} at step {study.step}", "",
             "Intervals are Student's t over the seeds (k - 1 degrees of freedom). Each seed's score carries its "
             "evaluation's sampling noise as well as the seed's own, so the spread between seeds counts both.", "",
             "## 1. Score over seeds", "",
             "| benchmark | seeds | mean pass@1 | between-seed sd, points | 95% interval of the mean | one more seed "
             "(95% prediction) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, s in study.scores.items():
        lines.append(f"| {name} | {s.seeds} | {_pct(s.mean)} | {100 * s.sd:.1f} | {_pct(s.low)}-{_pct(s.high)} | "
                     f"{_pct(s.predict_low)}-{_pct(s.predict_high)} |")  # fmt: skip
    lines += ["", "## 2. Against the paper", ""]
    if study.paper_row is None:
        lines.append(f"Not compared: {study.paper_note}.")
    for name, value in study.paper.items():
        s = study.scores[name]
        inside = "inside" if s.holds_one_run(value) else "outside"
        lines.append(f"- {name}: the paper's {study.paper_row} {_pct(value)} is {inside} the range one seed of this "
                     f"study gives ({_pct(s.predict_low)}-{_pct(s.predict_high)}).")  # fmt: skip
    lines += ["", "## 3. Against the base model (each seed's own step 0)", ""]
    if study.gains is None:
        lines.append("Not measured: the runs have no evaluation at step 0 (the base model).")
    for name, gain in (study.gains or {}).items():
        lines.append(f"- {gain_sentence(gain, name)}.")
    lines += ["", "## 4. Peak and degradation per seed", "", shape_sentence(study.seeds), "",
              "| run | seed | peak step | onset step | largest drop, points (from step) | confirmable from, points |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for c in study.seeds:
        drop = (f"{100 * c.drop.size:.1f} ({c.drop.onset_step}) | {100 * c.drop.smallest_confirmable:.1f}"
                if c.drop is not None else "- | -")  # fmt: skip
        lines.append(f"| {c.run} | {c.seed} | {c.peak_step if c.peak_step is not None else '-'} | "
                     f"{c.onset_step if c.onset_step is not None else 'none'} | {drop} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _study_table(path: Path, study: Study) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["benchmark", "step", "seeds", "mean", "sd", "low", "high", "predict_low", "predict_high",
                         "gain", "gain_low", "gain_high", "paper", "paper_inside_one_seed_range"])  # fmt: skip
        for name, s in study.scores.items():
            gain = (study.gains or {}).get(name)
            paper = study.paper.get(name)
            writer.writerow([name, study.step, s.seeds, s.mean, s.sd, s.low, s.high, s.predict_low, s.predict_high,
                             *((gain.mean, gain.low, gain.high) if gain else ("", "", "")),
                             *((paper, s.holds_one_run(paper)) if paper is not None else ("", ""))])  # fmt: skip


def _study_curves(path: Path, study: Study, title: str) -> Path:
    plt = _pyplot()
    names = list(study.scores)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        draw(ax, [{at: sc[name] for at, sc in c.scores.items() if name in sc} for c in study.seeds],
             f"mean of {len(study.seeds)} seeds")  # fmt: skip
        if name in study.paper:
            ax.axhline(100 * study.paper[name], color="tab:gray", linestyle="--", label=f"paper {study.paper_row}")
        ax.set_title(name)
        ax.set_xlabel("step")
    return _saved(plt, fig, axes, path, "pass@1 (%)", f"{title} (thin: each seed)")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bars(path: Path, rows: list[Comparison], title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.5))
    for i, r in enumerate(rows):
        for offset, score, label, color in ((-0.15, r.run, "run", "tab:blue"), (0.15, r.paper, "paper", "tab:gray")):
            error = [[100 * (score.value - score.low)], [100 * (score.high - score.value)]]
            ax.errorbar(100 * score.value, i + offset, xerr=error, fmt="o", color=color, capsize=3,
                        label=label if i == 0 else None)  # fmt: skip
        ax.annotate(r.verdict, (100 * max(r.run.high, r.paper.high) + 1, i), va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [r.benchmark for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("pass@1 (%), 95% intervals")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _curves(path: Path, curves: Curves, title: str) -> Path:
    plt = _pyplot()
    names = sorted({b for scores in curves.paper.values() for b in scores})
    panels = [*names, "average"] if len(names) > 1 else names
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, name in zip(axes[0], panels, strict=True):
        # The paper's dashed with open squares under the run's, which is drawn on top: where they agree both show.
        for who, curve, analysis, color, style in (
            ("paper", curves.paper, curves.paper_analysis, "tab:gray", dict(linestyle="--", marker="s", markersize=8,
                                                                             markerfacecolor="none", zorder=2)),
            ("run", curves.run, curves.run_analysis, "tab:blue", dict(marker="o", markersize=4, zorder=3)),
        ):  # fmt: skip
            points = sorted((s, _value(scores, name, names)) for s, scores in curve.items())
            x = [s for s, _ in points]
            ax.plot(x, [100 * v.value for _, v in points], color=color, label=who, **style)
            low, high = [100 * v.low for _, v in points], [100 * v.high for _, v in points]
            ax.fill_between(x, low, high, color=color, alpha=0.15)
            if analysis.onset_step is not None:
                ax.axvline(analysis.onset_step, color=color, linestyle="--", linewidth=1)
            peak = dict(points)[analysis.peak_step]
            ax.plot([analysis.peak_step], [100 * peak.value], "*", color=color, markersize=14, markeredgecolor="black")
        ax.set_title(name)
        ax.set_xlabel("step")
    return _saved(plt, fig, axes, path, "pass@1 (%), 95% band", f"{title} (star: peak; dashed: degradation onset)")


def _saved(plt, fig, axes, path: Path, ylabel: str, title: str) -> Path:
    """A figure of panels by step (axes: 1 x panels), labelled, titled and written to path."""
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _value(scores: Mapping[str, Score], name: str, names: list[str]) -> Score:
    return scores[name] if name != "average" else mean([scores[b] for b in names])
