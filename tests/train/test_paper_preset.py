"""The paper presets build the GRPOConfig the paper's code ran, field by field.

The paper's code (the open-rs repository) pinned TRL 0.16.0.dev0 (commit 69ad852) and transformers 4.49.0, and
set the rest in recipes/grpo.yaml. PAPER_ERA freezes what those versions did for every GRPOConfig field that
changes what is trained; BOOKKEEPING lists the fields that only decide logging, saving, hub, evaluation and
plumbing. A field of the installed GRPOConfig that is in neither fails the test: a new TRL knob (as TRL 1.16's
use_bias_correction_kl was) must be decided before it can silently change the paper's run.
"""

import dataclasses
import math

import pytest

from openrs.train.recipe import grpo_kwargs

# Paper-era value of every field that shapes training. Fields the paper-era TRL did not have carry the value that
# reproduces its behaviour (the feature off); comments say where the value comes from when it is not Table 5.
PAPER_ERA = dict(
    # Optimisation (Table 5, recipes/grpo.yaml; transformers 4.49 defaults for the rest).
    learning_rate=1.0e-6,
    lr_scheduler_type="cosine_with_min_lr",
    lr_scheduler_kwargs={"min_lr_rate": 0.1},
    warmup_steps=0.1,  # the recipe's warmup_ratio 0.1: transformers 5 reads a float < 1 as a ratio
    max_steps=500,
    optim="adamw_torch",  # 4.49's default; 5.x defaults to the fused kernel
    optim_args=None,
    optim_target_modules=None,
    weight_decay=0.0,
    adam_beta1=0.9,
    adam_beta2=0.999,
    adam_epsilon=1e-8,
    max_grad_norm=1.0,
    label_smoothing_factor=0.0,
    per_device_train_batch_size=6,
    gradient_accumulation_steps=4,
    average_tokens_across_devices=False,  # 4.49's default; 5.x rescales the loss by tokens over ranks
    auto_find_batch_size=False,
    seed=42,
    data_seed=None,
    full_determinism=False,
    # Memory and numerics (hardware=a40x4: bf16 on the GPUs; activation checkpointing is gradient_checkpointing).
    bf16=True,
    fp16=False,
    tf32=None,
    activation_checkpointing=True,
    activation_checkpointing_kwargs={"use_reentrant": False},
    gradient_checkpointing=True,
    gradient_checkpointing_kwargs={"use_reentrant": False},
    torch_compile=False,
    use_liger_kernel=False,
    liger_kernel_config=None,
    neftune_noise_alpha=None,
    disable_dropout=False,  # the paper's TRL left dropout as the model has it
    cast_lm_head_to_fp32=False,
    router_aux_loss_coef=None,
    # Data order.
    shuffle_dataset=True,  # the paper's RepeatRandomSampler shuffled
    train_sampling_strategy="random",
    dataloader_drop_last=False,
    remove_unused_columns=False,
    # Generation (vLLM server on the fourth GPU, vllm_device=auto in the recipe).
    num_generations=6,
    max_completion_length=None,  # per experiment, checked below
    temperature=0.7,
    top_p=1.0,
    top_k=0,  # disabled, as the paper's vLLM SamplingParams left it
    min_p=None,
    repetition_penalty=1.0,
    generation_kwargs=None,
    # Per rank, one optimizer step's completions (6 x 4 accumulation) at once; the paper's TRL generated per
    # micro-batch, from the same policy (weights change only at the optimizer step), so the samples are alike.
    generation_batch_size=24,
    steps_per_generation=4,
    use_vllm=True,
    vllm_mode="server",
    vllm_gpu_memory_utilization=0.7,
    vllm_max_model_length=4608,
    vllm_tensor_parallel_size=1,
    vllm_model_impl="vllm",
    vllm_structured_outputs_regex=None,
    use_transformers_paged=False,
    use_transformers_continuous_batching=False,
    cache_implementation=None,
    chat_template_kwargs=None,
    # The GRPO objective: paper-era defaults (beta 0.04, clip 0.2, one iteration, token mean over the local batch,
    # (r - mean) / (std + 1e-4) per group, plain k3 KL) and everything TRL added since turned off.
    beta=0.04,
    epsilon=0.2,
    epsilon_high=None,  # TRL then clips both sides at epsilon: one clip range
    delta=None,
    num_iterations=1,
    loss_type="bnpo",
    scale_rewards="group",
    reward_weights=None,  # per experiment, checked below
    multi_objective_aggregation="sum_then_normalize",  # weighted sum, then the group's advantage: the paper's order
    importance_sampling_level="token",
    mask_truncated_completions=False,
    use_bias_correction_kl=False,
    vllm_importance_sampling_correction=False,
    off_policy_mask_threshold=None,
    top_entropy_quantile=1.0,
    entropy_coef=0.0,
    use_adaptive_entropy=False,
    sync_ref_model=False,
    ref_model_mixup_alpha=0.6,
    ref_model_sync_steps=512,
    ds3_gather_for_generation=True,
    max_tool_calling_iterations=None,
)

