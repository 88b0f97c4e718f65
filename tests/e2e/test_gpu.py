"""The GRPO job with vLLM generation on a GPU: colocated in the training process, and as a vLLM
server on its own GPU. Run on a GPU machine with the gpu extra: python -m pytest -m gpu tests/e2e/test_gpu.py"""

import importlib.util
import json
import re

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM (pip install -e '.[gpu]')"),
]

SMOKE = ["-m", "openrs", "+experiment=smoke", "trainer.max_steps=3", "trainer.save_steps=3", "trainer.logging_steps=1"]


def assert_trained(proc, out):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    rewards = [e["reward"] for e in state["log_history"] if "reward" in e]
    assert len(rewards) == 3 and all(r == r for r in rewards)  # a reward every step, no NaN
    assert (out / "final" / "model.safetensors").is_file()




def test_vllm_colocate(tmp_path, run_openrs):
    """Training with TRL's colocated engine, greedy step-wise evaluation at steps 0 and 3 on that same engine (one
    engine built), and the weights of step 3 in it: its answers are those of checkpoint-3 evaluated by transformers."""
    greedy = ["hardware.dtype=float32", "eval.temperature=0", "eval.benchmarks=[arithmetic:hard]"]
    # A learning rate that changes the tiny policy's answers within 3 steps, so stale weights would show.
    proc = run_openrs(*SMOKE, "hardware=h100x1", "hardware.vllm_gpu_memory_utilization=0.2", *greedy,
                      "eval.every_steps=3", "trainer.learning_rate=1e-3", f"hydra.run.dir={tmp_path}")  # fmt: skip
    assert_trained(proc, tmp_path)
    # Both step-wise evaluations generated with one engine object, TRL's, and none was built for them.
    engines = re.findall(r"openrs: step-wise evaluation generates with the trainer's vLLM engine (0x[0-9a-f]+)",
                         proc.stderr)  # fmt: skip
    assert len(engines) == 2 and len(set(engines)) == 1, proc.stderr[-3000:]
    assert "openrs: vLLM generates" not in proc.stderr

    def answers(path):
        return [json.loads(line)["predictions"] for line in path.read_text().splitlines()]

    in_vllm = answers(tmp_path / "eval" / "step-3" / "per_problem.jsonl")
    assert in_vllm != answers(tmp_path / "eval" / "step-0" / "per_problem.jsonl")  # the policy did change
    out = tmp_path / "checkpoint-3-transformers"
    check = run_openrs("-m", "openrs.evaluation", "+experiment=smoke", "hardware=h100x1", "hardware.vllm_mode=null",
                       *greedy, "model.tiny=null", f"model.name_or_path={tmp_path / 'checkpoint-3'}",
                       f"hydra.run.dir={out}")  # fmt: skip
    assert check.returncode == 0, check.stderr[-3000:]
    policy = answers(out / "per_problem.jsonl")
    same = sum(a == b for a, b in zip(in_vllm, policy, strict=True))
    assert same >= 0.98 * len(policy), f"{same}/{len(policy)} answers of vLLM at step 3 are the policy's"


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="server mode needs a training GPU and a vLLM GPU")
def test_vllm_server(tmp_path, run_openrs):
    proc = run_openrs(
        *SMOKE, "hardware=a40x4", "hardware.gpus_per_machine=2", "hardware.num_processes=1",
        "hardware.deepspeed=null", "hardware.max_per_device_batch=64", "hardware.vllm_gpu_memory_utilization=0.3",
        f"hydra.run.dir={tmp_path}",
    )  # fmt: skip
    assert_trained(proc, tmp_path)
    assert "[vllm]" in proc.stdout and "[train]" in proc.stdout and "Application startup complete" in proc.stdout


def test_vllm_and_transformers_give_the_same_greedy_answers(job):
    """The two evaluation backends on the tiny model, greedy, held-out arithmetic: same answers."""
    from openrs.evaluation.backends import TransformersGenerator, VLLMGenerator
    from openrs.evaluation.harness import evaluate
    from openrs.model.loading import load_model, load_tokenizer, model_path

    smoke = job("+experiment=smoke", "eval.temperature=0", "eval.benchmarks=[arithmetic:hard]")
    tokenizer = load_tokenizer(smoke.model)
    hf = TransformersGenerator(load_model(smoke.model, smoke.hardware).to("cuda"), tokenizer, batch_size=256)
    vllm = VLLMGenerator.for_model(model_path(smoke.model), "float32", 256, 0.3, seed=0, enforce_eager=False)
    a, b = (evaluate(g, tokenizer, smoke.eval, "", smoke.reward.grading) for g in (hf, vllm))
    same = sum(x.predictions == y.predictions for x, y in zip(a, b, strict=True))
    assert same >= 0.98 * len(a), f"{same}/{len(a)} problems answered alike"  # float32 kernels differ slightly


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="data parallel evaluation needs 2 GPUs")
def test_data_parallel_evaluation_keeps_prompt_order(job):
    from openrs.evaluation.backends import DataParallelVLLMGenerator, VLLMGenerator
    from openrs.model.loading import model_path

    smoke = job("+experiment=smoke")
    engine = dict(path=model_path(smoke.model), dtype="float32", max_model_len=256, gpu_memory_utilization=0.3, seed=0,
                  enforce_eager=False)  # fmt: skip
    prompts = [f"<|user|>What is {a}+{a + 11}?<|assistant|><think>\n" for a in range(10, 40)]
    parallel = DataParallelVLLMGenerator(2, "gpu", **engine)
    try:
        split = [s[0].text for s in parallel(prompts, 1, 0.0, 1.0, 64)]
    finally:
        parallel.close()
    single = [s[0].text for s in VLLMGenerator.for_model(**engine)(prompts, 1, 0.0, 1.0, 64)]
    assert split == single
