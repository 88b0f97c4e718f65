"""Answer rules and grading on real benchmark answers; each case is a trap the original code fell into."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from openrs.grading.answers import boxed_contents, normalize_expression, prediction_of, prepare_gold, split_top_level
from openrs.grading.pool import GradingPool
from openrs.grading.worker import outcome


@pytest.fixture(scope="module")
def pool():
    pool = GradingPool(workers=2, timeout_s=3.0, memory_mb=4096, max_answer_chars=2000)
    yield pool
    pool.close()


def graded(gold, completion: str) -> str:
    g = prepare_gold(gold)
    return outcome(g, prediction_of(completion, g))


def test_last_box_wins_and_nesting_is_balanced():
    text = r"First \boxed{3}. Actually \boxed{\frac{1}{2}} and \fbox{x^{2}}; cut off \boxed{7"
    assert boxed_contents(text) == ["3", r"\frac{1}{2}", "x^{2}"]
    assert boxed_contents(r"\boxed{\{1, 2\}}") == [r"\{1, 2\}"]
    assert boxed_contents("no box") == []
    assert boxed_contents(r"\boxed{\boxed{60}+1} and \boxed{2}") == [r"\boxed{60}+1", "2"]  # not the inner box


def test_split_top_level_keeps_tuples_and_intervals():
    assert split_top_level("1,3,5") == ["1", "3", "5"]
    assert split_top_level(r"(1,8,19), (2,7,13), (4,5,7)") == ["(1,8,19)", "(2,7,13)", "(4,5,7)"]
    assert split_top_level(r"(-\infty,-5)") == [r"(-\infty,-5)"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("4.5e33", r"4.5\times10^{33}"),  # Minerva: LaTeX parsing reads e as Euler's number
        ("27.0", "27"),
        ("$2n-2$", "2n-2"),  # OlympiadBench wraps answers in $...$
        ("$69$,$84$", "69,84"),
        ("42.", "42"),
        ("-1./3", "-1/3"),  # Minerva writes Fortran-style reals; math-verify would read -1
    ],
)
def test_normalize_expression(raw, expected):
    assert normalize_expression(raw) == expected


def test_gold_comes_first_in_verify():
    # math-verify is asymmetric: gold x<2 accepts the interval (-inf, 2) only when gold is passed first.
    from math_verify import parse, verify

    gold, pred = parse(r"\boxed{x<2}"), parse(r"\boxed{(-\infty,2)}")
    assert verify(gold, pred) and not verify(pred, gold)
    assert graded("x<2", r"so \boxed{(-\infty,2)}") == "correct"


def test_amc_float_gold():
    assert prepare_gold(27.0).candidates == ("27",)
    assert graded(27.0, r"The answer is \boxed{27}") == "correct"
    assert graded(27.0, r"\boxed{28}") == "wrong"


def test_olympiad_dollar_gold_and_multiple_answers():
    assert graded("$2^{1009}$", r"\boxed{2^{1009}}") == "correct"
    assert graded("$69$,$84$", r"\boxed{84, 69}") == "correct"  # unordered
    assert graded("$69$,$84$", r"so \boxed{69} and \boxed{84}") == "correct"  # one box per answer
    assert graded("$69$,$84$", r"\boxed{69}") == "wrong"
    assert graded("1,3,5", r"\boxed{1,3}") == "wrong"


def test_percentages():
    # math-verify alone: gold 71\% vs 0.71 is False.
    assert graded(r"71\%", r"\boxed{0.71}") == "correct"
    assert graded(r"71\%", r"\boxed{71\%}") == "correct"
    assert graded("62.5%", r"\boxed{62.5}") == "correct"
    assert graded("62.5%", r"\boxed{0.6}") == "wrong"


def test_scientific_notation():
    assert graded("4.5e33", r"\boxed{4.5 \times 10^{33}}") == "correct"
    assert graded("4.5e33", r"\boxed{4.5e33}") == "correct"
    assert graded("4.5e33", r"\boxed{4.5 \times 10^{32}}") == "wrong"
    # Tiny magnitudes: math-verify alone rounds both to 0 at 6 decimals.
    assert graded("2.88e-19", r"\boxed{2.88e-69}") == "wrong"
    assert graded("2.88e-19", r"\boxed{2.88 \times 10^{-19}}") == "correct"
    assert graded("2.88e-19", r"\boxed{0.000000000000000000288}") == "correct"
    assert graded("-1./3", r"\boxed{-1./6}") == "wrong"
    assert graded("-1./3", r"\boxed{-\frac{1}{3}}") == "correct"


def test_text_answers():
    assert graded(r"\text{Evelyn}", r"\boxed{Evelyn}") == "correct"
    assert graded(r"\text{Evelyn}", r"\boxed{\text{evelyn}}") == "correct"
    assert graded(r"\text{east}", r"\boxed{\text{west}}") == "wrong"
    assert graded(r"\text{(C)}", r"\boxed{\text{(C)}}") == "correct"
    # Only words compare as text: an expression around the word is graded as maths.
    assert graded(r"\text{Evelyn}", r"\boxed{\text{Evelyn}+1}") == "wrong"
    assert graded("p - q", r"\boxed{p - q + 1}") == "wrong"
    assert graded("p - q", r"\boxed{-q + p}") == "correct"


def test_unparsed_latex_is_not_read_as_its_last_number():
    # Inside \boxed{} math-verify reads this Minerva answer as 2/3, so a wrong coefficient passed.
    assert graded(r"\frac{1}{3} E_{1}+\frac{2}{3} E_{2}", r"\boxed{\frac{9}{3} E_{1}+\frac{2}{3} E_{2}}") == "wrong"
    assert graded(r"\frac{1}{3} E_{1}+\frac{2}{3} E_{2}", r"\boxed{\frac{1}{3} E_{1}+\frac{2}{3} E_{2}}") == "correct"


def test_equivalent_latex_from_math500():
    assert graded(r"\left( 3, \frac{\pi}{2} \right)", r"\boxed{(3, \pi/2)}") == "correct"
    assert graded(r"\frac{14}{3}", r"\boxed{4\frac{2}{3}}") == "correct"
    assert graded("6 - 5i", r"\boxed{6-5i}") == "correct"


def test_unparseable_gold_is_never_correct():
    assert graded("", r"\boxed{}") == "unparseable_gold"


def test_no_box_is_no_answer():
    assert graded("5", "the answer is 5") == "no_answer"


def test_pool_from_a_thread_with_a_hanging_item(pool):
    gold = prepare_gold("5")
    items = [(gold, "5"), (gold, "10^{10^{10}}"), (gold, "6"), (gold, None)]
    out: list = []
    thread = threading.Thread(target=lambda: out.append(pool.grade(items)))
    thread.start()
    thread.join(timeout=60)
    assert out == [["correct", "timeout", "wrong", "no_answer"]]
    assert pool.alive()
    assert pool.scores(items[:1]) == [1.0]  # the pool still grades afterwards


def test_a_timeout_is_wrong_unless_the_gold_is_unparseable(pool):
    # Skipped (None), a prediction the grader cannot finish would escape the penalty of a wrong answer.
    hang = "10^{10^{10}}"
    assert pool.scores([(prepare_gold("10"), hang)]) == [0.0]
    assert pool.grade([(prepare_gold(""), hang)]) == ["unparseable_gold"]
    assert pool.scores([(prepare_gold(""), hang)]) == [None]


HBAR = r"\hbar \omega(v+1 / 2)-\frac{E_{0}^{2} e^{2}}{2 m \omega^{2}}"  # Minerva 261


# Wrong answers math-verify alone (or an earlier rule) graded correct; each line is one class.
@pytest.mark.parametrize(
    "gold, completion",
    [
        ("17.5%", r"\boxed{17.5%+1}"),  # LaTeX reads the rest after % as a comment
        (r"$8 \%$", r"\boxed{8 \%+1}"),
        ("$221,$8$", r"\boxed{221,$8+1}"),  # a $ inside the box ended the parsed answer
        (r"$(-\infty, 0) \cup\{1\}$.", r"\boxed{(-\infty, 0) \cup\{1\}$.+1}"),
        ("5", r"\boxed{$5$+1}"),
        ("$N=n$", r"\boxed{N=n+1}"),  # both equations have no solution for math-verify's solver
        (r"\frac{d x}{d t}=k x-a", r"\boxed{-\frac{d x}{d t}=k x-a}"),  # sympy takes dx/dt for 0
        # Its LaTeX does not parse, and math-verify's fallback read both as their last number, 2.
        (HBAR, rf"\boxed{{{HBAR}+1}}"),
        ("4343_6", r"\boxed{4343_7}"),  # the base was dropped
        (".0000672", r"\boxed{.0000673}"),  # equal at 6 decimals
        (r"5.4 \text{ cents}", r"\boxed{5.4 \text{ cents}, 5.5 \text{ cents}}"),  # a second value
        ("4.5e33", r"\boxed{4.5e33, 4.5e34}"),
        ("3", r"\boxed{3 \text{ or } 4}"),  # math-verify reads the first of `a or b`
        (r"\frac{4056195}{4}", r"\boxed{\frac{2015 \cdot 2013}{4} \text{ OR } 7}"),
        ("24e - 32", r"\boxed{24e - 33}"),  # 24 times Euler's e, not 2.4e-31 (DeepScaleR)
        ("60", r"\boxed{\boxed{60}+1}"),  # the inner box was taken for the answer
        ("110.8333333", r"\boxed{110.8333334}"),  # equal at 6 decimals
        ("51_{(10)} = 201_{(5)}", r"\boxed{51_{(10)} = 201_{(6)}}"),
        # Unparsed; math-verify's own string fallback was the stump `\lambda_{` for both.
        (r"\lambda_{\text {red}} / \sqrt{2}", r"\boxed{\lambda_{\text {red}} / \sqrt{3}}"),
    ],
)
def test_wrong_answers_that_used_to_pass(gold, completion):
    assert graded(gold, completion) == "wrong"


@pytest.mark.parametrize(
    "gold, completion",
    [
        ("17.5%", r"\boxed{17.5\%}"),
        ("$221,$8$", r"\boxed{221, 8}"),
        ("$N=n$", r"\boxed{n=N}"),
        (r"\frac{d x}{d t}=k x-a", r"\boxed{\frac{dx}{dt}=kx-a}"),
        (HBAR, r"\boxed{\hbar\omega(v+1/2)-\frac{E_{0}^{2}e^{2}}{2m\omega^{2}}}"),
        ("4343_6", r"\boxed{4343_{6}}"),
        (".0000672", r"\boxed{6.72 \times 10^{-5}}"),
        (r"\left( 3, \frac{\pi}{2} \right)", r"\boxed{3, \frac{\pi}{2}}"),
        ("x<2", r"\boxed{2>x}"),
        (r"\frac{1}{3} E_{1}+\frac{2}{3} E_{2}", r"\boxed{\dfrac{1}{3}E_{1}+\dfrac{2}{3}E_{2}}"),  # unparsed
        (r"\frac{2015 \cdot 2013}{4} \text{ OR } \frac{4056195}{4}", r"\boxed{\frac{4056195}{4}}"),
        (r"\(\boxed{4489}\)", r"\boxed{4489}"),  # DeepScaleR golds with a box inside
        ("110.8333333", r"\boxed{\frac{665}{6}}"),  # to half a unit of the gold's last digit
    ],
)
def test_right_answers_still_pass(gold, completion):
    assert graded(gold, completion) == "correct"


def test_pool_counts_outcomes(pool):
    pool.take_metrics()
    gold = prepare_gold("7")
    pool.grade([(gold, "7"), (gold, "8"), (gold, None), (prepare_gold(""), "1")])
    pool.grade([(gold, "7")])  # served from the cache, still counted
    metrics = pool.take_metrics()
    assert metrics["grading/correct"] == 2 and metrics["grading/wrong"] == 1
    assert metrics["grading/no_answer"] == 1 and metrics["grading/unparseable_gold"] == 1
    assert metrics["grading/seconds"] > 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals to the forkserver's workers")
def test_the_signals_that_stop_a_job_leave_its_graders_grading():
    """SLURM signals every process of a job (SIGTERM; SIGUSR2, its time-limit warning, kills by default) and a
    terminal a process group (SIGINT): the trainer checkpoints after its step, so its graders must grade on."""
    from multiprocessing import forkserver

    pool = GradingPool(workers=2, timeout_s=3.0, memory_mb=4096, max_answer_chars=2000)
    try:
        graders = [w.proc.pid for w in pool._workers] + [forkserver._forkserver._forkserver_pid]
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2):
            for pid in graders:
                os.kill(pid, sig)
        time.sleep(1)
        gold = prepare_gold("\\frac{1}{2}")
        assert pool.grade([(gold, "0.5"), (gold, "1/2"), (gold, "2")]) == ["correct", "correct", "wrong"]
        assert pool.restarts == 0 and all(w.proc.is_alive() for w in pool._workers)
    finally:
        pool.close()


POOL_SCRIPT = """
from openrs.grading.answers import prepare_gold
from openrs.grading.pool import GradingPool