# Fields that do not change what is trained: where and how often things are logged, saved, pushed or evaluated,
# launcher plumbing, parameters of features that PAPER_ERA turns off, and epochs (max_steps decides).
BOOKKEEPING = set(
    """output_dir num_train_epochs
    logging_strategy logging_steps logging_first_step log_on_each_node logging_nan_inf_filter
    include_num_input_tokens_seen log_level log_level_replica disable_tqdm report_to run_name project trackio_space_id
    trackio_bucket_id trackio_static_space_id log_completions log_multimodal num_completions_to_print
    log_unique_prompts log_completions_hub_repo save_only_model save_strategy save_steps save_on_each_node
    save_total_limit enable_jit_checkpoint push_to_hub hub_token hub_private_repo hub_model_id hub_strategy
    hub_always_push hub_revision eval_strategy eval_steps eval_delay per_device_eval_batch_size prediction_loss_only
    eval_on_start eval_do_concat_batches eval_use_gather_object eval_accumulation_steps include_for_metrics
    batch_eval_metrics load_best_model_at_end metric_for_best_model greater_is_better num_generations_eval
    bf16_full_eval fp16_full_eval torch_compile_backend torch_compile_mode torch_empty_cache_steps use_cache
    ignore_data_skip restore_callback_states_from_checkpoint resume_from_checkpoint use_cpu accelerator_config
    parallelism_config dataloader_num_workers dataloader_pin_memory dataloader_persistent_workers
    dataloader_prefetch_factor dataloader_multiprocessing_context dataloader_in_order label_names length_column_name
    ddp_find_unused_parameters ddp_bucket_cap_mb ddp_broadcast_buffers ddp_static_graph ddp_backend ddp_timeout fsdp
    fsdp_config deepspeed debug skip_memory_metrics do_train do_eval do_predict local_rank model_init_kwargs
    trust_remote_code pad_to_multiple_of vllm_enable_sleep_mode vllm_server_base_url vllm_server_host
    vllm_server_port vllm_server_timeout vllm_group_port vllm_importance_sampling_mode
    vllm_importance_sampling_clip_max vllm_importance_sampling_clip_min vllm_importance_sampling_cap
    transformers_continuous_batching_config sapo_temperature_neg sapo_temperature_pos vespo_k_pos vespo_lambda_pos
    vespo_k_neg vespo_lambda_neg entropy_coef_min entropy_coef_max entropy_coef_delta entropy_target""".split()
)
# Fields of later transformers 5 releases only: the gpu extra's vLLM pins an earlier transformers without them.
NEWER = {"activation_checkpointing", "activation_checkpointing_kwargs"}
PER_EXPERIMENT = {"exp1": (4096, [1.0, 2.0]), "exp2": (3584, [1.0, 2.0]), "exp3": (3584, [1.0, 2.0])}


@pytest.fixture(scope="session")
def grpo_config(job):
    """grpo_config(exp): the GRPOConfig `python -m openrs +experiment=EXP hardware=a40x4` builds; bf16 is checked on
    the job's arguments because transformers refuses bf16 on a machine without a GPU."""

    def build(exp: str):
        from trl import GRPOConfig

        kwargs = grpo_kwargs(job(f"+experiment={exp}", "hardware=a40x4"))
        assert kwargs["bf16"] is True
        return GRPOConfig(**{**kwargs, "bf16": False})

    return build


@pytest.mark.parametrize("exp", sorted(PER_EXPERIMENT))
def test_paper_presets_build_the_paper_era_grpo_config(exp, grpo_config):
    config = grpo_config(exp)
    max_completion_length, reward_weights = PER_EXPERIMENT[exp]
    expected = {**PAPER_ERA, "bf16": False, "max_completion_length": max_completion_length,
                "reward_weights": reward_weights}  # fmt: skip
    expected = {k: v for k, v in expected.items() if k not in NEWER or hasattr(config, k)}
    actual = {key: getattr(config, key) for key in expected}
    # Enums (optim, lr_scheduler_type, ...) compare by their value.
    actual = {key: getattr(value, "value", value) for key, value in actual.items()}
    assert {k: v for k, v in actual.items() if v != expected[k]} == {}


def test_every_grpo_config_field_is_decided():
    from trl import GRPOConfig

    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    undecided = fields - PAPER_ERA.keys() - BOOKKEEPING
    assert undecided == set(), "new GRPOConfig fields: add each to PAPER_ERA or BOOKKEEPING"
    gone = (PAPER_ERA.keys() | BOOKKEEPING) - fields - NEWER
    assert gone == set(), "fields no longer in GRPOConfig: remove them here"



