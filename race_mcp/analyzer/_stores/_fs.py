"""Filesystem check-then-create (RC701): `exists()` then `open(..., "w")`, `mkdir`, `rename`.

Paths are compared by their source text (`path`, `os.path.join(root, name)`, `Path(p)` → `p`), which
is what the check and the write share in practice.
"""

from __future__ import annotations

import re

import libcst as cst

from .._effects import ALL, CallContext, Effect
from .._module import ModuleIndex

__all__ = ["FileRecognizer"]

_CHECKS = {"os.path.exists", "os.path.isfile", "os.path.isdir", "os.path.lexists", "os.access"}
_PATH_CHECK_METHODS = {"exists", "is_file", "is_dir"}
_CREATE_FUNCTIONS = {"os.mkdir", "os.makedirs", "os.symlink", "os.link"}
_MOVE_FUNCTIONS = {"os.rename", "os.replace", "shutil.move", "shutil.copy", "shutil.copyfile", "shutil.copy2"}
_PATH_WRITE_METHODS = {"write_text", "write_bytes", "mkdir", "symlink_to", "hardlink_to"}


class FileRecognizer:
    def __init__(self, index: ModuleIndex) -> None:
        self.index = index

    def key(self, expr: cst.BaseExpression) -> str:
        constructor = (self.index.qualify(expr.func) or "") if isinstance(expr, cst.Call) else ""
        if isinstance(expr, cst.Call) and expr.args and constructor.split(".")[-1] in ("Path", "PurePath"):
            expr = expr.args[0].value
        return "fs:" + re.sub(r"\s+", "", self.index.module.code_for_node(expr))

    def effects(self, call: cst.Call, ctx: CallContext) -> list[Effect] | None:
        name = self.index.qualify(call.func) or ""
        args = [arg for arg in call.args if arg.keyword is None]
        keywords = {arg.keyword.value: arg.value for arg in call.args if arg.keyword is not None}
        if name in _CHECKS and args:
            return [Effect("read", self.key(args[0].value))]
        if name == "open" and args:
            mode = ctx.string(args[1].value if len(args) > 1 else keywords.get("mode")) or "r"
            if not set(mode) & set("wa") or "x" in mode:
                return None
            return [Effect("write", self.key(args[0].value), "RC701", needs_check=True)]
        if name == "os.open" and args:
            flags = self.index.module.code_for_node(args[1].value) if len(args) > 1 else ""
            guard = ALL if "O_EXCL" in flags else frozenset()
            return [Effect("write", self.key(args[0].value), "RC701", guard, needs_check=True)]
        if name in _CREATE_FUNCTIONS and args:
            target = args[-1].value if name in ("os.symlink", "os.link") else args[0].value
            return [Effect("write", self.key(target), "RC701", self._exist_ok(keywords), needs_check=True)]
        if name in _MOVE_FUNCTIONS and len(args) >= 2:
            return [Effect("write", self.key(args[1].value), "RC701", needs_check=True)]
        func = call.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in _PATH_CHECK_METHODS and not call.args:
                return [Effect("read", self.key(func.value))]
            if method in _PATH_WRITE_METHODS:
                return [
                    Effect("write", self.key(func.value), "RC701", self._exist_ok(keywords), needs_check=True)
                ]
            if method == "open" and self.is_path(func.value):  # `Path.open("wb")`
                mode = ctx.string(args[0].value if args else keywords.get("mode")) or "r"
                if set(mode) & set("wa") and "x" not in mode:
                    return [Effect("write", self.key(func.value), "RC701", needs_check=True)]
                return None
            if method in ("rename", "replace") and args and self.is_path(func.value):
                return [Effect("write", self.key(args[0].value), "RC701", needs_check=True)]
        return None

    def is_path(self, expr: cst.BaseExpression) -> bool:
        """A pathlib object: built with `Path(...)` / `/`, or named like a path or a file target."""
        text = self.index.module.code_for_node(expr)
        return bool(re.search(r"path|Path\(|file|dir|target|dest|tmp|/", text, re.IGNORECASE))

    @staticmethod
    def _exist_ok(keywords: dict[str, cst.BaseExpression]) -> frozenset[str]:
        value = keywords.get("exist_ok")
        if isinstance(value, cst.Name) and value.value == "True":
            return ALL
        return frozenset()
