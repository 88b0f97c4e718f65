"""An openrs job run as a plain TRL script: the baseline of benchmarks/step_time.py.

    python benchmarks/plain_trl.py OUTPUT_DIR [--grading pool|main-thread] [OVERRIDE ...]

The same work as `python -m openrs OVERRIDE ...`, without the framework around it: the job's own rows
(openrs.data.dataset.training_dataset), reward functions (openrs.rewards.build_rewards), model and GRPOConfig
(openrs.train.recipe.grpo_kwargs) go straight to GRPOTrainer; no Hydra run, MLflow, callbacks (step-wise evaluation,
early stop, preemption) or selection. `--grading main-thread` replaces the accuracy reward's grading pool by
the same verdicts computed on the training thread, one by one and without a cache (what a hand-written
reward calling math-verify does): the rewards stay identical, only where they are computed changes.
"""

from __future__ import annotations

import argparse


def main_thread_accuracy(prompts, completions, completion_ids=None, *, answer, **_) -> list[float | None]:
    """openrs's accuracy reward, graded in this thread with no worker, time bound or cache."""
    from openrs.grading.answers import prediction_of, prepare_gold
    from openrs.grading.pool import SCORES
    from openrs.grading.worker import outcome
    from openrs.rewards.inputs import texts

    golds = [prepare_gold(a) for a in answer]
    return [SCORES[outcome(g, prediction_of(t, g))] for g, t in zip(golds, texts(completions), strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir")
    parser.add_argument("--grading", choices=["pool", "main-thread"], default="pool")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the job, e.g. +experiment=smoke")
    args = parser.parse_intermixed_args()

    from hydra import compose, initialize_config_dir
    from trl import GRPOConfig, GRPOTrainer

    from openrs import CONF_DIR
    from openrs.data.dataset import training_dataset
    from openrs.model.loading import load_model, load_tokenizer
    from openrs.resolve.load import load_job
    from openrs.rewards import build_rewards
    from openrs.train.recipe import grpo_kwargs

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        job = load_job(compose("config", overrides=[*args.overrides, f"output_dir={args.output_dir}"]))
    rewards = build_rewards(job.reward)
    if args.grading == "main-thread":
        main_thread_accuracy.__name__ = "accuracy"  # TRL logs rewards by function name
        rewards = [main_thread_accuracy if r.__name__ == "accuracy" else r for r in rewards]
    tokenizer = load_tokenizer(job.model)
    dataset, _ = training_dataset(job, tokenizer)
    trainer = GRPOTrainer(
        model=load_model(job.model, job.hardware),
        reward_funcs=rewards,
        args=GRPOConfig(**grpo_kwargs(job)),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()


if __name__ == "__main__":
    main()
