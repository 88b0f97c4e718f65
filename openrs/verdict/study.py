"""A seed study (runs identical but for `seed`, differing_keys) judged at one step (judge): per benchmark the mean
over seeds (openrs.base.seeds), the paper's number against the range one seed gives, the gain over each seed's own
step 0, and where each seed peaked and degraded (openrs.selection.degradation per seed). Scores are fractions in
[0, 1]; sentences print points (x 100).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openrs.base.seeds import OverSeeds, over_seeds, paired_gain
from openrs.resolve.rerun import differing_keys
from openrs.selection.degradation import Drop, analyse
from openrs.verdict.evidence import Evaluated
from openrs.verdict.paper import Paper

# The paper's shape (its abstract): accuracy peaks after 50-100 steps and degrades after 150-200.
PAPER_PEAK, PAPER_ONSET = (50, 100), (150, 200)


@dataclass(frozen=True)
class SeedCurve:
    """One seed's run: its step -> benchmark -> pass@1 and, where its detector could tell, peak and onset steps."""

    run: str
    seed: int
    scores: dict[int, dict[str, float]]
    peak_step: int | None
    onset_step: int | None
    drop: Drop | None
    """Its largest drop against the smallest its evidence confirms (None: none, or no per-problem results)."""


@dataclass(frozen=True)
class Study:
    """A seed study judged at one step: parts 1-4 of its verdict (openrs.verdict.render writes them)."""

    experiment: str | None
    model: str
    step: int
    """The compared step, evaluated by every run."""
    scores: dict[str, OverSeeds]
    """Benchmark -> pass@1 over the seeds at step."""
    gains: dict[str, OverSeeds] | None
    """Benchmark -> each seed's gain over its own step 0, over the seeds; None without a step-0 evaluation."""
    paper_row: str | None
    """The Table 1 row compared with; None when the paper says nothing about these runs (paper_note says why)."""
    paper: dict[str, float]
    """Benchmark -> the paper's pass@1 for paper_row, on the benchmarks both have."""
    paper_note: str
    curve: dict[int, dict[str, OverSeeds]]
    """Step -> benchmark -> pass@1 over the seeds, at every step all runs evaluated."""
    seeds: list[SeedCurve]


def judge(runs: list[Evaluated], ref: Paper, step: int | None = None) -> Study:
    """The study of runs (run folders, their job configs read): ValueError, one line, when they differ in anything
    but the seed (naming the keys), share no evaluated step or benchmark, or lack the step asked for. step: the one
    to compare (default: the step the paper kept for the experiment, else the last one every run evaluated)."""
    if changed := differing_keys([r.job or {} for r in runs]):
        shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
        raise ValueError(f"these runs differ in more than the seed ({shown}): a study's runs are identical but for "
                         "`seed`; give runs of one config (python -m openrs -m ... seed=0,1,2)")  # fmt: skip
    seeds = [r.job["seed"] for r in runs]
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"two of these runs have the same seed ({sorted(seeds)}): a study needs one run per seed")
    common = sorted(set.intersection(*(set(r.steps) - {None} for r in runs)))
    if not common:
        raise ValueError("these runs share no evaluated step: evaluate them step-wise (eval.every_steps)")
    if step is None:
        chosen = ref.chosen_step.get(runs[0].experiment)
        step = chosen if chosen in common else common[-1]
    elif step not in common:
        raise ValueError(f"not every run evaluated step {step}; all evaluated {', '.join(map(str, common))}")
    names = sorted(set.intersection(*(set(r.steps[step]) for r in runs)))
    if not names:
        raise ValueError(f"these runs evaluated no benchmark in common at step {step}")

    def values(at: int, name: str) -> list[float]:
        return [r.steps[at][name].value for r in runs]

    curve = {at: {b: over_seeds(values(at, b)) for b in names if all(b in r.steps[at] for r in runs)} for at in common}
    gains = ({b: paired_gain(values(step, b), values(0, b)) for b in names if all(b in r.steps[0] for r in runs)}
             if 0 in common and step != 0 else None)  # fmt: skip
    row, note = None, ""
    if runs[0].paper_model != ref.base_model or runs[0].protocol != "paper":
        note = f"the paper says nothing about {runs[0].model} graded with eval.protocol={runs[0].protocol}"
    elif runs[0].experiment not in ref.rows_of:
        note = f"job {runs[0].experiment!r} is none of the paper's experiments ({', '.join(ref.rows_of)})"
    else:
        row = ref.rows_of[runs[0].experiment]
    paper = {b: ref.rows[row][b] for b in names if b in ref.rows[row]} if row else {}
    return Study(runs[0].experiment, runs[0].model, step, curve[step], gains, row, paper, note, curve,
                 [_seed_curve(r) for r in runs])  # fmt: skip


def _seed_curve(run: Evaluated) -> SeedCurve:
    scores = {at: {b: s.value for b, s in sc.items()} for at, sc in run.steps.items() if at is not None}
    peak = onset = drop = None
    if run.per_problem and run.selection is not None and len(run.per_problem) >= 2:
        s = run.selection
        d = analyse(run.per_problem, alpha=s.alpha, persistence=s.persistence, variation=s.checkpoint_variation)
        peak, onset, drop = d.peak_step, d.onset_step, d.drop
    return SeedCurve(run.what, run.job["seed"], scores, peak, onset, drop)


def shape_sentence(seeds: list[SeedCurve]) -> str:
    """Where the seeds peaked and degraded, and in how many the paper's shape (peak after 50-100 steps,
    degradation after 150-200) holds."""
    peaks = sorted(c.peak_step for c in seeds if c.peak_step is not None)
    onsets = sorted(c.onset_step for c in seeds if c.onset_step is not None)
    if not peaks:
        return "No seed has the step-wise evaluations to tell its peak."
    k = len(seeds)
    said = f"The seeds peaked at steps {', '.join(map(str, peaks))} (median {int(np.median(peaks))})"
    said += (f"; degradation was confirmed in {len(onsets)} of {k}, from steps {', '.join(map(str, onsets))}"
             if onsets else f"; no seed's degradation was confirmed ({k} seeds)")  # fmt: skip
    shaped = sum(1 for c in seeds if c.peak_step is not None and PAPER_PEAK[0] <= c.peak_step <= PAPER_PEAK[1]
                 and c.onset_step is not None and PAPER_ONSET[0] <= c.onset_step <= PAPER_ONSET[1])  # fmt: skip
    return (f"{said}. The paper's shape (peak after {PAPER_PEAK[0]}-{PAPER_PEAK[1]} steps, degradation after "
            f"{PAPER_ONSET[0]}-{PAPER_ONSET[1]}) holds in {shaped} of {k} seeds.")
