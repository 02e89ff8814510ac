"""Rows and values a helper of another module handles, across files (issue 11 review: paperless's
scheduled workflows and consumer, wagtail's task state copies). Each helper's steps are shown at
the call that led into it, so a wrong reading there left a finding whose check, read and write
all pointed at one call line. The single-file forms are in tests/fixtures/analyzer
(RC3xx_row_value_dicts.py, RC3xx_own_rows.py, RC3xx_row_copies.py)."""

from __future__ import annotations

from pathlib import Path

from race_mcp import analyze_paths
from race_mcp.config import Settings
from tests._project_files import write_project

_MODELS = """
    from django.db import models


    class Page(models.Model):
        title = models.CharField(max_length=120)
        created = models.DateField(null=True)
        views = models.IntegerField(default=0)
        approved = models.BooleanField(default=False)
    """

_HELPERS = """
    from django.db import models


    def placeholders(text, title, created=None):
        values = {"text": text, "title": title.upper()}
        if created is not None:
            values.update({"created": created.isoformat()})
        return text.format(**values)


    def promote(pages, views):
        if views < 100:
            pages.update(views=views + 1)


    def field_values(source):
        values = {}
        for field in source._meta.get_fields():
            if field.auto_created:
                continue
            if isinstance(field, models.ManyToManyField):
                values[field.name] = list(getattr(source, field.name).all())
            else:
                values[field.name] = getattr(source, field.name)
        return values


    def clone(source, title):
        values = field_values(source)
        copy = source.__class__(**values)
        if "title" in values:
            copy.title = title
        return copy
    """

_STORE = """
    from site_app.models import Page


    def store(title):
        page = Page.objects.create(title=title)
        page.views = 1
        page.save()
        return page
    """

_TASKS = """
    from celery import shared_task
    from django.db import transaction

    from site_app.helpers import clone, placeholders, promote
    from site_app.models import Page
    from site_app.storing import store


    @shared_task
    def retitle_pages():
        pages = Page.objects.filter(title="")
        for page in pages:
            print(placeholders("{title} {created}", page.title, created=page.created))


    @shared_task
    def promote_pages():
        pages = Page.objects.filter(title="")
        for page in pages:
            promote(pages, page.views)


    @shared_task
    def publish(title):
        with transaction.atomic():
            page = store(title)
            page = Page.objects.get(pk=page.pk)
            if not page.approved:
                page.views = page.views + 1
                page.approved = True
                page.save()


    @shared_task
    def publish_late(title):
        with transaction.atomic():
            page = store(title)
        page = Page.objects.get(pk=page.pk)
        if not page.approved:
            page.views = page.views + 1
            page.approved = True
            page.save()


    @shared_task
    def fork(page_id, title):
        page = Page.objects.get(pk=page_id)
        if page.approved:
            copy = clone(page, title)
            copy.save()


    @shared_task
    def fork_once(page_id, title):
        page = Page.objects.get(pk=page_id)
        copy = clone(page, title)
        if not Page.objects.filter(title=title).exists():
            copy.save()
    """


def _flagged(tmp_path: Path) -> set[tuple[str | None, str]]:
    root = write_project(
        tmp_path,
        {
            "pyproject.toml": "[project]\nname = 'site-app'\n",
            "site_app/__init__.py": "",
            "site_app/models.py": _MODELS,
            "site_app/helpers.py": _HELPERS,
            "site_app/storing.py": _STORE,
            "site_app/tasks.py": _TASKS,
        },
    )
    report = analyze_paths([root / "site_app" / "tasks.py"], settings=Settings(jobs=1))
    return {(finding.function, finding.rule_id) for finding in report.findings}


def test_a_dict_built_from_row_values_in_a_helper_is_no_queryset(tmp_path: Path) -> None:
    flagged = _flagged(tmp_path)
    assert ("retitle_pages", "RC301") not in flagged
    # The helper handed the queryset itself updates its rows after a decision on a value read from them.
    assert ("promote_pages", "RC301") in flagged


def test_a_row_a_helper_inserted_in_the_open_transaction_is_the_callers_own(tmp_path: Path) -> None:
    flagged = _flagged(tmp_path)
    assert ("publish", "RC301") not in flagged
    # Reloaded after the commit, the row is anyone's.
    assert ("publish_late", "RC301") in flagged


def test_a_copy_built_by_a_helper_is_a_new_row(tmp_path: Path) -> None:
    flagged = _flagged(tmp_path)
    assert not {("fork", "RC301"), ("fork", "RC303")} & flagged
    # A copy saved only when a lookup found none: an exists-then-create.
    assert ("fork_once", "RC303") in flagged
