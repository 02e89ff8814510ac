"""Loading every shape of spec: 2.0/3.0/3.1/3.2, YAML/JSON, components of every kind, many files."""

from __future__ import annotations

import json
from pathlib import Path

from race_mcp import Settings
from race_mcp.openapi import check_openapi

HEAD_31 = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _by_operation(report_findings: list) -> dict[str, set[str]]:  # type: ignore[type-arg]
    found: dict[str, set[str]] = {}
    for finding in report_findings:
        found.setdefault(finding.operation, set()).add(finding.rule_id)
    return found


def test_swagger_2_json_with_lines(tmp_path: Path) -> None:
    doc = {
        "swagger": "2.0",
        "info": {"title": "Pets", "version": "1"},
        "paths": {
            "/pets/{id}": {
                "get": {
                    "responses": {"200": {"description": "a pet", "headers": {"ETag": {"type": "string"}}}}
                },
                "put": {
                    "parameters": [{"name": "If-Match", "in": "header", "type": "string", "required": True}],
                    "responses": {"200": {"description": "ok"}, "412": {"description": "stale"}},
                },
                "delete": {"responses": {"204": {"description": "gone"}}},
            }
        },
    }
    text = json.dumps(doc, indent=2)
    spec = _write(tmp_path / "swagger.json", text)
    report = check_openapi(spec)
    assert report.spec is not None and report.spec.version == "2.0" and report.spec.title == "Pets"
    rules = _by_operation(report.findings)
    assert rules["PUT /pets/{id}"] == {"RA103", "RA121", "RA123"}
    assert rules["DELETE /pets/{id}"] == {"RA101", "RA121", "RA123"}
    lines = text.splitlines()
    for finding in report.findings:
        method = finding.operation.split()[0].lower()
        assert lines[finding.line - 1].strip() == f'"{method}": {{'


def test_components_of_every_kind_are_followed(tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "components.yaml",
        HEAD_31
        + """paths:
  /orders/{id}:
    $ref: "#/components/pathItems/Order"
components:
  pathItems:
    Order:
      parameters: [{$ref: "#/components/parameters/IfMatch"}]
      get:
        responses:
          "200": {$ref: "#/components/responses/OrderWithEtag"}
      patch:
        requestBody: {$ref: "#/components/requestBodies/OrderPatch"}
        responses:
          "200": {description: ok}
          "412": {description: stale}
          "429": {$ref: "#/components/responses/Throttled"}
  parameters:
    IfMatch: {name: If-Match, in: header, schema: {type: string}}
  headers:
    ETag: {schema: {type: string}}
    RetryAfter: {schema: {type: integer}}
  responses:
    OrderWithEtag:
      description: the order
      headers: {ETag: {$ref: "#/components/headers/ETag"}}
      content: {application/json: {schema: {$ref: "#/components/schemas/Order"}}}
    Throttled:
      description: slow down
      headers: {Retry-After: {$ref: "#/components/headers/RetryAfter"}}
  requestBodies:
    OrderPatch:
      content: {application/json: {schema: {$ref: "#/components/schemas/Order"}}}
  schemas:
    Order:
      type: object
      properties:
        status: {type: string}
        parent: {$ref: "#/components/schemas/Order"}
""",
    )
    report = check_openapi(spec, settings=Settings(ignore=["RA123"]))
    assert report.errors == []
    assert report.findings == []  # If-Match (path level), 412, ETag on GET, 429 + Retry-After
    assert report.spec is not None and report.spec.operations == 2


def test_multi_file_spec_reports_the_file_and_line_that_hold_the_operation(tmp_path: Path) -> None:
    api = tmp_path / "api"
    _write(
        api / "openapi.yaml",
        HEAD_31 + "paths:\n  /orders/{id}:\n    $ref: paths/orders.yaml\n"
        "  /orders:\n    $ref: 'paths/orders.yaml#/collection'\n",
    )
    _write(
        api / "paths" / "orders.yaml",
        """# Path items live here.
get:
  responses:
    "200": {$ref: "../common/responses.yaml#/Order"}
patch:
  parameters:
    - $ref: "../common/parameters.yaml#/IfMatch"
  responses:
    "200": {description: ok}
delete:
  responses:
    "204": {description: gone}
collection:
  post:
    requestBody:
      content:
        application/json:
          schema: {$ref: "../schemas/order.json#/NewOrder"}
    responses:
      "201": {description: created}
""",
    )
    _write(
        api / "common" / "parameters.yaml", "IfMatch: {name: If-Match, in: header, schema: {type: string}}\n"
    )
    _write(
        api / "common" / "responses.yaml",
        "Order:\n  description: the order\n  headers:\n    ETag: {$ref: 'headers.yaml#/ETag'}\n",
    )
    _write(api / "common" / "headers.yaml", "ETag: {schema: {type: string}}\n")
    _write(
        api / "schemas" / "order.json",
        json.dumps({"NewOrder": {"type": "object", "properties": {"idempotency_key": {"type": "string"}}}}),
    )
    label = str(api / "openapi.yaml")
    report = check_openapi(label, settings=Settings(ignore=["RA12"]))
    assert report.errors == []
    found = {(f.operation, f.rule_id): f for f in report.findings}
    assert set(found) == {
        ("PATCH /orders/{id}", "RA102"),
        ("DELETE /orders/{id}", "RA101"),
        ("POST /orders", "RA112"),  # the key comes from a JSON schema file in a sibling folder
    }
    patch = found[("PATCH /orders/{id}", "RA102")]
    assert patch.path == str(api / "paths" / "orders.yaml")
    assert (patch.line, patch.pointer) == (5, "/patch/responses")
    assert found[("DELETE /orders/{id}", "RA101")].line == 10
    assert report.spec is not None
    loaded = {Path(name).name for name in report.spec.files}
    # Lazy: headers.yaml is only named under a response's headers, whose names are all a check needs.
    assert loaded == {"openapi.yaml", "orders.yaml", "parameters.yaml", "responses.yaml", "order.json"}


