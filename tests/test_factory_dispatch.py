"""An object built by a factory in another module (simple-login's `get_login_strategy(...)` then
`.process()`, issue 11): the view's check and the built class's insert are one check-then-insert,
whether the method is called on the factory's result directly, through a local, or on what a
class method factory returns; once the insert handles the duplicate-key error, nothing is left."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from race_mcp import analyze_paths
from tests._project_files import write_project

_FACTORIES = """

    class ReadOnlyStrategy(Strategy):
        def describe(self):
            return "linked"


    def login_strategy(member, known):
        if known:
            return ReadOnlyStrategy(member)
        return CreateStrategy(member)


    def new_strategy(member):
        strategy = CreateStrategy(member)
        return strategy
    """

_RACY_STRATEGY = """
    from club.db import Member, db


    class Strategy:
        def __init__(self, member):
            self.member = member


    class CreateStrategy(Strategy):
        @classmethod
        def build(cls, member):
            return cls(member)

        def process(self):
            db.session.add(Member(email=self.member))
            db.session.commit()
    """

_HANDLED_STRATEGY = """
    from sqlalchemy.exc import IntegrityError

    from club.db import Member, db


    class Strategy:
        def __init__(self, member):
            self.member = member


    class CreateStrategy(Strategy):
        @classmethod
        def build(cls, member):
            return cls(member)

        def process(self):
            try:
                db.session.add(Member(email=self.member))
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                return Member.query.filter_by(email=self.member).first()
    """

_FILES = {
    "pyproject.toml": "",
    "club/__init__.py": "",
    "club/db.py": """
        from flask_sqlalchemy import SQLAlchemy

        db = SQLAlchemy()


        class Member(db.Model):
            id = db.Column(db.Integer, primary_key=True)
            email = db.Column(db.String, unique=True)
        """,
    "club/views.py": """
        from flask import Blueprint, request

        from club.db import Member
        from club.strategies import CreateStrategy, login_strategy, new_strategy

        bp = Blueprint("club", __name__)


        @bp.route("/login", methods=["POST"])
        def login():
            email = request.form["email"]
            found = Member.query.filter_by(email=email).first()
            if found is None:
                return login_strategy(email, False).process()
            return "ok"


        @bp.route("/join", methods=["POST"])
        def join():
            email = request.form["email"]
            strategy = new_strategy(email)
            found = Member.query.filter_by(email=email).first()
            if found is None:
                strategy.process()
            return "ok"


        @bp.route("/signup", methods=["POST"])
        def signup():
            email = request.form["email"]
            found = Member.query.filter_by(email=email).first()
            if found is None:
                CreateStrategy.build(email).process()
            return "ok"
        """,
}


def _project(root: Path, strategy: str) -> Path:
    return write_project(
        root, {**_FILES, "club/strategies.py": textwrap.dedent(strategy) + textwrap.dedent(_FACTORIES)}
    )


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "cache"))


def test_the_check_in_the_view_races_the_built_strategy_insert(tmp_path: Path) -> None:
    root = _project(tmp_path / "racy", _RACY_STRATEGY)
    findings = [f for f in analyze_paths([root]).findings if f.rule_id == "RC303"]
    assert sorted((f.function, Path(f.path).name) for f in findings) == [
        ("join", "views.py"),
        ("login", "views.py"),
        ("signup", "views.py"),
    ]
    for finding in findings:
        assert [e.role for e in finding.evidence] == ["read", "check", "write"]
        assert ".process()" in finding.evidence[-1].code  # the call into the other module


def test_a_strategy_insert_handling_the_duplicate_clears_it(tmp_path: Path) -> None:
    root = _project(tmp_path / "fixed", _HANDLED_STRATEGY)
    assert not [f for f in analyze_paths([root]).findings if f.rule_id == "RC303"]
