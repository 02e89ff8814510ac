"""Running one store recognizer on one call of a lowered snippet, with a stand-in `CallContext`."""

from __future__ import annotations

from dataclasses import dataclass, field
from textwrap import dedent
from typing import Any

from race_mcp.analyzer.core import model
from race_mcp.analyzer.core.effects import Effect
from race_mcp.analyzer.python.lower import lower_module
from race_mcp.analyzer.python.stores._common import walk
from race_mcp.analyzer.python.strings import string_value


@dataclass
class FakeState:
    checks: dict[str, Any] = field(default_factory=dict)
    dirty: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, Any] = field(default_factory=dict)
    atomic_aliases: frozenset[str] = frozenset()
    in_transaction: int = 0
    unit: int = 0  # the unit of work open now (core/state.py), read by the own-rows marker


@dataclass(frozen=True)
class FakeStep:
    node: Any
    role: str
    order: int = 0


@dataclass(frozen=True)
class FakeAccess:
    key: str
    steps: tuple[FakeStep, ...] = ()
    decision: bool = False
    detail: frozenset[str] = frozenset()


@dataclass
class FakeContext:
    """The `CallContext` protocol, answered from what a test sets (no interpreter)."""

    lowered: model.ModuleModel
    current: model.Function
    state: FakeState = field(default_factory=FakeState)
    args: list[Any] = field(default_factory=list)
    arguments: list[list[Any]] = field(default_factory=list)
    receiver: list[Any] = field(default_factory=list)
    test: bool = False
    notes: dict[str, Any] = field(default_factory=dict)
    caught: tuple[str, ...] = ()
    held: tuple[str, ...] = ()
    used: bool = True
    owner: str | None = None
    project: Any = None

    def string(self, expr: model.Expr | None) -> str | None:
        return string_value(expr, self.lowered, function=self.current)

    def evaluate(self, expr: model.Expr) -> list[Any]:
        return []

    def catching(self, names: Any) -> bool:
        return bool(set(names) & set(self.caught))

    def region_held(self, name: str) -> bool:
        return name in self.held

    def result_used(self, call: model.Call) -> bool:
        return self.used

    def function(self) -> model.Function:
        return self.current

    def root(self) -> model.Function:
        return self.current

    def fresh(self, expr: model.Expr) -> bool:
        return False

    def root_is_entry(self) -> bool:
        return any(entry.qualname == self.current.qualname for entry in self.lowered.entry_points)

    def module(self) -> model.ModuleModel:
        return self.lowered

    def resolve(self, call: model.Call) -> model.Function | None:
        return None

    def facts(self) -> Any:
        return self.project

    def self_class(self) -> str | None:
        return self.owner if self.owner is not None else self.current.owner_class

    def returned(self) -> list[Any]:
        return []


def lower(source: str) -> model.ModuleModel:
    return lower_module(dedent(source), "snippet.py")


def calls(module: model.ModuleModel, function: str) -> list[model.Call]:
    found = module.functions[function]
    return [node for node in walk(found.body) if isinstance(node, model.Call)]


def call_of(module: model.ModuleModel, function: str, method: str) -> model.Call:
    """The last call in `function` whose method (or callee name's last part) is `method`."""
    matches = [
        c for c in calls(module, function) if c.method == method or (c.name or "").split(".")[-1] == method
    ]
    assert matches, f"no call of {method} in {function}"
    return matches[-1]


def context(module: model.ModuleModel, function: str, **options: Any) -> FakeContext:
    return FakeContext(module, module.functions[function], **options)


def effects(
    recognizer: Any, module: model.ModuleModel, function: str, method: str, **options: Any
) -> list[Effect] | None:
    ctx = context(module, function, **options)
    result: list[Effect] | None = recognizer.effects(call_of(module, function, method), ctx)
    return result
