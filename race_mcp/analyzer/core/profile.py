"""What the interpreter asks a language about in-process state, and what recognizers see of a run.

The interpreter knows nothing of Python (or any language): which expressions denote state shared
by concurrent requests, which objects are locks, which methods mutate a container and which calls
stay inside the project are the front-end's answers, given through a `LanguageProfile`
(`analyzer/python/memory.py` is Python's). `Context` is the interpreter's side of the
`effects.CallContext` protocol that store recognizers are written against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from . import model
from .state import Access, Frame, State

if TYPE_CHECKING:
    from .interpret import Interpreter

__all__ = ["Callee", "Context", "LanguageProfile", "Resolver"]

# A function to run for a call, with the frame to run it in (`self` bound as the call implies).
Callee = tuple[model.Function, Frame]
# How the whole-project index resolves a call the module alone cannot (a helper in another file).
Resolver = Callable[[model.Call, Frame], Callee | None]


class LanguageProfile(Protocol):
    """A front-end's answers about one module's in-process state and calls."""

    # Container methods that change the container in place (`append`, `pop`, `setdefault`...).
    mutating_methods: frozenset[str]
    # Every container method (the mutating ones and the reads: `get`, `keys`, `count`...).
    container_methods: frozenset[str]
    # Methods that run a statement built in their argument (`conn.execute(update(t)...)`): the
    # statement's effects happen at the call that runs it.
    executing_methods: frozenset[str]

    def frame(
        self, function: model.Function, *, self_class: str | None = None, self_instance: str | None = None
    ) -> Frame:
        """A fresh frame to run `function` in."""

    def shared_key(self, expr: model.Expr, frame: Frame) -> str | None:
        """The in-process shared state `expr` denotes (or is an element of), else None."""

    def is_shared_global(self, name: str, *, rebinding: bool = False) -> bool:
        """A module-level name whose value requests share (`rebinding`: assigned through `global`)."""

    def is_lock(self, expr: model.Expr) -> bool:
        """`expr` is a lock (a `with` item, or the receiver of `acquire()` / `release()`)."""

    def text(self, node: model.Node) -> str:
        """The node's source text (names a manually acquired lock's region)."""

    def resolve_callee(self, call: model.Call, frame: Frame) -> Callee | None:
        """The function of the module `call` runs, with its frame."""

    def row_method(self, key: str, method: str) -> Callee | None:
        """`card.add_points(n)` on a row of `key` read earlier: the model class's method."""

    def string(self, expr: model.Expr, frame: Frame | None) -> str | None:
        """The text of a string expression (literals, templates, constants; see `CallContext`)."""

    def qualname(self, function: model.Function, self_class: str | None) -> str:
        """The name a reached function is known by among the module's roots."""


class Context:
    """The `effects.CallContext` a recognizer receives for one call on one path."""

    __slots__ = ("_interpreter", "args", "arguments", "notes", "receiver", "state", "test")

    def __init__(
        self,
        interpreter: Interpreter,
        state: State,
        args: list[Access],
        receiver: list[Access],
        test: bool,
        arguments: list[list[Access]] | None = None,
    ) -> None:
        self._interpreter = interpreter
        self.state = state
        self.args = args
        self.receiver = receiver
        self.test = test
        self.arguments: list[list[Access]] = arguments if arguments is not None else []
        self.notes: dict[str, Any] = interpreter.notes

    def string(self, expr: model.Expr | None) -> str | None:
        if expr is None:
            return None
        interpreter = self._interpreter
        return interpreter.profile.string(expr, interpreter.frame if interpreter.frames else None)

    def evaluate(self, expr: model.Expr) -> list[Access]:
        return self._interpreter.eval(expr, self.state)

    def catching(self, names: Sequence[str]) -> bool:
        return self._interpreter.catching(names)

    def handlers(self, names: Sequence[str]) -> list[model.Handler]:
        return self._interpreter.handlers(names)

    def region_held(self, name: str) -> bool:
        return self._interpreter.region(name) in self.state.locks

    def result_used(self, call: model.Call) -> bool:
        return self._interpreter.result_used(call)

    def function(self) -> model.Function:
        return self._interpreter.frame.function

    def root(self) -> model.Function:
        self._interpreter.memo.read_root()
        return self._interpreter.frames[0].function

    def root_is_entry(self) -> bool:
        root = self.root()
        interpreter = self._interpreter
        home = interpreter.frames[0].module or interpreter.module
        return any(entry.qualname == root.qualname for entry in home.entry_points)

    def module(self) -> model.ModuleModel:
        interpreter = self._interpreter
        frame_module = interpreter.frame.module if interpreter.frames else None
        return frame_module or interpreter.module

    def resolve(self, call: model.Call) -> model.Function | None:
        callee = self._interpreter.resolve(call)
        return callee[0] if callee is not None else None

    def facts(self) -> Any:
        return self._interpreter.facts

    # Beyond the protocol: what a few recognizers need of the frames being run.
    def fresh(self, expr: model.Expr) -> bool:
        """`expr`'s value is unique to this request: built from a random draw (`core/fresh.py`)."""
        return self._interpreter.fresh_value(expr, self.state)

    def self_class(self) -> str | None:
        """The class `self` stands for in the function being interpreted (a subclass's, when a
        method inherited from a base runs on it)."""
        return self._interpreter.frame.self_class if self._interpreter.frames else None

    def returned(self) -> list[Access]:
        """What the functions on the call stack returned so far (cache-aside: the read value was
        handed back on the hit path)."""
        self._interpreter.memo.read_returned()
        return [access for frame in self._interpreter.frames for access in frame.returned]
