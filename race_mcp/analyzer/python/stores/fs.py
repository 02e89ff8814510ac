"""Filesystem check-then-create (RC701): `exists()` then `open(..., "w")`, `mkdir`, `rename`.

Paths are compared by their source text (`path`, `os.path.join(root, name)`, `Path(p)` -> `p`), which
is what the check and the write share in practice.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ...core.stores import StoreSpec, register
from ._common import StoreRecognizer, is_true, keywords, positional, walk
from ._fs_cleanup import is_storage_save, unclaimed_cleanup

__all__ = ["FileRecognizer"]

_CHECKS = {
    "os.path.exists",
    "os.path.isfile",
    "os.path.isdir",
    "os.path.lexists",
    "os.access",
    # python-fsutil and aiofiles: the same system calls behind a helper library.
    "fsutil.exists",
    "fsutil.is_file",
    "fsutil.is_dir",
    "aiofiles.os.path.exists",
    "aiofiles.os.path.isfile",
    "aiofiles.os.path.isdir",
}
# Helpers that truncate and write a whole file in place (`atomic=True`: a temporary file renamed
# over the path, so a reader never sees it half written).
_WRITE_FUNCTIONS = {
    "fsutil.write_file",
    "fsutil.write_file_json",
    "fsutil.create_file",
    "fsutil.copy_file",
    "fsutil.move_file",
}
_PATH_CHECK_METHODS = {"exists", "is_file", "is_dir"}
_CREATE_FUNCTIONS = {
    "os.mkdir",
    "os.makedirs",
    "os.symlink",
    "os.link",
    "fsutil.create_dir",
    "fsutil.make_dirs",
    "aiofiles.os.mkdir",
    "aiofiles.os.makedirs",
}
_MOVE_FUNCTIONS = {
    "os.rename",
    "os.replace",
    "shutil.move",
    "shutil.copy",
    "shutil.copyfile",
    "shutil.copy2",
    "aiofiles.os.rename",
    "aiofiles.os.replace",
}
_PATH_WRITE_METHODS = {"write_text", "write_bytes", "mkdir", "symlink_to", "hardlink_to"}
_PATH_LIKE = re.compile(r"path|Path\(|file|dir|target|dest|tmp|/", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


_EXISTS_ERRORS = frozenset({"FileExistsError", "OSError", "IOError"})
_REMOVALS = frozenset({"remove", "unlink", "rmdir", "rmtree"})


def _uses_path(node: model.Node, text: str, code: Callable[[model.Node], str]) -> bool:
    """A call given the path (`read_key(path)`, `open(path)`, `path.read_text()`), other than one
    that removes it."""
    if not isinstance(node, model.Call):
        return False
    if (node.name or node.method or "").split(".")[-1] in _REMOVALS:
        return False
    given = [arg.value for arg in node.args]
    if node.receiver is not None:
        given.append(node.receiver)
    return any(_SPACE.sub("", code(value)) == text for value in given)


def _earlier_round(tested: int, written: int, function: model.Function) -> bool:
    """The check sits below the write in the same function: it was made by an earlier call of the
    function or an earlier turn of a loop, where the path's local named another path."""
    return written < tested and function.span.line <= tested <= function.span.end_line


def _makes_room(tested: int, text: str, function: model.Function, code: Callable[[model.Node], str]) -> bool:
    """`if final.exists(): final.unlink()` then `shutil.move(tmp, final)`: the check only clears
    the way for an overwrite, so two requests each leave a whole file there; nothing is refused
    on the strength of the check."""
    for node in walk(function.body):
        if isinstance(node, model.If) and node.span.line == tested and node.body and not node.orelse:
            return all(
                isinstance(statement, model.Eval) and _removes(statement.value, text, code)
                for statement in node.body
            )
    return False


