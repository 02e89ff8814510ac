"""Which code writes each model (`project/_writers.py`), and what a one-process job reports.

A management command, a seeder or a helper only they call races only a second writer of the same
rows: a model request-side code also writes keeps its findings (low), a model only such jobs write
and a path the job builds do not. The markers of `tests/fixtures/projects/django_jobs/` are checked
end to end by `test_analyzer_projects.py`; here the facts behind them and the limits of the rule.
"""

from __future__ import annotations

from pathlib import Path

from race_mcp import analyze_paths, analyze_source
from race_mcp.analyzer.project import ProjectIndex
from race_mcp.analyzer.python.entrypoints import entry_points
from race_mcp.analyzer.python.lower import lower_module
from race_mcp.config import Settings

JOBS = Path(__file__).parent / "fixtures" / "projects" / "django_jobs"


def _index() -> ProjectIndex:
    return ProjectIndex.for_path(JOBS, memo=False)


def test_models_request_code_writes_are_told_from_models_only_jobs_write() -> None:
    writers = _index().model_writers()
    assert writers.written_by_requests("Shelf")  # the `sell` view's queryset update
    # `AbstractMeter.bump` saves self: a method runs wherever an instance is, so it counts, and an
    # abstract base's method counts for the concrete model.
    assert writers.written_by_requests("Meter")
    assert writers.written_by_requests("Region")
    # Only the `load_countries` command and the seeder write Nation; only a helper the command
    # alone calls writes Badge.
    assert not writers.written_by_requests("Nation")
    assert not writers.written_by_requests("Badge")
    assert not writers.written_by_requests("depot.models.Badge")


def test_a_helper_is_offline_only_when_every_caller_is() -> None:
    writers = _index().model_writers()
    assert writers.offline("depot.services.ensure_badge")  # called by the command only
    assert writers.offline("depot.management.commands.load_countries.Command.handle")
    assert writers.offline("depot.fake_data.seed_country")  # a seeder, by its module's name
    assert not writers.offline("depot.views.add_region")
    assert not writers.offline("depot.models.AbstractMeter.bump")  # a method: called on instances
    assert writers.offline("depot.setup_steps.add_default_badge")  # only `@app.cli.command()` calls it
    assert not writers.offline("depot.setup_steps.ensure_region")  # a view calls it too


def test_calls_inside_a_nested_command_line_command_are_marked() -> None:
    register = _index().function("depot.cli.register_commands")
    assert register is not None and register.command_lines == [8, 12]


def test_a_command_keeps_its_race_on_a_model_requests_write_and_drops_the_rest() -> None:
    report = analyze_paths([JOBS], settings=Settings(jobs=1))
    by_file: dict[str, set[tuple[str, int, str]]] = {}
    for finding in report.findings:
        by_file.setdefault(Path(finding.path).name, set()).add(
            (finding.rule_id, finding.line, finding.confidence)
        )
    assert by_file["restock.py"] == {("RC301", 8, "low"), ("RC301", 13, "low")}
    assert "load_countries.py" not in by_file and "services.py" not in by_file
    assert by_file["fake_data.py"] == {("RC301", 13, "low")}  # Shelf: the view writes it too
    assert ("RC303", 16, "high") in by_file["views.py"]  # the same check-then-insert in a request
    # A helper only an app factory's command-line command calls is a one-process job too; one a
    # view also calls is not.
    assert by_file["setup_steps.py"] == {("RC303", 13, "high")}


def test_without_the_project_index_a_command_keeps_its_findings() -> None:
    # One file alone shows no other writer: nothing is dropped (the finding stays low).
    source = (JOBS / "depot" / "management" / "commands" / "load_countries.py").read_text(encoding="utf-8")
    findings = analyze_source(source, "depot/management/commands/load_countries.py")
    assert {f.rule_id for f in findings} >= {"RC303", "RC701"}
    assert {f.confidence for f in findings} == {"low"}


def test_django_runs_the_command_class_of_a_commands_module_whatever_its_base() -> None:
    source = (JOBS / "depot" / "management" / "commands" / "restock.py").read_text(encoding="utf-8")
    module = lower_module(source, "depot/management/commands/restock.py")
    assert [(e.qualname, e.kind) for e in entry_points(module)] == [("Command.handle", "command")]
    elsewhere = lower_module(source, "depot/restock.py")  # not where Django looks for commands
    assert entry_points(elsewhere) == []


MONITOR = Path(__file__).parent / "fixtures" / "projects" / "django_monitor"


def test_the_index_reads_the_columns_each_function_writes_by_name() -> None:
    index = ProjectIndex.for_path(MONITOR, memo=False)
    ping = index.function("monitor.models.Probe.record_ping")
    assert ping is not None and ping.field_writes == [("self", ["last_ping", "status"])]
    command = index.function("monitor.management.commands.check_alerts.Command.handle")
    assert command is not None and command.field_writes == [("monitor.models.Probe", ["alert_after"])]
    writers = index.model_writers()
    # A request that changed only the name writes back stale copies of these.
    assert writers.columns_written_elsewhere("Probe", frozenset({"name"})) == {
        "alert_after",
        "last_ping",
        "status",
    }
    assert writers.columns_written_elsewhere("Note", frozenset({"body"})) == frozenset()


def test_a_full_save_races_only_columns_other_code_writes() -> None:
    report = analyze_paths([MONITOR], settings=Settings(jobs=1))
    racy = {(f.function, f.rule_id, f.severity) for f in report.findings}
    assert racy == {
        ("rename", "RC301", "medium"),  # a value overwritten, no decision: medium
        ("rename_through_helper", "RC301", "medium"),
        ("pause", "RC301", "medium"),
    }


def test_without_the_project_index_a_full_save_is_a_blind_overwrite() -> None:
    # One file alone shows no other writer of the model's columns: nothing to report.
    source = (MONITOR / "monitor" / "views.py").read_text(encoding="utf-8")
    assert [f for f in analyze_source(source, "monitor/views.py") if f.function == "rename"] == []
