"""The smoke job written as a plain TRL script, the baseline of benchmarks/step_time.py.

    python benchmarks/plain_trl.py MODEL_DIR OUTPUT_DIR --steps 30

What a researcher would write by hand: the same tiny model, the same 2,000 arithmetic problems, the same
GRPO settings as conf/experiment/smoke.yaml (typed in here), and the original open-r1 style rewards:
a format regex and math-verify called in-process on the main thread.
"""

from __future__ import annotations

import argparse
import re

from math_verify import parse, verify
from trl import GRPOConfig, GRPOTrainer

from openrs.arithmetic import problems

FORMAT = re.compile(r"^<think>.*?</think>\s*<answer>.*?</answer>$", re.DOTALL)


def format_reward(prompts, completions, **_):
    return [1.0 if FORMAT.match("<think>\n" + c.strip()) else 0.0 for c in completions]


def accuracy_reward(prompts, completions, answer, **_):
    return [float(verify(parse(f"${a}$"), parse(c))) for c, a in zip(completions, answer, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("output_dir")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()

    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model)
    rows = problems("easy", "train", 500, 42) + problems("hard", "train", 1500, 42)
    for row in rows:
        row["prompt"] = tokenizer.apply_chat_template(
            [{"role": "user", "content": row["problem"]}], add_generation_prompt=True, tokenize=False
        )
    config = GRPOConfig(
        output_dir=args.output_dir,
        seed=42,
        learning_rate=5e-5,
        lr_scheduler_type="constant",
        max_steps=args.steps,
        per_device_train_batch_size=64,
        num_generations=8,
        temperature=1.0,
        top_p=1.0,
        beta=0.0,
        epsilon=0.2,
        loss_type="bnpo",
        scale_rewards="group",
        mask_truncated_completions=False,
        max_grad_norm=1.0,
        weight_decay=0.0,
        max_completion_length=64,
        reward_weights=[1.0, 2.0],
        save_steps=50,
        logging_steps=10,
        bf16=False,
        report_to=[],
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[format_reward, accuracy_reward],
        args=config,
        train_dataset=datasets.Dataset.from_list([{"prompt": r["prompt"], "answer": r["answer"]} for r in rows]),
        processing_class=tokenizer,
    )
    trainer.train()


if __name__ == "__main__":
    main()
