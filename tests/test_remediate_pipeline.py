"""The patch pipeline: verification gate, chaining, rule filter, and the atomic, rooted write."""

from __future__ import annotations

import os
import time
from pathlib import Path

import libcst as cst
import pytest

from race_mcp import analyze_source
from race_mcp.config import Settings
from race_mcp.errors import InputError, PatchError, PolicyError
from race_mcp.findings import Finding
from race_mcp.remediate import _pipeline, apply_patches, propose_patches
from race_mcp.remediate._fixers import FIXERS, Fixed, Guidance
from race_mcp.roots import AllowedRoots
from tests._mcp_helpers import RACY_SOURCE


def test_a_rewrite_that_leaves_the_race_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    def does_nothing(module: cst.Module, finding: Finding) -> Fixed | Guidance:
        return Fixed(module=module.with_changes(header=[]), description="a no-op")

    monkeypatch.setitem(FIXERS, "RC101", does_nothing)
    report = propose_patches(RACY_SOURCE, "app.py")
    assert report.patches == []
    assert "still reports the race" in report.unpatched[0].guidance


def test_a_crashing_fixer_costs_one_patch_not_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    def crashes(module: cst.Module, finding: Finding) -> Fixed | Guidance:
        raise ValueError("boom")

    monkeypatch.setitem(FIXERS, "RC101", crashes)
    report = propose_patches(RACY_SOURCE, "app.py")
    assert [u.rule_id for u in report.unpatched] == ["RC101"]
    assert "ValueError: boom" in report.errors[0].message


def test_rule_filter_and_bad_input() -> None:
    assert propose_patches(RACY_SOURCE, "app.py", rule="RC701").patches == []
    assert len(propose_patches(RACY_SOURCE, "app.py", rule="rc101").patches) == 1
    with pytest.raises(InputError, match="unknown rule"):
        propose_patches(RACY_SOURCE, "app.py", rule="RC999")
    with pytest.raises(InputError, match="syntax error"):
        propose_patches("def broken(:\n", "app.py")


def test_two_states_in_one_module_are_patched_in_sequence() -> None:
    source = RACY_SOURCE + RACY_SOURCE.split("app = FastAPI()\n")[1].replace("coupons", "vouchers").replace(
        "/redeem/", "/vouchers/"
    ).replace("def redeem", "def redeem_voucher")
    report = propose_patches(source, "app.py")
    assert [p.line for p in report.patches] == [7, 16]  # lines in the original file
    assert "coupons_lock" in report.patches[0].diff and "vouchers_lock" in report.patches[1].diff
    assert report.patched_source is not None and report.patched_source.count("asyncio.Lock()") == 2


def test_apply_writes_atomically_and_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "app.py"
    target.write_text(RACY_SOURCE)
    target.chmod(0o640)
    report = propose_patches(RACY_SOURCE, "app.py")
    assert apply_patches(target, report, roots=AllowedRoots([tmp_path])) == target.resolve()
    assert target.read_text() == report.patched_source
    assert os.stat(target).st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.py"]  # no temporary file left
    assert (
        apply_patches(target, propose_patches(target.read_text(), "app.py"), roots=AllowedRoots([tmp_path]))
        is None
    )


def test_apply_refuses_a_changed_file(tmp_path: Path) -> None:
    target = tmp_path / "app.py"
    target.write_text(RACY_SOURCE)
    report = propose_patches(RACY_SOURCE, "app.py")
    target.write_text(RACY_SOURCE + "# edited meanwhile\n")
    with pytest.raises(PatchError, match="changed since"):
        apply_patches(target, report, roots=AllowedRoots([tmp_path]))
    assert target.read_text().endswith("# edited meanwhile\n")


def test_apply_refuses_outside_the_roots_and_symlinks_that_leave_them(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "app.py").write_text(RACY_SOURCE)
    (root / "link.py").symlink_to(outside / "app.py")
    report = propose_patches(RACY_SOURCE, "app.py")
    for path in (outside / "app.py", root / "link.py", root / ".." / "outside" / "app.py"):
        with pytest.raises(PolicyError, match="outside the allowed roots"):
            apply_patches(path, report, roots=AllowedRoots([root]))
    assert (outside / "app.py").read_text() == RACY_SOURCE


