"""Python 3.12+ source (PEP 695 generics, PEP 701 f-strings) is analysed on 3.11 too, lines kept."""

from __future__ import annotations

import ast
import textwrap

import pytest

from race_mcp.analyzer import analyze_source
from race_mcp.analyzer._newer_syntax import downgrade_newer_syntax


def downgraded(source: str) -> str:
    source = textwrap.dedent(source)
    result = downgrade_newer_syntax(source)
    assert result is not None
    ast.parse(result)  # valid on the oldest supported interpreter
    assert result.count("\n") == source.count("\n")  # every line keeps its number
    return result


def test_type_aliases_lose_the_keyword_and_parameters() -> None:
    result = downgraded(
        """\
        type Point[T] = tuple[T, T]
        type Count = int
        """
    )
    assert result.splitlines() == ["Point = tuple[T, T]", "Count = int"]


def test_generic_functions_and_classes_lose_their_type_parameters() -> None:
    result = downgraded(
        """\
        def first[T: (int, str)](items: list[T]) -> T:
            return items[0]
        class Box[T](Base):
            pass
        class Pair[
            K,
            V,
        ]:
            values: dict[K, V]
        """
    )
    assert "def first(items: list[T]) -> T:" in result
    assert "class Box(Base):" in result
    assert result.splitlines()[8] == "    values: dict[K, V]"


def test_subscripted_assignments_are_not_taken_for_aliases() -> None:
    source = "type Alias[T] = list[T]\ncounts[page] = counts[page] + 1\n"
    assert downgraded(source).splitlines()[1] == "counts[page] = counts[page] + 1"


def test_inner_strings_reusing_the_fstring_quote_are_requoted() -> None:
    result = downgraded(
        """\
        row = {"id": 1}
        message = f"{row["id"]} and {row['x']}"  # "quoted" comment
        block = f\"\"\"{row["id"]}
        more\"\"\"
        plain = "f {row["
        """
    )
    assert "message = f\"{row['id']} and {row['x']}\"" in result
    assert 'block = f"""{row[\'id\']}' in result
    assert 'plain = "f {row["' in result


def test_fields_that_cannot_be_requoted_become_empty_literals() -> None:
    result = downgraded(
        """\
        joined = f"{"\\n".join(names)}"
        quoted = f"{row["it's"]}"
        after = 1
        """
    )
    assert result.splitlines() == ['joined = ""', 'quoted = ""', "after = 1"]


def test_source_without_newer_syntax_is_left_alone() -> None:
    assert downgrade_newer_syntax("x = f'{a}'\ncounts[k] = 1\n") is None


def test_a_race_in_a_312_module_is_found_at_its_own_lines() -> None:
    source = textwrap.dedent(
        """\
        import asyncio
        from fastapi import FastAPI

        app = FastAPI()
        type Counts[K] = dict[K, int]
        hits: dict[str, int] = {}


        def label[T](value: T) -> str:
            return f"{value}"


        @app.post("/hit/{page}")
        async def hit(page: str) -> dict:
            current = hits.get(page, 0)
            await asyncio.sleep(float(f"{hits["delay"]}"))
            hits[page] = current + 1
            return {"count": hits[page]}
        """
    )
    findings = analyze_source(source, "app.py")
    assert [(f.rule_id, f.line, f.function) for f in findings] == [("RC101", 15, "hit")]
    assert [step.line for step in findings[0].evidence] == [15, 16, 17]


def test_source_broken_beyond_newer_syntax_is_still_a_syntax_error() -> None:
    with pytest.raises(Exception) as raised:
        analyze_source("type Alias = \ndef f(:\n", "app.py")
    assert getattr(raised.value, "code", None) == "syntax-error"
