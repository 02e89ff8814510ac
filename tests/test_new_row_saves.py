"""A full `save()` under Django's `_state.adding` runs only for a row built in memory: an INSERT,
never a write-back of a loaded copy; and testing `_state` decides nothing about stored data
(healthchecks create_check, issue 11 review). Fixture: tests/fixtures/projects/django_new_rows."""

from pathlib import Path

from race_mcp.analyzer import analyze_paths
from race_mcp.config import Settings

PROJECT = Path(__file__).parent / "fixtures" / "projects" / "django_new_rows"


def test_a_full_save_under_state_adding_is_no_lost_update() -> None:
    report = analyze_paths([PROJECT], settings=Settings(jobs=1))
    flagged = {(f.function, f.rule_id) for f in report.findings}
    # Racy: a loaded row saved whole while other code writes its state/seen_at columns.
    assert ("upsert_on_request", "RC301") in flagged
    assert ("retune_unguarded", "RC301") in flagged
    # Safe: the whole save runs only for a new row; a loaded one is saved with update_fields.
    assert ("upsert", "RC301") not in flagged
    assert ("retune", "RC301") not in flagged
