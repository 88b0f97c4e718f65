"""Final-answer rules: where a completion's answer is, and how gold answers are written before grading.

Pure string functions, no math-verify: they run in the training process, on whatever a policy wrote, so
each is linear in its input (no backtracking regex over free text); the grading workers (openrs.grading)
parse and verify what these return. Each rule exists because a benchmark or training file
writes its answers that way (see tests/test_answers.py for the real cases).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOX_OPENERS = ("\\boxed{", "\\fbox{")
_SCI = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*[eE]\s*([+-]?\d+)\s*$")
_WHOLE_FLOAT = re.compile(r"^\s*([+-]?\d+)\.0+\s*$")
_BARE_POINT = re.compile(r"(\d)\.(?=[/*)])")  # `-1./3`: math-verify reads -1 and drops the rest
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
# A text answer: words of two or more letters (`\\text{Evelyn}`, `east`), never an expression like `p - q`.
_WORDS = re.compile(r"^\(?[A-Za-z]{2,}(?: [A-Za-z]{2,})*\)?$")


def boxed_contents(text: str) -> list[str]:
    """Contents of every balanced `\\boxed{...}` / `\\fbox{...}` in text, in order of appearance.

    An unbalanced box (the completion was cut off) contributes nothing. Linear in len(text)."""
    found: list[tuple[int, str]] = []
    for opener in _BOX_OPENERS:
        start = text.find(opener)
        while start != -1:
            i, depth = start + len(opener), 1
            while i < len(text) and depth:
                c = text[i]
                if c == "\\":  # \{ and \} are literal braces, not grouping
                    i += 2
                    continue
                depth += (c == "{") - (c == "}")
                i += 1
            if depth == 0:
                found.append((start, text[start + len(opener) : i - 1]))
            start = text.find(opener, start + len(opener))
    return [content for _, content in sorted(found)]


def split_top_level(answer: str) -> list[str]:
    """Split at commas outside (), [], {} and $: `1,3,5` -> 3 parts, `(1, 2)` -> 1 part."""
    parts, depth, current = [], 0, []
    for c in answer:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _strip_dollars(s: str) -> str:
    s = s.strip()
    while len(s) >= 2 and s.startswith("$") and s.endswith("$") and not s.startswith("\\$"):
        s = s[1:-1].strip()
    return s.replace("$", "") if s.count("$") % 2 == 0 and "\\$" not in s else s


def normalize_expression(s: str) -> str:
    """Rewrite forms math-verify reads differently from their meaning, for gold and predictions alike.

    `4.5e33` -> `4.5\\times10^{33}` (LaTeX parsing reads e as Euler's number); `27.0` -> `27`; `$x$` -> `x`;
    `-1./3` -> `-1/3`."""
    s = _BARE_POINT.sub(r"\1", _strip_dollars(s).strip().rstrip(".").strip())
    if m := _SCI.match(s):
        return f"{m.group(1)}\\times10^{{{int(m.group(2))}}}"
    if m := _WHOLE_FLOAT.match(s):
        return m.group(1)
    return s


def _strip_percent(s: str) -> str:
    s = s.rstrip()
    return s.removesuffix("%").removesuffix("\\").rstrip() if s.endswith("%") else s


def plain_text(s: str) -> str | None:
    """Lower-case letters of a text answer (`\\text{Evelyn}` -> `evelyn`); None when s is not words."""
    s = _TEXT_WRAP.sub(r"\1", s).strip()
    return re.sub(r"[^a-z]", "", s.lower()) if _WORDS.match(s) else None


@dataclass(frozen=True)
class Gold:
    """A gold answer prepared for grading.

    candidates: LaTeX forms any of which counts as correct (a percentage also as its fraction);
    parts: number of comma-separated answers; text: lower-case letters when the answer is a word;
    scale: k when the answer is written m x 10^k (predictions are divided by 10^k before comparing, since
    math-verify compares numbers to 6 decimals and would take 2.88e-19 for 2.88e-69)."""

    candidates: tuple[str, ...]
    parts: int
    text: str | None
    scale: int | None = None


def prepare_gold(answer: object) -> Gold:
    """Gold answer as stored in a dataset (str, int or float) -> candidates for verification."""
    raw = str(answer).strip()
    if isinstance(answer, float) and answer.is_integer():  # AMC23 stores 27.0
        raw = str(int(answer))
    if m := _SCI.match(_strip_dollars(raw)):
        return Gold((m.group(1),), 1, None, int(m.group(2)))
    core = normalize_expression(raw)
    candidates = [core]
    if core.endswith("%"):
        number = _strip_percent(core)
        candidates = [number, f"\\frac{{{number}}}{{100}}"]
    return Gold(tuple(candidates), len(split_top_level(core)), plain_text(core))


def prediction_of(completion: str, gold: Gold) -> str | None:
    """The answer a completion gives: its last `\\boxed{}`, or its last k boxes when gold has k > 1 parts
    and the last box holds only one. None when there is no complete box."""
    boxes = boxed_contents(completion)
    if not boxes:
        return None
    answer = boxes[-1]
    if gold.parts > 1 and len(split_top_level(answer)) == 1 and len(boxes) >= gold.parts:
        answer = ", ".join(boxes[-gold.parts :])
    answer = normalize_expression(answer)
    if gold.scale is not None:
        return f"\\frac{{{answer}}}{{10^{{{gold.scale}}}}}"
    return _strip_percent(answer) if len(gold.candidates) > 1 else answer