def test_openapi_3_2_query_and_additional_operations(tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "v32.yaml",
        """openapi: 3.2.0
info: {title: t, version: '1'}
paths:
  /reports:
    query:
      responses: {"200": {description: a safe query with a body}}
    additionalOperations:
      PURGE:
        responses: {"204": {description: purged}}
""",
    )
    assert {(f.operation, f.rule_id) for f in check_openapi(spec).findings} == {
        ("PURGE /reports", "RA121"),
        ("PURGE /reports", "RA123"),
    }


def test_odd_keys_and_yaml_typing_are_tolerated(tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "odd.yaml",
        """openapi: 3.0.0
info: {title: t, version: 1.0}
x-defaults: &defaults
  "200": {description: ok}
  429: {description: slow, headers: {Retry-After: {schema: {type: integer}}}}
paths:
  x-internal: true
  /empty:
  /files/{path}*:
    delete:
      responses:
        <<: *defaults
        204: {description: gone}
  "/v1/{name}:cancel":
    post:
      responses: {<<: *defaults}
  /héllo wörld/on:
    put:
      parameters: [{name: If-Match, in: header, schema: {type: string}}]
      responses:
        200: {description: ok}
        412: {description: stale}
        429: {description: x, headers: {Retry-After: {}}}
""",
    )
    report = check_openapi(spec, settings=Settings(ignore=["RA123"]))
    assert report.errors == []
    assert _by_operation(report.findings) == {
        "DELETE /files/{path}*": {"RA101"},
        "POST /v1/{name}:cancel": {"RA101"},  # POST on an item path: an update
        "PUT /héllo wörld/on": {"RA105"},
    }


def test_spec_info_and_summary(tmp_path: Path) -> None:
    spec = Path(__file__).parent / "fixtures" / "openapi" / "RA111.yaml"
    report = check_openapi(spec, max_findings=2)
    assert report.spec is not None and report.spec.version == "3.0.3"
    assert report.spec.operations == 8
    assert report.summary.findings > 2 and report.summary.shown == 2 and report.summary.truncated
    assert len(report.findings) == 2 and len(report.endpoints) == 2
    payload = json.loads(report.model_dump_json())
    assert {"findings", "errors", "summary", "spec", "endpoints"} <= set(payload)


def test_low_findings_group_by_rule_with_counts() -> None:
    # The demo spec: 29 findings, 21 of them low RA121/RA123 on every state-changing operation.
    from race_mcp.openapi import group_findings

    demo = Path(__file__).parent.parent / "race_mcp" / "demo" / "openapi.yaml"
    findings = check_openapi(demo).findings
    kept, groups = group_findings(findings, limit=3)
    lows = [finding for finding in findings if finding.severity == "low"]
    assert kept == [finding for finding in findings if finding.severity != "low"] and kept
    assert sum(group.count for group in groups) == len(lows) > 0
    assert [(group.rule_id, group.count) for group in groups] == sorted(
        ((group.rule_id, group.count) for group in groups), key=lambda pair: (-pair[1], pair[0])
    )
    for group in groups:
        members = [f.operation for f in lows if f.rule_id == group.rule_id]
        assert group.operations == list(dict.fromkeys(members))[:3]
        assert group.more == len(set(members)) - len(group.operations)
    everything_kept, none = group_findings(findings, at_most="low", limit=3)
    assert none == groups and everything_kept == kept
    medium_too, wider = group_findings(findings, at_most="medium")
    assert all(finding.severity == "high" for finding in medium_too)
    assert sum(group.count for group in wider) == len(findings) - len(medium_too)
