"""Models declared beside their bases through a star import (django-oscar's `models.py`:
`from .abstract_models import *` then `class Order(AbstractOrder)` inside `if not
is_model_registered(...)`): the concrete class is a model with its base's unique fields, so a
`get_or_create` on one is no RC303 (issue 11 hand review)."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_mcp import analyze_paths
from race_mcp.analyzer.project import ProjectIndex
from tests._project_files import write_project

_FILES = {
    "pyproject.toml": "",
    "shop/__init__.py": "",
    "shop/loading.py": """
        def is_model_registered(app, name):
            return False


        def get_model(app, name):
            return None
        """,
    "shop/abstract_models.py": """
        from django.db import models


        class AbstractEventType(models.Model):
            name = models.CharField(max_length=128, unique=True)

            class Meta:
                abstract = True


        class AbstractNote(models.Model):
            text = models.CharField(max_length=128)

            class Meta:
                abstract = True
        """,
    "shop/models.py": """
        from .abstract_models import *
        from .loading import is_model_registered

        if not is_model_registered("shop", "EventType"):

            class EventType(AbstractEventType):
                pass

        if not is_model_registered("shop", "Note"):

            class Note(AbstractNote):
                pass
        """,
    "shop/services.py": """
        from .loading import get_model

        EventType = get_model("shop", "EventType")
        Note = get_model("shop", "Note")


        def record_event(name):
            event_type, _ = EventType.objects.get_or_create(name=name)
            return event_type


        def record_note(text):
            note, _ = Note.objects.get_or_create(text=text)
            return note
        """,
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "project"
    write_project(root, _FILES)
    return root


def test_a_base_from_a_star_import_makes_the_class_a_model(project: Path) -> None:
    index = ProjectIndex.for_path(project, memo=False)
    assert index.class_bases("shop.models.EventType")[0] == "shop.abstract_models.AbstractEventType"
    assert index.is_model("shop.models.EventType")
    assert "name" in (index.unique_fields("shop.models.EventType") or set())


def test_get_or_create_on_the_inherited_unique_field_is_safe(project: Path) -> None:
    findings = analyze_paths([project]).findings
    rc303 = {f.function for f in findings if f.rule_id == "RC303"}
    assert "record_event" not in rc303
    assert "record_note" in rc303  # `text` is unique nowhere: still reported