pool = GradingPool(1, 3.0, 4096, 2000)
print(pool.grade([(prepare_gold("5"), "5")]))
pool.close()
"""


def test_the_memory_cap_stops_an_allocation_bomb_before_the_time_bound():
    # sympy computes 2^(2^33) exactly: a 1 GiB integer, built by squarings that take minutes. With the time
    # bound far away, only the worker's 512 MiB address-space cap can end it early: the allocation fails inside
    # the worker, the answer scores 0, and the worker (not killed, not restarted) grades on.
    pool = GradingPool(workers=1, timeout_s=600.0, memory_mb=512, max_answer_chars=2000)
    try:
        worker = pool._workers[0].proc.pid
        assert pool.scores([(prepare_gold("1"), "2^{2^{33}}")]) == [0.0]
        assert pool.counts["timeout"] == 0 and pool.restarts == 0
        peak_kib = next(int(line.split()[1]) for line in Path(f"/proc/{worker}/status").read_text().splitlines()
                        if line.startswith("VmHWM:"))  # fmt: skip
        assert peak_kib <= 512 * 1024
        assert pool.grade([(prepare_gold("1"), "1")]) == ["correct"]
    finally:
        pool.close()


def run_python(*args: str, stdin: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_pool_started_from_a_script_on_stdin(tmp_path):
    # `python - <<EOF`: a forkserver child would re-run the main module from `<stdin>`, which it cannot open.
    out = run_python("-", stdin=POOL_SCRIPT, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['correct']"


def test_pool_that_cannot_start_raises_a_clear_error(tmp_path):
    # No `if __name__ == "__main__":` guard: each worker re-runs the script, which starts a pool again.
    script = tmp_path / "no_guard.py"
    script.write_text(POOL_SCRIPT)
    out = run_python(str(script), cwd=tmp_path)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: openrs grading: a grading worker process could not start"), out.stderr
    assert 'if __name__ == "__main__":' in last and "no_guard.py" in last


def test_every_gold_answer_of_the_shipped_benchmarks_grades_correct_against_itself(tmp_path):
    """`python -m openrs.grading` as the README gives it, on the five benchmarks openrs ships; a file with a gold
    answer grading cannot read fails it, so the check has teeth."""
    shipped = sorted((Path(__file__).resolve().parents[2] / "openrs" / "data" / "benchmarks").glob("*.jsonl"))
    assert len(shipped) == 5
    proc = subprocess.run([sys.executable, "-m", "openrs.grading", *map(str, shipped)], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert proc.stdout.count("(100.0%) | 0 |") == 5
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"problem": "p", "answer": "\\\\frac{1}{2}"}\n{"problem": "q", "answer": "\\\\boxed{"}\n')
    proc = subprocess.run([sys.executable, "-m", "openrs.grading", str(broken)], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 1 and "broken.jsonl 1: unparseable_gold" in proc.stdout


class CountingText(str):
    """A completion that counts how many of its characters are read one by one."""

    reads = 0

    def __getitem__(self, key):
        type(self).reads += 1
        return super().__getitem__(key)


@pytest.mark.parametrize("shape", ["nested", "left open", "many boxes"])
def test_finding_boxes_reads_each_character_a_bounded_number_of_times(shape):
    # A policy can write these at the length cap: a quadratic scan held the trainer's process for 5.6 s at 4,000
    # levels of nesting. The count, not a timing, tells a linear scan from a quadratic one on any machine.
    for depth in (2_000, 8_000):
        text = {"nested": r"\boxed{" * depth + "1" + "}" * depth, "left open": r"\boxed{" * depth,
                "many boxes": r"\boxed{1}" * depth}[shape]  # fmt: skip
        CountingText.reads = 0
        found = boxed_contents(CountingText(text))
        assert CountingText.reads <= 2 * len(text), (depth, CountingText.reads, len(text))
        assert found == {"nested": [r"\boxed{" * (depth - 1) + "1" + "}" * (depth - 1)], "left open": [],
                         "many boxes": ["1"] * depth}[shape]  # fmt: skip
