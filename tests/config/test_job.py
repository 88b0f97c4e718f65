"""Every preset composes and validates; the paper presets carry Table 5; bad values fail with a clear message."""

import json

import pytest

from openrs import CONF_DIR
from openrs.base.errors import ConfigError
from openrs.config.hardware import plan_batch
from openrs.resolve.load import load_job
from openrs.train.recipe import grpo_kwargs


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


# Paper Sec. 3; the GRPOConfig fields of each preset are frozen in tests/train/test_paper_preset.py.
PAPER = {
    "exp1": dict(max_completion_length=4096, data="knoveleng/open-s1", funcs=["format", "accuracy"], english=False),
    "exp2": dict(max_completion_length=3584, data="knoveleng/open-rs", funcs=["format", "accuracy"], english=False),
    "exp3": dict(max_completion_length=3584, data="knoveleng/open-rs", funcs=["format", "cosine"], english=True),
}


@pytest.mark.parametrize("exp", sorted(PAPER))
def test_paper_presets_match_section3(exp, job):
    preset = job(f"+experiment={exp}", "hardware=a40x4")
    paper = PAPER[exp]
    assert preset.length.max_completion_length == paper["max_completion_length"]
    assert preset.length.max_prompt_length == 512
    assert [s.path for s in preset.data.sources] == [paper["data"]]
    assert preset.reward.funcs == paper["funcs"]
    assert preset.name == exp
    assert preset.model.name_or_path == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    assert preset.model.trust_remote_code is False
    # The paper's code joins the two with one space after the R1 prompt's final "</answer>.".
    english = "</answer>. Note that respond by English, NOT use other languages."
    assert preset.prompt.text.endswith(english) == paper["english"]
    if paper["english"]:  # the line alone, without a leading space, when there is no system prompt
        assert preset.prompt.model_copy(update={"system": ""}).text == english.removeprefix("</answer>. ")
    assert "<think>" in preset.prompt.text and "\\boxed{{}} ." in preset.prompt.text
    # 3 ranks x 6 per device x 4 accumulation = 72 completions = 12 prompts x 6 generations.
    assert preset.trainer.global_batch_size == 72 and preset.batch.world_size == 3


def test_the_cosine_follows_the_paper_and_the_length_cap(job):
    exp2 = job("+experiment=exp2", "reward=cosine")
    c = exp2.reward.cosine
    assert (c.min_value_wrong, c.max_value_wrong, c.min_value_correct, c.max_value_correct) == (0.0, -0.5, 0.5, 1.0)
    assert c.max_len == 3584 and c.length_unit == "tokens"
    assert job("+experiment=exp2", "length=l8192").reward.cosine.max_len == 8192
    # exp3 is open-rs's run as it ran: characters over its max_len of 1000, whatever the length cap.
    c = job("+experiment=exp3", "length=l8192").reward.cosine
    assert (c.max_len, c.length_unit) == (1000, "chars")


def test_command_line_overrides_a_presets_choice(job):
    exp3 = job("+experiment=exp3", "reward=accuracy", "length=l4096")
    assert exp3.reward.funcs == ["format", "accuracy"]
    assert exp3.length.max_completion_length == 4096
    assert "respond by English" in exp3.prompt.text  # the rest of exp3 stays


@pytest.mark.parametrize("exp", options("experiment"))
@pytest.mark.parametrize("length", options("length"))
@pytest.mark.parametrize("reward", options("reward"))
def test_every_experiment_length_reward_validates(exp, length, reward, job):
    loaded = job(f"+experiment={exp}", f"length={length}", f"reward={reward}")
    assert loaded.reward.cosine.max_len == (1000 if exp == "exp3" else loaded.length.max_completion_length)


@pytest.mark.parametrize("group", ["model", "data", "prompt", "trainer", "eval", "tracking", "hardware"])
def test_every_option_of_every_group_validates(group, job):
    for option in options(group):
        # hardware=auto would refuse the default 1.5B model on a machine without a GPU
        # (tests/resolve/test_auto_hardware.py).
        job(f"{group}={option}", *(["model=tiny"] if option == "auto" else []))


