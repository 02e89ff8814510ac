"""File fixers for Rust (RC701: a path checked, then created or replaced by a separate call).

The create itself becomes the check, with the standard library's exclusive create:
- `File::create(p)` → `OpenOptions::new().write(true).create_new(true).open(p)` (std or tokio);
- `OpenOptions .. .create(true)` → `.create_new(true)` (which ignores `truncate`);
- `fs::write(p, data)` → an exclusive open, then `write_all` (std: one expression of type
  `io::Result<()>`; tokio: an `async` block awaited in place);
- `fs::create_dir(p)` after "is it a directory?" → `AlreadyExists` counts as done.
A lost race then surfaces as `io::ErrorKind::AlreadyExists` where the replace used to happen.
`rename`/`copy` onto a checked destination have no portable no-clobber form: guidance. So has a
file read, changed and written back (a lost update, no check at all): an exclusive create would
refuse the file that exists, so the guidance holds a lock on the file across the read and the write.
"""

from __future__ import annotations

import re

from ...analyzer.rust._syntax import Node
from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._source import Edit, RustSource, apply_edits, descendants

__all__ = ["fix_check_then_create"]

_DIRECTORY = "a directory another request created is taken as done"

_GUIDANCE = """Let the create be the check: open with `create_new(true)` and answer `AlreadyExists`:

    match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut file) => file.write_all(body.as_bytes())?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(AppError::Exists),
        Err(e) => return Err(e.into()),
    }

To publish a finished file without replacing another: `std::fs::hard_link(&tmp, &dest)` (fails if
`dest` exists), then remove `tmp`. Directories: `create_dir_all`, or treat `AlreadyExists` as done."""

_LOST_UPDATE_GUIDANCE = """The file is read, changed and written back: two requests read the same content
and the later write drops the other's change. Hold an exclusive lock on the file from the read to
the write (`File::lock`, Rust 1.89+; the `fs4` crate before), or keep the value in a store that
updates it atomically (a database row, Redis `INCRBY`):

    let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).open(&path)?;
    file.lock()?; // every process waits here, released when `file` drops
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text)?;
    let next = text.trim().parse::<u64>().unwrap_or(0) + 1;
    file.set_len(0)?;
    std::io::Seek::rewind(&mut file)?;
    std::io::Write::write_all(&mut file, next.to_string().as_bytes())?;

A lock in the process (`tokio::sync::Mutex`) is enough only when one process serves every request."""


def _call_name(source: RustSource, call: Node) -> str:
    function = call.child_by_field_name("function")
    return re.sub(r"\s+", "", source.code(function)) if function is not None else ""


def _fs_prefix(name: str) -> str | None:
    """`tokio::fs::` for tokio's, `std::fs::` for std's (a bare `fs::`/`File::` is std's unless
    the file imports tokio's)."""
    if name.startswith("tokio::fs::"):
        return "tokio::fs::"
    if name.startswith(("std::fs::", "fs::", "File::")):
        return "std::fs::"
    return None


