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
from tests._mcp_helpers import RACE_MCP

ORDERS = r"""
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";

const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const cancelOrder = async (event) => {
  const id = event.pathParameters.id;
  const { Item } = await doc.send(new GetCommand({ TableName: "Orders", Key: { id } }));
  if (Item.status !== "open") {
    return { statusCode: 409 };
  }
  await doc.send(new PutCommand({ TableName: "Orders", Item: { ...Item, status: "cancelled" } }));
  return { statusCode: 200 };
};

export async function handler(event) {
  const id = event.pathParameters.id;
  const { Item } = await doc.send(new GetCommand({ TableName: "Orders", Key: { id } }));
  if (Item.paid) {
    return { statusCode: 409 };
  }
  await doc.send(new PutCommand({ TableName: "Orders", Item: { ...Item, paid: true } }));
  return { statusCode: 200 };
}
"""

LEGACY = r"""
const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");
const { DynamoDBDocumentClient, GetCommand, PutCommand } = require("@aws-sdk/lib-dynamodb");
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

exports.refund = async (event) => {
  const { Item } = await doc.send(new GetCommand({ TableName: "Orders", Key: { id: event.pathParameters.id } }));
  if (Item.refunded) return { statusCode: 409 };
  await doc.send(new PutCommand({ TableName: "Orders", Item: { ...Item, refunded: true } }));
  return { statusCode: 200 };
};
"""  # noqa: E501 (the shape of real code in another language)

TEMPLATE = r"""
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: nodejs20.x
    CodeUri: src/
Resources:
  OrdersTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-orders"
  PayOrder:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers/orders.handler
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref OrdersTable}
      Events:
        Pay:
          Type: Api
          Properties:
            Path: /orders/{id}/pay
            Method: post
  CancelOrder:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers/orders.cancelOrder
      Events:
        Cancel:
          Type: HttpApi
          Properties:
            Path: /orders/{id}
            Method: DELETE
  Refund:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ./src/handlers
      Handler: legacy.refund
      Events:
        Refund:
          Type: Api
          Properties:
            Path: /orders/{id}/refund
            Method: any
"""

SERVERLESS = r"""
service: orders
provider: {name: aws, runtime: nodejs20.x}
functions:
  pay:
    handler: src/handlers/orders.handler
    events:
      - http:
          path: orders/{id}/pay
          method: post
  cancel:
    handler: src/handlers/orders.cancelOrder
    events:
      - httpApi: 'DELETE /orders/{id}'
  refund:
    handler: src/handlers/legacy.refund
    events:
      - httpApi:
          path: /orders/{id}/refund
          method: '*'
      - schedule: rate(1 hour)
"""

SPEC = r"""
openapi: 3.0.3
info: {title: orders, version: '1'}
paths:
  /orders/{orderId}/pay:
    post: {responses: {'200': {description: paid}}}
  /orders/{orderId}:
    delete: {responses: {'204': {description: cancelled}}}
  /orders/{orderId}/refund:
    get: {responses: {'200': {description: refund status}}}
    post: {responses: {'200': {description: refunded}}}
"""

# What the spec's operations must meet: (handler, the route the descriptor gave it).
LINKS = {
    "POST /orders/{orderId}/pay": ("handler", "POST /orders/{id}/pay"),
    "DELETE /orders/{orderId}": ("cancelOrder", "DELETE /orders/{id}"),
    "POST /orders/{orderId}/refund": ("refund", "ALL /orders/{id}/refund"),
}


def _app(root: Path, descriptor: str, text: str) -> tuple[Path, Path]:
    source = root / "orders-app"
    (source / "src" / "handlers").mkdir(parents=True)
    (source / "src" / "handlers" / "orders.mjs").write_text(ORDERS.lstrip("\n"), encoding="utf-8")
    (source / "src" / "handlers" / "legacy.js").write_text(LEGACY.lstrip("\n"), encoding="utf-8")
    (source / descriptor).write_text(text.lstrip("\n"), encoding="utf-8")
    spec = root / "openapi.yaml"
    spec.write_text(SPEC.lstrip("\n"), encoding="utf-8")
    return spec, source


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
