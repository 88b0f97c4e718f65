"""eval=paper: the Open-RS paper's prompt and lighteval extraction, on hand-checked cases.

The expected verdicts are lighteval@ed08481's (the paper's evaluation code), checked by hand with it;
benchmarks/lighteval_agreement.py compares the two on every shipped problem."""

import csv
import json

import pytest

from openrs.data.benchmark import load_benchmark
from openrs.evaluation.harness import Sample, evaluate, write_report
from openrs.grading.paper_protocol import MATH_QUERY_TEMPLATE, PaperGold, paper_gold, paper_outcome, paper_prompt


def test_prompt_is_the_template_alone_in_the_r1_chat_template(shared_data):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(shared_data / "tokenizers" / "DeepSeek-R1-Distill-Qwen-1.5B")
    prompt = paper_prompt(tok, "What is $1+1$?")
    assert prompt == (
        "<｜begin▁of▁sentence｜><｜User｜>Solve the following math problem efficiently and clearly.  The last line "
        "of your response should be of the following format: 'Therefore, the final answer is: $\\boxed{ANSWER}$. "
        "I hope it is correct' (without quotes) where ANSWER is just the final number or expression that solves "
        "the problem. Think step by step before answering.\n\nWhat is $1+1$?<｜Assistant｜><think>\n"
    )
    assert MATH_QUERY_TEMPLATE.endswith("\n\n{Question}")


def test_boxed_answer_comes_before_any_other_match():
    # Without the paper's boxed_match_priority=0, "final answer is 7" (later in the text) would win.
    completion = "3 + 4 = 7, so $\\boxed{5}$. Let me recount the apples: the final answer is 7 apples"
    assert paper_outcome(PaperGold("5", "expr"), completion) == "correct"
    assert paper_outcome(PaperGold("7", "expr"), completion) == "wrong"
    # Of several boxes, the last one.
    two = "first $\\boxed{1}$, then, fixing a slip, $\\boxed{2}$."
    assert [paper_outcome(PaperGold(g, "expr"), two) for g in ("1", "2")] == ["wrong", "correct"]


def test_without_a_box_an_expression_is_extracted():
    # openrs's own protocol scores these no_answer (no \boxed{}); the paper's extraction finds the number.
    assert paper_outcome(PaperGold("42", "expr"), "</think>\n\nSo the final answer is 42") == "correct"
    assert paper_outcome(PaperGold("$\\frac{1}{2}$", "latex"), "The answer is $\\frac{2}{4}$.") == "correct"
    assert paper_outcome(PaperGold("42", "expr"), "I could not finish the") == "no_answer"


def test_gold_extraction_latex_vs_expr():
    # A LaTeX gold without $ does not extract: lighteval then compares raw text, so 2.0 is not 2.
    assert paper_outcome(PaperGold("2", "latex"), "$\\boxed{2}$") == "correct"
    assert paper_outcome(PaperGold("2", "latex"), "$\\boxed{2.0}$") == "wrong"
    assert paper_outcome(PaperGold("2", "expr"), "$\\boxed{2.0}$") == "correct"
    # AMC23's float gold, compared at 5 decimals.
    assert paper_outcome(PaperGold("27.0", "expr"), "$\\boxed{27}$") == "correct"
    assert paper_outcome(PaperGold("0.333333", "expr"), "$\\boxed{\\frac{1}{3}}$") == "correct"


def test_gold_is_the_papers_column():
    math500 = load_benchmark("math500")[0]
    gold = paper_gold("math500", math500)
    assert gold.kind == "latex" and gold.text == math500["solution"] and "\\boxed{" in gold.text
    assert paper_outcome(gold, "so $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$") == "correct"
    assert paper_outcome(gold, "so $\\boxed{(3, \\pi)}$") == "wrong"
    assert paper_gold("aime24", load_benchmark("aime24")[0]) == PaperGold("204", "expr")
    assert paper_gold("olympiadbench", load_benchmark("olympiadbench")[1]).kind == "latex"
    assert paper_gold("my.jsonl", {"answer": 3}) == PaperGold("3", "any")


def test_presets_name_their_protocol(job):
    assert job("eval=paper").eval.protocol == "paper"
    assert job().eval.protocol == "openrs"  # the step-wise preset keeps the training prompt


@pytest.mark.parametrize("protocol", ["paper", "openrs"])
def test_evaluate_uses_the_protocols_prompt_and_grading(tmp_path, protocol, job):
    bench = tmp_path / "mini.jsonl"
    bench.write_text(json.dumps({"problem": "6*7", "answer": "42"}) + "\n")
    seen = []
    # The third is longer than grading.max_answer_chars: the paper's items are whole completions.
    texts = ["</think>\n\nSo the final answer is 42", "$\\boxed{42}$", "Let me think. " * 200 + "$\\boxed{42}$"]

    def generate(prompts, n, temperature, top_p, max_new_tokens):
        seen.extend(prompts)
        return [[Sample(t, 9, False) for t in texts]]

    class Tok:
        def apply_chat_template(self, messages, **_):
            return json.dumps(messages)

    overrides = [f"eval.protocol={protocol}", f"eval.benchmarks=[{bench}]", "eval.samples=3"]
    smoke = job("+experiment=smoke", *overrides)
    assert len(texts[-1]) > smoke.reward.grading.max_answer_chars
    (result,) = evaluate(generate, Tok(), smoke.eval, "SYSTEM", smoke.reward.grading)
    (messages,) = map(json.loads, seen)
    if protocol == "paper":
        assert messages == [{"role": "user", "content": MATH_QUERY_TEMPLATE.format(Question="6*7")}]
        assert result.outcomes == ["correct", "correct", "correct"]
    else:
        assert messages == [{"role": "system", "content": "SYSTEM"}, {"role": "user", "content": "6*7"}]
        assert result.outcomes == ["no_answer", "correct", "correct"]
    assert result.predictions == [None, "42", "42"]  # maj@k votes on the last box under both
    report = write_report([result], tmp_path / "out", "m", smoke.eval.protocol)
    assert f"Protocol: `{protocol}`" in report
    with open(tmp_path / "out" / "summary.csv") as f:
        assert [row["protocol"] for row in csv.DictReader(f)] == [protocol]