@pytest.mark.parametrize("hardware", ["a40x4", "h100x1", "cpu"])
def test_hardware_keeps_the_global_batch(hardware, job):
    loaded = job("+experiment=exp2", f"hardware={hardware}")
    b = loaded.batch
    assert b.per_device * b.world_size * b.accumulation == 72
    assert b.per_device <= loaded.hardware.max_per_device_batch


def test_grpo_config_accepts_the_kwargs(job):
    from trl import GRPOConfig

    kwargs = grpo_kwargs(job("+experiment=exp3", "hardware=cpu"))
    args = GRPOConfig(**kwargs)
    assert args.beta == 0.04 and args.loss_type == "bnpo" and args.gradient_accumulation_steps == 1
    assert args.gradient_checkpointing and args.gradient_checkpointing_kwargs == {"use_reentrant": False}


def test_plan_batch_prefers_fewest_accumulation_steps():
    assert plan_batch(72, 3, 6).model_dump() == {"per_device": 6, "world_size": 3, "accumulation": 4}
    assert plan_batch(72, 1, 24).accumulation == 3
    with pytest.raises(ConfigError, match="cannot be split exactly over 5 training processes"):
        plan_batch(72, 5, 6)


@pytest.fixture
def bad(job):
    """bad(*overrides): the message of the ConfigError the job with these overrides fails with."""

    def message(*overrides: str) -> str:
        with pytest.raises(ConfigError) as err:
            job(*overrides)
        return str(err.value)

    return message


def test_unknown_reward_name(bad):
    msg = bad("reward.funcs=[format,acuracy]")
    assert "reward.funcs[1]='acuracy'" in msg and "'accuracy'" in msg and "'cosine'" in msg


def test_reward_weights_must_match(bad):
    msg = bad("reward.weights=[1.0]")
    assert "reward.weights has 1 entries" in msg and "['format', 'accuracy']" in msg


def test_batch_not_divisible_by_generations(bad):
    msg = bad("trainer.num_generations=5")
    assert "trainer.global_batch_size=72 is not a multiple of trainer.num_generations=5" in msg
    assert "trainer.global_batch_size=70" in msg


def test_lengths_over_context(bad):
    msg = bad("length=l4096", "length.max_model_length=4096")
    assert "= 4608 exceeds length.max_model_length (4096)" in msg and "at least 4608" in msg


def test_non_positive_steps(bad):
    assert "trainer.max_steps=0: Input should be greater than 0" in bad("trainer.max_steps=0")
    assert "trainer.save_steps=-5" in bad("trainer.save_steps=-5")
    assert "eval.every_steps=0" in bad("eval.every_steps=0")
    assert "samples_per_benchmark names ['amc']" in bad("+eval.samples_per_benchmark.amc=64")


def test_more_step_wise_evaluations_than_the_detector_handles(bad):
    msg = bad("trainer.max_steps=100000", "eval.every_steps=50")
    assert "plans 2001 step-wise evaluations" in msg and "set eval.every_steps >= 1000" in msg


def test_hardware_that_cannot_reach_the_batch(bad):
    msg = bad("hardware=a40x4", "hardware.num_processes=5", "hardware.gpus_per_machine=8")
    assert "cannot be split exactly over 5 training processes" in msg


def test_unknown_choice_names_the_valid_ones(bad):
    msg = bad("hardware.vllm_mode=remote", "hardware=h100x1")
    assert "hardware.vllm_mode='remote'" in msg and "'colocate' or 'server'" in msg


def test_unknown_dataset_column(tmp_path, bad, job):
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"question": "1+1", "answer": "2"}) + "\n")
    msg = bad(f"data.sources=[{{path: {data}, split: train, count: null, fraction: null}}]")
    assert "data.problem_column='problem'" in msg and "['question', 'answer']" in msg
    job(f"data.sources=[{{path: {data}, split: train, count: null, fraction: null}}]", "data.problem_column=question")


def test_missing_local_dataset(tmp_path, bad):
    msg = bad(f"data.sources=[{{path: {tmp_path}/nope.jsonl, split: train, count: null, fraction: null}}]")
    assert "data.sources[0].path" in msg and "no such file" in msg


