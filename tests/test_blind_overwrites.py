"""A form built around a row of a model declared in another module: a test of the form (`is_bound`,
an attribute the model does not have) decides nothing about the row, so the form's save is a blind
overwrite; a model with a library base may have that attribute, and a test of a column still
decides (`python/stores/_orm_members.py`, `ProjectFacts.model_members`). Single-file shapes are in
tests/fixtures/analyzer/RC3xx_blind_overwrites.py."""

from pathlib import Path

from race_mcp.analyzer import analyze_paths
from race_mcp.config import Settings
from tests._project_files import write_project

_MODELS = """
    from django.db import models
    from treebeard.mp_tree import MP_Node


    class Stamped(models.Model):
        created = models.DateTimeField(auto_now_add=True)

        class Meta:
            abstract = True


    class Profile(Stamped):
        user = models.OneToOneField("auth.User", on_delete=models.CASCADE)
        theme = models.CharField(max_length=20)
        locked = models.BooleanField(default=False)

        @property
        def dark(self):
            return self.theme == "dark"


    class Folder(MP_Node):
        owner = models.ForeignKey("auth.User", on_delete=models.CASCADE)
        title = models.CharField(max_length=80)
"""

_PANELS = """
    class Panel:
        def __init__(self, request, row, form_class):
            self.request = request
            self.row = row
            self.form_class = form_class

        def get_form(self):
            return self.form_class(self.request.POST or None, instance=self.row)
"""

_VIEWS = """
    from django.contrib.auth.decorators import login_required
    from django.http import HttpResponse

    from app.models import Folder, Profile
    from app.panels import Panel


    def panels_for(request, row, form_classes):
        return [Panel(request, row, form_class) for form_class in form_classes]


    @login_required
    def save_profile(request, form_classes):
        profile = Profile.objects.get(user=request.user)
        for form in [panel.get_form() for panel in panels_for(request, profile, form_classes)]:
            if form.is_bound:
                form.save()
        return HttpResponse(status=204)


    @login_required
    def save_unless_dark(request, form_classes):
        profile = Profile.objects.get(user=request.user)
        for form in [panel.get_form() for panel in panels_for(request, profile, form_classes)]:
            if form.instance.dark:
                form.save()
        return HttpResponse(status=204)


    @login_required
    def save_folder(request, pk, form_classes):
        folder = Folder.objects.get(pk=pk, owner=request.user)
        for form in [panel.get_form() for panel in panels_for(request, folder, form_classes)]:
            if form.is_bound:
                form.save()
        return HttpResponse(status=204)
"""


def test_a_test_of_the_form_around_a_row_decides_nothing(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "pyproject.toml": "[project]\nname = 'app'\n",
            "app/__init__.py": "",
            "app/models.py": _MODELS,
            "app/panels.py": _PANELS,
            "app/views.py": _VIEWS,
        },
    )
    report = analyze_paths([root], settings=Settings(jobs=1))
    flagged = {(f.function, f.rule_id) for f in report.findings}
    # Safe: `is_bound` is no attribute of Profile, its abstract base's or Django's Model.
    assert ("save_profile", "RC301") not in flagged
    # Racy: a property of the model decides; MP_Node (a library base) may have `is_bound`.
    assert ("save_unless_dark", "RC301") in flagged
    assert ("save_folder", "RC301") in flagged
