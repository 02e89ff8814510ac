"""What every tool module of the server shares: limits, annotations, path checks, output shapes."""

from __future__ import annotations

import logging
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, create_model

from .._sanitize import sanitize_message
from ..config import Settings
from ..errors import RaceMcpError
from ..findings import AnalysisReport

logger = logging.getLogger("race_mcp.server")

TOKEN_ENV = "RACE_MCP_TOKEN"
DEFAULT_MAX_FINDINGS = 50
MAX_FINDINGS_LIMIT = 200
# A directory walk is bounded so one call stays well inside a client's ~60 s request timeout.
MAX_DIRECTORY_FILES = 1000


def read_only(title: str) -> ToolAnnotations:
    """Annotations of a tool that only reads files and returns a report."""
    return ToolAnnotations(
        title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )


MAX_FINDINGS_FIELD = Annotated[
    int, Field(description="Most findings per page, most severe first.", ge=1, le=MAX_FINDINGS_LIMIT)
]
OFFSET_FIELD = Annotated[
    int,
    Field(description="Findings to skip: the answer gives the next page's offset.", ge=0, le=1_000_000),
]


def worker_settings(settings: Settings) -> Settings:
    """A tool call runs in one worker process, which must not start a pool of its own."""
    return settings.model_copy(update={"jobs": 1})


# ----------------------------------------------------------------------------------------------
# Output schemas: the field names and kinds only. The full models' schemas (descriptions of every
# nested field) were most of a 30,000-character tools/list; the models stay the contract in code.


def _names_and_kinds(schema: dict[str, Any]) -> None:
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        prop.pop("default", None)


def _loose(annotation: Any) -> Any:
    """A nested model, list or dict as a plain JSON object or array; scalars as they are."""
    origin = get_origin(annotation)
    if origin in (list, tuple, set):
        return list[Any]
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel | dict)):
        return dict[str, Any]
    if origin in (Union, UnionType):
        return Union[tuple(_loose(arg) for arg in get_args(annotation))]  # noqa: UP007
    return annotation


def output_shape(model: type[BaseModel], **extra: Any) -> type[BaseModel]:
    """A lean model with `model`'s top-level fields (plus `extra`) for a tool's output schema."""
    fields: dict[str, Any] = {
        name: (_loose(info.annotation), ... if info.is_required() else None)
        for name, info in model.model_fields.items()
    }
    fields.update({name: (kind, None) for name, kind in extra.items()})
    config = ConfigDict(json_schema_extra=_names_and_kinds)
    shape: type[BaseModel] = create_model(model.__name__, __config__=config, **fields)
    return shape


REPORT_SHAPE = output_shape(AnalysisReport, page=dict[str, Any])


def tool_error(exc: RaceMcpError, text: str) -> ToolError:
    """The `ToolError` for a core error: `[code] ` first, so a client can match on the stable code."""
    # Error messages quote input (a file name, a response): the client may print them to a terminal.
    return ToolError(f"[{exc.code}] {sanitize_message(text)}")


def usage_error(text: str) -> ToolError:
    """The `ToolError` for arguments that do not fit together (the schema cannot say so)."""
    return ToolError(f"[usage] {sanitize_message(text)}")
