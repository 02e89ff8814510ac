"""A handler class picked from a registry in another module (CTFd's `get_chal_class(type)` then
`chal_class.solve(...)`, issue 11): the view's check and the plugin method's insert are one
check-then-insert; once the plugin's insert handles the duplicate-key error, nothing is left."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from race_mcp import analyze_paths
from tests._project_files import write_project

_REGISTRY = """

    class RiddleQuest(BaseQuest):
        pass


    def quest_class(kind):
        found = QUESTS.get(kind)
        if found is None:
            raise KeyError(kind)
        return found


    QUESTS = {"riddle": RiddleQuest}
    """

_RACY_PLUGIN = """
    from quiz.db import Award, db


    class BaseQuest:
        @classmethod
        def complete(cls, player, quest):
            db.session.add(Award(quest_id=quest, player_id=player))
            db.session.commit()
    """

_HANDLED_PLUGIN = """
    from sqlalchemy.exc import IntegrityError

    from quiz.db import Award, db


    class AlreadyDone(Exception):
        pass


    class BaseQuest:
        @classmethod
        def complete(cls, player, quest):
            try:
                db.session.add(Award(quest_id=quest, player_id=player))
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                raise AlreadyDone(quest)
    """

_FILES = {
    "pyproject.toml": "",
    "quiz/__init__.py": "",
    "quiz/db.py": """
        from flask_sqlalchemy import SQLAlchemy

        db = SQLAlchemy()


        class Award(db.Model):
            id = db.Column(db.Integer, primary_key=True)
            quest_id = db.Column(db.Integer)
            player_id = db.Column(db.Integer)
        """,
    "quiz/views.py": """
        from flask import Blueprint, request

        from quiz.db import Award
        from quiz.plugins import quest_class

        bp = Blueprint("quiz", __name__)


        @bp.route("/quests/<int:quest>/answer", methods=["POST"])
        def answer(quest):
            player = request.form["player"]
            handler = quest_class(request.form["kind"])
            done = Award.query.filter_by(quest_id=quest, player_id=player).first()
            if done is None:
                handler.complete(player, quest)
            return "ok"
        """,
}


def _project(root: Path, plugin: str) -> Path:
    return write_project(
        root, {**_FILES, "quiz/plugins.py": textwrap.dedent(plugin) + textwrap.dedent(_REGISTRY)}
    )


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "cache"))


def test_the_check_in_the_view_races_the_plugin_insert(tmp_path: Path) -> None:
    root = _project(tmp_path / "racy", _RACY_PLUGIN)
    findings = [f for f in analyze_paths([root]).findings if f.rule_id == "RC303"]
    assert [(f.function, Path(f.path).name) for f in findings] == [("answer", "views.py")]
    assert [e.role for e in findings[0].evidence] == ["read", "check", "write"]
    assert "handler.complete" in findings[0].evidence[-1].code


def test_a_plugin_insert_handling_the_duplicate_clears_it(tmp_path: Path) -> None:
    root = _project(tmp_path / "fixed", _HANDLED_PLUGIN)
    assert not [f for f in analyze_paths([root]).findings if f.rule_id == "RC303"]
