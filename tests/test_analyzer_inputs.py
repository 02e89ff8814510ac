"""Bad input to the analyzer core: one-line errors, never a traceback; suppression comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_mcp import InputError, analyze_paths, analyze_source
from race_mcp.config import Settings

RACY = """
import asyncio
from fastapi import FastAPI
app = FastAPI()
stock = {"pen": 1}

@app.post("/buy")
async def buy():
    if stock["pen"] > 0:
        await asyncio.sleep(0)
        stock["pen"] -= 1
"""


def test_syntax_error_names_file_line_and_column() -> None:
    with pytest.raises(InputError) as caught:
        analyze_source("def broken(:\n    pass\n", "broken.py")
    message = str(caught.value)
    assert message.startswith("broken.py:1:") and "syntax error" in message
    assert "\n" not in message


def test_binary_and_non_utf8_bytes_are_refused() -> None:
    with pytest.raises(InputError, match="binary file"):
        analyze_source(b"\x7fELF\x00\x00\x01", "a.out")
    with pytest.raises(InputError, match="not UTF-8"):
        analyze_source(b"x = '\xff\xfe'\n", "latin.py")


def test_oversized_source_is_refused() -> None:
    with pytest.raises(InputError, match="over the 100-byte limit"):
        analyze_source("x = 1\n" * 50, "big.py", settings=Settings(max_file_bytes=100))


def test_deeply_nested_source_is_an_error_not_a_crash() -> None:
    source = "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    try:
        analyze_source(source, "deep.py")
    except InputError as exc:
        assert "deep.py" in str(exc)


def test_paths_report_each_problem_and_keep_going(tmp_path: Path) -> None:
    (tmp_path / "racy.py").write_text(RACY)
    (tmp_path / "broken.py").write_text("def (:\n")
    (tmp_path / "blob.py").write_bytes(b"\x00\x01\x02")
    venv = tmp_path / ".venv" / "lib"
    venv.mkdir(parents=True)
    (venv / "ignored.py").write_text(RACY)
    report = analyze_paths([tmp_path, tmp_path / "missing.py"])
    assert [f.rule_id for f in report.findings] == ["RC101"]
    messages = {Path(e.path).name: e.message for e in report.errors}
    assert "syntax error" in messages["broken.py"]
    assert "binary file" in messages["blob.py"]
    assert "no such file" in messages["missing.py"]
    assert report.summary.files_analyzed == 1
    assert report.summary.files_with_errors == 3


def test_directory_given_where_a_file_is_expected(tmp_path: Path) -> None:
    from race_mcp.analyzer._files import read_source

    with pytest.raises(InputError, match="is a directory"):
        read_source(tmp_path, "somedir", max_bytes=1000)


def test_max_findings_caps_and_says_so(tmp_path: Path) -> None:
    for number in range(3):
        (tmp_path / f"racy{number}.py").write_text(RACY)
    report = analyze_paths([tmp_path], max_findings=2)
    assert len(report.findings) == 2
    assert report.summary.findings == 3 and report.summary.truncated and report.summary.shown == 2


@pytest.mark.parametrize(
    "comment",
    ["# race-mcp: ignore[RC101]", "# race-mcp: ignore", "# race-mcp: ignore[RC102, RC101]"],
)
def test_suppression_comment_on_the_line(comment: str) -> None:
    source = RACY.replace('if stock["pen"] > 0:', f'if stock["pen"] > 0:  {comment}')
    assert analyze_source(source, "a.py") == []


def test_suppression_of_another_rule_does_not_hide_this_one() -> None:
    source = RACY.replace('if stock["pen"] > 0:', 'if stock["pen"] > 0:  # race-mcp: ignore[RC102]')
    assert [f.rule_id for f in analyze_source(source, "a.py")] == ["RC101"]


def test_suppression_on_the_function() -> None:
    source = RACY.replace("async def buy():", "async def buy():  # race-mcp: ignore[RC101]")
    assert analyze_source(source, "a.py") == []
