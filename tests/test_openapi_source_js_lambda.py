"""`openapi SPEC --source DIR` on AWS Lambda handlers: API Gateway routes them, so their findings
get the route the deployment descriptor beside the code declares (an AWS SAM template, a Serverless
Framework file) and meet the spec's operations; a broken descriptor is a report error, never a failed
check, and one that links out of the allowed roots is never opened."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from race_mcp.config import Settings
from race_mcp.openapi import check_openapi
from race_mcp.openapi._lambda_routes import LambdaRoute, lambda_routes
from race_mcp.roots import AllowedRoots
from tests._language_apps import LAMBDA_LINKS as LINKS
from tests._language_apps import SAM_TEMPLATE as TEMPLATE
from tests._language_apps import SERVERLESS
from tests._language_apps import write_lambda_app as _app
from tests._mcp_helpers import RACE_MCP


def _linked(spec: Path, source: Path, **options: object) -> dict[str, tuple[str | None, str | None]]:
    report = check_openapi(spec, source=source, **options)  # type: ignore[arg-type]
    assert report.errors == []
    return {
        endpoint.operation: (endpoint.handler, endpoint.code_findings[0].route)
        for endpoint in report.endpoints
        if endpoint.code_findings
    }


@pytest.mark.parametrize(
    ("descriptor", "text"),
    [("template.yaml", TEMPLATE), ("serverless.yml", SERVERLESS)],
    ids=["sam", "serverless"],
)
def test_lambda_handlers_meet_their_operations(tmp_path: Path, descriptor: str, text: str) -> None:
    spec, source = _app(tmp_path, descriptor, text)
    assert _linked(spec, source) == LINKS


def test_without_a_descriptor_lambda_findings_stay_unlinked(tmp_path: Path) -> None:
    spec, source = _app(tmp_path, "README.md", "no descriptor here\n")
    report = check_openapi(spec, source=source)
    assert all(not endpoint.code_findings for endpoint in report.endpoints)
    assert all(endpoint.spec_findings for endpoint in report.endpoints)


def test_sam_routes_follow_code_uri_and_globals(tmp_path: Path) -> None:
    _, source = _app(tmp_path, "template.yaml", TEMPLATE)
    routes, errors = lambda_routes(source, roots=None, max_bytes=1_000_000)
    assert errors == []
    assert sorted(routes, key=lambda route: route.export) == [
        LambdaRoute(PurePosixPath("src/handlers/orders"), "cancelOrder", "DELETE /orders/{id}"),
        LambdaRoute(PurePosixPath("src/handlers/orders"), "handler", "POST /orders/{id}/pay"),
        LambdaRoute(PurePosixPath("src/handlers/legacy"), "refund", "ALL /orders/{id}/refund"),
    ]


def test_a_broken_descriptor_is_a_report_error_and_the_check_goes_on(tmp_path: Path) -> None:
    spec, source = _app(tmp_path, "template.yaml", "Resources: {Pay: {Properties: {Path: /a/{id}}}}\n")
    report = check_openapi(spec, source=source)
    [error] = report.errors
    assert error.code == "invalid-yaml" and error.path.endswith("template.yaml")
    assert report.endpoints and all(endpoint.spec_findings for endpoint in report.endpoints)


def test_an_oversized_descriptor_is_not_read(tmp_path: Path) -> None:
    spec, source = _app(tmp_path, "serverless.yml", SERVERLESS + "#" * 2_000 + "\n")
    settings = Settings.model_validate({"openapi": {"max_spec_bytes": 1_000}})
    report = check_openapi(spec, source=source, settings=settings)
    assert [error.code for error in report.errors] == ["too-large"]


def test_a_descriptor_linking_out_of_the_roots_is_never_opened(tmp_path: Path) -> None:
    spec, source = _app(tmp_path, "README.md", "")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "template.yaml").write_text(TEMPLATE.lstrip("\n"), encoding="utf-8")
    (source / "template.yaml").symlink_to(outside / "template.yaml")
    report = check_openapi(spec, source=source, source_roots=AllowedRoots([source, spec.parent / "x"]))
    assert report.errors == []
    assert all(not endpoint.code_findings for endpoint in report.endpoints)


def test_cli_links_lambda_handlers(tmp_path: Path) -> None:
    spec, source = _app(tmp_path, "template.yaml", TEMPLATE)
    done = subprocess.run(
        [str(RACE_MCP), "openapi", str(spec), "--source", str(source), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    linked = {e["operation"]: e["handler"] for e in report["endpoints"] if e["code_findings"]}
    assert linked == {operation: handler for operation, (handler, _) in LINKS.items()}


def test_python_lambda_handlers_meet_their_operations_too(tmp_path: Path) -> None:
    spec, source = _app(tmp_path, "README.md", "")
    (source / "hello_world").mkdir()
    (source / "hello_world" / "app.py").write_text(
        "import boto3\n\ntable = boto3.resource('dynamodb').Table('orders')\n\n\n"
        "def lambda_handler(event, context):\n"
        "    item = table.get_item(Key={'id': event['pathParameters']['id']})['Item']\n"
        "    if item['paid']:\n        return {'statusCode': 409}\n"
        "    table.put_item(Item={**item, 'paid': True})\n    return {'statusCode': 200}\n",
        encoding="utf-8",
    )
    (source / "template.yaml").write_text(
        "Resources:\n  Pay:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: hello_world/\n      Handler: app.lambda_handler\n      Events:\n"
        "        Pay:\n          Type: Api\n          Properties:\n            Path: /orders/{id}/pay\n"
        "            Method: post\n",
        encoding="utf-8",
    )
    expected = {"POST /orders/{orderId}/pay": ("lambda_handler", "POST /orders/{id}/pay")}
    assert _linked(spec, source) == expected
