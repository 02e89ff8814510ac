"""The one directory walk every tool uses: which files below a directory are analysed, and why not the rest.

`SourceWalk(top, roots=...)` yields source files in a stable order (a directory's files, then its
subdirectories, sorted by name) and counts what it skipped, by reason. Rules, for every entry below
`top` (the directory the user named is never skipped itself):

1. A symlink whose resolved target leaves the boundary is not followed and never opened: neither
   its content nor whether its target exists is looked at. The boundary is the allowed roots when
   given (the MCP tools), else `top` itself (the CLI: a walk reads what is under the directory
   named; name a link's target to analyse it).
2. Version-control metadata and bytecode caches are pruned without a look: they hold no source.
3. `exclude`, then `default_exclude` glob patterns, matched against the relative path and the name.
4. Directories that are not the project's own source, judged by evidence rather than by name alone,
   because `build/`, `dist/` or `venv/` may be real packages: a virtualenv has `pyvenv.cfg` (or
   `conda-meta/`); a cache carries a CACHEDIR.TAG (https://bford.info/cachedir/); setuptools' build
   output is a `build/` holding `lib*`, `bdist.*`, `temp.*`, `scripts-*` or `*.egg-info`; a `dist/`
   holds only wheels and sdists; CMake's has `CMakeCache.txt`; a `dist/`, `build/` or `out/` of
   bundled JavaScript (`.js`, `.map`, no `.py`) is a bundler's; cargo's `target/` has a CACHEDIR.TAG
   or `.rustc_info.json`; `.next`, `.nuxt`, `.svelte-kit` and `.turbo` are skipped by name. A
   directory with `__init__.py` is a package and is walked whatever its name. Names that can only
   be a tool's (`.venv`, `.tox`, `node_modules`, `site-packages`, ...) are skipped by name.
5. A directory or file reached twice (symlink loops, two links to one place) is walked once.

Skipped files are counted by listing names only (never reading a file), within a budget of directory
entries so a huge `node_modules` cannot stall the walk; past it the counts are lower bounds (`partial`).
Directories that cannot be listed become `errors`: files in them could not be analysed.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .findings import FileError
from .roots import AllowedRoots

__all__ = ["PYTHON_SUFFIXES", "SKIP_REASONS", "SourceWalk", "describe_skipped", "skipped_total"]

PYTHON_SUFFIXES = (".py", ".pyi")

# Reason code -> how the text report says it: "skipped 1,204 files: 1,100 in virtualenvs, ...".
SKIP_REASONS: dict[str, str] = {
    "virtualenv": "in virtualenvs",
    "installed-packages": "in installed packages (site-packages)",
    "node-modules": "in node_modules",
    "build-output": "in build output",
    "cache": "in cache directories",
    "default-exclude": "as tests or migrations (default_exclude)",
    "exclude": "by exclude patterns",
    "outside-roots": "linked outside the allowed roots",
    "outside-directory": "linked outside the walked directory",
    "already-walked": "reached again through a symlink",
    "broken-symlink": "behind broken or looping symlinks",
    "minified": "as minified or bundled JavaScript",
}

# Never descended and never counted: they hold no source of the project.
_PRUNED = frozenset(
    {".git", ".hg", ".svn", ".bzr", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)
# Names no importable package can have (dots, hyphens) or that only tools create.
_BY_NAME = {
    ".venv": "virtualenv",
    ".tox": "virtualenv",
    ".nox": "virtualenv",
    "site-packages": "installed-packages",
    "dist-packages": "installed-packages",
    "__pypackages__": "installed-packages",
    ".eggs": "installed-packages",
    "node_modules": "node-modules",
    # JavaScript frameworks' build output and caches (Next.js, Nuxt, SvelteKit, Turborepo).
    ".next": "build-output",
    ".nuxt": "build-output",
    ".svelte-kit": "build-output",
    ".turbo": "build-output",
}
# A `dist/`, `build/` or `out/` of bundled JavaScript (no Python in it) is a bundler's output.
_BUNDLE_DIRS = frozenset({"dist", "build", "out"})
_BUNDLE_FILES = (".js", ".mjs", ".cjs", ".map", ".d.ts")
# Minified or bundled JavaScript outside a build directory (a theme's `static/assets/`): a bundler's
# output, not the project's source. Judged by name, then by a line no person writes (the first
# 8 KB only: a bundle puts thousands of characters on its first lines).
_MINIFIED_NAMES = re.compile(r"[.-](min|bundle)\.[cm]?js$|\.chunk\.[cm]?js$")
_JS_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx")
_MINIFIED_LINE = 1_000
_SETUPTOOLS_BUILD = re.compile(r"^(lib|lib\..+|bdist\..+|temp\..+|scripts-.+|.+\.egg-info)$")
_DISTRIBUTIONS = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".egg")
_CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"
DEFAULT_COUNT_BUDGET = 50_000  # directory entries listed to count skipped files (about a second)


def describe_skipped(counts: Mapping[str, int]) -> str:
    """`1,100 in virtualenvs, 80 in node_modules, 24 by exclude patterns`: most first."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{count:,} {SKIP_REASONS.get(reason, reason)}" for reason, count in ordered)


