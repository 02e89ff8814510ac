"""Spec patches: OpenAPI findings fixed by additions to the spec, as a diff that keeps its formatting.

Every racy fixture and the demo's spec is patched, the diff applied with `git apply` and with
`patch -p1` on temporary copies, and the result checked again: the fixed findings are gone, no new
one appears, and a second proposal on the patched spec changes nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from textwrap import dedent

import pytest

from race_mcp.errors import InputError
from race_mcp.findings import Finding
from race_mcp.openapi import check_openapi
from race_mcp.remediate._spec import SPEC_RULES, SpecPatch, propose_spec_patch

FIXTURES = Path(__file__).parent / "fixtures" / "openapi"
DEMO_SPEC = Path(__file__).parent.parent / "race_mcp" / "demo" / "openapi.yaml"
SPECS = [*sorted(FIXTURES.glob("*.yaml")), DEMO_SPEC]


def _pairs(findings: list[Finding]) -> set[tuple[str, str | None]]:
    return {(finding.rule_id, finding.operation) for finding in findings}


def _apply(tool: list[str], directory: Path, diff: str) -> None:
    done = subprocess.run(tool, cwd=directory, input=diff, text=True, capture_output=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _patch_in(tmp_path: Path, source: Path, name: str | None = None) -> tuple[Path, SpecPatch]:
    """Copy a spec into tmp_path (the working directory), check it and propose its patch."""
    spec = tmp_path / (name or source.name)
    shutil.copyfile(source, spec)
    return spec, propose_spec_patch(Path(spec.name), check_openapi(spec.name).findings)


def _check_applies(tmp_path: Path, spec: Path, patch: SpecPatch) -> str:
    """Apply the diff with git apply and with patch -p1 on two copies; both give the patched text."""
    results = []
    for tool in (["git", "apply", "-"], ["patch", "-p1", "--quiet"]):
        copy = tmp_path / tool[0]
        copy.mkdir()
        shutil.copyfile(spec, copy / spec.name)
        _apply(tool, copy, patch.diff)
        results.append((copy / spec.name).read_text(encoding="utf-8"))
    assert results[0] == results[1] == patch.patched_text
    return results[0]


@pytest.mark.parametrize("source", SPECS, ids=lambda path: path.name)
def test_patched_specs_lose_the_fixed_findings_and_gain_none(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec, patch = _patch_in(tmp_path, source)
    before = _pairs(check_openapi(spec.name).findings)
    assert f"\n--- a/{spec.name}\n+++ b/{spec.name}\n" in patch.diff
    assert patch.changes, "every fixture has a fixable finding"

    patched = _check_applies(tmp_path, spec, patch)
    spec.write_text(patched, encoding="utf-8")
    after = _pairs(check_openapi(spec.name).findings)

    assert not {pair for pair in after if pair[0] in SPEC_RULES}
    assert after <= before
    again = propose_spec_patch(Path(spec.name), check_openapi(spec.name).findings)
    assert again.diff == "" and again.changes == []


@pytest.mark.parametrize("source", SPECS, ids=lambda path: path.name)
def test_the_diff_only_adds(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Comments, blank lines and untouched lines stay; a changed line only grows inside its braces."""
    monkeypatch.chdir(tmp_path)
    original = source.read_text(encoding="utf-8")
    _spec, patch = _patch_in(tmp_path, source)
    removed = [line[1:] for line in patch.diff.splitlines()[3:] if line.startswith("-")]
    added = [line[1:] for line in patch.diff.splitlines()[3:] if line.startswith("+")]
    for line in removed:
        stem = line.rstrip()[:-1]  # up to the closing brace of a flow collection
        assert line.rstrip().endswith(("}", "]")), line
        assert any(new.startswith(stem) for new in added), line
    comments = [line for line in original.splitlines() if line.strip().startswith("#")]
    patched_lines = patch.patched_text.splitlines()
    assert all(comment in patched_lines for comment in comments)


