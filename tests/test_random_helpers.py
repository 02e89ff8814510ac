"""A code drawn at random by a project helper of another module that touches no store (so the
interpreter never runs it) is unique to the request: the project index records which functions
return a draw on every path (`project/_draws.py`). Fixture: tests/fixtures/projects/django_random_helpers."""

import ast
from pathlib import Path

from race_mcp.analyzer import analyze_paths
from race_mcp.analyzer.project._draws import DIRECT_DRAW, return_draws
from race_mcp.config import Settings

PROJECT = Path(__file__).parent / "fixtures" / "projects" / "django_random_helpers"


def test_a_lookup_by_a_helpers_random_code_is_no_race() -> None:
    report = analyze_paths([PROJECT], settings=Settings(jobs=1))
    flagged = {(f.function, f.rule_id) for f in report.findings}
    # Safe: the code checked unused was drawn by codes.py (directly, or through a helper's helper).
    assert ("issue_card", "RC303") not in flagged
    assert ("issue_referenced_card", "RC303") not in flagged
    # Racy: a helper that returns the caller's code on one path, one that derives it from a name,
    # and a random code that is not what the check looked up.
    assert ("issue_requested_card", "RC303") in flagged
    assert ("issue_named_card", "RC303") in flagged
    assert ("issue_labelled_card", "RC303") in flagged


def _draws(source: str, imports: dict[str, str] | None = None) -> list[str]:
    known = {"secrets": "secrets", "uuid": "uuid", "helper": "app.codes.helper", **(imports or {})}
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)

    def qualify(name: str) -> str | None:
        head, dot, rest = name.partition(".")
        return f"{known[head]}{dot}{rest}" if head in known else name

    return return_draws(function, qualify)


def test_return_draws_reads_every_return() -> None:
    assert _draws("def f():\n    return secrets.token_hex(8).upper()") == [DIRECT_DRAW]
    assert _draws("def f(p):\n    t = uuid.uuid4().hex\n    return f'{p}-{t[:8]}'") == [DIRECT_DRAW]
    assert _draws("def f():\n    return 'R-' + helper()") == ["app.codes.helper"]
    # One return is the caller's value; a comparison with a draw is no draw; a fall-through is None.
    assert _draws("def f(c):\n    if c:\n        return c\n    return secrets.token_hex()") == []
    assert _draws("def f(c):\n    return c == secrets.token_hex()") == []
    assert _draws("def f(c):\n    if c:\n        return secrets.token_hex()") == []
    # A local also bound to something else on another path.
    assert _draws("def f(c):\n    t = secrets.token_hex()\n    if c:\n        t = c\n    return t") == []
