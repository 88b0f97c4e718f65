"""A seed study in a sweep: jobs identical but for `seed` (`python -m openrs -m +experiment=exp3 seed=0,1,2,3,4`,
sweeps/seeds.yaml). It starts with a line naming its seeds and what one costs (plan); once its jobs evaluate, the
sweep summary (openrs.tracking.sweep_summary) tags its parent run `openrs.study=seeds` (the MLflow UI filters on it)
and adds, per benchmark and evaluated step, the mean over the seeds, the between-seed standard deviation and the 95%
t interval of the mean (openrs.base.seeds), drawn as the mean curve with its band over each seed's thin curve.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from openrs.base.seeds import OverSeeds, over_seeds
from openrs.resolve.rerun import differing_keys
from openrs.tracking.metadata import EVAL_METRIC_PREFIX

STUDY_TAG, STUDY = "openrs.study", "seeds"
COLUMNS = ("benchmark", "step", "seeds", "mean", "sd", "low", "high")
_SCORE = "/pass_at_1"


def plan(config: DictConfig) -> str | None:
    """The line a seed study starts with (a sweep whose only swept key is `seed`, from the command line or the
    sweep file's hydra.sweeper.params): how many seeds and what one costs in steps; None for any other sweep."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    given = [*config.hydra.overrides.task, *(f"{k}={v}" for k, v in params.items())]
    swept = [o for o in OverridesParser.create().parse_overrides(given) if o.is_sweep_override()]
    if [o.key_or_group for o in swept] != ["seed"] or not swept[0].is_discrete_sweep():
        return None
    seeds, steps = len(list(swept[0].sweep_string_iterator())), OmegaConf.select(config, "trainer.max_steps")
    return (f"openrs: a seed study: {seeds} runs identical but for the seed, {steps} steps each ({seeds * steps} "
            f"in all); when they end, openrs-verdict {config.hydra.sweep.dir} tells the recipe from the seed")


def is_study(runs: list) -> bool:
    """Whether a sweep's job runs (MLflow runs) form a seed study: two or more, each of its own seed, whose params
    (the flattened job configs) differ in nothing else that shapes training (resolve.rerun.differing_keys)."""
    params = [run.data.params for run in runs]
    seeds = [p.get("seed") for p in params]
    return len(runs) >= 2 and len(set(seeds)) == len(seeds) and not differing_keys(params)


def curves(client, runs: list) -> dict[str, list[dict[int, float]]]:
    """Benchmark (and `average`) -> each run's step-wise pass@1, step -> fraction, in the order of runs."""
    keys = {k for run in runs for k in run.data.metrics if k.startswith(EVAL_METRIC_PREFIX) and k.endswith(_SCORE)}
    names = sorted((k[len(EVAL_METRIC_PREFIX) : -len(_SCORE)] for k in keys), key=lambda n: (n == "average", n))
    history = client.get_metric_history
    return {n: [{m.step: m.value for m in history(run.info.run_id, f"{EVAL_METRIC_PREFIX}{n}{_SCORE}")} for run in runs]
            for n in names}  # fmt: skip


def over_the_seeds(seed_curves: list[Mapping[int, float]]) -> dict[int, OverSeeds]:
    """Step -> pass@1 over the seeds, at each step two or more seeds evaluated."""
    steps = sorted({step for curve in seed_curves for step in curve})
    at = {step: [curve[step] for curve in seed_curves if step in curve] for step in steps}
    return {step: over_seeds(values) for step, values in at.items() if len(values) >= 2}


def rows(by_benchmark: Mapping[str, list[Mapping[int, float]]]) -> list[dict]:
    """One row (COLUMNS, fractions) per benchmark and step two or more seeds evaluated."""
    return [dict(zip(COLUMNS, (name, step, s.seeds, s.mean, s.sd, s.low, s.high), strict=True))
            for name, per_seed in by_benchmark.items() for step, s in over_the_seeds(per_seed).items()]  # fmt: skip


def markdown(table: list[dict]) -> str:
    """The rows as a markdown table, in points."""
    lines = ["| benchmark | step | seeds | mean pass@1 % | between-seed sd, points | 95% interval of the mean |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {r['benchmark']} | {r['step']} | {r['seeds']} | {100 * r['mean']:.1f} | {100 * r['sd']:.1f} | "
              f"{100 * r['low']:.1f}-{100 * r['high']:.1f} |" for r in table]  # fmt: skip
    return "\n".join(lines) + "\n"


def write_table(table: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)


def draw(ax, seed_curves: list[Mapping[int, float]], label: str) -> None:
    """Each seed's curve thin, and the mean over the seeds with the band of its 95% interval on top (points)."""
    for curve in seed_curves:
        steps = sorted(curve)
        ax.plot(steps, [100 * curve[s] for s in steps], color="tab:blue", linewidth=0.7, alpha=0.5)
    mean = over_the_seeds(seed_curves)
    steps = sorted(mean)
    ax.plot(steps, [100 * mean[s].mean for s in steps], color="tab:blue", linewidth=2.2, marker="o", label=label)
    ax.fill_between(steps, [100 * mean[s].low for s in steps], [100 * mean[s].high for s in steps], color="tab:blue",
                    alpha=0.15, label="95% interval of the mean")  # fmt: skip


def figure(by_benchmark: Mapping[str, list[Mapping[int, float]]], title: str, path: Path) -> Path:
    """The study's curves, a panel per benchmark (draw), written to path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(by_benchmark), figsize=(4.2 * len(by_benchmark), 3.6), squeeze=False)
    for ax, (name, seed_curves) in zip(axes[0], by_benchmark.items(), strict=True):
        draw(ax, seed_curves, f"mean of {len(seed_curves)} seeds")
        ax.set_title(name)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("pass@1 (%)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{title} (thin: each seed)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
