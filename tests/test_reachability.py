"""Why a finding is reachable (`Finding.reached_by`) and how sure it is when nothing reaches it:
development seeders and scripts are low confidence (issue 11: a data seeder produced ~40 findings)."""

from __future__ import annotations

import json
from pathlib import Path, PurePath

from race_mcp import analyze_paths, analyze_source
from race_mcp.analyzer.python.entrypoints import entry_points
from race_mcp.analyzer.python.lower import lower_module
from race_mcp.findings import AnalysisReport
from race_mcp.render import render_json, render_sarif, render_text

_SEEDER = """
from django.db import models


class Team(models.Model):
    name = models.CharField(max_length=40)
    score = models.IntegerField(default=0)


def seed_scores(names):
    for name in names:
        team = Team.objects.get(name=name)
        if team.score == 0:
            team.score = 100
            team.save()
"""

_SCRIPT = (
    _SEEDER
    + """

if __name__ == "__main__":
    seed_scores(["red", "blue"])
"""
)

_TASK_AND_ROUTE = """
from celery import shared_task
from flask import Flask
from .models import db, Wallet

app = Flask(__name__)


@shared_task
def top_up(wallet_id):
    wallet = Wallet.query.get(wallet_id)
    if wallet.balance < 10:
        wallet.balance += 10
        db.session.commit()


@app.route("/spend", methods=["POST"])
def spend():
    wallet = Wallet.query.get(1)
    if wallet.balance >= 5:
        wallet.balance -= 5
        db.session.commit()
    return "ok"
"""


def test_a_development_seeder_is_low_confidence_and_reached_by_nothing() -> None:
    seeders = ("populate.py", "app/fake_data.py", "scripts/load_teams.py", "random_data.py", "scaffold.py")
    for path in seeders:
        findings = analyze_source(_SEEDER, path)
        assert findings, path
        assert {f.confidence for f in findings} == {"low"}, path
        assert {f.reached_by for f in findings} == {None}, path


def test_a_migration_is_low_confidence() -> None:
    # Run once per deploy, before the application serves: nobody races it.
    migrations = ("core/migrations.py", "app/migrations/0004_backfill.py", "alembic/versions/ab12_fill.py")
    for path in migrations:
        findings = analyze_source(_SEEDER, path)
        assert findings and {f.confidence for f in findings} == {"low"}, path
    # A feature named after versions is no migration.
    findings = analyze_source(_SEEDER, "documents/versions/service.py")
    assert findings and {f.confidence for f in findings} == {"medium"}


_STARTUP = """
from contextlib import asynccontextmanager

from django.apps import AppConfig
from fastapi import FastAPI
from sqlalchemy import text

from .db import engine


async def register_defaults():
    async with engine.begin() as conn:
        row = (await conn.execute(text("SELECT value FROM settings WHERE key = 'fee'"))).first()
        if row is None:
            await conn.execute(text("INSERT INTO settings (key, value) VALUES ('fee', 1)"))


@asynccontextmanager
async def lifespan(app):
    await register_defaults()
    yield


def create_app():
    return FastAPI(lifespan=lifespan)


class ShopConfig(AppConfig):
    name = "shop"

    def ready(self):
        from .models import Flag

        if not Flag.objects.filter(name="seeded").exists():
            Flag.objects.create(name="seeded")
"""


def test_startup_hooks_and_what_only_they_reach_are_low_confidence() -> None:
    # Each worker process runs them once, before it serves: only a sibling worker races them.
    findings = analyze_source(_STARTUP, "shop/app.py")
    assert {f.rule_id for f in findings} == {"RC203", "RC303"}
    assert {f.confidence for f in findings} == {"low"}
    assert {f.reached_by for f in findings} == {"startup hook lifespan", "startup hook ShopConfig.ready"}


_EVENT_HOOKS = """
from aiohttp import web
from fastapi import FastAPI
from sqlalchemy import text

from .db import engine

api = FastAPI()
site = web.Application()


async def _ensure(key):
    async with engine.begin() as conn:
        row = (await conn.execute(text("SELECT value FROM settings WHERE key = :k"), {"k": key})).first()
        if row is None:
            await conn.execute(text("INSERT INTO settings (key, value) VALUES (:k, 1)"), {"k": key})


@api.on_event("startup")
async def warm_up():
    await _ensure("warm")


async def on_boot(app):
    await _ensure("boot")


async def on_stop():
    await _ensure("stop")


site.on_startup.append(on_boot)
api.add_event_handler("shutdown", on_stop)


@api.post("/settings/{key}")
async def ensure_setting(key: str):
    await _ensure(key)
"""