def skipped_total(counts: Mapping[str, int], partial: bool = False) -> str:
    """`1,204`, or `at least 200,000` when counting stopped at the budget."""
    return f"{'at least ' if partial else ''}{sum(counts.values()):,}"


@dataclass(frozen=True)
class _Dir:
    path: Path  # as the user spelled it, joined with names: the label files are reported under
    prefix: str  # relative to `top`, with a trailing slash ("" for top)
    real: str  # fully resolved (a string: joined for every entry, and Path joins cost ten times more)
    named: bool = False  # the directory the user named: never skipped itself


class SourceWalk:
    """Iterate once for the files; then `skipped` (reason -> count), `partial` and `errors` say the rest."""

    def __init__(
        self,
        top: Path,
        *,
        roots: AllowedRoots | None = None,
        exclude: Sequence[str] = (),
        default_exclude: Sequence[str] = (),
        suffixes: tuple[str, ...] = PYTHON_SUFFIXES,
        count_budget: int = DEFAULT_COUNT_BUDGET,
    ) -> None:
        self.top = top
        self._boundary = roots if roots is not None else AllowedRoots([top])
        self._patterns = [
            (reason, _compile_globs(globs))
            for reason, globs in (("exclude", exclude), ("default-exclude", default_exclude))
            if globs
        ]
        self._suffixes = suffixes
        self._budget = count_budget
        self._outside_reason = "outside-roots" if roots is not None else "outside-directory"
        self._visited: set[str] = set()
        self.skipped: Counter[str] = Counter()
        self.partial = False
        self.errors: list[FileError] = []

    # ------------------------------------------------------------------------------------- walking

    def __iter__(self) -> Iterator[Path]:
        top_real = self.top.resolve()
        if not self._inside(str(top_real)):
            self._skip(self._outside_reason, 1)
            return
        self._visited.add(str(top_real))
        stack = [_Dir(self.top, "", str(top_real), named=True)]
        while stack:
            here = stack.pop()
            entries = self._list(here)
            if entries is None:
                continue
            if not here.named:
                reason = _evidence(here, entries)
                if reason is not None:
                    self._skip(reason, self._count_listed(entries))
                    continue
            subdirs: list[_Dir] = []
            for entry in entries:
                yield from self._entry(here, entry, subdirs)
            stack.extend(reversed(subdirs))

    def _entry(self, here: _Dir, entry: os.DirEntry[str], subdirs: list[_Dir]) -> Iterator[Path]:
        name = entry.name
        is_source = name.endswith(self._suffixes)
        if entry.is_symlink():
            followed = self._follow(entry, is_source)
            if followed is None:
                return
            real, is_dir = followed
        else:
            is_dir = entry.is_dir(follow_symlinks=False)
            if not is_dir and not is_source:
                return
            real = os.path.join(here.real, name)
        if (not is_dir and not is_source) or (is_dir and name in _PRUNED):
            return
        rel = here.prefix + name
        reason = self._pattern_reason(rel, name) or (_BY_NAME.get(name) if is_dir else None)
        if reason is not None:
            self._skip(reason, self._count_tree(Path(entry.path)) if is_dir else 1)
            return
        if real in self._visited:
            self._skip("already-walked", 1)
            return
        self._visited.add(real)
        if not is_dir and name.endswith(_JS_SUFFIXES) and _minified(name, real):
            self._skip("minified", 1)
            return
        if is_dir:
            subdirs.append(_Dir(here.path / name, rel + "/", real))
        else:
            yield here.path / name

    def _follow(self, entry: os.DirEntry[str], is_source: bool) -> tuple[str, bool] | None:
        """(resolved target, is a directory) of a symlink that stays inside the boundary, else None.

        `realpath` without `strict` only reads the links themselves; the target is stat'ed only
        once it is known to be inside, so nothing outside is looked at, not even whether it exists.
        """
        target = os.path.realpath(entry.path)
        if not self._inside(target):
            self._skip(self._outside_reason, 1)  # whatever its name or target
            return None
        try:
            mode = os.stat(target).st_mode
        except OSError:  # missing, or a loop of links
            self._skip("broken-symlink", int(is_source))
            return None
        return target, stat.S_ISDIR(mode)

    def _inside(self, resolved: str) -> bool:
        path = Path(resolved)
        return any(path == root or path.is_relative_to(root) for root in self._boundary.paths)

    def _skip(self, reason: str, count: int) -> None:
        if count:
            self.skipped[reason] += count

    def _pattern_reason(self, rel: str, name: str) -> str | None:
        for reason, globs in self._patterns:
            if globs.match(rel) or globs.match(name):
                return reason
        return None

    def _list(self, here: _Dir) -> list[os.DirEntry[str]] | None:
        try:
            with os.scandir(here.path) as listing:
                return sorted(listing, key=lambda entry: entry.name)
        except PermissionError:
            message, code = "permission denied", "permission-denied"
        except OSError as exc:
            message, code = exc.strerror or str(exc), "read-failed"
        label = str(here.path)
        self.errors.append(
            FileError(path=label, message=f"{label}: cannot list directory: {message}", code=code)
        )
        return None

    # ------------------------------------------------------------------------------------ counting

    def _count_listed(self, entries: list[os.DirEntry[str]]) -> int:
        """Source files below a skipped directory whose entries are already listed."""
        count = 0
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                count += self._count_tree(Path(entry.path))
            elif entry.name.endswith(self._suffixes):
                count += 1
        return count

    def _count_tree(self, directory: Path) -> int:
        """Source files below `directory` by name, without following links, within the budget."""
        count = 0
        pending = [directory]
        while pending:
            try:
                with os.scandir(pending.pop()) as listing:
                    for entry in listing:
                        if self._budget <= 0:
                            self.partial = True
                            return count
                        self._budget -= 1
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(Path(entry.path))
                        elif entry.name.endswith(self._suffixes):
                            count += 1
            except OSError:
                continue  # a skipped directory we cannot list: nothing would have been read there anyway
        return count