@pytest.mark.parametrize("exp", sorted(PER_EXPERIMENT))
def test_paper_presets_score_raw_logits_and_run_to_the_end(exp, job):
    preset = job(f"+experiment={exp}", "hardware=a40x4")
    # The paper's TRL computed the loss's log-probabilities from the raw logits; vLLM sampled at 0.7.
    assert (preset.trainer.logprob_temperature, preset.trainer.temperature) == (1.0, 0.7)
    # The paper's runs went on past their peak (its logs: to step 400-500): no early stop, detection still on.
    assert preset.selection.early_stop is False and preset.trainer.max_steps == 500


def open_rs_cosine(content: str, correct: bool) -> float:
    """open-rs src/open_r1/rewards.py get_cosine_scaled_reward with grpo.py's defaults (recipes/grpo.yaml sets
    none of them): the length is len(content) in characters, not clamped, over cosine_max_len 1000."""
    min_wrong, max_wrong, min_correct, max_correct, max_len = 0.0, -0.5, 0.5, 1.0, 1000
    progress = len(content) / max_len
    cosine = math.cos(progress * math.pi)
    low, high = (min_correct, max_correct) if correct else (max_wrong, min_wrong)
    return low + 0.5 * (high - low) * (1.0 + cosine)


def test_exp3_scores_the_cosine_reward_as_open_rs_did(job):
    from openrs.rewards.correctness import cosine

    exp3 = job("+experiment=exp3", "hardware=a40x4")
    # Lengths in characters: short, past max_len where the cosine turns back up, and a 9,000-character answer.
    contents = ["t" * (n - 9) + r"\boxed{5}" for n in (120, 700, 1500, 1999, 9000)]
    for gold, correct in (("5", True), ("6", False)):
        got = cosine(None, [[{"role": "assistant", "content": c}] for c in contents], params=exp3.reward,
                     answer=[gold] * len(contents))  # fmt: skip
        assert got == pytest.approx([open_rs_cosine(c, correct) for c in contents], abs=1e-9)


# The paper's wiring in miniature: R1-Distill's architecture, tokenizer and template (model=r1_mini, 20M
# parameters), the shipped DeepScaleR copy, each experiment's own prompt and rewards; short caps and batches.
MINIATURE = ("model=r1_mini", "data=deepscaler_preview", "data.sources.0.count=32", "hardware=cpu",
             "length.max_completion_length=16", "length.max_model_length=528", "trainer.max_steps=3",
             "trainer.global_batch_size=4", "trainer.num_generations=2", "trainer.save_steps=3",
             "eval.every_steps=null")  # fmt: skip
REWARDS = {"exp1": ["format", "accuracy"], "exp2": ["format", "accuracy"], "exp3": ["format", "cosine"]}


@pytest.fixture(scope="module")
def miniature_cache(tmp_path_factory):
    """One OPENRS_CACHE for the three runs: the scaled-down model is built once."""
    return tmp_path_factory.mktemp("openrs-cache")


@pytest.mark.slow
@pytest.mark.parametrize("exp", sorted(REWARDS))
def test_paper_experiment_runs_three_steps_in_miniature(exp, tmp_path, miniature_cache, run_openrs):
    import json
    import math

    import pandas as pd
    from mlflow import MlflowClient

    out = tmp_path / "run"
    proc = run_openrs("-m", "openrs", f"+experiment={exp}", *MINIATURE, f"hydra.run.dir={out}",
                      f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
                      env={"OPENRS_CACHE": str(miniature_cache)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "checkpoint-3" / "trainer_state.json").is_file() and (out / "final" / "model.safetensors").is_file()
    # Prompts carry R1-Distill's real chat template: system prompt, user turn, and the `<think>\n` prefill.
    prompts = pd.concat(pd.read_parquet(p) for p in sorted((out / "completions").glob("*.parquet")))["prompt"]
    english = "Note that respond by English, NOT use other languages."
    for prompt in prompts:
        assert prompt.startswith("<｜begin▁of▁sentence｜>A conversation between User and Assistant.")
        assert "<｜User｜>" in prompt and prompt.endswith("<｜Assistant｜><think>\n")
        assert (english in prompt) == (exp == "exp3")
    # Every reward of the experiment is logged at every step, and finite.
    run_id = json.loads((out / "mlflow_run.json").read_text())["run_id"]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    for name in REWARDS[exp]:
        points = client.get_metric_history(run_id, f"rewards/{name}/mean")
        assert sorted(p.step for p in points) == [1, 2, 3], name
        assert all(math.isfinite(p.value) for p in points), name
