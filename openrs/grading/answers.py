"""Final-answer rules: where a completion's answer is, and how gold answers are written before grading.

Pure string functions, no math-verify: they run in the training process, on whatever a policy wrote, so
each is linear in its input (no backtracking regex over free text); the grading workers (openrs.grading)
parse and verify what these return. Each rule exists because a benchmark or training file
writes its answers that way (see tests/grading/test_answers.py for the real cases).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

_BOX_OPENERS = ("\\boxed{", "\\fbox{")
# What boxed_contents looks at; the text between is skipped at C speed.
_BRACES_AND_ESCAPES = re.compile(r"[\\{}]")
# No spaces inside: `24e - 32` is 24 times Euler's number, minus 32.
_SCI = re.compile(r"^([+-]?\d+(?:\.\d+)?)[eE]([+-]?\d+)$")
_WHOLE_FLOAT = re.compile(r"^\s*([+-]?\d+)\.0+\s*$")
_BARE_POINT = re.compile(r"(\d)\.(?=[/*)])")  # `-1./3`: math-verify reads -1 and drops the rest
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
# A text answer: words of two or more letters (`\\text{Evelyn}`, `east`), never an expression like `p - q`.
_WORDS = re.compile(r"^\(?[A-Za-z]{2,}(?: [A-Za-z]{2,})*\)?$")
# `a \text{ or } b`: math-verify reads only a, so a hedge `right or wrong` would pass; as `a, b` it is two
# values, which only a gold answer with two values accepts.
_CONNECTIVE = re.compile(r"\\(?:text|mbox|mathrm|textbf)\{ ?(?:or|and) ?\}| (?:or|and) ", re.IGNORECASE)
_FRAC = re.compile(r"\\[dt]frac(?![A-Za-z])")
_DOLLAR = re.compile(r"(?<!\\)\$|(?<!\\)\\[()]")  # `$` and `\(`, `\)`: maths mode switches
_PERCENT = re.compile(r"(?<!\\)%")
# In maths mode a space only ends a command name before a letter (`\cdot x`); `\ ` is an explicit space.
# Applied to single spaces (runs collapsed first), so it stays linear.
_SPACE = re.compile(r"(?<![A-Za-z\\]) | (?![A-Za-z])")
_BASE = re.compile(r"(\d+)_\{?\(?(\d+)\)?\}?")  # 4343_6, 4210_{5}, 201_{(5)}: numbers in base 6, 5, 5
_DECIMAL = re.compile(r"^[+-]?\d*\.\d+$")
_WRAPPERS = (("\\{", "\\}"), ("(", ")"), ("[", "]"))


def boxed_contents(text: str) -> list[str]:
    """Contents of every balanced `\\boxed{...}` / `\\fbox{...}` in text that is not inside another, in order of
    appearance (`\\boxed{\\boxed{60}+1}` gives `\\boxed{60}+1`, not 60).

    An unbalanced box (the completion was cut off) contributes nothing. One pass over text, so linear in its
    length however deep boxes nest or however many are left open: a degenerate completion cannot stall the caller."""
    boxes: list[tuple[int, int, int]] = []  # (opener start, content start, content end) of every balanced box
    braces: list[int] = []  # for each open brace, its box's opener start, or -1 when it does not open a box
    escaped = -1  # a backslash escapes the character after it: \{ and \} are literal braces, not grouping
    for match in _BRACES_AND_ESCAPES.finditer(text):
        i, c = match.start(), match.group()
        if i == escaped:
            continue
        if c == "\\":
            escaped = i + 1
        elif c == "{":
            opener = next((o for o in _BOX_OPENERS if text.endswith(o, 0, i + 1)), None)
            braces.append(i + 1 - len(opener) if opener else -1)
        elif braces:
            start = braces.pop()
            if start >= 0:
                boxes.append((start, text.index("{", start) + 1, i))
    outer, end = [], 0
    for start, first, last in sorted(boxes):
        if start >= end:
            outer.append(text[first:last])
            end = last + 1
    return outer


def _unbox(s: str) -> str:
    # `\\boxed{60}+1` -> `60+1`: a box inside an answer is only emphasis. Linear, like boxed_contents.
    if "\\boxed{" not in s and "\\fbox{" not in s:
        return s
    out, opened, i = [], [], 0  # opened: for each open brace, whether it opened a box
    while i < len(s):
        opener = next((o for o in _BOX_OPENERS if s.startswith(o, i)), None)
        if opener:
            opened.append(True)
            i += len(opener)
            continue
        c = s[i]
        if c == "\\":
            out.append(s[i : i + 2])
            i += 2
            continue
        if c == "{":
            opened.append(False)
        elif c == "}" and opened and opened.pop():
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


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
    # Inside an answer `$` only switches maths mode: math-verify would read `$221,$8` as 221 and `$8$+1` as 8.
    return _DOLLAR.sub("", s).strip()


def normalize_expression(s: str) -> str:
    """Rewrite forms math-verify reads differently from their meaning, for gold and predictions alike.

    `4.5e33` -> `4.5\\times10^{33}` (LaTeX parsing reads e as Euler's number); `27.0` -> `27`; `$x$` and
    `x$+1$` -> `x`, `x+1` (a `$` is only a mode switch); `a %b` -> `a\\%b` (in LaTeX an unescaped `%` starts a
    comment: math-verify would drop the rest); `\\frac{1}{3} E_{1}` -> `\\frac{1}{3}E_{1}` (spaces do not
    matter in maths, but math-verify compares unparsed answers as strings); `\\dfrac` -> `\\frac`;
    `a \\text{ or } b` -> `a,b`; `-1./3` -> `-1/3`."""
    s = " ".join(_strip_dollars(s).split())
    if m := _SCI.match(s.rstrip(".")):
        return f"{m.group(1)}\\times10^{{{int(m.group(2))}}}"
    s = _PERCENT.sub(r"\\%", _unbox(_SPACE.sub("", _CONNECTIVE.sub(",", s))).rstrip("."))
    s = _BARE_POINT.sub(r"\1", _FRAC.sub(r"\\frac", s))
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
    math-verify compares numbers to 6 decimals and would take 2.88e-19 for 2.88e-69); places: the decimals
    of an answer written with more than 6 (a prediction must equal it to half a unit of its last digit,
    where math-verify would take .0000673 for .0000672 and 110.8333334 for 110.8333333); max_parts: the most
    comma-separated answers a prediction may give (a second value appended to a single answer is wrong,
    whatever math-verify makes of it); base: the answer as `base_form` writes it when it has numbers in
    another base (math-verify drops the base; such answers compare as strings).
    """

    candidates: tuple[str, ...]
    parts: int
    text: str | None
    scale: int | None = None
    max_parts: int = 1
    base: str | None = None
    places: int | None = None


def prepare_gold(answer: object) -> Gold:
    """Gold answer as stored in a dataset (str, int or float) -> candidates for verification."""
    raw = str(answer).strip()
    if isinstance(answer, float) and answer.is_integer():  # AMC23 stores 27.0
        raw = str(int(answer))
    if m := _SCI.match(" ".join(_strip_dollars(raw).split())):
        return Gold((m.group(1),), 1, None, int(m.group(2)))
    core = normalize_expression(raw)
    if _DECIMAL.match(core) and -Decimal(core).as_tuple().exponent > 6:
        return Gold((core,), 1, None, places=-Decimal(core).as_tuple().exponent)
    candidates = [core]
    if core.endswith("%"):
        number = _strip_percent(core)
        candidates = [number, f"\\frac{{{number}}}{{100}}"]
    parts = len(split_top_level(core))
    return Gold(tuple(candidates), parts, plain_text(core), None, max(parts, _inner_parts(core)), base_form(core))


def _inner_parts(core: str) -> int:
    # `(3, \frac{\pi}{2})` or `\{1, 2\}` may be answered as `3, \pi/2` or `1, 2`.
    core = core.replace("\\left", "").replace("\\right", "")
    for left, right in _WRAPPERS:
        if core.startswith(left) and core.endswith(right):
            return len(split_top_level(core[len(left) : -len(right)]))
    return 1


def base_form(answer: str) -> str | None:
    """answer with its numbers in a base written `digits_base` (`4210_{5}` -> `4210_5`, `51_{(10)}=201_{(5)}`
    -> `51_10=201_5`); None when it has none."""
    return _BASE.sub(r"\1_\2", answer) if _BASE.search(answer) else None


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
    return _strip_percent(answer) if len(gold.candidates) > 1 else answer
