"""Lazy, cycle-safe `$ref` resolution over one or many spec documents, offline by default.

Nothing is dereferenced up front: a `Node` is a value plus the document and pointer it sits at,
and `Resolver.deref` follows a `$ref` chain only when a check looks at that node. Local file
references must stay inside the allowed roots (the spec's directory plus configured roots);
remote ones are fetched only from allowlisted hosts. A reference that cannot be followed is
recorded once as a report error (file and pointer) and reads as missing; it never aborts the check.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

from .._textfile import read_text
from ..errors import InputError, PolicyError, RaceMcpError
from ..findings import FileError
from ..roots import AllowedRoots
from ._budget import Budget, BudgetExceeded
from ._fetch import fetch_remote
from ._load import Pointer, SpecFile, decode_spec, format_pointer, parse_spec_text

__all__ = ["Fetch", "Node", "Resolver"]

Fetch = Callable[[str, int, float], bytes]  # (url, max bytes, monotonic deadline) -> body

_MAX_FILES = 1000
_MAX_HOPS = 64
_REMOTE_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class Node:
    """A value in a spec document, with the document and the JSON pointer where it sits."""

    value: Any
    file: SpecFile
    pointer: Pointer

    def raw(self, key: str) -> Node | None:
        """The child under `key` as written (a `$ref` stays a `$ref`)."""
        if isinstance(self.value, dict) and key in self.value:
            return Node(self.value[key], self.file, (*self.pointer, key))
        return None

    @property
    def ref(self) -> str | None:
        ref = self.value.get("$ref") if isinstance(self.value, dict) else None
        return ref if isinstance(ref, str) else None

    @property
    def line(self) -> int:
        return self.file.line_of(self.pointer)

    @property
    def where(self) -> str:
        return f"{self.file.label}#{format_pointer(self.pointer)}"


class Resolver:
    """Loads documents on demand and follows `$ref`s; collects unresolvable ones as errors."""

    def __init__(
        self,
        *,
        roots: AllowedRoots,
        remote_hosts: Sequence[str] = (),
        max_bytes: int,
        budget: Budget | None = None,
        fetch: Fetch = fetch_remote,
    ) -> None:
        self._roots = roots
        self._remote_hosts = {host.strip().lower() for host in remote_hosts if host.strip()}
        self._max_bytes = max_bytes
        self.budget = budget or Budget(max_bytes=max_bytes)
        self._fetch = fetch
        self._files: dict[str, SpecFile] = {}
        self._failed: dict[str, RaceMcpError] = {}  # documents that could not be had: tried once
        self._targets: dict[tuple[str, str], Node] = {}
        self._errors: dict[tuple[str, str], FileError] = {}
        # Results derived from one document object (keyed by its id and a depth), e.g. a body
        # schema's fields; safe because every document stays loaded, so ids are not reused.
        self.memo: dict[tuple[int, int], frozenset[str]] = {}
        self._root_label_dir = Path(".")
        self._root_dir = Path(".")

    @property
    def files(self) -> list[SpecFile]:
        return list(self._files.values())

    @property
    def errors(self) -> list[FileError]:
        return list(self._errors.values())

    def load_root(self, path: Path, label: str) -> SpecFile:
        """Load the spec named by the user; every failure raises (`InputError`)."""
        resolved = path.resolve()
        self._root_dir, self._root_label_dir = resolved.parent, Path(label).parent
        return self._load_file(resolved, label)

    def root_node(self, spec: SpecFile) -> Node:
        return Node(spec.root, spec, ())

    # -- navigation ------------------------------------------------------------------------------

    def deref(self, node: Node | None) -> Node | None:
        """Follow `node`'s `$ref` chain to a value; None (and an error recorded) if it cannot be."""
        start, seen = node, list[Node]()
        while node is not None and node.ref is not None:
            ref = node.ref
            if len(seen) >= _MAX_HOPS or any(_same_place(node, other) for other in seen):
                assert start is not None and start.ref is not None
                chain = " -> ".join(other.where for other in [*seen, node])
                self._record(start, start.ref, "circular $ref: " + chain, "ref-circular")
                return None
            seen.append(node)
            node = self._follow(node, ref)
        return node

    def get(self, node: Node | None, key: str) -> Node | None:
        """The child under `key`, with its `$ref` followed."""
        return self.deref(node.raw(key)) if node is not None else None

    def items(self, node: Node | None) -> Iterator[tuple[str, Node]]:
        """Each (key, child) of a mapping node, children dereferenced; unresolvable ones skipped."""
        if node is None or not isinstance(node.value, dict):
            return
        for key in node.value:
            child = self.deref(node.raw(key))
            if child is not None:
                yield key, child

    def elements(self, node: Node | None) -> Iterator[tuple[Node, Node | None]]:
        """Each element of a list node as (raw, dereferenced-or-None)."""
        if node is None or not isinstance(node.value, list):
            return
        for index, value in enumerate(node.value):
            raw = Node(value, node.file, (*node.pointer, str(index)))
            yield raw, self.deref(raw)

    def _follow(self, node: Node, ref: str) -> Node | None:
        key = (node.file.uri, ref)
        target = self._targets.get(key)
        if target is None:
            try:
                target = self._target(ref, node.file)
            except BudgetExceeded:
                raise  # the check as a whole is over, not this reference
            except RaceMcpError as exc:
                self._record(node, ref, str(exc), exc.code)
                return None
            self._targets[key] = target
        return target

    def _record(self, node: Node, ref: str, reason: str, code: str = "ref-unresolved") -> None:
        message = f"{node.where}: $ref {ref!r} not resolved: {reason}"
        error = FileError(path=node.file.label, message=message, code=code)
        self._errors.setdefault((node.where, ref), error)

    # -- targets ---------------------------------------------------------------------------------

    def _target(self, ref: str, base: SpecFile) -> Node:
        location, _, fragment = ref.partition("#")
        document = self._document(location, base) if location else base
        pointer = _parse_fragment(fragment)
        value: Any = document.root
        for depth, token in enumerate(pointer):
            if isinstance(value, dict) and token in value:
                value = value[token]
            elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
                value = value[int(token)]
            else:
                missing = format_pointer(pointer[: depth + 1])
                raise InputError(f"{document.label} has nothing at {missing}", code="ref-target-missing")
        return Node(value, document, pointer)

    def _document(self, location: str, base: SpecFile) -> SpecFile:
        scheme = urlsplit(location).scheme.lower()
        base_is_remote = urlsplit(base.uri).scheme in _REMOTE_SCHEMES
        if scheme in _REMOTE_SCHEMES or (base_is_remote and not scheme):
            return self._remote(urljoin(base.uri, location) if base_is_remote else location)
        if scheme == "file":
            path = Path(url2pathname(urlsplit(location).path))
        elif scheme and len(scheme) > 1:
            raise InputError(
                f"unsupported $ref scheme {scheme!r}; use a relative file path", code="ref-unsupported-scheme"
            )
        else:
            path = base.base_dir / unquote(location)
        return self._local(path.resolve())

    def _local(self, path: Path) -> SpecFile:
        cached = self._files.get(str(path))
        if cached is not None:
            return cached
        if not self._roots.contains(path):
            allowed = ", ".join(str(root) for root in self._roots.paths)
            raise PolicyError(
                f"{path} is outside the spec's directory and the allowed roots ({allowed})",
                code="ref-outside-roots",
            )
        return self._once(str(path), lambda: self._load_file(path, self._label_for(path)))

    def _remote(self, url: str) -> SpecFile:
        cached = self._files.get(url)
        if cached is not None:
            return cached
        parts = urlsplit(url)
        host, netloc = (parts.hostname or "").lower(), parts.netloc.lower()
        if host not in self._remote_hosts and netloc not in self._remote_hosts:
            raise PolicyError(
                f"remote reference {url} not fetched (offline by default); to allow it add "
                f'"{netloc}" to remote_hosts in [tool.race-mcp.openapi]',
                code="remote-not-allowed",
            )
        return self._once(url, lambda: self._fetch_document(url, prefer_json=parts.path.endswith(".json")))

    def _fetch_document(self, url: str, *, prefer_json: bool) -> SpecFile:
        self._check_file_count()
        budget = self.budget
        started = time.monotonic()
        deadline = budget.remote_deadline()
        if deadline <= started:
            raise InputError(
                f"{url}: not fetched: the {budget.remote_seconds:g} s allowed for remote $refs "
                "in one check are spent",
                code="remote-timeout",
            )
        # Over the bytes left in the check's budget: read one more, and let take_bytes refuse it.
        cap = min(self._max_bytes, budget.bytes_left + 1)
        try:
            data = self._fetch(url, cap, deadline)
        finally:
            budget.remote_spent += time.monotonic() - started
        budget.take_bytes(len(data), url)
        text = decode_spec(data, url, max_bytes=self._max_bytes)
        return self._store(url, url, text, prefer_json=prefer_json)

    def _once(self, key: str, load: Callable[[], SpecFile]) -> SpecFile:
        """Load a document at most once: a failure is remembered, not retried per `$ref`."""
        failed = self._failed.get(key)
        if failed is not None:
            raise failed
        try:
            return load()
        except BudgetExceeded:
            raise
        except RaceMcpError as exc:
            self._failed[key] = exc
            raise

    def _load_file(self, path: Path, label: str) -> SpecFile:
        self._check_file_count()
        self.budget.check_time(label)
        size = _size_or_zero(path)
        if size <= self._max_bytes:  # an oversized file gets read_text's own error, per file
            self.budget.take_bytes(size, label)
        text = read_text(path, label, max_bytes=self._max_bytes, expected="an OpenAPI document")
        return self._store(str(path), label, text, prefer_json=path.suffix.lower() == ".json")

    def _store(self, uri: str, label: str, text: str, *, prefer_json: bool) -> SpecFile:
        root, is_json = parse_spec_text(text, label, prefer_json=prefer_json, budget=self.budget)
        spec = SpecFile(uri=uri, label=label, root=root, text=text, is_json=is_json)
        self._files[uri] = spec
        return spec

    def _check_file_count(self) -> None:
        if len(self._files) >= _MAX_FILES:
            raise BudgetExceeded(f"the spec references more than {_MAX_FILES} files", code="spec-too-large")

    def _label_for(self, path: Path) -> str:
        """Referenced files are shown relative to the root spec, as the user named it."""
        relative = os.path.relpath(path, self._root_dir)
        return Path(os.path.normpath(self._root_label_dir / relative)).as_posix()


def _parse_fragment(fragment: str) -> Pointer:
    fragment = unquote(fragment)
    if not fragment:
        return ()
    if not fragment.startswith("/"):
        raise InputError(
            f"#{fragment} is not a JSON pointer (it must start with '/')", code="ref-bad-pointer"
        )
    return tuple(token.replace("~1", "/").replace("~0", "~") for token in fragment[1:].split("/"))


def _size_or_zero(path: Path) -> int:
    """The file's size, or 0 when it cannot be had: reading it then reports why, per file."""
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


def _same_place(one: Node, other: Node) -> bool:
    return one.file is other.file and one.pointer == other.pointer
