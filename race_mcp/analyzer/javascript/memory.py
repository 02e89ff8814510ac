"""In-process state in Node: module-level Maps, Sets, objects, arrays and counters.

Node runs one request at a time between awaits: a check and a write of module state race only when
an `await` separates them (the interpreter's `async` mode: the entry points run on the event loop).
The Python profile's logic (module-level names, `self`/`this` attributes of classes, locks by name)
holds for the model either way; this profile swaps in JavaScript's container methods and
constructors.
"""

from __future__ import annotations

from ..core import model
from ..core.profile import Callee
from ..core.state import Frame
from ..python.memory import PythonMemory, is_mutable
from ._settled import settled_state
from .callbacks import immediate_callback, iteration_callback

__all__ = ["JavaScriptMemory", "may_share_state"]

# Constructors of mutable containers (`new Map()`), by their last name.
_CONTAINERS = frozenset({"Map", "Set", "WeakMap", "WeakSet", "Array", "Object", "LRUCache", "LRU"})
_MUTATING = frozenset(
    {"set", "delete", "clear", "add", "push", "pop", "shift", "unshift", "splice", "sort", "reverse", "fill"}
)
_NEST_PROVIDERS = frozenset({"Injectable", "Controller", "Resolver", "WebSocketGateway"})
_READING = frozenset({"get", "has", "includes", "indexOf", "keys", "values", "entries", "find", "some", "at"})


def _is_container(value: model.Expr) -> bool:
    if isinstance(value, model.Call):
        return (value.name or "").split(".")[-1] in _CONTAINERS
    return is_mutable(value)


def _singleton(info: model.ClassModel) -> bool:
    """`@Injectable()`, `@Controller()`, `@Resolver()`, `@WebSocketGateway()` without a request or
    transient scope: Nest builds one instance for the whole application."""
    for decorator in info.decorators:
        call = decorator if isinstance(decorator, model.Call) else None
        name = (call.name if call is not None else getattr(decorator, "id", "")) or ""
        if name.rsplit(".", 1)[-1] in _NEST_PROVIDERS:
            scoped = call is not None and any(_scoped(arg.value) for arg in call.args)
            return not scoped
    return False


def _scoped(expr: model.Expr) -> bool:
    """`{ scope: Scope.REQUEST }` / `Scope.TRANSIENT`."""
    if isinstance(expr, model.Attribute):
        return expr.attr in ("REQUEST", "TRANSIENT")
    if isinstance(expr, model.Collection):
        return any(_scoped(element) for element in expr.elements)
    return False


def may_share_state(module: model.ModuleModel) -> bool:
    """Cheap pre-filter: a module-level container, or a module-level name some function reassigns."""
    if any(_is_container(value) for value in module.assignments.values()):
        return True
    if any(function.globals for function in module.functions.values()):
        return True
    return any(
        _singleton(info) and any(_is_container(value) for value in info.attributes.values())
        for info in module.classes.values()
    )


class JavaScriptMemory(PythonMemory):
    """`LanguageProfile` for one JavaScript/TypeScript module."""

    mutating_methods = _MUTATING
    container_methods = _MUTATING | _READING
    executing_methods = frozenset({"query", "execute"})

    def __init__(self, module: model.ModuleModel) -> None:
        super().__init__(module)
        self._by_span = {function.span: function for function in module.functions.values()}
        # Memoised clients, cache-aside Maps and synchronous busy flags: every request settles
        # them the same way (`_settled.py`), so they are no state a request can lose to another.
        self._settled = settled_state(module, _MUTATING)

    def resolve_callee(self, call: model.Call, frame: Frame) -> Callee | None:
        """Besides the module's functions and methods: the callback a transaction or a mutex runs
        before the call returns (`prisma.$transaction(async (tx) => {...})`), or an array method
        runs per element (`items.map(async (item) => {...})`), run in the caller's `this`."""
        transaction = immediate_callback(call)
        callback = transaction or iteration_callback(call)
        if callback is not None:
            if isinstance(callback, model.Name):
                function = self.module.functions.get(callback.id)
            else:
                function = self._by_span.get(callback.span)
            # Only an async per-element callback is run: it is where store calls await. A sync one
            # (`rows.filter((r) => r.open)`) computes from the array, which the call's value keeps.
            if function is not None and (transaction is not None or function.is_async):
                return function, self.frame(function, self_class=frame.self_class)
        return super().resolve_callee(call, frame)

    def class_attribute(self, class_name: str, attr: str) -> str | None:
        """Fields of a NestJS provider or controller (a singleton unless its scope is per request)
        are state every request shares: `private readonly stock = new Map()`."""
        if f"{class_name}.{attr}" in self._settled:
            return None
        info = self.classes.get(class_name)
        if info is not None and _singleton(info):
            value = info.attributes.get(attr)
            if value is not None and _is_container(value):
                return f"{class_name}.{attr}"
        return super().class_attribute(class_name, attr)

    def attribute_class(self, class_name: str, attr: str) -> str | None:
        """The module's class of `this.<attr>`, from what the constructor assigns to it (a
        parameter property `constructor(private readonly svc: Svc)` included)."""
        info = self.classes.get(class_name)
        constructor = info.methods.get("constructor") if info else None
        if constructor is None:
            return None
        for statement in constructor.body:
            if not isinstance(statement, model.Assign) or statement.value is None or statement.op is not None:
                continue
            target = statement.targets[0] if len(statement.targets) == 1 else None
            if not (
                isinstance(target, model.Attribute)
                and target.attr == attr
                and isinstance(target.value, model.Name)
                and target.value.id == "self"
            ):
                continue
            value = statement.value
            if isinstance(value, model.Call) and isinstance(value.func, model.Name):
                return value.func.id if value.func.id in self.classes else None
            if isinstance(value, model.Name):
                return self.parameter_class(constructor, value.id)
        return None

    def is_shared_global(self, name: str, *, rebinding: bool = False) -> bool:
        value = self.module.assignments.get(name)
        if value is None or name in self._settled:
            return False
        if name in self.rebound_globals:
            return True
        return not rebinding and _is_container(value)