def test_event_hooks_are_startup_hooks_and_routes_stay_high() -> None:
    module = lower_module(_EVENT_HOOKS, "shop/app.py")
    kinds = {entry.qualname: entry.kind for entry in entry_points(module)}
    hooks = {"warm_up": "startup", "on_boot": "startup", "on_stop": "startup"}
    assert kinds == {**hooks, "ensure_setting": "http"}
    # The helper both reach is reported once, through the route, at the route's confidence.
    findings = analyze_source(_EVENT_HOOKS, "shop/app.py")
    reported = {(f.reached_by, f.confidence) for f in findings}
    assert reported == {("FastAPI route POST /settings/{key}", "high")}


def test_a_main_guard_alone_says_nothing() -> None:
    # Long-running servers have one too (an SMTP handler started from its own module).
    findings = analyze_source(_SCRIPT, "mail/handler.py")
    assert findings and {f.confidence for f in findings} == {"medium"}


def test_service_code_nothing_here_reaches_stays_medium() -> None:
    findings = analyze_source(_SEEDER, "teams/services.py")
    assert findings and {f.confidence for f in findings} == {"medium"}


def test_entry_points_say_what_reaches_them() -> None:
    findings = {f.function: f for f in analyze_source(_TASK_AND_ROUTE, "wallets.py")}
    assert findings["top_up"].reached_by == "celery task top_up"
    assert findings["top_up"].route is None and findings["top_up"].confidence == "high"
    assert findings["spend"].reached_by == "Flask route POST /spend"


def test_json_and_sarif_carry_the_field() -> None:
    findings = analyze_source(_TASK_AND_ROUTE, "wallets.py")
    report = AnalysisReport.build(findings, [], files_analyzed=1)
    assert json.loads(render_json(report))["findings"][0]["reached_by"]
    sarif = json.loads(render_sarif(report, source_root=PurePath("/srv/app")))
    properties = [result["properties"] for result in sarif["runs"][0]["results"]]
    assert any(p.get("reached_by") == "celery task top_up" for p in properties)
    text = render_text(AnalysisReport.build([findings[-1]], [], files_analyzed=1))
    assert "reached by" in text or "route" in text


_COMMAND = (
    _SEEDER.replace("def seed_scores(names):", "def _unused():\n    pass\n\n\ndef seed_scores(names):")
    + """

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    def handle(self, *args, **options):
        team = Team.objects.get(name="red")
        if team.score == 0:
            team.score = 100
            team.save()
"""
)


def test_a_management_command_is_low_confidence_and_says_so() -> None:
    findings = [
        f
        for f in analyze_source(_COMMAND, "teams/management/commands/rescore.py")
        if f.function == "Command.handle"
    ]
    assert findings, "the command's read-modify-write is no longer found"
    assert {f.confidence for f in findings} == {"low"}
    assert findings[0].reached_by == "django management command Command.handle"


_HELPER_MODELS = """
from django.db import models


class Team(models.Model):
    score = models.IntegerField(default=0)
"""

_HELPER = """
from shop.models import Team


def bump(team_id):
    team = Team.objects.get(pk=team_id)
    if team.score < 10:
        team.score = team.score + 1
        team.save()
"""

_HELPER_VIEW = """
from django.db.models import F

from shop.models import Team


def reset(request, team_id):
    Team.objects.filter(pk=team_id).update(score=F("score") * 0)
"""

_HELPER_COMMAND = """
from django.core.management.base import BaseCommand

from shop.teams import bump


class Command(BaseCommand):
    def handle(self, *args, **options):
        bump(options["team"])
"""


def test_a_helper_only_a_command_reaches_takes_the_commands_confidence(tmp_path: Path) -> None:
    """Another module's entry point lends a helper its route and its confidence: a command's, low
    (oscar's fork_app helper was high through its management command). The helper's race is kept
    because a request writes the same model too (`project/_writers.py`)."""
    package = tmp_path / "shop"
    (package / "management" / "commands").mkdir(parents=True)
    for init in (package, package / "management", package / "management" / "commands"):
        (init / "__init__.py").write_text("")
    (package / "models.py").write_text(_HELPER_MODELS)
    (package / "teams.py").write_text(_HELPER)
    (package / "views.py").write_text(_HELPER_VIEW)
    (package / "management" / "commands" / "rescore.py").write_text(_HELPER_COMMAND)
    found = [f for f in analyze_paths([tmp_path]).findings if f.path.endswith("teams.py")]
    assert found, "the helper's read-modify-write is no longer found"
    assert {f.confidence for f in found} == {"low"}
    assert found[0].reached_by == "django management command Command.handle"
