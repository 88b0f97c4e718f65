"""`python -m openrs.evaluate`: evaluate a model on the eval preset's benchmarks and print Table 1.

python -m openrs.evaluate model.name_or_path=outputs/smoke/RUN/final prompt=none eval=paper
python -m openrs.evaluate +experiment=smoke                      # the tiny warm start on held-out arithmetic
python -m openrs.evaluate model.name_or_path=deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B eval=paper hardware=h100x1

Composes the same conf/ tree as training (model, prompt, eval, hardware, grading settings); the model is a
hub id, a local directory or a checkpoint directory. vLLM generates when hardware.vllm_mode is set, else
transformers. Writes per_problem.jsonl, summary.csv and report.md to the output directory.
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from openrs import CONF_DIR
from openrs.config.job import ConfigError, JobConfig, load_job


def generator(job: JobConfig, max_new_tokens: int, batch_size: int):
    """(generate, tokenizer, close) for the job's model: vLLM when hardware.vllm_mode is set (every GPU of the
    machine, or on a CPU each of hardware.num_processes engines, serves a shard of the prompts; contexts up to the
    prompt cap + max_new_tokens), else transformers (batch_size sequences per generate call); call close() when
    done."""
    from openrs.evaluation.backends import DataParallelVLLMGenerator, TransformersGenerator, VLLMGenerator
    from openrs.model.loading import load_model, load_tokenizer, model_path

    tokenizer = load_tokenizer(job)
    hw = job.hardware
    if hw.vllm_mode is not None:
        engine = dict(path=model_path(job), dtype=hw.dtype, seed=job.seed, enforce_eager=hw.vllm_enforce_eager,
                      max_model_len=job.length.max_prompt_length + max_new_tokens,
                      gpu_memory_utilization=hw.vllm_gpu_memory_utilization)  # fmt: skip
        shards = hw.gpus_per_machine if hw.accelerator == "gpu" else hw.num_processes
        print(f"openrs: vLLM generates ({shards} engine{'s' * (shards > 1)} on {hw.accelerator})", file=sys.stderr)
        if shards > 1:
            generate = DataParallelVLLMGenerator(shards, hw.accelerator, **engine)
            return generate, tokenizer, generate.close
        return VLLMGenerator.for_model(**engine), tokenizer, lambda: None
    print(f"openrs: transformers generates (on {hw.accelerator})", file=sys.stderr)
    import torch

    torch.manual_seed(job.seed)
    model = load_model(job)
    if hw.accelerator == "gpu":
        model = model.to("cuda")
    return TransformersGenerator(model, tokenizer, batch_size), tokenizer, lambda: None


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    try:
        job = load_job(cfg)
        from openrs.evaluation.harness import load_benchmark

        for name in job.eval.benchmarks:  # a bad file fails here, before the model loads
            load_benchmark(name)
    except ConfigError as err:
        print(f"openrs.evaluate: {err}", file=sys.stderr)
        sys.exit(2)
    from openrs.evaluation.harness import evaluate, write_report

    generate, tokenizer, close = generator(job, job.eval.max_new_tokens, job.eval.batch_size)
    try:
        results = evaluate(generate, tokenizer, job.eval, job.prompt.text, job.reward.grading)
    finally:
        close()
    out = Path(job.output_dir)
    print(write_report(results, out, job.model.name_or_path, job.eval.protocol))
    print(f"openrs.evaluate: per-problem results, summary.csv and report.md are in {out}")


if __name__ == "__main__":
    main()
