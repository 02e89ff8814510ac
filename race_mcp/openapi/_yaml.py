"""A safe YAML reader that keeps line numbers and refuses alias bombs and deep nesting.

PyYAML's composer is recursive (the libyaml one in C: a deeply nested document crashes the
process) and shares aliased nodes, so a "billion laughs" costs nothing to load and everything to
walk. This reader consumes libyaml's *events* (an iterative parser) and builds the objects itself
with an explicit stack, so it can count how many nodes the aliases expand to and stop early.

Mappings become `LineDict`s that remember the 1-based line of each key. Keys are always strings,
taken from the source text (`200:` is "200", `on:` is "on"), as OpenAPI is JSON-shaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import InputError
from ._budget import Budget

__all__ = ["LineDict", "float_or_text", "int_or_text", "load_yaml"]

try:  # libyaml when present: about 5x faster
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_STR = "tag:yaml.org,2002:str"
_EVENTS_PER_CLOCK_CHECK = 4096
# First characters of YAML 1.1's implicit non-string scalars (bool, int, float, null, merge, ...).
_TYPED_FIRST_CHARS = frozenset("-+.0123456789yYnNtTfFoO~<=")
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


class LineDict(dict[str, Any]):
    """A mapping that remembers the 1-based source line of each of its keys."""

    __slots__ = ("key_lines",)

    def __init__(self) -> None:
        super().__init__()
        self.key_lines: dict[str, int] = {}


@dataclass(slots=True)
class _Frame:
    """A collection being built: its object, its anchor, and how many nodes it expands to."""

    value: LineDict | list[Any]
    anchor: str | None
    weight: int = 1
    key: str | None = None  # mappings: the key waiting for its value
    key_line: int = 0
    merges: list[LineDict] = field(default_factory=list)


@dataclass(slots=True)
class _Limits:
    max_depth: int
    max_nodes: int  # this document's, aliases expanded: more is a bomb
    budget: Budget | None  # the whole check's nodes and time


class _Builder:
    """Turns a stream of YAML events into Python objects, enforcing the limits as it goes."""

    def __init__(self, label: str, limits: _Limits, resolver: yaml.SafeLoader) -> None:
        self.label = label
        self.limits = limits
        self.resolver = resolver
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.result: Any = None
        self.weight = 0  # nodes in the document, aliases expanded
        self.done = False

    def fail(self, line: int, message: str, code: str) -> InputError:
        return InputError(f"{self.label}:{line}: {message}", code=code)

    def feed(self, event: yaml.Event) -> None:
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.ScalarEvent):
            self._add(self._scalar(event), 1, line, event.anchor, scalar_key=event.value)
        elif isinstance(event, yaml.MappingStartEvent):
            self._open(LineDict(), event.anchor, line)
        elif isinstance(event, yaml.SequenceStartEvent):
            self._open([], event.anchor, line)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            self._close(line)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event, line)
        elif isinstance(event, yaml.DocumentStartEvent) and self.done:
            raise self.fail(
                line, "more than one YAML document in the file; a spec is one document", "yaml-many-documents"
            )

    def _open(self, value: LineDict | list[Any], anchor: str | None, line: int) -> None:
        if self.stack and isinstance(self.stack[-1].value, LineDict) and self.stack[-1].key is None:
            raise self.fail(
                line, "a mapping or list used as a mapping key; OpenAPI keys are strings", "yaml-complex-key"
            )
        if len(self.stack) >= self.limits.max_depth:
            raise self.fail(line, f"nested more than {self.limits.max_depth} levels deep", "yaml-too-deep")
        if anchor is not None:
            self.open_anchors.add(anchor)
        self.stack.append(_Frame(value, anchor))

    def _close(self, line: int) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, LineDict):
            for source in frame.merges:  # YAML merge keys: explicit keys win, earlier merges win
                for key, value in source.items():
                    if key not in frame.value:
                        frame.value[key] = value
                        frame.value.key_lines[key] = source.key_lines.get(key, line)
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
        self._add(frame.value, frame.weight, line, frame.anchor, scalar_key=None)

    def _alias(self, event: yaml.AliasEvent, line: int) -> None:
        name = event.anchor or ""
        if name in self.open_anchors:
            raise self.fail(
                line, f"recursive YAML alias *{name} refers to a node that contains it", "yaml-alias-loop"
            )
        if name not in self.anchors:
            raise self.fail(line, f"YAML alias *{name} has no anchor before it", "yaml-unknown-alias")
        value, weight = self.anchors[name]
        key = value if isinstance(value, str) else None
        self._add(value, weight, line, None, scalar_key=key)

    def _add(self, value: Any, weight: int, line: int, anchor: str | None, *, scalar_key: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, weight)
        if not self.stack:
            self.result, self.weight, self.done = value, weight, True
            self._check_weight(weight, line)
            return
        parent = self.stack[-1]
        parent.weight += weight
        self._check_weight(parent.weight, line)
        if isinstance(parent.value, list):
            parent.value.append(value)
        elif parent.key is None:
            if scalar_key is None:
                raise self.fail(line, "a mapping key must be a string", "yaml-complex-key")
            parent.key, parent.key_line = scalar_key, line
        else:
            self._set(parent, value, line)

    def _set(self, parent: _Frame, value: Any, line: int) -> None:
        mapping = parent.value
        assert isinstance(mapping, LineDict) and parent.key is not None
        if parent.key == "<<" and self._is_merge(value):
            parent.merges.extend([value] if isinstance(value, LineDict) else value)
        else:
            mapping[parent.key] = value
            mapping.key_lines[parent.key] = parent.key_line
        parent.key = None

    @staticmethod
    def _is_merge(value: Any) -> bool:
        return isinstance(value, LineDict) or (
            isinstance(value, list) and bool(value) and all(isinstance(v, LineDict) for v in value)
        )

    def _check_weight(self, weight: int, line: int) -> None:
        # Every node counts once per place it appears once aliases are expanded, so a
        # "billion laughs" trips this after a few levels, long before anything is walked.
        if weight > self.limits.max_nodes:
            raise self.fail(
                line,
                f"YAML aliases expand to more than {self.limits.max_nodes:,} nodes "
                "(an alias bomb?); refusing to load it",
                "yaml-alias-bomb",
            )
        budget = self.limits.budget
        if budget is not None and weight > budget.nodes_left:
            raise budget.too_many_nodes(f"{self.label}:{line}")

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            value = event.value
            if not event.implicit[0] or (value and value[0] not in _TYPED_FIRST_CHARS):
                return value  # quoted, or a plain scalar no implicit type can start with
            tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
        return _construct_scalar(tag, event.value)


def _construct_scalar(tag: str, value: str) -> Any:
    """Plain scalars the way YAML 1.1 types them, except timestamps (kept as text, as JSON has none)."""
    if tag == _STR:
        return value
    node = yaml.ScalarNode(tag, value)
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return _CONSTRUCTOR.construct_yaml_bool(node)
    if tag == "tag:yaml.org,2002:int":
        if len(value) > _MAX_INT_CHARS:  # also spares the quadratic sum of a long `1:2:3:...` (base 60)
            return value
        try:
            return _small_int_or_text(_CONSTRUCTOR.construct_yaml_int(node), value)
        except ValueError:  # more decimal digits than CPython converts
            return value
    if tag == "tag:yaml.org,2002:float":
        number = _CONSTRUCTOR.construct_yaml_float(node)
        # `.inf` and `.nan` are spelled out; `1.0e999999` overflowing to inf is kept as written.
        return number if math.isfinite(number) or "inf" in value.lower() or "nan" in value.lower() else value
    return value  # timestamps, binary, custom tags such as !Ref: their text


# Integers wider than this stay text: CPython refuses to print ints of more than 4,300 digits (a
# ValueError far from the parser, in a message or the JSON output), and no spec needs one.
_MAX_INT_BITS = 4096
_MAX_INT_CHARS = _MAX_INT_BITS // 3  # a decimal digit carries more than 3 bits


def _small_int_or_text(number: int, literal: str) -> int | str:
    return number if number.bit_length() <= _MAX_INT_BITS else literal


def int_or_text(literal: str) -> int | str:
    """A JSON integer, or its digits as text when too wide to be a number anyone needs."""
    if len(literal) > _MAX_INT_CHARS:  # more digits than fit the bits: don't even convert
        return literal
    return _small_int_or_text(int(literal), literal)


def float_or_text(literal: str) -> float | str:
    """A JSON float, or its text when it overflows to infinity (`1e999999`)."""
    value = float(literal)
    return value if math.isfinite(value) else literal


def load_yaml(
    text: str, label: str, *, max_depth: int = 256, max_nodes: int = 5_000_000, budget: Budget | None = None
) -> Any:
    """Parse one YAML document; `InputError` with file and line for bad syntax or a limit hit.

    With a `budget`, the nodes built are taken from it and its deadline is checked as events come.
    """
    loader = _Loader(text)
    builder = _Builder(label, _Limits(max_depth, max_nodes, budget), loader)
    try:
        events = 0
        while True:
            event = loader.get_event()  # type: ignore[no-untyped-call]
            if event is None or isinstance(event, yaml.StreamEndEvent):
                break
            builder.feed(event)
            events += 1
            if budget is not None and events % _EVENTS_PER_CLOCK_CHECK == 0:
                budget.check_time(label)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is not None and _flow_depth_before(text, mark.index) > max_depth:
            # libyaml's scanner refuses deep flow nesting before our builder sees the events; the
            # code must not depend on which of the two noticed first.
            raise InputError(
                f"{where}: nested more than {max_depth} levels deep", code="yaml-too-deep"
            ) from None
        raise InputError(f"{where}: invalid YAML: {problem}", code="invalid-yaml") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{label}: invalid YAML: {str(exc).splitlines()[0]}", code="invalid-yaml") from None
    finally:
        loader.dispose()
    if budget is not None:
        budget.take_nodes(builder.weight, label)
    return builder.result


def _flow_depth_before(text: str, end: int) -> int:
    """How many flow collections (`[`, `{`) are open at offset `end`, quotes not counted: only
    consulted after a parse error, to tell a nesting-limit refusal from any other."""
    depth = 0
    for char in text[:end]:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
    return depth
