"""Reward functions: registry, formulas, the R1-Distill prefill, and TRL's calling conventions."""

import math
import typing

import pytest

from openrs.config.reward import RewardName
from openrs.rewards import REWARDS, build_rewards
from openrs.rewards.text import language_share


@pytest.fixture(scope="module")
def params(job):
    # openrs's own cosine (tokens, clamped at the 3,584-token cap); exp3's open-rs cosine is tested with the preset.
    return job("+experiment=exp2", "reward=cosine").reward


def call(name, params, completions, prompts=None, **columns):
    (func,) = build_rewards(params.model_copy(update={"funcs": [name], "weights": [1.0]}))
    prompts = prompts or [""] * len(completions)
    return func(prompts=prompts, completions=completions, **columns)


def test_registry_is_the_config_vocabulary():
    assert set(REWARDS) == set(typing.get_args(RewardName))


def test_built_rewards_are_named_for_logging(params):
    funcs = build_rewards(params)
    assert [f.__name__ for f in funcs] == ["format", "cosine"]
    assert all("<lambda>" not in f.__qualname__ for f in funcs)


def test_accuracy_plain_and_conversational(params):
    completions = [r"... \boxed{27}", r"\boxed{26}", "no answer", [{"role": "assistant", "content": r"\boxed{27}"}]]
    assert call("accuracy", params, completions, answer=[27.0] * 4) == [1.0, 0.0, 0.0, 1.0]


def test_accuracy_skips_unparseable_gold_and_logs_it(params):
    logged = {}
    out = call("accuracy", params, [r"\boxed{1}"], answer=[""], log_metric=logged.__setitem__)
    assert out == [None]
    assert logged["grading/unparseable_gold"] == 1


def test_a_completion_the_grader_cannot_finish_is_wrong(params):
    # Skipped (None), it would get 0 from TRL's nansum where a wrong answer of its length gets -0.5 under exp3.
    hang = r"\boxed{10^{10^{10}}}"
    logged = {}
    assert call("accuracy", params, [hang], answer=["10"], log_metric=logged.__setitem__) == [0.0]
    assert logged["grading/timeout"] == 1
    (r,) = call("cosine", params, [hang], completion_ids=[[0] * params.cosine.max_len], answer=["10"])
    assert r == pytest.approx(-0.5)  # the wrong branch at max_len


def test_format_is_the_papers_closing_tag_rule(params, shared_data):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(shared_data / "tokenizers" / "DeepSeek-R1-Distill-Qwen-1.5B")
    prompt = tok.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "1+1?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert prompt.endswith("<｜Assistant｜><think>\n")

    def generated(text: str) -> str:
        """What TRL hands a reward: the completion's token ids decoded without special tokens."""
        ids = tok(text + tok.eos_token, add_special_tokens=False)["input_ids"]
        return tok.decode(ids, skip_special_tokens=True)

    r1_style = "1+1: one and one make two.\n</think>\n\nThe sum is $\\boxed{2}$."
    cases = {
        r1_style: 1.0,
        "1+1: one and one make two. The sum is \\boxed{2}": 0.0,  # never closed its reasoning
        "two\n</think>\nno, wait\n</think>\n\\boxed{2}": 0.0,  # closed twice
        "two</think>\\boxed{2}": 0.0,  # no newlines around the tag
        "x\n</think>\n<answer>\n\\boxed{2}\n</answer>": 1.0,  # tags are allowed, not needed
    }
    completions = [generated(text) for text in cases]
    assert call("format", params, completions, prompts=[prompt] * len(cases)) == list(cases.values())
    # open-r1's strict tag rule keeps its own name; R1-style prose after </think> fails it.
    assert call("format_tags", params, [generated(r1_style)], prompts=[prompt]) == [0.0]
    tagged = "1+1 is 2\n</think>\n<answer>\n\\boxed{2}\n</answer>"
    assert call("format_tags", params, [tagged], prompts=[prompt]) == [1.0]
    # The strict rule needs the template's prefill: judged without it, it could never fire.
    assert call("format_tags", params, [tagged], prompts=["no prefill"]) == [0.0]
    assert call("format_tags", params, ["<think>x</think>\n<answer>2</answer>"], prompts=["plain"]) == [1.0]
    assert call("tag_count", params, [tagged], prompts=[prompt]) == [1.0]
    assert call("tag_count", params, ["x\n</think>\n2"], prompts=[prompt]) == [0.5]


