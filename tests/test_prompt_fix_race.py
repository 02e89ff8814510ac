"""The shipped `fix_race` prompt: it loads, declares its arguments, and renders the whole loop."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from race_mcp._prompt_files import PromptTemplate, find_prompts_dir, parse_prompt_file
from race_mcp.config import Settings
from race_mcp.errors import InputError
from race_mcp.roots import AllowedRoots
from race_mcp.server import build_server

# The loop, in order: each step names the tool it calls.
LOOP = [
    "## 1. Find the race",
    "Call `analyze_file`",
    "## 2. Check the contract",
    "`check_openapi`",
    "## 3. Prove the race",
    "call `run_burst`",
    "## 4. Patch",
    "Call `propose_patch`",
    "## 5. Restart and prove the fix",
    "Call `run_burst` again with **exactly the same spec**",
    "## 6. Run the tests",
    "## 7. Report",
]


@pytest.fixture
def template() -> PromptTemplate:
    directory = find_prompts_dir()
    assert directory is not None
    return parse_prompt_file(directory / "fix_race.md")


def _in_order(text: str, parts: list[str]) -> bool:
    positions = [text.find(part) for part in parts]
    return -1 not in positions and positions == sorted(positions)


def test_declares_its_arguments(template: PromptTemplate) -> None:
    assert template.name == "fix_race"
    assert [(a.name, a.required) for a in template.arguments] == [
        ("path", True),
        ("route", False),
        ("spec", False),
        ("base_url", False),
        ("test_command", False),
    ]


def test_renders_the_loop_with_only_a_path(template: PromptTemplate) -> None:
    text = template.render({"path": "app/coupons.py"})

    assert _in_order(text, LOOP)
    assert "`analyze_file` with `path` = `app/coupons.py`" in text
    assert "reset endpoint" in text and "local test server" in text
    assert "Never send a burst to production" in text
    for optional in ("The endpoint to fix", "The local test server:", "Run `", "{{", "}}"):
        assert optional not in text


def test_renders_every_argument(template: PromptTemplate) -> None:
    text = template.render(
        {
            "path": "app/coupons.py",
            "route": "POST /coupons/{code}/redeem",
            "spec": "api/openapi.yaml",
            "base_url": "http://127.0.0.1:8000",
            "test_command": "pytest -q tests/test_coupons.py",
        }
    )

    assert _in_order(text, LOOP)
    assert "The endpoint to fix: `POST /coupons/{code}/redeem`." in text
    assert "`check_openapi` with `spec` = `api/openapi.yaml` and `source` = `app/coupons.py`" in text
    assert "The local test server: `http://127.0.0.1:8000`." in text
    assert "Run `pytest -q tests/test_coupons.py`." in text
    assert "{{" not in text


def test_a_missing_path_is_refused(template: PromptTemplate) -> None:
    with pytest.raises(InputError, match="needs a value for: path"):
        template.render({"route": "POST /orders"})


@pytest.mark.anyio
async def test_the_server_serves_it(tmp_path: Path) -> None:
    server = build_server(roots=AllowedRoots([tmp_path]), settings=Settings())

    async with Client(server) as client:
        listed = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
        rendered = await client.get_prompt("fix_race", {"path": "shop.py", "base_url": "http://127.0.0.1:9"})

    assert listed["fix_race"].title == "Find, prove and fix a race, then prove the fix"
    assert [a.name for a in listed["fix_race"].arguments or []][:1] == ["path"]
    text = getattr(rendered.messages[0].content, "text", "")
    assert _in_order(text, LOOP)
    assert "The local test server: `http://127.0.0.1:9`." in text
