"""Calls from a JavaScript/TypeScript file into functions of other files of the project, for the
interpreter: `accounts.balanceOf(id)` with `accounts = require("../repositories/accounts")`,
`debit(...)` imported by name, `this.wallet.withdraw(...)` on a service injected from another file.

The callee's file is one the index walked (inside the allowed roots), read and lowered once per
run; a read in one file and a write in another then form one sequence, reported in the file whose
function runs both (a sequence wholly inside the callee is its own file's, as for Python).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from ..._textfile import read_text
from ...errors import InputError
from ..core import model
from ._facts import FileFacts

if TYPE_CHECKING:
    from ..core.profile import Callee
    from ..core.state import Frame
    from ..javascript.memory import JavaScriptMemory
    from ._languages import CrossFile

__all__ = ["ForeignCalls"]

_MAX_SOURCE_BYTES = 2_000_000
_MAX_LOWERED = 128  # other files kept lowered at once
_MAX_DEPTH = 3  # calls followed into other files from one root: a handler, its service, a helper
_MAX_HELPER_TEXT = 1_000_000  # characters of imported files that choose a module's recognizers
_DEPTH = "_js_foreign_depth"


class ForeignCalls:
    """One run's lowered JavaScript files, shared by the analyses of every file of a project."""

    def __init__(self, cross: CrossFile) -> None:
        self.cross = cross
        self._lowered: OrderedDict[str, tuple[model.ModuleModel, JavaScriptMemory] | None] = OrderedDict()
        self._texts: dict[str, str] = {}
        self._lock = threading.Lock()

    def text(self, path: str) -> str:
        known = self._texts.get(path)
        if known is None:
            try:
                known = read_text(Path(path), path, max_bytes=_MAX_SOURCE_BYTES, expected="source")
            except (InputError, OSError, ValueError):
                known = ""
            with self._lock:
                self._texts[path] = known
        return known

    def helper_text(self, path: str) -> str:
        """The text of the project files `path` imports: a handler that only calls a repository
        module names no store itself, yet its recognizers must run for the repository's calls.
        Only for files that route or handle requests (those the extractor lowered): a library's
        modules importing each other would each pay for all the others' text."""
        if not self.handles_requests(path):
            return ""
        parts: list[str] = []
        size = 0
        for spec, _name in self.cross.imports_of(path):
            target = self.cross.specifier(path, spec)
            if target is None or not target.endswith(_SUFFIXES):
                continue
            text = self.text(target)
            size += len(text)
            if size > _MAX_HELPER_TEXT:
                break
            parts.append(text)
        return "\n".join(parts)

    def handles_requests(self, path: str) -> bool:
        """The file routes or handles requests (the extractor lowered it): calls from library
        modules into each other are not followed, nor their imports' text read."""
        return "calls" in self.cross.files.get(path, _NO_FACTS).extra

    def resolve(self, home: str, call: model.Call, frame: Frame) -> Callee | None:
        if not self.handles_requests(home):
            return None
        depth: int = getattr(frame, _DEPTH, 0)
        module = frame.module
        where = module.path if module is not None and module.path in self.cross.files else home
        target = self._target(where, call.func, frame)
        if target is None or depth >= _MAX_DEPTH or target[0] == where:
            return None  # the same file's functions are the profile's
        found = self._lower(target[0])
        if found is None:
            return None
        lowered, profile = found
        function = lowered.functions.get(target[1])
        if function is None:
            return None
        callee_frame = profile.frame(function, self_class=function.owner_class)
        setattr(callee_frame, _DEPTH, depth + 1)  # the frame is fresh: it carries its own count
        return function, callee_frame

    def _target(self, where: str, func: model.Expr, frame: Frame) -> tuple[str, str] | None:
        imports = self.cross.imported_names(where)
        if isinstance(func, model.Name):
            return self.cross.binding(where, func.id, "") if func.id in imports else None
        if not isinstance(func, model.Attribute):
            return None
        value = func.value
        if isinstance(value, model.Name) and value.id in imports:
            return self.cross.binding(where, value.id, func.attr)
        owner = frame.self_class
        if owner is None:
            return None
        if isinstance(value, model.Name) and value.id == "self":
            return self.cross.callee(where, f"{owner}.?", ["this", "", func.attr])
        if (
            isinstance(value, model.Attribute)
            and isinstance(value.value, model.Name)
            and value.value.id == "self"
        ):
            return self.cross.callee(where, f"{owner}.?", ["this", value.attr, func.attr])
        return None

    def _lower(self, path: str) -> tuple[model.ModuleModel, JavaScriptMemory] | None:
        with self._lock:
            if path in self._lowered:
                self._lowered.move_to_end(path)
                return self._lowered[path]
        from ..javascript.lower import lower_module
        from ..javascript.memory import JavaScriptMemory

        found: tuple[model.ModuleModel, JavaScriptMemory] | None = None
        source = self.text(path)
        if source:
            try:
                lowered = lower_module(source, path)
                found = (lowered, JavaScriptMemory(lowered))
            except (RecursionError, ValueError, MemoryError):
                found = None
        with self._lock:
            self._lowered[path] = found
            while len(self._lowered) > _MAX_LOWERED:
                self._lowered.popitem(last=False)
        return found


_NO_FACTS = FileFacts("")
_SUFFIXES = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
