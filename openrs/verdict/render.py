"""A verdict written out: verdict.md, verdict.csv, verdict.png (run vs paper per benchmark) and, for step-wise
evaluations, curves.png (the run's curve over the paper's per-checkpoint curve)."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from openrs.selection.degradation import Degradation
from openrs.verdict.comparison import Comparison, Score, mean, overall, points_of

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
    drop = (f"degraded from step {d.onset_step} (confirmed at {d.confirmed_at})" if d.onset_step is not None
            else "shows no confirmed degradation")  # fmt: skip
    return f"{who} peaked at step {d.peak_step} and {drop}, by openrs.selection.degradation."


def write(out: Path, text: str, rows: list[Comparison], curves: Curves | None, title: str) -> list[Path]:
    """The verdict's files in out; returns their paths. Each is written under a temporary name first and all are
    moved into place once every one is whole, so a write that fails (a full disk, a read-only folder) raises
    OSError and leaves nothing behind: no half-written file, and no folder this call made."""
    made = next((p for p in reversed([out, *out.parents]) if not p.exists()), None)  # the first folder made here
    out.mkdir(parents=True, exist_ok=True)
    final = [out / REPORT, out / TABLE, out / FIGURE] + ([out / CURVES] if curves is not None else [])
    temporary = [path.with_name(f".{path.name}.tmp{path.suffix}") for path in final]
    try:
        temporary[0].write_text(text)
        with open(temporary[1], "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["benchmark", "run", "run_low", "run_high", "paper", "paper_low", "paper_high",
                             "difference", "difference_low", "difference_high", "verdict"])  # fmt: skip
            for r in rows:
                writer.writerow([r.benchmark, r.run.value, r.run.low, r.run.high, r.paper.value, r.paper.low,
                                 r.paper.high, r.difference, r.low, r.high, r.verdict])  # fmt: skip
        _bars(temporary[2], rows, title)
        if curves is not None:
            _curves(temporary[3], curves, title)
    except BaseException:
        for path in temporary:
            path.unlink(missing_ok=True)
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise
    for path, done in zip(temporary, final, strict=True):
        path.replace(done)
    return final


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
        for who, curve, analysis, color in (("run", curves.run, curves.run_analysis, "tab:blue"),
                                            ("paper", curves.paper, curves.paper_analysis, "tab:gray")):  # fmt: skip
            points = sorted((s, _value(scores, name, names)) for s, scores in curve.items())
            x = [s for s, _ in points]
            ax.plot(x, [100 * v.value for _, v in points], marker="o", color=color, label=who)
            low, high = [100 * v.low for _, v in points], [100 * v.high for _, v in points]
            ax.fill_between(x, low, high, color=color, alpha=0.15)
            if analysis.onset_step is not None:
                ax.axvline(analysis.onset_step, color=color, linestyle="--", linewidth=1)
            peak = dict(points)[analysis.peak_step]
            ax.plot([analysis.peak_step], [100 * peak.value], "*", color=color, markersize=14, markeredgecolor="black")
        ax.set_title(name)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("pass@1 (%), 95% band")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{title} (star: peak; dashed: degradation onset)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _value(scores: Mapping[str, Score], name: str, names: list[str]) -> Score:
    return scores[name] if name != "average" else mean([scores[b] for b in names])
