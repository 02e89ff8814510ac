"""The gift-card race in the demo shop: proven by a burst, patched, and the same burst shows it gone."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio

from race_mcp.burst import BurstPolicy, run_burst
from race_mcp.demo._prove import BURST_SCENARIOS
from race_mcp.demo._server import serve_shop
from race_mcp.remediate import apply_patches, propose_patches
from race_mcp.roots import AllowedRoots

DEMO = Path(__file__).resolve().parent.parent / "race_mcp" / "demo"
GIFT_CARD = next(s for s in BURST_SCENARIOS if s.route == "POST /gift-cards/{code}/spend")


def _patched_copy(tmp_path: Path) -> Path:
    """A package holding the shop and the modules it imports, with the RC101 patches applied."""
    package = tmp_path / "patched_demo"
    package.mkdir()
    for module in ("shop.py", "_models.py", "_partners.py", "_store.py"):
        shutil.copy(DEMO / module, package / module)
    (package / "__init__.py").write_text("")
    shop = package / "shop.py"
    report = propose_patches(shop.read_text(encoding="utf-8"), "shop.py", rule="RC101")
    assert any("gift_card_balances_lock" in patch.diff for patch in report.patches)
    apply_patches(shop, report, roots=AllowedRoots([tmp_path]))
    return package


def _burst_verdict(app_dir: Path | None = None) -> str:
    with serve_shop("shop", app_dir=app_dir) as shop:
        result = anyio.run(lambda: run_burst(GIFT_CARD.for_shop(shop), policy=BurstPolicy()))
    return result.verdict


def test_patch_removes_the_gift_card_race_at_runtime(tmp_path: Path) -> None:
    assert _burst_verdict() == "race"  # the original shop: several spends of one 50.00 card succeed
    assert _burst_verdict(app_dir=_patched_copy(tmp_path)) == "no_race"
