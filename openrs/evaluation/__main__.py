"""`python -m openrs.evaluation`: evaluate a model on the eval preset's benchmarks and print Table 1.

python -m openrs.evaluation model.name_or_path=outputs/smoke/RUN/final prompt=none eval=paper
python -m openrs.evaluation +experiment=smoke                      # the tiny warm start on held-out arithmetic
python -m openrs.evaluation model.name_or_path=deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B eval=paper hardware=h100x1

Composes the same conf/ tree as training (model, prompt, eval, hardware, grading settings); the model is a
hub id, a local directory or a checkpoint directory. vLLM generates when hardware.vllm_mode is set, else
transformers. Writes per_problem.jsonl, summary.csv and report.md to the output directory.
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from openrs import CONF_DIR
from openrs.base.errors import ConfigError
from openrs.resolve.load import load_job


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        job = load_job(cfg)
        from openrs.data.benchmark import load_benchmark
        from openrs.model.lookup import check_available

        for name in job.eval.benchmarks:  # a bad file fails here, before the model loads
            load_benchmark(name)
        check_available(job.model)  # a corrupt or weightless model folder too, before anything is written
    except ConfigError as err:
        print(f"openrs-evaluate: {err}", file=sys.stderr)
        sys.exit(2)
    from openrs.evaluation.backends import generator
    from openrs.evaluation.harness import evaluate, write_report

    generate, tokenizer, close = generator(job, job.eval.max_new_tokens, job.eval.batch_size)
    try:
        results = evaluate(generate, tokenizer, job.eval, job.prompt.text, job.reward.grading)
    finally:
        close()
    out = Path(job.output_dir)
    print(write_report(results, out, job.model.name_or_path, job.eval.protocol))
    print(f"openrs-evaluate: per-problem results, summary.csv and report.md are in {out}")


if __name__ == "__main__":
    main()
