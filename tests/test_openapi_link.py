"""`source`: spec operations linked to the handlers the real static analyzer finds, ranked first."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_mcp import InputError
from race_mcp.openapi import check_openapi
from race_mcp.openapi._link import normalize_template, split_route
from race_mcp.rules import RULES


@pytest.mark.parametrize(
    ("route", "template"),
    [
        ("/orders/{id}", "/orders/{}"),
        ("/orders/{id:int}/", "/orders/{}"),
        ("/orders/<int:id>", "/orders/{}"),
        ("orders/<pk>/", "/orders/{}"),
        ("/orders/:id/items/:item?", "/orders/{}/items/{}"),
        ("/files/{name}.json", "/files/{}.json"),
        ("/v1/{name}:cancel", "/v1/{}:cancel"),
        ("/", "/"),
    ],
)
def test_path_templates_normalise_across_frameworks(route: str, template: str) -> None:
    assert normalize_template(route) == template


def test_split_route() -> None:
    assert split_route("POST /redeem/{code}") == (["POST"], "/redeem/{code}")
    assert split_route("GET|HEAD /x") == (["GET", "HEAD"], "/x")
    assert split_route("nonsense") is None


SPEC = """openapi: 3.0.3
info: {title: shop, version: '1'}
servers: [{url: https://shop.example.com/api}]
paths:
  /redeem/{coupon}:
    post:
      operationId: redeemCoupon
      responses: {'200': {description: redeemed}}
  /api/withdraw/{user}/{amount}:
    post:
      responses: {'200': {description: withdrawn}}
  /widgets:
    post:
      responses: {'201': {description: created}}
  /health:
    get:
      responses: {'200': {description: ok}}
"""


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "src"
    source.mkdir()
    # The catalog's own racy examples: a FastAPI handler and a Flask view, analysed for real.
    (source / "coupons.py").write_text(RULES["RC101"].example, encoding="utf-8")
    (source / "bank.py").write_text(RULES["RC102"].example, encoding="utf-8")
    spec = tmp_path / "openapi.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    return spec, source


def test_code_findings_sit_beside_spec_findings_and_rank_first(shop: tuple[Path, Path]) -> None:
    spec, source = shop
    report = check_openapi(spec, source=source)
    first, second, third = report.endpoints
    # Exact template match despite different parameter names ({coupon} vs {code}).
    assert first.operation == "POST /redeem/{coupon}"
    assert first.handler == "redeem"
    assert [f.rule_id for f in first.code_findings] == ["RC101"]
    assert first.code_findings[0].route == "POST /redeem/{code}"
    # Flask's <user>/<int:amount> matched under the spec's /api prefix.
    assert second.operation == "POST /api/withdraw/{user}/{amount}"
    assert [f.rule_id for f in second.code_findings] == ["RC102"]
    assert third.operation == "POST /widgets" and third.code_findings == []

    redeem = next(f for f in first.spec_findings if f.rule_id == "RA111")
    assert (redeem.severity, redeem.confidence) == ("high", "high")
    assert "Its handler `redeem` (" in redeem.message and "RC101" in redeem.message
    # Rate-limit findings are not "confirmed" by a racy handler.
    assert next(f for f in first.spec_findings if f.rule_id == "RA121").severity == "low"
    # The flat contract carries both kinds, the confirmed spec finding on top.
    assert report.findings[0].rule_id in {"RA111", "RC101", "RC102"}
    assert {f.rule_id for f in report.findings} >= {"RA111", "RA121", "RC101", "RC102"}
    assert report.summary.files_analyzed == 3  # the spec and two source files


def test_without_source_nothing_is_linked(shop: tuple[Path, Path]) -> None:
    spec, _source = shop
    report = check_openapi(spec)
    assert all(endpoint.code_findings == [] for endpoint in report.endpoints)
    widgets = next(f for f in report.findings if f.operation == "POST /widgets" and f.rule_id == "RA111")
    redeem = next(
        f for f in report.findings if f.operation == "POST /redeem/{coupon}" and f.rule_id == "RA111"
    )
    assert widgets.severity == "medium" and redeem.confidence == "medium"


def test_missing_source_is_an_input_error(shop: tuple[Path, Path]) -> None:
    spec, source = shop
    with pytest.raises(InputError, match="no such file or directory"):
        check_openapi(spec, source=source / "nope")
