"""`ProjectIndex`: the facts of every file of a project, and the questions asked of them."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ...roots import AllowedRoots
from ..python.randomness import is_random_name
from ._cache import FactsCache, facts_key
from ._discover import LANGUAGE_SUFFIXES, find_project_root, module_names, project_files
from ._draws import DIRECT_DRAW
from ._extract import extract_python, extract_sql
from ._facts import ClassFacts, FileFacts, FunctionFacts
from ._languages import LANGUAGE_KINDS as _LANGUAGE_KINDS
from ._languages import SUFFIX_KINDS as _SUFFIX_KINDS
from ._languages import CrossFile, extract_language
from ._unique import Uniqueness
from ._writers import ModelWriters

__all__ = ["BuildStats", "CallSite", "ProjectIndex"]

_MAX_FILE_BYTES = 2_000_000
_PARALLEL_MISSES = 64  # below this many files to extract, worker processes cost more than they save
_MAX_CALLER_DEPTH = 8
_MAX_DRAW_DEPTH = 4
Entry = tuple[str, FileFacts, tuple[str, ...]]  # (path, facts, importable names)
_MEMO_PROJECTS = 4  # indexes a process keeps for reuse (by project root, the latest first out last)
_MEMO: dict[str, tuple[tuple[tuple[str, int, int], ...], ProjectIndex]] = {}


@dataclass(frozen=True)
class CallSite:
    """A call of an indexed function: who calls, where, and what the caller holds around the call."""

    caller: str
    path: str
    line: int
    transaction: bool
    lock: bool


@dataclass
class BuildStats:
    files: int = 0
    extracted: int = 0
    cached: int = 0
    seconds: float = 0.0
    extracted_paths: list[str] = field(default_factory=list)


class ProjectIndex(Uniqueness):
    """Facts of a whole project. Build with `ProjectIndex.build(root, files)` or `for_path(path)`.

    Qualified names are the project's import paths: `shop.orders.models.Order`,
    `shop.orders.services.OrderService.pay`.
    """

    def __init__(
        self, root: Path, entries: Sequence[tuple[str, FileFacts, tuple[str, ...]]], stats: BuildStats
    ):
        super().__init__(entries)
        self.root = root
        self.stats = stats
        self._callers: dict[str, list[CallSite]] | None = None
        # JavaScript/TypeScript and Rust files: their cross-file facts (`_languages.py`, on demand).
        self.language_files = {path: facts for path, facts, _ in entries if facts.kind in _LANGUAGE_KINDS}
        self._cross_file: CrossFile | None = None
        self._model_writers: ModelWriters | None = None
        self._draws: dict[str, bool] = {}
        self._methods_by_name: dict[str, list[str]] | None = None

    @property
    def cross_file(self) -> CrossFile:
        """Routes, mounts and injected services across the JavaScript and Rust files."""
        if self._cross_file is None:
            self._cross_file = CrossFile(self.language_files, self.tables)
        return self._cross_file

    # -- building -------------------------------------------------------------------------------

    @classmethod
    def for_path(
        cls,
        path: Path,
        *,
        boundary: AllowedRoots | None = None,
        exclude: Sequence[str] = (),
        default_exclude: Sequence[str] = (),
        cache: FactsCache | bool | None = True,
        jobs: int = 1,
        memo: bool = True,
        languages: Sequence[str] = ("python",),
    ) -> ProjectIndex:
        """The index of the project enclosing `path` (see `find_project_root`), over the files of
        `languages` (the run's: a Python run does not read the project's JavaScript)."""
        root = find_project_root(path, boundary)
        suffixes = tuple(s for language in languages for s in LANGUAGE_SUFFIXES.get(language, ()))
        files = project_files(root, boundary=boundary or AllowedRoots([root]), exclude=exclude,
                              default_exclude=default_exclude, suffixes=suffixes)  # fmt: skip
        return cls.build(root, files, cache=cache, jobs=jobs, memo=memo)

    @classmethod
    def build(
        cls,
        root: Path,
        files: Iterable[Path],
        *,
        cache: FactsCache | bool | None = True,
        jobs: int = 1,
        memo: bool = True,
    ) -> ProjectIndex:
        """Facts of `files` (Python and SQL) of the project at `root`: from the cache when the
        content is unchanged, else extracted (in `jobs` processes when many) and cached.
        `cache=True` uses the default location (`FactsCache.default`), `False`/`None` none.
        With `memo`, a process that built this project before with every file's size and
        modification time unchanged gets that index back without reading a file (a server or an
        editor integration analysing one file after another)."""
        started = time.perf_counter()
        files = list(files)
        signature = _signature(files) if memo else None
        remembered = _MEMO.get(str(root)) if signature is not None else None
        if remembered is not None and remembered[0] == signature:
            index = remembered[1]
            index.stats = BuildStats(
                files=len(files), cached=len(files), seconds=time.perf_counter() - started
            )
            return index
        index = cls._build(root, files, cache, jobs, started)
        if signature is not None:
            _MEMO.pop(str(root), None)
            _MEMO[str(root)] = (signature, index)
            while len(_MEMO) > _MEMO_PROJECTS:
                _MEMO.pop(next(iter(_MEMO)))
        return index

    @classmethod
    def _build(
        cls, root: Path, files: list[Path], cache: FactsCache | bool | None, jobs: int, started: float
    ) -> ProjectIndex:
        store = FactsCache.default(root) if cache is True else (cache or None)
        names = module_names(root, files)
        jobs_todo: list[tuple[str, str, str, bool, bytes]] = []
        entries: list[tuple[str, FileFacts, tuple[str, ...]]] = []
        stats = BuildStats(files=len(files))
        plan = []
        for file in files:
            data = _read(file)
            if data is None:
                continue
            kind = _kind(file)
            aliases = names.get(file, ())
            module = aliases[0] if aliases else _pseudo_module(root, file)
            is_package = file.name == "__init__.py"
            key = facts_key(data, module, kind, is_package)
            plan.append((key, str(file), aliases))
            jobs_todo.append((key, kind, module, is_package, data))
        hits = store.get_many(key for key, *_ in jobs_todo) if store is not None else {}
        missing = [job for job in jobs_todo if job[0] not in hits]
        extracted = dict(_extract_all(missing, jobs))
        if store is not None and extracted:
            store.put_many(extracted)
        paths = {key: path for key, path, _ in plan}
        for key, path, aliases in plan:
            entries.append((path, hits.get(key) or extracted[key], aliases))
        stats.cached = len(plan) - len(extracted)
        stats.extracted = len(extracted)
        stats.extracted_paths = sorted(paths[key] for key in extracted)
        if store is not None:
            store.close()
        index = cls(root, entries, stats)
        stats.seconds = time.perf_counter() - started
        return index

    # -- the call graph -------------------------------------------------------------------------

    def callers(self, qualname: str) -> list[CallSite]:
        """Every resolved call of `qualname` in the project, with what each site holds."""
        if self._callers is None:
            self._callers = self._call_graph()
        return self._callers.get(qualname, [])

    def call_graph(self) -> dict[str, list[CallSite]]:
        """`callee -> its call sites`, for every indexed function called somewhere."""
        if self._callers is None:
            self._callers = self._call_graph()
        return self._callers

    def model_writers(self) -> ModelWriters:
        """Who writes each model: request-side code or only one-process jobs (`_writers.py`)."""
        if self._model_writers is None:
            self._model_writers = ModelWriters(self)
        return self._model_writers

    def referenced(self, qualname: str) -> bool:
        """The function's name is used somewhere as a value (handed to a framework, a callback):
        it may then be called from places the call graph does not see."""
        return qualname.rpartition(".")[2] in self.value_names

    def all_callers_hold_transaction(self, qualname: str) -> bool:
        """Every path into `qualname` the project shows holds a transaction: it has callers, it is
        never used as a value, and each call site holds one or is in a function for which this is
        true in turn (bounded depth; a cycle counts as not holding)."""
        return self._all_callers(qualname, "transaction", set(), 0)

    def all_callers_hold_lock(self, qualname: str) -> bool:
        return self._all_callers(qualname, "lock", set(), 0)

    def _all_callers(self, qualname: str, what: str, seen: set[str], depth: int) -> bool:
        if depth > _MAX_CALLER_DEPTH or qualname in seen or self.referenced(qualname):
            return False
        sites = self.callers(qualname)
        if not sites:
            return False
        seen = seen | {qualname}
        return all(
            getattr(site, what) or self._all_callers(site.caller, what, seen, depth + 1) for site in sites
        )

    def _call_graph(self) -> dict[str, list[CallSite]]:
        graph: dict[str, list[CallSite]] = {}
        for qualname, (path, facts) in self.functions.items():
            # Names in decorators and `with` items resolve in the caller's own module (its imports).
            module = self.module_of_function(qualname)
            decorated_tx = any(self.is_transaction_context(d, module) for d in facts.decorators)
            decorated_lock = any(self.is_lock_context(d, module) for d in facts.decorators)
            for callee_text, line, held in facts.calls:
                callee = self.resolve_call(module, facts, callee_text)
                if callee is None or callee not in self.functions:
                    continue
                contexts = [facts.contexts[i] for i in held if i < len(facts.contexts)]
                in_transaction = any(self.is_transaction_context(c, module) for c in contexts)
                graph.setdefault(callee, []).append(
                    CallSite(
                        caller=qualname,
                        path=path,
                        line=line,
                        transaction=decorated_tx or in_transaction,
                        lock=decorated_lock or any(self.is_lock_context(c, module) for c in contexts),
                    )
                )
        return graph

    # -- where things are ------------------------------------------------------------------------

    def function_location(self, qualname: str) -> tuple[str, int] | None:
        found = self.functions.get(qualname)
        return (found[0], found[1].line) if found else None

    def class_location(self, qualname: str) -> tuple[str, int] | None:
        found = self.classes.get(qualname)
        return (found[0], found[1].line) if found else None

    def function(self, qualname: str) -> FunctionFacts | None:
        found = self.functions.get(qualname)
        return found[1] if found else None

    def class_facts(self, qualname: str) -> ClassFacts | None:
        found = self.classes.get(qualname)
        return found[1] if found else None

    def returns_draw(self, qualname: str, depth: int = 0) -> bool:
        """Every return of the project function `qualname` is a value drawn at random
        (`_draws.py`), the project helpers it builds them from included (a few levels down)."""
        known = self._draws.get(qualname)
        if known is not None:
            return known
        found = self.functions.get(qualname)
        self._draws[qualname] = False  # a cycle draws nothing
        result = found is not None and bool(found[1].draws) and depth < _MAX_DRAW_DEPTH
        if result and found is not None:
            # The sources are qualified at extraction: `canonical` follows re-exports.
            helpers = [self.canonical(source) for source in found[1].draws if source != DIRECT_DRAW]
            result = all(self.returns_draw(helper, depth + 1) for helper in helpers)
        self._draws[qualname] = result
        return result

    def method_draws(self, name: str) -> bool:
        """A call `x.name()` on a value of unknown class draws at random: the project has methods
        of that name and every one returns a draw (`user.random_suffix()`, a model method that
        picks words or letters by the user's preference, run on a row passed in)."""
        if self._methods_by_name is None:
            self._methods_by_name = {}
            for qualname, (_, facts) in self.functions.items():
                if facts.owner:
                    self._methods_by_name.setdefault(qualname.rpartition(".")[2], []).append(qualname)
        found = self._methods_by_name.get(name, [])
        return bool(found) and all(self.returns_draw(qualname) for qualname in found)

    def drawn_defaults(self, qualname: str) -> frozenset[str]:
        """Unique fields of the model `qualname` (its ancestors' too) whose `default=` draws a value
        at random for each new row (`UUIDField(default=uuid.uuid4, unique=True)`, a project helper
        returning a draw): a row inserted without them holds values no other request holds."""
        name = self.canonical(qualname)
        drawn: set[str] = set()
        seen: set[str] = set()  # a subclass's declaration of a field replaces its base's
        for klass in (name, *self.class_bases(name)):
            found = self.classes.get(klass)
            for field_name, declared in found[1].fields.items() if found else ():
                default = declared.default
                if field_name in seen:
                    continue
                seen.add(field_name)
                if default and (is_random_name(default) or self.returns_draw(self.canonical(default))):
                    drawn.add(field_name)
        return frozenset(drawn)


def _signature(files: list[Path]) -> tuple[tuple[str, int, int], ...] | None:
    """Each file's size and modification time, or None when one cannot be had (no memo then)."""
    try:
        return tuple((str(file), *_stamp(file.stat())) for file in files)
    except OSError:
        return None


def _stamp(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_mtime_ns, stat.st_size


def _read(file: Path) -> bytes | None:
    """The file's bytes, or None for what is not a regular file of a sane size. Opened without
    blocking and checked on the open descriptor: a FIFO named `x.py` would block a plain open for
    ever, and the path may change between a stat and the open."""
    try:
        descriptor = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size > _MAX_FILE_BYTES:
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read(_MAX_FILE_BYTES + 1)[:_MAX_FILE_BYTES]
    except OSError:
        return None
    finally:
        os.close(descriptor)


def _pseudo_module(root: Path, file: Path) -> str:
    """A dotted name for a file no import can name (`0001_initial.py`): its facts still count."""
    try:
        parts = file.relative_to(root).with_suffix("").parts
    except ValueError:
        parts = (file.stem,)
    return ".".join(parts)


def _kind(file: Path) -> str:
    suffix = file.suffix.lower()
    if suffix == ".sql":
        return "sql"
    return _SUFFIX_KINDS.get(suffix, "py")


def _extract_one(job: tuple[str, str, str, bool, bytes]) -> tuple[str, FileFacts]:
    key, kind, module, is_package, data = job
    if kind not in ("py", "sql"):  # `js@<version>:<suffix>`, `rs@<version>`, `prisma@<version>`
        return key, extract_language(kind, data, module)
    facts = extract_sql(data, module) if kind == "sql" else extract_python(data, module, is_package)
    return key, facts


def _extract_all(jobs: list[tuple[str, str, str, bool, bytes]], workers: int) -> list[tuple[str, FileFacts]]:
    workers = min(workers, os.cpu_count() or 1)
    if workers > 1 and len(jobs) >= _PARALLEL_MISSES:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(_extract_one, jobs, chunksize=max(1, len(jobs) // (workers * 8))))
    return [_extract_one(job) for job in jobs]