def test_shared_training_file_columns(shared_data, job):
    path = shared_data / "train" / "deepscaler_preview_40315.jsonl"
    job(f"data.sources=[{{path: {path}, split: train, count: 100, fraction: null}}]")


def test_remote_code_is_off_by_default(job):
    for option in options("model"):
        assert job(f"model={option}").model.trust_remote_code is False


def test_every_yaml_says_what_it_is_and_how_to_run_it():
    for path in CONF_DIR.rglob("*.yaml"):
        lines = path.read_text().splitlines()
        header = next(line for line in lines if not line.startswith("# @package"))
        assert header.startswith("# ") and "Run: python -m openrs" in header, path




@pytest.mark.parametrize("override", ["trainer.learning_rate=inf", "trainer.beta=nan", "reward.grading.timeout_s=inf",
                                      "selection.alpha=-inf"])  # fmt: skip
def test_values_that_cannot_train_are_refused(override, job):
    with pytest.raises(ConfigError, match=rf"{override.split('=')[0]}=.*: Input should be a finite number"):
        job("+experiment=smoke", override)


@pytest.mark.parametrize(
    "override, shown, bound",
    [
        # 1e300 s overflowed the grading pool's wait at the first reward; 1e-9 s skipped every answer unnoticed.
        ("reward.grading.timeout_s=1e300", "1e+300", "less than or equal to 3600"),
        ("reward.grading.timeout_s=1e-9", "1e-09", "greater than or equal to 1"),
        # 1e308 trained one step into non-finite weights and died in sampling at step 2.
        ("trainer.learning_rate=1e308", "1e+308", "less than or equal to 1"),
        ("model.tiny.warm_start_lr=1e308", "1e+308", "less than or equal to 1"),
    ],
)
def test_values_past_their_bounds_are_refused_naming_key_value_and_bound(override, shown, bound, bad):
    key = override.split("=")[0]
    assert f"{key}={shown}: Input should be {bound}" in bad("+experiment=smoke", override)


@pytest.mark.parametrize("override", ["reward.grading.timeout_s=1", "reward.grading.timeout_s=3600",
                                      "trainer.learning_rate=1.0", "model.tiny.warm_start_lr=1.0"])  # fmt: skip
def test_the_bounds_themselves_are_allowed(override, job):
    key, value = override.split("=")
    loaded = job("+experiment=smoke", override)
    group, *path = key.split(".")
    node = getattr(loaded, group)
    for part in path:
        node = getattr(node, part)
    assert node == float(value)


@pytest.mark.parametrize(
    "name, problem",
    [
        ("a\nb", "a name is one line of printable characters: no newline, tab or other control character"),
        ("tab\there", "no newline, tab or other control character"),
        ("x" * 256, "at most 255 bytes (UTF-8) long; this one has 256"),
        ("é" * 128, "this one has 256"),  # two bytes each: the file system counts bytes
    ],
)
def test_a_name_that_is_not_one_line_and_one_folder_is_refused(name, problem, cfg):
    # Set on the composed config: a command-line override cannot hold a newline (Hydra's grammar refuses it), but a
    # preset or ${oc.env:...} can.
    composed = cfg("+experiment=smoke")
    composed.name = name
    with pytest.raises(ConfigError, match="name: ") as err:
        load_job(composed)
    assert problem in str(err.value)
    composed.name = "x" * 255
    assert load_job(composed).name == "x" * 255


def test_an_output_dir_that_is_a_file_or_under_one_is_refused(tmp_path, job):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for out, problem in [(a_file, "a file is there"), (a_file / "run", f"{a_file} is a file")]:
        with pytest.raises(ConfigError) as err:
            job("+experiment=smoke", output_dir=str(out))
        assert str(err.value) == f"output_dir={out}: {problem}, not a folder; choose another folder"
    assert a_file.read_text() == "" and job("+experiment=smoke", output_dir=str(tmp_path / "new" / "run"))
    assert not (tmp_path / "new").exists()  # the check leaves nothing behind
