"""DeepSpeed ZeRO-2 (conf/deepspeed/zero2.json, the a40x4 preset's) on two CPU ranks: DeepSpeed's CPU accelerator
with gloo, through the same `accelerate launch --use_deepspeed` path as on GPUs."""

import importlib.util
import json

import pytest
from mlflow import MlflowClient

from openrs.train.launch import accelerate_command
from openrs.train.recipe import grpo_kwargs

NO_DEEPSPEED = importlib.util.find_spec("deepspeed") is None


def test_a_cpu_job_with_deepspeed_launches_it(tmp_path, job):
    zero2 = job("+experiment=smoke", "hardware=cpu", "hardware.num_processes=2", "hardware.deepspeed=zero2",
                output_dir=str(tmp_path))  # fmt: skip
    cmd = accelerate_command(zero2, tmp_path / "job.yaml", None)
    assert "--multi_gpu" not in cmd and cmd[cmd.index("--use_deepspeed") + 2].endswith("conf/deepspeed/zero2.json")
    # Else accelerate finds no backend without GPUs and counts one process (DeepSpeed's batch check fails).
    assert grpo_kwargs(zero2)["ddp_backend"] == "gloo"


@pytest.mark.slow
@pytest.mark.skipif(NO_DEEPSPEED, reason="deepspeed is not installed (pip install deepspeed, or the gpu extra)")
def test_zero2_on_two_cpu_ranks_checkpoints_and_resumes(tmp_path, monkeypatch, run_openrs):
    # The first run on a machine also compiles DeepSpeed's shared-memory op (about 75 s, cached).
    # One step, then one more after the resume, of 16 completions (8 a rank), not 64: enough to see each rank's
    # optimizer shard saved and its Adam state continued (a fresh one would count 1 step, not 2).
    args = ["-m", "openrs", "+experiment=smoke", "hardware=cpu", "hardware.num_processes=2", "hardware.deepspeed=zero2",
            "trainer.save_steps=1", "trainer.logging_steps=1", "trainer.global_batch_size=16", "eval.every_steps=null",
            f"hydra.run.dir={tmp_path}", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"]  # fmt: skip
    first = run_openrs(*args, "trainer.max_steps=1")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "[rank1]:openrs: rank 1 of 2 (DEEPSPEED)" in first.stdout, first.stdout[-3000:]
    resumed = run_openrs(*args, "trainer.max_steps=2", "resume=true")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"resuming from {tmp_path / 'checkpoint-1'}" in resumed.stdout + resumed.stderr
    state = json.loads((tmp_path / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = json.loads((tmp_path / "mlflow_run.json").read_text())["run_id"]
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1, 2]
    # Each rank saved its half of the ZeRO-2 optimizer, and the resumed one continued its Adam state.
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")
    import torch

    for rank in (0, 1):
        shard = tmp_path / f"checkpoint-2/global_step2/zero_pp_rank_{rank}_mp_rank_00_optim_states.pt"
        optimizer = torch.load(shard, weights_only=False)["optimizer_state_dict"]
        assert optimizer["zero_stage"] == 2 and set(optimizer["partition_count"]) == {2}  # every group over 2 ranks
        assert {float(s["step"]) for s in optimizer["base_optimizer_state"]["state"].values()} == {2.0}
    assert (tmp_path / "final" / "model.safetensors").is_file()