def _compile_globs(globs: Sequence[str]) -> re.Pattern[str]:
    """One regex for a list of globs, with `fnmatch`'s meaning (`*` also crosses `/`)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs))


def _evidence(here: _Dir, entries: list[os.DirEntry[str]]) -> str | None:
    """Why a directory is not the project's own source, from what it holds; None when it may be."""
    names = {entry.name for entry in entries}
    if "pyvenv.cfg" in names or "conda-meta" in names:
        return "virtualenv"
    if "CACHEDIR.TAG" in names and _is_cachedir_tag(here.path / "CACHEDIR.TAG"):
        return "cache"
    if "__init__.py" in names:
        return None  # a package, whatever its name
    name = here.path.name
    if name == "build" and any(_SETUPTOOLS_BUILD.match(child) for child in names):
        return "build-output"
    if name == "dist" and names and all(child.endswith(_DISTRIBUTIONS) for child in names):
        return "build-output"
    if "CMakeCache.txt" in names:
        return "build-output"
    bundled = name in _BUNDLE_DIRS and any(child.endswith(_BUNDLE_FILES) for child in names)
    if bundled and not any(child.endswith(".py") for child in names):
        return "build-output"
    if name == "target" and ".rustc_info.json" in names:  # cargo's, when it wrote no CACHEDIR.TAG
        return "build-output"
    return None


def _is_cachedir_tag(path: Path) -> bool:
    """A regular file (not a link: nothing outside the tree is opened) starting with the signature."""
    head = _read_head(str(path), len(_CACHEDIR_SIGNATURE), follow=False)
    return head == _CACHEDIR_SIGNATURE


def _read_head(path: str, size: int, *, follow: bool = True) -> bytes | None:
    """The first `size` bytes of a regular file, else None. Opened without blocking and checked on
    the descriptor: a FIFO named like source would block a plain open for ever."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    try:
        descriptor = os.open(path, flags)
    except OSError:
        return None
    try:
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            return handle.read(size)
    except OSError:
        return None


def _minified(name: str, path: str) -> bool:
    if _MINIFIED_NAMES.search(name):
        return True
    head = _read_head(path, 8192)
    if head is None:
        return False  # the analysis reports what cannot be read
    # A piece cut at 8 KB is a lower bound of its line's length, so it counts too.
    return any(len(line) >= _MINIFIED_LINE for line in head.split(b"\n"))
