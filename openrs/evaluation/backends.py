"""The two evaluation backends behind openrs.evaluation.harness.Generator: transformers batched generation (CPU,
or a GPU without vLLM) and vLLM (an engine of its own, or the training job's colocated engine)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from openrs.config.job import JobConfig
from openrs.evaluation.harness import Sample


class TransformersGenerator:
    """Batched `model.generate` with left padding, `batch_size` sequences at a time, shortest prompts
    together so little is padded. The model is used as is (its train/eval mode is restored after)."""

    def __init__(self, model, tokenizer, batch_size: int):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    def __call__(
        self, prompts: Sequence[str], n: int, temperature: float, top_p: float, max_new_tokens: int
    ) -> list[list[Sample]]:
        import torch
        from tqdm.auto import tqdm

        tok = self.tokenizer
        encoded = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        jobs = sorted(((i, j) for i in range(len(prompts)) for j in range(n)), key=lambda ij: len(encoded[ij[0]]))
        out: list[list[Sample | None]] = [[None] * n for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        try:
            for start in tqdm(range(0, len(jobs), self.batch_size), desc="generate", unit="batch", file=sys.stderr):
                chunk = jobs[start : start + self.batch_size]
                width = max(len(encoded[i]) for i, _ in chunk)
                ids = torch.full((len(chunk), width), tok.pad_token_id)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, (i, _) in enumerate(chunk):
                    ids[row, width - len(encoded[i]) :] = torch.tensor(encoded[i])
                    mask[row, width - len(encoded[i]) :] = 1
                device = next(self.model.parameters()).device
                sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {
                    "do_sample": False}  # fmt: skip
                with torch.no_grad():
                    generated = self.model.generate(
                        input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **sampling,
                    )[:, width:].cpu()  # fmt: skip
                for row, (i, j) in enumerate(chunk):
                    tokens = generated[row].tolist()
                    ended = tok.eos_token_id in tokens
                    tokens = tokens[: tokens.index(tok.eos_token_id)] if ended else tokens
                    tokens = [t for t in tokens if t != tok.pad_token_id]
                    out[i][j] = Sample(tok.decode(tokens, skip_special_tokens=True), len(tokens), not ended)
        finally:
            self.model.train(was_training)
        return out  # type: ignore[return-value]


class VLLMGenerator:
    """Generation by a vLLM `LLM`: one built for the model (evaluation on its own), or the training job's
    colocated engine, whose weights the caller has synced."""

    def __init__(self, llm):
        self.llm = llm

    @classmethod
    def for_model(
        cls, path: str, dtype: str, max_model_len: int, gpu_memory_utilization: float, seed: int, enforce_eager: bool
    ):
        from vllm import LLM

        return cls(LLM(model=path, dtype=dtype, max_model_len=max_model_len, seed=seed, enforce_eager=enforce_eager,
                       gpu_memory_utilization=gpu_memory_utilization))  # fmt: skip

    def __call__(
        self, prompts: Sequence[str], n: int, temperature: float, top_p: float, max_new_tokens: int
    ) -> list[list[Sample]]:
        from vllm import SamplingParams

        params = SamplingParams(n=n, temperature=temperature, top_p=top_p if temperature > 0 else 1.0,
                                max_tokens=max_new_tokens)  # fmt: skip
        outputs = self.llm.generate(list(prompts), params, use_tqdm=True)
        return [[Sample(c.text, len(c.token_ids), c.finish_reason == "length") for c in o.outputs] for o in outputs]


def _serve_shard(conn, shard: int, shards: int, accelerator: str, engine_kwargs: dict) -> None:
    # Pinned to its device before vLLM (and CUDA) is imported in this fresh process: a GPU of its own, or on a CPU
    # its share of this process's cores, where vLLM binds its threads.
    import os

    if accelerator == "gpu":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        os.environ["CUDA_VISIBLE_DEVICES"] = visible.split(",")[shard] if visible else str(shard)
    else:
        cores = sorted(os.sched_getaffinity(0))
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(map(str, cores[shard::shards]))
    generate = VLLMGenerator.for_model(**engine_kwargs)
    try:
        while (request := conn.recv()) is not None:
            conn.send(generate(*request))
    finally:
        # A multiprocessing child skips the atexit hook that shuts vLLM's engine processes down: without this they
        # outlive it, holding their memory.
        generate.llm.llm_engine.engine_core.shutdown()


class DataParallelVLLMGenerator:
    """`shards` vLLM engines, each in its own process on a GPU of its own (accelerator "gpu") or on its share of
    the CPU cores ("cpu"); prompts are dealt round-robin and the samples come back in prompt order. For evaluation
    on its own on a machine with several GPUs, or many cores."""

    def __init__(self, shards: int, accelerator: str, **engine_kwargs):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.conns, self.procs = [], []
        for shard in range(shards):
            parent, child = ctx.Pipe()
            # Not a daemon: vLLM's engine starts processes of its own. close() ends them.
            proc = ctx.Process(target=_serve_shard, args=(child, shard, shards, accelerator, engine_kwargs))
            proc.start()
            child.close()  # so that recv() fails instead of hanging when an engine dies
            self.conns.append(parent)
            self.procs.append(proc)

    def __call__(
        self, prompts: Sequence[str], n: int, temperature: float, top_p: float, max_new_tokens: int
    ) -> list[list[Sample]]:
        shards = len(self.conns)
        for i, conn in enumerate(self.conns):
            conn.send((list(prompts[i::shards]), n, temperature, top_p, max_new_tokens))
        parts = []
        for conn, proc in zip(self.conns, self.procs, strict=True):
            # An engine's own processes keep the pipe open when its process dies: watch the process, not the pipe.
            while not conn.poll(1.0):
                if not proc.is_alive():
                    raise RuntimeError(f"a vLLM engine process exited with code {proc.exitcode} (its output is above)")
            parts.append(conn.recv())
        return [parts[i % shards][i // shards] for i in range(len(prompts))]

    def close(self) -> None:
        for conn, proc in zip(self.conns, self.procs, strict=True):
            try:
                conn.send(None)
            except OSError:  # the engine died; its error was raised already
                pass
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()


class VLLMServerGenerator:
    """Generation by the training job's `trl vllm-serve` server, through TRL's client."""

    def __init__(self, client, tokenizer):
        self.client, self.tokenizer = client, tokenizer

    def __call__(
        self, prompts: Sequence[str], n: int, temperature: float, top_p: float, max_new_tokens: int
    ) -> list[list[Sample]]:
        ids = self.client.generate(prompts=list(prompts), n=n, temperature=temperature, top_p=top_p,
                                   max_tokens=max_new_tokens)["completion_ids"]  # fmt: skip
        eos = self.tokenizer.eos_token_id
        samples = [Sample(self.tokenizer.decode(c, skip_special_tokens=True), len(c), eos not in c) for c in ids]
        return [samples[i * n : (i + 1) * n] for i in range(len(prompts))]


def trainer_generator(trainer, batch_size: int):
    """The generator that reuses what a GRPOTrainer already has, so no second model copy is loaded: its
    vLLM engine (colocate) or server client, with the current weights synced; else the policy itself.
    Call on every rank (syncing weights is collective); None on the other ranks, which do not generate."""
    if not trainer.accelerator.is_main_process:
        if trainer.args.use_vllm and trainer.state.global_step != trainer._last_loaded_step:
            trainer.vllm_generation.sync_weights()
            trainer._last_loaded_step = trainer.state.global_step
        return None
    if not trainer.args.use_vllm:
        return TransformersGenerator(
            trainer.accelerator.unwrap_model(trainer.model), trainer.processing_class, batch_size
        )
    if trainer.state.global_step != trainer._last_loaded_step:
        trainer.vllm_generation.sync_weights()
        trainer._last_loaded_step = trainer.state.global_step
    if trainer.args.vllm_mode == "colocate":
        llm = trainer.vllm_generation.llm
        print(f"openrs: step-wise evaluation generates with the trainer's vLLM engine {id(llm):#x}", file=sys.stderr)
        return VLLMGenerator(llm)
    return VLLMServerGenerator(trainer.vllm_generation.vllm_client, trainer.processing_class)


def generator(job: JobConfig, max_new_tokens: int, batch_size: int):
    """(generate, tokenizer, close) for the job's model: vLLM when hardware.vllm_mode is set (every GPU of the
    machine, or on a CPU each of hardware.num_processes engines, serves a shard of the prompts; contexts up to the
    prompt cap + max_new_tokens), else transformers (batch_size sequences per generate call); call close() when
    done."""
    from openrs.model.loading import load_model, load_tokenizer, model_path

    tokenizer = load_tokenizer(job.model)
    hw = job.hardware
    if hw.vllm_mode is not None:
        engine = dict(path=model_path(job.model), dtype=hw.dtype, seed=job.seed, enforce_eager=hw.vllm_enforce_eager,
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
    model = load_model(job.model, job.hardware)
    if hw.accelerator == "gpu":
        model = model.to("cuda")
    return TransformersGenerator(model, tokenizer, batch_size), tokenizer, lambda: None