def _removes(expr: model.Expr, text: str, code: Callable[[model.Node], str]) -> bool:
    if isinstance(expr, model.Await):
        expr = expr.value
    if not isinstance(expr, model.Call) or (expr.name or expr.method or "").split(".")[-1] not in _REMOVALS:
        return False
    given = [arg.value for arg in expr.args[:1]] + ([expr.receiver] if expr.receiver is not None else [])
    return any(_SPACE.sub("", code(value)) == text for value in given)


def _writes(mode: str) -> bool:
    """`w` replaces a file; `x` creates it exclusively (atomic); `a` only appends, never truncating
    what another process wrote, so two creators after one `exists()` lose nothing."""
    return "w" in mode and "x" not in mode


def _exist_ok(options: dict[str, model.Expr]) -> frozenset[str]:
    return ALL if is_true(options.get("exist_ok")) else frozenset()


class FileRecognizer(StoreRecognizer):
    def key(self, expr: model.Expr, ctx: CallContext) -> str:
        if isinstance(expr, model.Call) and (expr.name or "").split(".")[-1] in ("Path", "PurePath"):
            args = positional(expr)
            expr = args[0] if args else expr
        return "fs:" + _SPACE.sub("", self.facts(ctx).code(expr))

    def write(
        self,
        target: model.Expr,
        ctx: CallContext,
        guard: frozenset[str] = frozenset(),
        *,
        replaces: bool = True,
    ) -> list[Effect]:
        """`replaces`: the call overwrites an existing path (a file opened for writing, a move);
        a creation (`mkdir`, `symlink`) fails instead."""
        key = self.key(target, ctx)
        check = ctx.state.checks.get(key)
        fresh = getattr(ctx, "fresh", None)
        if check is not None and guard != ALL and callable(fresh) and fresh(target):
            # A path named by a value this request drew at random (`uploads/<token_hex()>/`): no
            # other request checks or creates it, so the check decides nothing another can change.
            guard = ALL
        if check is not None and guard != ALL:
            function = ctx.function()
            tested = check.steps[-1].line
            stale = _earlier_round(tested, target.span.line, function)
            text = key.partition(":")[2]
            if stale or (replaces and _makes_room(tested, text, function, self.facts(ctx).code)):
                guard = ALL
        return [Effect("write", key, "RC701", guard, needs_check=True)]

    def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        name = call.name or ""
        args = positional(call)
        options = keywords(call)
        if name in _CHECKS and args:
            return [Effect("read", self.key(args[0], ctx))]
        if name in _WRITE_FUNCTIONS and args:
            moves = name in ("fsutil.copy_file", "fsutil.move_file")
            target = args[1] if moves and len(args) > 1 else args[0]
            return self.write(target, ctx, ALL if is_true(options.get("atomic")) else frozenset())
        if is_storage_save(call, self.facts(ctx).code):
            return self.cleanup(call, args[0], ctx) or None
        if name in ("open", "aiofiles.open") and args:
            mode = ctx.string(args[1] if len(args) > 1 else options.get("mode")) or "r"
            if "x" in mode:  # exclusive: no check-then-create, unless a loser reads it too early
                return self.exclusive(call, args[0], ctx) or None
            return [*self.write(args[0], ctx), *self.cleanup(call, args[0], ctx)] if _writes(mode) else None
        if name == "os.open" and args:
            flags = self.facts(ctx).code(args[1]) if len(args) > 1 else ""
            if "O_EXCL" in flags:
                return [*self.write(args[0], ctx, ALL), *self.exclusive(call, args[0], ctx)]
            return self.write(args[0], ctx)
        if name in _CREATE_FUNCTIONS and args:
            target = args[-1] if name in ("os.symlink", "os.link") else args[0]
            return self.write(target, ctx, _exist_ok(options), replaces=False)
        if name in _MOVE_FUNCTIONS and len(args) >= 2:
            return self.write(args[1], ctx)
        return self.path_method(call, args, options, ctx)

    def cleanup(self, call: model.Call, path: model.Expr, ctx: CallContext) -> list[Effect]:
        """A file stored under a shared name and removed when the row claiming the name fails its
        unique insert (`_fs_cleanup`): the loser deletes the winner's file."""
        code = self.facts(ctx).code
        removal = unclaimed_cleanup(call, path, ctx.function(), code)
        if removal is None:
            return []
        text = code(path)
        message = (
            f"The file is stored at line {call.span.line} under `{text}`, a name another request can "
            f"claim too, and removed at line {removal.span.line} when the row claiming it fails its "
            f"unique insert: a concurrent request that won the insert has its file overwritten, then "
            f"deleted. Refuse a taken name before storing, and remove only a path no row references."
        )
        return [Effect("direct", self.key(path, ctx), "RC701", node=call, message=message)]

    def exclusive(self, call: model.Call, path: model.Expr, ctx: CallContext) -> list[Effect]:
        """`os.open(p, O_CREAT | O_EXCL)` (or `open(p, "x")`) creates the file empty and fills it
        afterwards; a loser whose `except FileExistsError:` reads the path can read it before the
        winner has written it (empty or half written). Writing a temporary file and publishing it
        with `os.link` / `os.replace` leaves no such window."""
        key = self.key(path, ctx)
        text = key.partition(":")[2]
        code = self.facts(ctx).code
        at = (call.span.line, call.span.column)
        for node in walk(ctx.function().body):
            if not isinstance(node, model.Try):
                continue
            if at not in {(n.span.line, n.span.column) for n in walk(node.body) if isinstance(n, model.Call)}:
                continue
            for handler in node.handlers:
                if not set(handler.types) & _EXISTS_ERRORS:
                    continue
                reader = next((c for c in walk(handler.body) if _uses_path(c, text, code)), None)
                if reader is not None:
                    message = (
                        f"Path `{text}` is created empty at line {call.span.line} and written "
                        f"afterwards, while a request that loses the creation reads it at line "
                        f"{reader.span.line}: it can read the file before the winner has written it."
                    )
                    return [Effect("direct", key, "RC701", node=call, message=message)]
        return []

    def path_method(
        self, call: model.Call, args: list[model.Expr], options: dict[str, model.Expr], ctx: CallContext
    ) -> list[Effect] | None:
        """`Path` methods: `p.exists()`, `p.write_text(...)`, `p.open("w")`, `p.rename(q)`."""
        method, receiver = call.method, call.receiver
        if method is None or receiver is None:
            return None
        if method in _PATH_CHECK_METHODS and not call.args:
            return [Effect("read", self.key(receiver, ctx))]
        if method in _PATH_WRITE_METHODS:
            replaces = method in ("write_text", "write_bytes")
            return self.write(receiver, ctx, _exist_ok(options), replaces=replaces)
        if method == "open" and self.is_path(receiver, ctx):  # `Path.open("wb")`
            mode = ctx.string(args[0] if args else options.get("mode")) or "r"
            return self.write(receiver, ctx) if _writes(mode) else None
        if method in ("rename", "replace") and args and self.is_path(receiver, ctx):
            return self.write(args[0], ctx)
        return None

    def is_path(self, expr: model.Expr, ctx: CallContext) -> bool:
        """A pathlib object: built with `Path(...)` / `/`, or named like a path or a file target."""
        return bool(_PATH_LIKE.search(self.facts(ctx).code(expr)))


register(
    StoreSpec(
        name="fs",
        markers=(
            "exists(",
            "isfile(",
            "isdir(",
            "is_file(",
            "is_dir(",
            "access(",
            "open(",
            "mkdir",
            "makedirs",
            "rename",
            "replace(",
            "write_",
            "symlink",
            "link(",
            "shutil.",
            "fsutil.",
            "storage",
        ),
        label=lambda name: f"path `{name}`",
        outcome="another process can create or replace the path between the check and the write",
        recognizers={"python": FileRecognizer},
        default_rule="RC701",
    )
)
