"""Generated addition problems in the paper's format: the embedded default's training and held-out data.

A problem `37+45` is solved in `<think>` by column sums (`7+5=12`, `3+4+1=8`) and answered in `\\boxed{82}`,
the way R1-Distill writes reasoning before its answer, so the same rewards and grading apply as for real
maths. Two levels: `easy` (a one-digit and a two-digit number) and `hard` (two two-digit numbers with a carry),
so the paper's easy + hard mix can be tried in miniature.
"""

from __future__ import annotations

import random
import zlib

LEVELS = ("easy", "hard")
SPLITS = ("train", "test")


def _pairs(level: str) -> list[tuple[int, int]]:
    if level == "easy":
        return [(a, b) for a in range(1, 10) for b in range(10, 100)]
    return [(a, b) for a in range(10, 100) for b in range(10, 100) if a % 10 + b % 10 >= 10]  # with a carry


def solution(a: int, b: int) -> str:
    """The completion a perfect model writes after the `<think>\\n` prefill: column sums, then the answer."""
    lines, carry, x, y = [], 0, a, b
    while x or y or carry:
        dx, dy = x % 10, y % 10
        total = dx + dy + carry
        lines.append(f"{dx}+{dy}{'+1' if carry else ''}={total}")
        carry, x, y = total // 10, x // 10, y // 10
    return "\n".join(lines) + f"\n</think>\n<answer>\n\\boxed{{{a + b}}}\n</answer>"


def problems(level: str, split: str, count: int, seed: int) -> list[dict]:
    """`count` distinct problems as rows {problem, answer, solution, level}; train and test never share one."""
    if level not in LEVELS or split not in SPLITS:
        raise ValueError(f"arithmetic level must be one of {LEVELS} and split one of {SPLITS}")
    pairs = _pairs(level)
    random.Random(f"{seed}-{level}").shuffle(pairs)
    # Held out by a hash of the problem, so its split never depends on seed or count, and no digit
    # pattern is missing from training (a modular rule like (a+b) % 5 held out every sum ending in 0 or 5).
    chosen = [(a, b) for a, b in pairs if (zlib.crc32(f"{a}+{b}".encode()) % 5 == 0) == (split == "test")][:count]
    return [
        {"problem": f"What is {a}+{b}?", "answer": str(a + b), "solution": solution(a, b), "level": level}
        for a, b in chosen
    ]
