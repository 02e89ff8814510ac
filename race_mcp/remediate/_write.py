"""Writing a patched file: only inside the allowed roots, only if unchanged since read, atomically."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from ..errors import InputError, PatchError
from ..roots import AllowedRoots

__all__ = ["source_sha256", "write_patched"]

_BOM = b"\xef\xbb\xbf"


def source_sha256(source: str) -> str:
    """The hash that identifies the text a report was computed from."""
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def _current_text(target: Path, label: str) -> tuple[str, bytes]:
    """The file's text as the analyzer decoded it, and the raw bytes (to keep a BOM)."""
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise PatchError(f"{label}: cannot read: {exc.strerror or exc}", code="read-failed") from None
    try:
        return data.decode("utf-8-sig"), data
    except UnicodeDecodeError:
        raise InputError(f"{label}: not UTF-8 text", code="not-utf8") from None


def write_patched(path: Path | str, new_text: str, *, base_sha256: str, roots: AllowedRoots) -> Path:
    """Replace the file with `new_text` if it still hashes to `base_sha256`; returns the resolved path.

    The containment check follows symlinks, so a link leading out of the roots is refused. The new
    content goes to a temporary file in the same directory, is fsynced, then `os.replace`d over the
    original, so readers see either the old file or the new one, never a half-written one.
    """
    target = roots.check(path)
    label = str(path)
    if not target.is_file():
        raise PatchError(f"{label}: not a regular file", code="not-regular-file")
    _refuse_read_only(target, label)
    current, data = _current_text(target, label)
    if source_sha256(current) != base_sha256:
        raise PatchError(
            f"{label}: changed since the patch was computed; run `race-mcp patch` again", code="file-changed"
        )
    payload = (_BOM if data.startswith(_BOM) else b"") + new_text.encode("utf-8", "surrogatepass")
    _replace_atomically(target, payload)
    return target


def _refuse_read_only(target: Path, label: str) -> None:
    """A file marked read-only stays as it is: the rename would replace it even so (and root may
    write anything), so the mode bits are asked, not only the OS."""
    if not target.stat().st_mode & stat.S_IWUSR or not os.access(target, os.W_OK):
        raise PatchError(f"{label}: read-only; make it writable to apply patches", code="read-only")


def _replace_atomically(target: Path, payload: bytes) -> None:
    mode = target.stat().st_mode & 0o7777
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".race-mcp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise PatchError(f"{target}: cannot write: {exc.strerror or exc}", code="write-failed") from None
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
