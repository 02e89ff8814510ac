"""What findings say, as a reader meets them (issue 12 audit):

- `reached_by` names what the entry point is: an API Gateway Lambda handler, a DynamoDB Streams or
  SQS consumer, a route, a task, a Django view or management command ("AWS Lambda view handler"
  was Python's word for a handler without a route); a consumer's and a task's outcome speaks of
  concurrent messages and task runs, not requests;
- an unnamed JavaScript function is named by its context (`POST /holds handler (map callback)`,
  `jobs.refill`, `release`, `Counter.bump`), not `<anonymous:LINE>`, in the text, JSON and SARIF
  reports alike, and the name does not move with the lines above it;
- guidance examples are written with the file's own library (Prisma, TypeORM, Sequelize, knex, the
  MongoDB driver), not Sequelize's in a Prisma file.

Every check runs the real analysis (and the patch pipeline) on fixtures in tests/fixtures/analyzer.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePath

import pytest

from race_mcp import AnalysisReport, analyze_paths, analyze_source
from race_mcp.remediate import propose_patches
from race_mcp.render import render_json, render_sarif, render_text

JS = Path(__file__).parent / "fixtures" / "analyzer" / "js"


def _findings(name: str, rule_id: str) -> list:
    path = JS / name
    return [f for f in analyze_source(path.read_text(), str(path)) if f.rule_id == rule_id]


# -- 1. what reaches the code --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "reached_by", "who"),
    [
        ("RC4xx_gateway_handler.mjs", "AWS Lambda API Gateway handler", "concurrent requests"),
        ("RC4xx_stream_consumer.mjs", "AWS Lambda DynamoDB Streams consumer handler", "concurrent messages"),
        ("RC4xx_queue_consumer.mjs", "AWS Lambda SQS consumer handler", "concurrent messages"),
        ("RC4xx_invoked_handler.mjs", "AWS Lambda handler", "concurrent requests"),
    ],
)
def test_lambda_entry_points_say_what_invokes_them(fixture: str, reached_by: str, who: str) -> None:
    [finding] = _findings(fixture, "RC401")
    assert finding.reached_by == reached_by
    assert f": {who} all read the same item" in finding.message
    assert "view" not in finding.reached_by


_PYTHON = """
from celery import shared_task
from django.core.management.base import BaseCommand
from .models import Bin


def restock(request, pk):
    bin = Bin.objects.get(pk=pk)
    if bin.level < 5:
        bin.level = 50
        bin.save()


@shared_task
def refill(pk):
    bin = Bin.objects.get(pk=pk)
    if bin.level < 5:
        bin.level = 50
        bin.save()


class Command(BaseCommand):
    def handle(self, *args, **options):
        bin = Bin.objects.get(pk=1)
        if bin.level < 5:
            bin.level = 50
            bin.save()
"""


def test_python_keeps_its_words_and_a_task_races_with_its_own_runs() -> None:
    found = {f.function: f for f in analyze_source(_PYTHON, "depot/views.py") if f.rule_id == "RC301"}
    assert found["restock"].reached_by == "django view restock"
    assert found["refill"].reached_by == "celery task refill"
    assert found["Command.handle"].reached_by == "django management command Command.handle"
    assert "concurrent requests all load the same row" in found["restock"].message
    assert "concurrent task runs all load the same row" in found["refill"].message


# -- 2. names of unnamed functions -----------------------------------------------------------------

_CALLBACK_NAMES = [
    (14, "POST /holds handler (map callback)"),
    (28, "restockAll (map callback)"),
    (40, "jobs.refill"),
    (50, "release"),
    (60, "Counter.bump"),
]


def test_unnamed_functions_are_named_by_their_context() -> None:
    found = [(f.line, f.function) for f in _findings("RC4xx_named_callbacks.js", "RC401")]
    assert sorted(found) == _CALLBACK_NAMES
    assert not any("<anonymous" in str(f.function) for f in _findings("RC4xx_named_callbacks.js", "RC401"))


def test_the_names_do_not_move_with_the_lines_above() -> None:
    source = (JS / "RC4xx_named_callbacks.js").read_text()
    shifted = "// a header\n// of three\n// lines\n" + source
    names = sorted(
        f.function or "" for f in analyze_source(shifted, "named_callbacks.js") if f.rule_id == "RC401"
    )
    assert names == sorted(name for _, name in _CALLBACK_NAMES)


def test_a_suppression_on_the_callbacks_line_still_counts() -> None:
    source = (JS / "RC4xx_named_callbacks.js").read_text()
    silenced = source.replace(
        "req.body.skus.map(async (sku) => {", "req.body.skus.map(async (sku) => { // race-mcp: ignore[RC401]"
    )
    assert silenced != source
    names = {f.function for f in analyze_source(silenced, "named_callbacks.js") if f.rule_id == "RC401"}
    assert "POST /holds handler (map callback)" not in names
    assert "restockAll (map callback)" in names


def _report(path: Path) -> AnalysisReport:
    return analyze_paths([path])


def test_text_json_and_sarif_carry_the_readable_name() -> None:
    path = JS / "RC4xx_named_callbacks.js"
    report = _report(path)
    text = render_text(report)
    # Named by its route, the handler's route is said once.
    assert "  in POST /holds handler (map callback)\n" in text
    assert "route POST /holds" not in text
    assert "  in jobs.refill\n" in text
    functions = {f["function"] for f in json.loads(render_json(report))["findings"]}
    assert {name for _, name in _CALLBACK_NAMES} <= functions
    sarif = json.loads(render_sarif(report, source_root=PurePath(path.parent)))
    logical = {
        location["name"]
        for result in sarif["runs"][0]["results"]
        for located in result["locations"]
        for location in located.get("logicalLocations", [])
    }
    assert "POST /holds handler (map callback)" in logical and "Counter.bump" in logical


def test_a_lambda_finding_reads_in_the_text_report() -> None:
    text = render_text(_report(JS / "RC4xx_gateway_handler.mjs"))
    assert "in handler, reached by AWS Lambda API Gateway handler" in text


# -- 3. guidance in the file's library -------------------------------------------------------------


def _guidance(name: str, rule_id: str) -> str:
    path = JS / name
    report = propose_patches(path.read_text(), str(path), rule=rule_id)
    [left] = [u for u in report.unpatched if u.rule_id == rule_id]
    return left.guidance


@pytest.mark.parametrize(
    ("fixture", "rule_id", "shown", "not_shown"),
    [
        ("RC3xx_prisma_guidance.ts", "RC301", "prisma.order.updateMany(", ["Order.update(", "affected"]),
        ("RC3xx_prisma_guidance.ts", "RC303", '"P2002"', ["UniqueConstraintError", "Order.update("]),
        ("RC3xx_typeorm_guidance.ts", "RC301", "result.affected === 0", ["prisma.", "Order.update("]),
        ("RC3xx_typeorm_guidance.ts", "RC303", "QueryFailedError", ["prisma.", "Order.update("]),
        ("RC3xx_sequelize_guidance.js", "RC301", "await Order.update(", ["prisma.", "affected"]),
        ("RC2xx_knex_guidance.js", "RC201", '.decrement("balance", amount)', ["pool.query("]),
        ("RC8xx_driver_guidance.js", "RC802", 'db.collection("users").insertOne(', ["User.create("]),
    ],
)
def test_guidance_examples_use_the_files_library(
    fixture: str, rule_id: str, shown: str, not_shown: list[str]
) -> None:
    guidance = _guidance(fixture, rule_id)
    assert shown in guidance
    for other in not_shown:
        assert other not in guidance.split("\n\n", 1)[1], other
