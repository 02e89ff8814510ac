"""A project's SQLAlchemy models with the app's own lookup helpers (`User.get(id)`,
`User.get_by(email=...)`, simple-login's `ModelMixin`) load rows: a one-time code checked on the
row and then marked used races (issue 11 hand review; found before only through a misread Flask
`session.get`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from race_mcp import analyze_paths

_FILES = {
    "pyproject.toml": "",
    "app/__init__.py": "",
    "app/db.py": """
        from sqlalchemy.orm import scoped_session, sessionmaker

        Session = scoped_session(sessionmaker())
        """,
    "app/models.py": """
        import sqlalchemy as sa
        from sqlalchemy.orm import declarative_base

        from .db import Session

        Base = declarative_base()


        class ModelMixin:
            @classmethod
            def get(cls, id):
                return Session.query(cls).get(id)

            @classmethod
            def get_by(cls, **kw):
                return Session.query(cls).filter_by(**kw).first()


        class Member(Base, ModelMixin):
            __tablename__ = "members"
            id = sa.Column(sa.Integer, primary_key=True)
            last_code = sa.Column(sa.String(8))
            nickname = sa.Column(sa.String(40))
        """,
    "app/views.py": """
        from flask import Blueprint, request, session

        from .db import Session
        from .models import Member

        bp = Blueprint("auth", __name__)


        @bp.route("/otp", methods=["POST"])
        def otp():
            member = Member.get(session.get("member_id"))
            token = request.form["token"]
            if member.last_code != token:
                member.last_code = token
                Session.commit()
            return "ok"


        @bp.route("/nickname", methods=["POST"])
        def nickname():
            member = Member.get_by(id=session.get("member_id"))
            member.nickname = request.form["nickname"]
            Session.commit()
            return "ok"
        """,
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "project"
    for name, text in _FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def test_a_code_checked_on_a_row_from_a_mixin_lookup_then_marked_used_races(project: Path) -> None:
    findings = [f for f in analyze_paths([project]).findings if f.rule_id == "RC304"]
    by_function = {f.function: f for f in findings}
    assert "otp" in by_function, findings
    assert "`Member` rows are checked" in by_function["otp"].message
    assert "nickname" not in by_function  # a blind overwrite after no check