def cosine_value(params, correct: bool, length: int, unit="tokens"):
    p = params.model_copy(update={"cosine": params.cosine.model_copy(update={"length_unit": unit})})
    text = r"\boxed{5}" + " " * max(0, length - 9) if unit == "chars" else r"\boxed{5}"
    (r,) = call("cosine", p, [text], completion_ids=[[0] * length], answer=["5" if correct else "6"])
    return r


def test_cosine_follows_the_paper_formula_in_tokens(params):
    cap = params.cosine.max_len  # 3584
    assert cosine_value(params, True, 0) == pytest.approx(1.0)
    assert cosine_value(params, True, cap) == pytest.approx(0.5)
    assert cosine_value(params, True, cap // 2) == pytest.approx(0.75)
    assert cosine_value(params, False, 0) == pytest.approx(0.0)
    assert cosine_value(params, False, cap) == pytest.approx(-0.5)
    # Clamped: beyond the cap a correct answer keeps the end value instead of wrapping around.
    assert cosine_value(params, True, 2 * cap) == pytest.approx(0.5)


def test_cosine_chars_reproduces_the_original_wraparound(params):
    cap = params.cosine.max_len
    # 2x the cap in characters: progress 2, cos(2 pi) = 1, a long correct answer scores like a short one.
    assert cosine_value(params, True, 2 * cap, unit="chars") == pytest.approx(1.0)


def test_cosine_needs_token_ids(params):
    with pytest.raises(ValueError, match="completion_ids"):
        call("cosine", params, [r"\boxed{5}"], answer=["5"])


def test_soft_overlong(params):
    cap, buf = params.soft_overlong.max_len, params.soft_overlong.buffer
    ids = [[0] * n for n in (cap - buf, cap - buf // 2, cap, cap + 1)]
    assert call("soft_overlong", params, ["x"] * 4, completion_ids=ids) == [0.0, -0.5, -1.0, -1.0]


def test_repetition_penalty(params):
    out = call("repetition_penalty", params, ["a b c d e f", "a b a b a b a b", "short"])
    assert out[0] == 0.0 and out[2] == 0.0
    # 6 trigrams, 2 unique -> -1 * (1 - 2/6)
    assert out[1] == pytest.approx(-(1 - 2 / 6))


def test_language_share():
    assert language_share(r"We compute $\alpha + \beta = 3$ so \boxed{3}.", "en") == 1.0
    assert language_share("所以答案是 3", "en") == 0.0
    assert language_share("the answer 答案是", "en") == pytest.approx(9 / 12)  # 9 Latin of 12 letters
    assert language_share("12345 + 6", "en") == 1.0
    assert language_share("答案", "zh") == 1.0


def test_each_reward_of_the_set_scores_a_right_formatted_answer(params):
    """Each function on its own (TRL weighs and sums them: tests/e2e/test_training.py checks its logged rewards)."""
    funcs = build_rewards(params)
    completion = "x\n</think>\n<answer>\n\\boxed{5}\n</answer>"
    scores = [
        f(prompts=["<think>\n"], completions=[completion], completion_ids=[[0] * 10], answer=["5"])[0] for f in funcs
    ]
    expected_cos = 0.5 + 0.25 * (1 + math.cos(math.pi * 10 / params.cosine.max_len))
    assert scores == pytest.approx([1.0, expected_cos])
