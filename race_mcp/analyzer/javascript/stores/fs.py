"""The filesystem from Node (RC701): `fs`, `fs/promises`, `fs.promises` and fs-extra.

- Checks: `existsSync`, `access`, `stat` (and their promise forms); reads: `readFile`.
- Writes: `writeFile` (a read-modify-write when its data comes from what was read: two requests
  that read the same JSON file both write, and one update is lost), `open(path, "w")`, `mkdir`,
  `copyFile`, `rename` onto the path (after a decision on it), fs-extra's `writeJson` / `outputFile`.
- Atomic or harmless: the `"wx"` flag (`open(path, "wx")`, `writeFile(path, d, { flag: "wx" })`)
  creates exclusively, `mkdir(path, { recursive: true })` tolerates an existing directory,
  `copyFile(a, b, COPYFILE_EXCL)` refuses to replace, appending (`"a"`, `appendFile`) never
  truncates, and `rename(tmp, path)` of a fully written temporary file replaces `path` at once.
"""

from __future__ import annotations

import re

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ...core.stores import add_recognizer
from ...python.stores._common import StoreRecognizer
from ._calls import JsModuleFacts
from ._orm import items

__all__ = ["JsFileRecognizer"]

_MODULES = frozenset(
    {
        "fs",
        "node:fs",
        "fs/promises",
        "node:fs/promises",
        "fs.promises",
        "node:fs.promises",
        "fs-extra",
        "graceful-fs",
    }
)
_CHECKS = frozenset(
    {
        "existsSync",
        "exists",
        "pathExists",
        "pathExistsSync",
        "access",
        "accessSync",
        "stat",
        "statSync",
        "lstat",
        "lstatSync",
    }
)
_READS = frozenset({"readFile", "readFileSync", "readJson", "readJsonSync", "readJSON"})
_WRITES = frozenset(
    {
        "writeFile",
        "writeFileSync",
        "writeJson",
        "writeJsonSync",
        "writeJSON",
        "outputFile",
        "outputFileSync",
        "outputJson",
        "outputJSON",
    }
)
_OPENS = frozenset({"open", "openSync", "createWriteStream"})
_MKDIRS = frozenset({"mkdir", "mkdirSync", "mkdirp", "ensureDir", "ensureDirSync"})
_MOVES = frozenset(
    {"rename", "renameSync", "copyFile", "copyFileSync", "move", "moveSync", "copy", "copySync"}
)
_APPENDS = frozenset({"appendFile", "appendFileSync"})
_SPACE = re.compile(r"\s+")


def _flag(expr: model.Expr | None, ctx: CallContext) -> str | None:
    """`"wx"`, or `{ flag: "wx" }` / `{ flags: "a" }`."""
    text = ctx.string(expr)
    if text is not None:
        return text
    options = items(expr)
    value = options.get("flag") or options.get("flags")
    return ctx.string(value) if value is not None else None


def _exclusive(flag: str | None) -> bool:
    return flag is not None and "x" in flag


class JsFileRecognizer(StoreRecognizer):
    facts_type = JsModuleFacts
    markers = ("fs", "fs-extra")

    def key(self, expr: model.Expr, ctx: CallContext) -> str:
        return "fs:" + _SPACE.sub("", self.facts(ctx).code(expr))

    def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        module, _, method = (call.name or "").rpartition(".")
        if module not in _MODULES:
            return None
        args = [arg.value for arg in call.args if not arg.star]
        if not args:
            return None
        path = args[0]
        if method in _CHECKS or method in _READS:
            return [Effect("read", self.key(path, ctx))]
        if method in _APPENDS:
            return []  # appending never truncates what another request wrote
        if method in _WRITES:
            flag = _flag(args[2] if len(args) > 2 else None, ctx)
            if flag is not None and flag.startswith("a"):
                return []
            guard = ALL if _exclusive(flag) else frozenset()
            return [Effect("write", self.key(path, ctx), "RC701", guard)]
        if method in _OPENS:
            flag = _flag(args[1] if len(args) > 1 else None, ctx) or (
                "w" if method == "createWriteStream" else "r"
            )
            if not flag.startswith("w"):
                return []  # reading, appending ("a") or updating in place ("r+")
            guard = ALL if _exclusive(flag) else frozenset()
            return [Effect("write", self.key(path, ctx), "RC701", guard, needs_check=True)]
        if method in _MKDIRS:
            recursive = items(args[1]).get("recursive") if len(args) > 1 else None
            exist_ok = method.startswith(("mkdirp", "ensureDir")) or (
                isinstance(recursive, model.Literal) and recursive.value is True
            )
            guard = ALL if exist_ok else frozenset()
            return [Effect("write", self.key(path, ctx), "RC701", guard, needs_check=True)]
        if method in _MOVES and len(args) >= 2:
            excl = len(args) > 2 and "EXCL" in self.facts(ctx).code(args[2])
            ctx.args.clear()  # the new content is the source file's, not a value read here
            return [
                Effect(
                    "write", self.key(args[1], ctx), "RC701", ALL if excl else frozenset(), needs_check=True
                )
            ]
        return None


add_recognizer("fs", "javascript", JsFileRecognizer)
