"""A smoke training job with vLLM on a CPU, for tests/e2e/test_vllm.py:
`python tests/apps/cpu_vllm_job.py MODE OUTPUT_DIR [OVERRIDE ...]`. `python -m openrs` refuses to train on a CPU
with vLLM (openrs.__main__.CPU_VLLM_CANNOT_TRAIN), so this runs what it would have run.

colocate: the training in this process, with vLLM's engine in it. Each of TRL's weight syncs into the engine is
recorded in OUTPUT_DIR/weight_syncs.jsonl (record_weight_syncs). Whether the syncs work depends on the processor:
where vLLM's CPU backend prepacks the linear layers' weights (it drops their parameters), the first sync fails;
where it does not, the job trains.

server: openrs's controller (openrs.train.launch.launch), which starts the vLLM server, waits until it is healthy,
then the training rank, which fails at TRL's first weight sync to the server (NCCL, which needs CUDA)."""

import json
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from openrs import CONF_DIR
from openrs.resolve.load import load_job

WEIGHT_SYNCS = "weight_syncs.jsonl"
# vLLM's fused layers, from the policy's (Qwen2, the tiny model): concatenated along the output dimension.
FUSED = {"qkv_proj": ("q_proj", "k_proj", "v_proj"), "gate_up_proj": ("gate_proj", "up_proj")}
GREEDY_PROMPT = "<|user|>What is 12+23?<|assistant|><think>\n"


def record_weight_syncs(report: Path) -> None:
    """Wrap TRL's colocated weight sync so that each sync writes a line to `report`, once before TRL loads the
    policy's weights into the engine and once after (a sync that raises leaves only its "before" line):
    - dtype: the engine's weights' dtype;
    - dropped: the engine's linear layers whose weight parameter is empty (vLLM prepacked it and dropped it);
    - unmatched: the engine's parameters with no counterpart of their shape in the policy (the dropped ones);
    - differ: the others whose value is not the policy's, cast to the engine's dtype (its fused qkv_proj and
      gate_up_proj: the policy's q, k, v and gate, up concatenated). The sync copies the policy in with that same
      rounding, so after a working sync none differ;
    - greedy: the engine's greedy completion of GREEDY_PROMPT, its tokens and their summed log-probability, which
      change when the engine's weights do."""
    import torch
    from trl.generation.vllm_generation import VLLMGeneration
    from vllm import SamplingParams
    from vllm.model_executor.layers.linear import LinearBase

    sync = VLLMGeneration.sync_weights
    count = 0

    def write(generation: VLLMGeneration, when: str) -> None:
        engine = generation.llm.llm_engine.model_executor.driver_worker.model_runner.model
        policy = {name: param.detach() for name, param in generation._iter_named_params()}
        unmatched, differ = [], []
        for name, held in engine.named_parameters():
            fused = next((f for f in FUSED if f in name), None)
            parts = [name.replace(fused, part) for part in FUSED[fused]] if fused else [name]
            want = torch.cat([policy[p] for p in parts]) if all(p in policy for p in parts) else None
            if want is None or want.shape != held.shape:
                unmatched.append(name)
            elif not torch.equal(held.data, want.to(held.dtype)):
                differ.append(name)
        [greedy] = generation.llm.generate([GREEDY_PROMPT], SamplingParams(temperature=0, max_tokens=16, logprobs=0),
                                           use_tqdm=False)  # fmt: skip
        completion = greedy.outputs[0]
        row = {"sync": count, "when": when, "dtype": str(next(engine.parameters()).dtype).removeprefix("torch."),
               "dropped": [n for n, m in engine.named_modules() if isinstance(m, LinearBase) and m.weight.numel() == 0],
               "unmatched": unmatched, "differ": differ,
               "greedy": {"tokens": list(completion.token_ids), "logprob": completion.cumulative_logprob}}  # fmt: skip
        with report.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def recorded_sync(self: VLLMGeneration) -> None:
        nonlocal count
        write(self, "before")
        sync(self)
        write(self, "after")
        count += 1

    VLLMGeneration.sync_weights = recorded_sync


if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    overrides = ["+experiment=smoke", "hardware=cpu", f"hardware.vllm_mode={mode}", f"output_dir={out}", *sys.argv[3:]]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        job = load_job(compose("config", overrides=overrides))
    out.mkdir(parents=True, exist_ok=True)
    if mode == "colocate":
        from openrs.train.recipe import train

        record_weight_syncs(out / WEIGHT_SYNCS)
        train(job, None)
    else:
        from openrs.train.launch import launch

        sys.exit(launch(job, out / "job.yaml", None))
