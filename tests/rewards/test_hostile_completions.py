"""5,000 hostile completions through every reward: nothing escapes, every call is bounded, the pool lives."""

import random
import re

import pytest

from openrs.data.benchmark import load_benchmark
from openrs.rewards import REWARDS, build_rewards
from openrs.rewards.correctness import pool_for
from openrs.rewards.structure import has_tags

# Enough that every kind below comes tens of times at least (the rarest, kind 5, about 50) and tens of items hang
# their worker: the cost is in the items that hang or make sympy work, so twice as many only doubles the time.
N_COMPLETIONS = 5_000
BATCH = 80  # about one GRPO step's local batch
TIMEOUT_S = 1.0


def hostile(rng: random.Random) -> str:
    # Items that hang the grader (kinds 1 and 5) cost a worker TIMEOUT_S each: keep them rare.
    kind = rng.choices(range(12), weights=[10, 2, 10, 10, 10, 1, 10, 10, 10, 10, 10, 10])[0]
    if kind == 0:  # huge: up to a megabyte
        return rng.choice("ab{}\\ ") * rng.choice([10_000] * 6 + [100_000] * 3 + [1_000_000])
    if kind == 1:  # deep nesting
        d = rng.randrange(100, 5000)
        return r"\boxed{" + "{" * d + "1" + "}" * d + "}"
    if kind == 2:  # unbalanced braces
        return r"\boxed{" + rng.choice(["{", "}", "}{", "\\{"]) * rng.randrange(1, 2000)
    if kind == 3:  # unicode, including non-BMP and combining marks
        return "".join(
            chr(rng.choice([rng.randrange(32, 0xD7FF), rng.randrange(0xE000, 0x10FFFF)])) for _ in range(200)
        )
    if kind == 4:  # boxes in odd places
        return rng.choice(
            [
                r"\boxed",
                r"\boxed{",
                r"\boxed{}",
                r"\boxed{\boxed{\boxed{1}}}",
                r"}}}\boxed{2",
                r"\boxed{}}}}",
                r"\fbox{\boxed{3}",
            ]
        )
    if kind == 5:  # numbers that explode when evaluated
        return (
            r"\boxed{"
            + rng.choice([r"10^{10^{10}}", r"9^{9^{9^{9}}}", r"1000000!", r"\frac{1}{0}", r"0^0", r"2^{2^{2^{2^{2}}}}"])
            + "}"
        )
    if kind == 6:  # repeated tags (quadratic for a naive format regex)
        return "<think>" + "</think><answer>" * rng.randrange(1, 20_000)
    if kind == 7:  # whitespace runs (quadratic for naive trailing-whitespace regexes)
        return r"\boxed{5" + " " * rng.randrange(1, 100_000) + "%}"
    if kind == 8:  # long but plausible LaTeX
        return r"\boxed{" + "+".join(f"\\frac{{{i}}}{{{i + 1}}}" for i in range(rng.randrange(1, 400))) + "}"
    if kind == 9:  # control characters and NULs
        return "".join(chr(rng.randrange(0, 32)) for _ in range(500)) + r"\boxed{1}"
    if kind == 10:  # dollar and percent soup
        return r"\boxed{" + "".join(rng.choice("$%\\,.e0123") for _ in range(rng.randrange(1, 300))) + "}"
    return rng.choice(["", " ", "\n", "<think>", "</answer>", r"\boxed{\text{}}", r"\boxed{\infty-\infty}"])


@pytest.fixture(scope="module")
def every_reward(job):
    params = job("+experiment=exp3").reward
    params = params.model_copy(
        update={
            "funcs": list(REWARDS),
            "weights": [1.0] * len(REWARDS),
            "grading": params.grading.model_copy(update={"timeout_s": TIMEOUT_S, "workers": 2}),
        }
    )
    return params, build_rewards(params)


# Hang protection (pytest-timeout): every item is bounded by TIMEOUT_S in the pool, so a hung grader would show
# as this test running past its limit; how fast grading is lives in benchmarks/grading.py.
@pytest.mark.timeout(1800)
def test_hostile_completions(every_reward):
    params, funcs = every_reward
    golds = [row["answer"] for row in load_benchmark("math500")]
    rng = random.Random(1234)
    completions = [hostile(rng) for _ in range(N_COMPLETIONS)]
    accuracy = next(f for f in funcs if f.__name__ == "accuracy")
    for start in range(0, N_COMPLETIONS, BATCH):
        batch = completions[start : start + BATCH]
        kwargs = dict(
            prompts=["<｜Assistant｜><think>\n"] * len(batch),
            completions=batch,
            completion_ids=[list(range(min(len(c), 5000))) for c in batch],
            answer=[rng.choice(golds) for _ in batch],
        )
        for func in funcs:
            out = func(**kwargs)
            assert len(out) == len(batch)
            assert all(r is None or isinstance(r, float) for r in out)
    pool = pool_for(params)
    assert pool.alive()
    assert pool.restarts > 0  # some items did hang or crash, and their workers were replaced
    assert accuracy(prompts=[""], completions=[r"\boxed{2}"], answer=["2"]) == [1.0]


def test_tag_format_check_matches_open_r1s_regex():
    paper = re.compile(r"^<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)
    rng = random.Random(7)
    pieces = ["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "x"]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(9)))
        assert has_tags(text) == bool(paper.match(text)), repr(text)