def test_demo_spec_reuses_its_components(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _spec, patch = _patch_in(tmp_path, DEMO_SPEC)
    added = "\n".join(line for line in patch.diff.splitlines() if line.startswith("+"))
    assert '$ref: "#/components/parameters/IfMatch"' in added
    assert '$ref: "#/components/parameters/IdempotencyKey"' in added
    assert '$ref: "#/components/responses/TooManyRequests"' in added
    assert "components:" not in added and "TooManyRequests:" not in added  # nothing new to define
    rename = next(change for change in patch.changes if change.rule_id == "RA101")
    assert rename.operation == "PATCH /accounts/{account_id}"
    assert rename.description == (
        "PATCH /accounts/{account_id}: require an If-Match header; declare 412; declare 428"
    )
    assert rename.line == DEMO_SPEC.read_text().splitlines().index("    patch:") + 1


def test_a_429_without_retry_after_gets_the_header_where_it_is_defined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _spec, patch = _patch_in(tmp_path, FIXTURES / "RA122.yaml")
    assert (
        "-        429: {description: slow down}\n+        429: {description: slow down, headers: "
        '{Retry-After: {$ref: "#/components/headers/RetryAfter"}}}\n'
    ) in patch.diff
    assert (
        "-    TooManyRequests: {description: slow down}\n+    TooManyRequests: {description: slow down, "
        'headers: {Retry-After: {$ref: "#/components/headers/RetryAfter"}}}\n'
    ) in patch.diff
    assert patch.diff.endswith(
        "+  headers:\n+    RetryAfter:\n+      description: Seconds to wait before retrying\n"
        "+      schema:\n+        type: integer\n"
    )


FOUR_SPACES = """\
openapi: 3.0.3
info:
    title: four spaces, indentless lists
    version: "1"
paths:
    /payments:
        post:
            tags:
            - payments
            responses:
                '201':
                    description: charged

    /orders/{id}:
        delete:
            responses:
                '204':
                    description: deleted"""  # no newline at the end of the file


def test_indentation_and_missing_final_newline_are_respected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "api.yaml"
    spec.write_text(FOUR_SPACES, encoding="utf-8")
    patch = propose_spec_patch(Path("api.yaml"), check_openapi("api.yaml").findings)

    patched = _check_applies(tmp_path, spec, patch)
    assert (
        "                '201':\n"
        "                    description: charged\n"
        "                '409':\n"
        '                    description: "Conflict: a request with this key is still in progress; '
        'retry later"\n'
    ) in patched
    assert (
        "            parameters:\n"
        "            - name: If-Match\n"
        "              in: header\n"
        "              required: true\n"
    ) in patched
    assert "                            schema:\n                                type: integer\n" in patched
    assert patched.endswith("\n")
    spec.write_text(patched, encoding="utf-8")
    assert not {p for p in _pairs(check_openapi("api.yaml").findings) if p[0] in SPEC_RULES}


def test_json_specs_keep_their_indent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    document = {
        "openapi": "3.1.0",
        "info": {"title": "JSON", "version": "1"},
        "paths": {"/redeem/{code}": {"post": {"responses": {"200": {"description": "redeemed"}}}}},
    }
    spec = tmp_path / "api.json"
    spec.write_text(json.dumps(document, indent=4) + "\n", encoding="utf-8")
    patch = propose_spec_patch(Path("api.json"), check_openapi("api.json").findings)

    patched = _check_applies(tmp_path, spec, patch)
    data = json.loads(patched)
    assert patched == json.dumps(data, indent=4) + "\n"
    operation = data["paths"]["/redeem/{code}"]["post"]
    assert operation["parameters"][0]["name"] == "Idempotency-Key"
    assert set(operation["responses"]) == {"200", "409", "422", "429"}
    spec.write_text(patched, encoding="utf-8")
    assert not {p for p in _pairs(check_openapi("api.json").findings) if p[0] in SPEC_RULES}


def test_code_findings_find_their_operation_by_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RC601 from the analyzer names a route; `{order_id}` in code is `{id}` in the spec."""
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "api.yaml"
    spec.write_text(
        dedent("""\
            openapi: 3.0.3
            info: {title: t, version: "1"}
            paths:
              /orders/{id}/refund:
                post:
                  operationId: refundOrder
                  responses:
                    "200": {description: refunded}
            """),
        encoding="utf-8",
    )
    code = Finding(
        rule_id="RC601",
        title="money handler without an idempotency key",
        severity="high",
        confidence="medium",
        path="app.py",
        line=10,
        end_line=20,
        route="POST /orders/{order_id}/refund",
        message="m",
    )
    patch = propose_spec_patch(Path("api.yaml"), [code])
    assert [(change.rule_id, change.operation) for change in patch.changes] == [
        ("RC601", "POST /orders/{id}/refund")
    ]
    assert "+      parameters:\n+        - name: Idempotency-Key\n+          in: header\n" in patch.diff
    _check_applies(tmp_path, spec, patch)


def test_unfixable_findings_get_guidance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _spec, patch = _patch_in(tmp_path, FIXTURES / "RA104.yaml")
    assert {g.rule_id for g in patch.guidance} == {"RA104", "RA123"}
    ra104 = next(g for g in patch.guidance if g.rule_id == "RA104")
    assert ra104.operation == "PATCH /orders/{id}"
    assert "If-Match" in ra104.message

    missing = Finding(
        rule_id="RA111",
        title="t",
        severity="high",
        confidence="high",
        path="RA104.yaml",
        line=1,
        end_line=1,
        message="m",
        operation="POST /nowhere",
    )
    patch = propose_spec_patch(Path("RA104.yaml"), [missing])
    assert patch.diff == ""
    assert patch.guidance[0].message == "the spec has no operation POST /nowhere to patch"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("openapi: [unclosed\n", "invalid-yaml"),
        ("- a list\n", "not-openapi"),
        ('{"openapi": "3.0.0",\n', "invalid-json"),
        ("x: " + "[" * 10_000 + "]" * 10_000 + "\n", "yaml-too-deep"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n"
                for i in range(8)
            ),
            "yaml-alias-bomb",
        ),
        ('{"openapi": "3.0.0", "x-max": ' + "9" * 5000 + ', "paths": {}}', "number-too-long"),
        ('{"openapi": "3.0.0", "x-max": 1e999999, "paths": {}}', "number-too-long"),
    ],
    ids=["yaml", "list", "json", "deep", "alias-bomb", "json-long-int", "json-huge-float"],
)
def test_bad_specs_are_one_clean_error(tmp_path: Path, text: str, code: str) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(InputError) as caught:
        propose_spec_patch(spec, [])
    assert time.perf_counter() - started < 5
    assert caught.value.code == code, str(caught.value)
    assert "\n" not in str(caught.value)
    with pytest.raises(InputError) as missing:
        propose_spec_patch(tmp_path / "missing.yaml", [])
    assert missing.value.code == "not-found"


def test_yaml_with_numbers_too_long_for_cpython_is_still_patched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "openapi.yaml"
    spec.write_text(
        dedent(
            f"""\
            openapi: 3.0.3
            info: {{title: t, version: "1", x-serial: {"9" * 5000}}}
            paths:
              /orders/{{id}}:
                delete:
                  responses:
                    "204": {{description: gone, x-base60: 1{":1" * 50_000}}}
            """
        ),
        encoding="utf-8",
    )
    patch = propose_spec_patch(Path(spec.name), check_openapi(spec.name).findings)
    assert {change.rule_id for change in patch.changes} >= {"RA101"}
    spec.write_text(patch.patched_text, encoding="utf-8")
    assert "9" * 5000 in spec.read_text(encoding="utf-8")
    assert "RA101" not in {finding.rule_id for finding in check_openapi(spec.name).findings}
