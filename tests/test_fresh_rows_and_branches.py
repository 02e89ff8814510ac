"""Issue 11 review (precision): values a new row gets at random, writes in independent branches,
and deletes after a lookup.

- A model method that returns a random draw on every path (`member.drawn_suffix()`), called on a
  row whose class the analysis does not know, draws as a helper does (`ProjectIndex.method_draws`).
- A unique field with a random `default=` (`UUIDField(default=uuid.uuid4)`), declared in another
  module, is drawn for a row the insert does not give it (`ProjectIndex.drawn_defaults`).
- RC202: writes each under a branch the other did not take are independent actions; a branch that
  commits part of its own work before its write still splits that work.
- RC304: a DELETE after a check that only found the row cannot go stale.

Fixtures: tests/fixtures/projects/flask_mailroom, tests/fixtures/analyzer/RC3xx_drawn_defaults.py,
and the Django project written below.
"""

from pathlib import Path

from race_mcp.analyzer import analyze_paths
from race_mcp.analyzer.project._index import ProjectIndex
from race_mcp.config import Settings
from tests._project_files import write_project

MAILROOM = Path(__file__).parent / "fixtures" / "projects" / "flask_mailroom"


def _flagged(root: Path) -> set[tuple[str, str]]:
    report = analyze_paths([root], settings=Settings(jobs=1))
    assert not report.errors, report.errors
    return {(f.function or "", f.rule_id) for f in report.findings}


def test_mailroom_findings() -> None:
    flagged = _flagged(MAILROOM)
    # The suffix a model method draws at random: no other request probes or inserts that address.
    assert ("open_mailbox", "RC303") not in flagged
    assert ("open_preferred_mailbox", "RC303") in flagged  # the nickname is the same every time
    # Independent options and exclusive branches; a sequence, and a branch split by its own commit.
    assert ("update_mailbox", "RC202") not in flagged
    assert ("archive_or_purge", "RC202") not in flagged
    assert ("close_mailbox", "RC202") in flagged
    assert ("reset", "RC202") in flagged
    # Deleted after a lookup that found it; deleted because of a state that may have changed.
    assert ("delete_first_attachment", "RC304") not in flagged
    assert ("delete_draft_attachment", "RC304") in flagged
    assert ("reset", "RC304") not in flagged


def test_method_draws_needs_every_method_of_the_name_to_draw(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "pyproject.toml": "[project]\nname = 'p'\n",
            "app/__init__.py": "",
            "app/models.py": """
                import secrets

                class Member:
                    def pick_suffix(self):
                        return secrets.token_hex(4)

                    def shared_name(self):
                        return secrets.token_hex(4)

                class Team:
                    def shared_name(self):
                        return self.name
            """,
        },
    )
    index = ProjectIndex.for_path(root / "app" / "models.py", cache=False)
    assert index.method_draws("pick_suffix")
    assert not index.method_draws("shared_name")  # Team's returns a stored value
    assert not index.method_draws("missing")


_BOARDS = {
    "pyproject.toml": "[project]\nname = 'boards'\n",
    "boards/__init__.py": "",
    "boards/models.py": """
        import uuid

        from django.db import models

        from .codes import new_code


        def next_number():
            return Board.objects.count() + 1


        class Board(models.Model):
            code = models.UUIDField(default=uuid.uuid4, unique=True)
            invite = models.CharField(max_length=20, default=new_code, unique=True)
            number = models.IntegerField(default=next_number, unique=True)
            title = models.CharField(max_length=100)
    """,
    "boards/codes.py": """
        import secrets


        def new_code():
            return secrets.token_urlsafe(12)
    """,
    "boards/views.py": """
        from django.shortcuts import get_object_or_404, redirect

        from .models import Board


        def copy_board(request, code):
            board = get_object_or_404(Board.objects.all(), code=code)
            title = board.title + " (copy)"
            if len(title) > 100:
                title = board.title[:90]
            copied = Board(title=title)
            copied.save()
            return redirect(f"/boards/{copied.code}")


        def copy_by_invite(request, invite):
            board = get_object_or_404(Board.objects.all(), invite=invite)
            if len(board.title) > 90:
                return redirect("/")
            return Board.objects.create(title=board.title + " (copy)")


        def copy_by_number(request, number):
            board = get_object_or_404(Board.objects.all(), number=number)
            if len(board.title) > 90:
                return redirect("/")
            return Board.objects.create(title=board.title + " (copy)")


        def copy_keeping_code(request, code):
            board = get_object_or_404(Board.objects.all(), code=code)
            if len(board.title) > 90:
                return redirect("/")
            return Board.objects.create(title=board.title, code=request.POST["code"])
    """,
}


def test_unique_fields_with_a_random_default_in_another_module(tmp_path: Path) -> None:
    root = write_project(tmp_path, _BOARDS)
    index = ProjectIndex.for_path(root / "boards" / "views.py", cache=False)
    # uuid4 and a project helper returning a draw; a counter is no draw.
    assert index.drawn_defaults("boards.models.Board") == {"code", "invite"}
    flagged = _flagged(root)
    assert ("copy_board", "RC303") not in flagged
    assert ("copy_by_invite", "RC303") not in flagged
    assert ("copy_by_number", "RC303") in flagged
    assert ("copy_keeping_code", "RC303") in flagged
