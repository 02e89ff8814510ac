"""The rule catalog as resources, and the prompt files as prompts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import MCPError
from mcp.server import MCPServer
from mcp.server.mcpserver import Context, Message, UserMessage
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp.types import (
    INVALID_PARAMS,
    InputRequiredResult,
)
from pydantic import Field

from .._prompt_files import PromptTemplate, load_prompt_dir
from ..errors import InputError
from ..rules import get_rule, render_catalog_markdown, render_rule_markdown
from ._common import logger

# ----------------------------------------------------------------------------------------------
# Rule catalog resources


def register_rule_resources(server: MCPServer[Any]) -> None:
    @server.resource(
        "race://rules",
        name="rules",
        title="race-mcp rule catalog",
        description="Every rule race-mcp checks: id, name, severity and title.",
        mime_type="text/markdown",
    )
    def rule_catalog() -> str:
        return render_catalog_markdown()

    @server.resource(
        "race://rules/{rule_id}",
        name="rule",
        title="race-mcp rule",
        description="One rule: what it flags, why it is a race, a racy example and the fixed code.",
        mime_type="text/markdown",
    )
    def rule_document(rule_id: str) -> str:
        try:
            rule = get_rule(rule_id)
        except InputError as exc:
            raise ResourceNotFoundError(f"{exc}; read race://rules for the catalog") from None
        return render_rule_markdown(rule)


# ----------------------------------------------------------------------------------------------
# Prompts from files


class _FilePrompt(Prompt):
    """A prompt file. Argument problems become invalid-params errors that name the argument
    (the SDK's own check would surface as an opaque internal error on 2026-07-28 sessions)."""

    template: PromptTemplate = Field(exclude=True)

    @classmethod
    def of(cls, template: PromptTemplate) -> _FilePrompt:
        return cls(
            name=template.name,
            title=template.title,
            description=template.description,
            arguments=[
                PromptArgument(name=a.name, description=a.description, required=a.required)
                for a in template.arguments
            ],
            fn=template.render,
            context_kwarg=None,
            template=template,
        )

    async def render(
        self, arguments: dict[str, Any] | None, context: Context[Any, Any]
    ) -> list[Message] | InputRequiredResult:
        try:
            text = self.template.render(arguments or {})
        except InputError as exc:
            raise MCPError(INVALID_PARAMS, str(exc)) from None
        return [UserMessage(text)]


def register_prompt_files(server: MCPServer[Any], directory: Path | None) -> None:
    if directory is None:
        logger.warning("no prompts directory found; serving no prompts")
        return
    for template in load_prompt_dir(directory):
        server.add_prompt(_FilePrompt.of(template))