def test_apply_of_text_needs_the_base_hash(tmp_path: Path) -> None:
    target = tmp_path / "app.py"
    target.write_text(RACY_SOURCE)
    with pytest.raises(PatchError, match="base_sha256"):
        apply_patches(target, "x = 1\n", roots=AllowedRoots([tmp_path]))


def _racy_handlers(count: int) -> str:
    """`count` racy handlers, alternately in-process state (RC101) and SELECT-then-UPDATE (RC201)."""
    parts = ["import asyncio\nimport sqlite3\nfrom fastapi import FastAPI\napp = FastAPI()\n"]
    for i in range(count):
        if i % 2 == 0:
            parts.append(
                f'coupons_{i} = {{"WELCOME": {{"used": False}}}}\n\n\n@app.post("/redeem_{i}/{{code}}")\n'
                f"async def redeem_{i}(code: str):\n    coupon = coupons_{i}[code]\n"
                '    if coupon["used"]:\n        return {"ok": False}\n    await asyncio.sleep(0.01)\n'
                '    coupon["used"] = True\n    return {"ok": True}\n\n\n'
            )
        else:
            parts.append(
                f'@app.post("/withdraw_{i}")\ndef withdraw_{i}(account: int, amount: int):\n'
                '    conn = sqlite3.connect("shop.db")\n'
                f'    row = conn.execute("SELECT balance FROM accounts_{i} WHERE id = ?", (account,))'
                ".fetchone()\n"
                '    if row[0] < amount:\n        return {"ok": False}\n'
                f'    conn.execute("UPDATE accounts_{i} SET balance = ? WHERE id = ?",'
                " (row[0] - amount, account))\n"
                '    conn.commit()\n    return {"ok": True}\n\n\n'
            )
    return "".join(parts)


def _seconds_to_patch(source: str) -> tuple[float, int]:
    started = time.perf_counter()
    report = propose_patches(source, "app.py")
    return time.perf_counter() - started, len(report.patches)


def test_patch_time_grows_linearly_with_the_racy_handlers() -> None:
    """Each fix works on its function's slice: 80 handlers took 103 s before (every fix re-parsed,
    re-transformed and re-analysed the whole file twice), 4.2 times longer per doubling."""
    small, small_patches = _seconds_to_patch(_racy_handlers(20))
    large, large_patches = _seconds_to_patch(_racy_handlers(80))
    assert (small_patches, large_patches) == (20, 80)
    assert large < 9 * max(small, 1.0), f"20 handlers: {small:.1f} s, 80 handlers: {large:.1f} s"
    assert large < 90


@pytest.mark.parametrize(
    "source",
    [
        Path("race_mcp/demo/shop.py"),
        Path("tests/fixtures/analyzer/RC1xx_fastapi.py"),  # its lock names are taken elsewhere
        Path("tests/fixtures/analyzer/RC2xx_seeds.py"),
    ],
    ids=lambda path: path.name,
)
def test_sliced_fixes_patch_exactly_as_whole_file_fixes(source: Path) -> None:
    text = (Path(__file__).parent.parent / source).read_text()
    sliced = _pipeline._patch(_pipeline._Run(text, "app.py", Settings()), None)
    whole = _pipeline._patch(_pipeline._Run(text, "app.py", Settings(), sliced=False), None)
    assert sliced.consistent()
    assert sliced.source == whole.source
    assert [u.guidance for u in sliced.report.unpatched] == [u.guidance for u in whole.report.unpatched]


def test_a_request_over_its_patch_budget_returns_guidance_and_one_error() -> None:
    source = _racy_handlers(6)
    report = propose_patches(source, "app.py", settings=Settings(max_patch_seconds=0.001))
    assert report.patches == [] and report.patched_source == source
    assert [e.code for e in report.errors] == ["patch-timeout"]
    assert len(report.unpatched) == len(analyze_source(source, "app.py"))
    assert all("budget ran out" in u.guidance for u in report.unpatched)
