"""openrs-gold-check on files it cannot grade: one line naming the file (and line) and the fix, exit 2, no table."""

import pytest

from openrs.grading.__main__ import main


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "gold.jsonl: no rows (the file is empty or blank): give a file of rows with an 'answer' column"),
        ("\n  \n\n", "gold.jsonl: no rows (the file is empty or blank)"),
        ('{"answer": "1"}\nnot json\n', "gold.jsonl:2: not valid JSON (Expecting value, column 1)"),
        ('{"answer": "1"}\n[1, 2]\n', "gold.jsonl:2: no 'answer' column (the row has a list, not an object)"),
        ('{"solution": "1"}\n', "gold.jsonl:1: no 'answer' column (the row has columns ['solution']): fix the row, "
                                "or name the column with --answer-column"),
    ],
)  # fmt: skip
def test_a_file_it_cannot_grade_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "gold.jsonl"
    path.write_text(text)
    good = tmp_path / "good.jsonl"
    good.write_text('{"answer": "2"}\n')
    assert main([str(good), str(path), "--workers", "1"]) == 2
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and err.startswith(f"openrs: {tmp_path}/{message}"), err
    assert out == ""  # no table begun: the good file before it is not graded either


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--timeout-s", "1e300"], "--timeout-s=1e+300: Input should be less than or equal to 3600"),
        (["--timeout-s", "1e-9"], "--timeout-s=1e-09: Input should be greater than or equal to 1"),
        (["--workers", "-1"], "--workers=-1: Input should be greater than 0"),
    ],
)
def test_options_past_the_grading_schemas_bounds_are_one_line_and_exit_2(tmp_path, capsys, option, message):
    good = tmp_path / "good.jsonl"
    good.write_text('{"answer": "2"}\n')
    assert main([str(good), *option]) == 2
    out, err = capsys.readouterr()
    assert err == f"openrs: {message}\n" and out == ""