def _rewrite(source: RustSource, call: Node, tokio_file: bool) -> tuple[Edit, str] | None:
    """The exclusive form of one create call, and what it became."""
    name = _call_name(source, call)
    arguments = call.child_by_field_name("arguments")
    values = [source.code(a) for a in arguments.named_children] if arguments is not None else []
    function = call.child_by_field_name("function")
    if name.endswith(".create") or (function is not None and function.type == "field_expression"):
        return _open_options(source, call)
    prefix = _fs_prefix(name)
    if prefix is None:
        return None
    if prefix == "std::fs::" and tokio_file and not name.startswith("std::"):
        prefix = "tokio::fs::"
    last = name.rsplit("::", 1)[-1]
    opened = f"{prefix}OpenOptions::new().write(true).create_new(true)"
    if last == "create" and name.endswith("File::create") and len(values) == 1:
        return Edit(call.start_byte, call.end_byte, f"{opened}.open({values[0]})"), "an exclusive open"
    if last == "write" and len(values) == 2:
        path, data = values
        if prefix == "tokio::fs::" and _propagates(call):
            # The statement's own `.await?` now awaits the write_all; the open's `?` converts
            # the error as the statement's did.
            text = (
                f"tokio::io::AsyncWriteExt::write_all(&mut {opened}.open({path}).await?, "
                f"AsRef::<[u8]>::as_ref(&{data}))"
            )
        elif prefix == "tokio::fs::":
            text = (
                f"async {{ let mut file = {opened}.open({path}).await?; "
                f"tokio::io::AsyncWriteExt::write_all(&mut file, AsRef::<[u8]>::as_ref(&{data})).await?; "
                "Ok::<(), std::io::Error>(()) }"
            )
        else:
            text = (
                f"{opened}.open({path}).and_then(|mut file| "
                f"std::io::Write::write_all(&mut file, AsRef::<[u8]>::as_ref(&{data})))"
            )
        return Edit(call.start_byte, call.end_byte, text), "an exclusive open and write_all"
    if last == "create_dir" and len(values) == 1 and prefix == "std::fs::":
        # Parenthesised: a statement starting with `match` would end at its `}` before a `?`.
        text = (
            f"(match std::fs::create_dir({values[0]}) {{ "
            "Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()), other => other })"
        )
        return Edit(call.start_byte, call.end_byte, text), _DIRECTORY
    return None


def _open_options(source: RustSource, call: Node) -> tuple[Edit, str] | None:
    """`OpenOptions::new()...create(true)...open(p)`: `create(true)` becomes `create_new(true)`."""
    creates = [c for c in source.calls_named(call, "create") if "(true)" in source.code(c)]
    if not creates or ("OpenOptions" not in source.code(call) and "File::options" not in source.code(call)):
        return None
    field = creates[-1].child_by_field_name("function").child_by_field_name("field")
    return Edit(field.start_byte, field.end_byte, "create_new"), "create_new(true)"


@register_text("rust", "RC701")
def fix_check_then_create(text: str, finding: Finding) -> Fixed | Guidance:
    source = RustSource(text)
    function = source.function(finding)
    write_line = next((e.line for e in finding.evidence if e.role == "write"), None)
    if not any(e.role == "check" for e in finding.evidence):
        return Guidance(_LOST_UPDATE_GUIDANCE)  # read, then written back: no create to make exclusive
    if function is None or write_line is None:
        return Guidance(_GUIDANCE)
    write = source.statement_at(function, write_line)
    if write is None:
        return Guidance(_GUIDANCE)
    tokio_file = bool(re.search(r"use\s+tokio::fs", text))
    for call in _outermost_calls(write):
        rewritten = _rewrite(source, call, tokio_file)
        if rewritten is not None:
            edit, what = rewritten
            if edit.text.startswith("async {"):
                edit = Edit(edit.start, _after_await(source, call), edit.text + ".await")
            if what == _DIRECTORY:
                return Fixed(
                    apply_edits(text, [edit]),
                    "Made the directory create tolerate a concurrent create (AlreadyExists is success): "
                    "the check before it is only a fast path.",
                )
            return Fixed(
                apply_edits(text, [edit]),
                f"Made the create its own check ({what}): a second request fails with AlreadyExists "
                "instead of replacing what the first created.",
                note="A lost race now returns io::ErrorKind::AlreadyExists where the check answers "
                "otherwise; map it to the check's answer if the caller needs that.",
            )
    return Guidance(_GUIDANCE)


def _propagates(call: Node) -> bool:
    """`call.await?`: the awaited result's error goes up with `?`."""
    parent = call.parent
    return (
        parent is not None
        and parent.type == "await_expression"
        and parent.parent is not None
        and parent.parent.type == "try_expression"
    )


def _outermost_calls(statement: Node) -> list[Node]:
    """Call expressions of the statement, outer chains first (an `.open(..)` before its receiver)."""
    return [n for n in descendants(statement) if n.type == "call_expression"]


def _after_await(source: RustSource, call: Node) -> int:
    """The end of `call.await`, so an awaited call replaced by an `async` block keeps one `.await`."""
    parent = call.parent
    end: int = parent.end_byte if parent is not None and parent.type == "await_expression" else call.end_byte
    return end
