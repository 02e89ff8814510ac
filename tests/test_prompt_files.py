"""Prompt files: the format, the shipped prompts, and bad files that must be skipped, not fatal."""

from __future__ import annotations

import logging
from pathlib import Path
from textwrap import dedent

import pytest
from mcp import Client

from race_mcp._prompt_files import find_prompts_dir, load_prompt_dir, parse_prompt_file
from race_mcp.config import Settings
from race_mcp.errors import InputError
from race_mcp.roots import AllowedRoots
from race_mcp.server import build_server

GOOD = """\
---
name: greet
title: Greet someone
description: Say hello.
arguments:
  - name: who
    description: Whom to greet
    required: true
  - name: mood
    description: Optional mood
---
Hello {{who}}!
{{#mood}}
You seem {{ mood }}.
{{/mood}}
Bye.
"""

BAD_FILES = {
    "no_front_matter.md": "Just a body with {{who}}\n",
    "bad_yaml.md": "---\nname: [unclosed\n---\nbody\n",
    "not_a_mapping.md": "---\n- a\n- b\n---\nbody\n",
    "no_description.md": "---\nname: nodesc\n---\nbody\n",
    "unknown_key.md": "---\nname: extra\ndescription: d\nmodel: gpt\n---\nbody\n",
    "bad_name.md": "---\nname: has space\ndescription: d\n---\nbody\n",
    "undeclared.md": "---\nname: undeclared\ndescription: d\n---\nHello {{who}}\n",
    "empty_body.md": "---\nname: empty\ndescription: d\n---\n\n",
    "twice.md": (
        "---\nname: twice\ndescription: d\narguments:\n"
        "  - {name: a, description: x}\n  - {name: a, description: y}\n---\n{{a}}\n"
    ),
    "duplicate_name.md": GOOD,  # sorted after greet.md: the name is taken
    "not_utf8.md": "---\nname: latin\ndescription: caf\xe9\n---\nbody\n",
}


@pytest.fixture
def prompt_dir(tmp_path: Path) -> Path:
    (tmp_path / "greet.md").write_text(GOOD)
    for name, text in BAD_FILES.items():
        encoding = "latin-1" if name == "not_utf8.md" else "utf-8"
        (tmp_path / name).write_bytes(text.encode(encoding))
    (tmp_path / "notes.txt").write_text("not a prompt")
    (tmp_path / ".hidden.md").write_text("ignored")
    return tmp_path


def test_bad_files_are_logged_and_skipped(prompt_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="race_mcp")

    templates = load_prompt_dir(prompt_dir)

    assert [template.name for template in templates] == ["greet"]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for name in [*BAD_FILES, "notes.txt"]:
        assert name in logged, f"{name} was not reported"
    assert ".hidden.md" not in logged


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("no_front_matter.md", "must start with a '---' YAML front-matter block"),
        ("bad_yaml.md", "front matter is not valid YAML"),
        ("not_a_mapping.md", "front matter must be a YAML mapping"),
        ("no_description.md", "description: Field required"),
        ("unknown_key.md", "model: Extra inputs are not permitted"),
        ("bad_name.md", "name: String should match pattern"),
        ("undeclared.md", "undeclared arguments: who"),
        ("empty_body.md", "body after the front matter is empty"),
        ("twice.md", "declared twice"),
        ("not_utf8.md", "cannot read prompt file"),
    ],
)
def test_each_fault_is_named(prompt_dir: Path, name: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        parse_prompt_file(prompt_dir / name)


def test_render_fills_placeholders_and_optional_sections(prompt_dir: Path) -> None:
    template = parse_prompt_file(prompt_dir / "greet.md")

    assert template.render({"who": "Ada"}) == "Hello Ada!\n\nBye.\n"
    assert template.render({"who": "Ada", "mood": "curious"}) == "Hello Ada!\n\nYou seem curious.\n\nBye.\n"
    assert template.render({"who": "{{mood}}", "mood": " "}) == "Hello {{mood}}!\n\nBye.\n"  # not re-scanned


def test_render_rejects_missing_and_unknown_arguments(prompt_dir: Path) -> None:
    template = parse_prompt_file(prompt_dir / "greet.md")

    with pytest.raises(InputError, match="needs a value for: who"):
        template.render({"who": "  "})
    with pytest.raises(InputError, match=r"has no argument 'colour'; it takes: mood, who"):
        template.render({"who": "Ada", "colour": "red"})


def test_shipped_prompts_all_load() -> None:
    directory = find_prompts_dir()
    assert directory is not None
    files = sorted(path.name for path in directory.glob("*.md"))

    templates = load_prompt_dir(directory)

    assert sorted(f"{t.source.name}" for t in templates) == files
    assert "audit_file" in {t.name for t in templates}


@pytest.mark.anyio
async def test_server_serves_the_good_prompt_despite_bad_files(
    prompt_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="race_mcp")
    server = build_server(roots=AllowedRoots([tmp_path]), settings=Settings(), prompts_dir=prompt_dir)

    async with Client(server) as client:
        prompts = (await client.list_prompts()).prompts
        rendered = await client.get_prompt("greet", {"who": "Ada"})

    assert [(p.name, p.title) for p in prompts] == [("greet", "Greet someone")]
    assert getattr(rendered.messages[0].content, "text", "") == dedent("""\
        Hello Ada!

        Bye.
        """)
    assert any("bad_yaml.md" in record.getMessage() for record in caplog.records)
