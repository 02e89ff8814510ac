"""MCP prompt templates kept as files: one markdown file per prompt, loaded when the server starts.

A prompt file is markdown that opens with a YAML front-matter block:

```markdown
---
name: audit_file                      # the MCP prompt name: letters, digits, `_`, `-`, `.`
title: Audit a file for race conditions
description: One or two sentences shown to the user when they pick a prompt.
arguments:
  - name: path
    description: File to audit, inside the allowed roots
    required: true
  - name: focus
    description: What to concentrate on (optional)
---
Run `analyze_file` on {{path}}.
{{#focus}}Pay most attention to: {{focus}}.{{/focus}}
```

The body is the text of one user message. `{{name}}` is replaced by the argument's value and
`{{#name}}...{{/name}}` keeps its inside only when the argument was given and is not blank.
Every name used in the body must be declared under `arguments`, so a typo is caught at load
time rather than sent to a model. Values are inserted verbatim and never re-scanned.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from .errors import InputError

__all__ = ["PromptTemplate", "TemplateArgument", "find_prompts_dir", "load_prompt_dir", "parse_prompt_file"]

logger = logging.getLogger(__name__)

PROMPT_SUFFIX = ".md"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(?P<meta>.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(?P<body>.*)\Z", re.S)
_SECTION = re.compile(r"\{\{#(?P<name>\w+)\}\}(?P<inner>.*?)\{\{/(?P=name)\}\}", re.S)
_PLACEHOLDER = re.compile(r"\{\{\s*(?P<name>\w+)\s*\}\}")
_ANY_TAG = re.compile(r"\{\{\s*[#/]?\s*(?P<name>\w+)\s*\}\}")
_EXTRA_BLANK_LINES = re.compile(r"\n{3,}")


class TemplateArgument(BaseModel, extra="forbid"):
    """One declared argument of a prompt file."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    description: str = Field(min_length=1)
    required: bool = False


class _FrontMatter(BaseModel, extra="forbid"):
    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
    title: str | None = None
    description: str = Field(min_length=1)
    arguments: list[TemplateArgument] = Field(default_factory=list)


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed prompt file: MCP metadata plus the body template."""

    name: str
    title: str | None
    description: str
    arguments: tuple[TemplateArgument, ...]
    body: str
    source: Path

    def render(self, values: Mapping[str, str]) -> str:
        """Fill the body; raises `InputError` for unknown or missing required arguments."""
        declared = {argument.name for argument in self.arguments}
        unknown = sorted(set(values) - declared)
        if unknown:
            raise InputError(
                f"prompt {self.name!r} has no argument {', '.join(map(repr, unknown))}; "
                f"it takes: {', '.join(sorted(declared)) or 'no arguments'}"
            )
        missing = [a.name for a in self.arguments if a.required and not str(values.get(a.name, "")).strip()]
        if missing:
            raise InputError(f"prompt {self.name!r} needs a value for: {', '.join(missing)}")
        given = {name: str(value) for name, value in values.items() if str(value).strip()}
        text = _SECTION.sub(lambda m: m["inner"] if m["name"] in given else "", self.body)
        text = _PLACEHOLDER.sub(lambda m: given.get(m["name"], ""), text)
        return _EXTRA_BLANK_LINES.sub("\n\n", text).strip() + "\n"


def parse_prompt_file(path: Path) -> PromptTemplate:
    """Read one prompt file; every problem is an `InputError` naming the file and the fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read prompt file: {exc}") from None
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise InputError(f"{path}: a prompt file must start with a '---' YAML front-matter block")
    meta = _load_front_matter(path, match["meta"])
    body = match["body"].strip()
    if not body:
        raise InputError(f"{path}: the prompt body after the front matter is empty")
    declared = {argument.name for argument in meta.arguments}
    undeclared = sorted({m["name"] for m in _ANY_TAG.finditer(body)} - declared)
    if undeclared:
        raise InputError(f"{path}: the body uses undeclared arguments: {', '.join(undeclared)}")
    return PromptTemplate(
        name=meta.name,
        title=meta.title,
        description=meta.description.strip(),
        arguments=tuple(meta.arguments),
        body=body,
        source=path,
    )


def _load_front_matter(path: Path, raw: str) -> _FrontMatter:
    try:
        data: Any = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"{path}: front matter is not valid YAML: {first}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: front matter must be a YAML mapping (name, description, arguments)")
    try:
        meta = _FrontMatter.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "front matter"
        raise InputError(f"{path}: {where}: {error['msg']}") from None
    names = [argument.name for argument in meta.arguments]
    if len(names) != len(set(names)):
        raise InputError(f"{path}: an argument is declared twice: {names}")
    return meta


def load_prompt_dir(directory: Path) -> list[PromptTemplate]:
    """Every valid prompt file in `directory`, by file name; bad files are logged and skipped."""
    templates: dict[str, PromptTemplate] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix != PROMPT_SUFFIX:
            logger.warning("skipping %s: prompt files end in %s", path, PROMPT_SUFFIX)
            continue
        try:
            template = parse_prompt_file(path)
        except InputError as exc:
            logger.error("skipping prompt file: %s", exc)
            continue
        if template.name in templates:
            logger.error(
                "skipping %s: prompt name %r is already used by %s",
                path,
                template.name,
                templates[template.name].source,
            )
            continue
        templates[template.name] = template
    return list(templates.values())


def find_prompts_dir() -> Path | None:
    """`race_mcp/prompts` in an installed wheel, else the repository's top-level `prompts/`."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "prompts", package.parent / "prompts"):
        if candidate.is_dir():
            return candidate
    return None
