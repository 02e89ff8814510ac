"""Cross-file facts of JavaScript/TypeScript and Rust files: which routes, mounted where, reach
which function of which file, and what a Prisma schema declares unique.

The index extracts each file once (`_extract_js.py`, `_extract_rust.py`, cached by content like
Python's facts); `CrossFile` answers from those facts only, never from the disk, so nothing outside
the files the index walked (inside the allowed roots, symlinks resolved) is ever read:

- JavaScript: relative specifiers (`./x`, `../y`, with `.js .ts .mjs .cjs .tsx ...` or `/index.*`,
  and a `.js` that names the `.ts` it compiles from) through `import`/`export`, re-exports,
  `export *`, `require` and `module.exports`; a route registered in one file on a handler of
  another; prefixes of routers mounted in other files (`app.use("/api", router)`, Hono's
  `route`, Fastify's `register(plugin, { prefix })`, koa-router's `prefix`); functions a handler
  reaches in other files (a NestJS controller's injected service, an imported service function),
  up to three calls away, which lend their findings the handler's route and confidence.
- Rust: a file's module path under its crate's `src/` (`crate::api::wallet`), `mod x;`, `use`
  (aliases, lists, globs, `self`/`super`/`crate`) and `pub use` re-exports; Axum routes and
  `.nest` prefixes registered in `main.rs`/`lib.rs` for handlers of other modules.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core import model
from ._extract_js import extract_javascript, extract_prisma
from ._extract_rust import extract_rust
from ._facts import FileFacts
from ._js_calls import ForeignCalls

if TYPE_CHECKING:
    from ..core.profile import Callee, Resolver
    from ..core.state import Frame

__all__ = ["LANGUAGE_KINDS", "SUFFIX_KINDS", "CrossFile", "LanguageFacts", "extract_language"]

LANGUAGE_KINDS = frozenset({"js", "rs"})
_JS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
# Bumped when an extractor's facts change shape or meaning: the kind is part of each file's cache
# key, so facts cached by an older extractor are not read back.
EXTRACTOR_VERSION = 8
# The job kind says which extractor and, for JavaScript, which dialect (the suffix) parses it.
SUFFIX_KINDS: dict[str, str] = {
    **{suffix: f"js@{EXTRACTOR_VERSION}:{suffix}" for suffix in _JS},
    ".rs": f"rs@{EXTRACTOR_VERSION}",
    ".prisma": f"prisma@{EXTRACTOR_VERSION}",
}
_COMPILED_FROM = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}
_MAX_HOPS = 8  # re-export chains and mount chains: longer is a cycle
_MAX_REACH = 3  # calls followed from a handler into other files' functions

Target = tuple[str, str]  # (file, name in it)


def extract_language(kind: str, data: bytes, module: str) -> FileFacts:
    versioned, _, suffix = kind.partition(":")
    language = versioned.partition("@")[0]
    if language == "js":
        return extract_javascript(data, module, suffix)
    if language == "rs":
        return extract_rust(data, module)
    return extract_prisma(data, module)


def _resolved(paths: Mapping[str, object]) -> dict[str, str]:
    """Each path with symlinks resolved, each directory resolved once (`realpath` costs an `lstat`
    per component: 0.5 s for rxjs' 1,250 files when asked file by file)."""
    folders: dict[str, str] = {}
    found: dict[str, str] = {}
    for path in paths:
        folder, name = os.path.split(path)
        if folder not in folders:
            folders[folder] = os.path.realpath(folder)
        joined = os.path.join(folders[folder], name)
        found[path] = os.path.realpath(joined) if os.path.islink(joined) else joined
    return found


def join(prefix: str, path: str) -> str:
    """`/api` + `/withdraw`; either may be empty."""
    if not prefix:
        return path
    return prefix.rstrip("/") + ("/" + path.lstrip("/") if path.strip("/") else "")


class CrossFile:
    """Answers about the JavaScript and Rust files of one project (keys: resolved paths)."""

    def __init__(self, files: Mapping[str, FileFacts], tables: Mapping[str, list[list[str]]]) -> None:
        real = _resolved(files)
        self.files = {real[path]: facts for path, facts in files.items()}
        # A file walked through a symlink (inside the roots: the walk follows no other) is found
        # by the path an import spells as well as by where it lies.
        self._aliases = {os.path.normpath(path): real[path] for path in files}
        self._aliases.update((path, path) for path in self.files)
        self.tables = tables
        self._entries: dict[str, list[model.EntryPoint]] | None = None
        self._reached: dict[str, dict[str, model.EntryPoint]] = {}
        self._mounted: dict[Target, tuple[str, str, str]] | None = None
        self._nested: dict[Target, tuple[str, str, str]] | None = None
        self._crates: dict[tuple[str, str], str] | None = None
        self._exports: dict[tuple[str, str], Target | None] = {}
        self._calls: ForeignCalls | None = None
        self._model_tables: dict[str, set[str]] | None = None

    # -- what the analysis of one file asks --------------------------------------------------------
    def entry_points(self, path: str) -> list[model.EntryPoint]:
        """Routes declared anywhere in the project whose handler is a function of `path`."""
        self._compute()
        assert self._entries is not None
        return list(self._entries.get(path, ()))

    def entry_reaching(self, path: str, qualname: str) -> model.EntryPoint | None:
        """The entry point of another file whose calls reach `qualname` of `path`."""
        self._compute()
        return self._reached.get(path, {}).get(qualname)

    def prisma_unique(self, delegate: str) -> set[str]:
        """Unique columns of the Prisma model behind `prisma.<delegate>` (`userProfile` ->
        `model UserProfile`): `@id`, `@unique`, `@@id`, `@@unique`."""
        found: set[str] = set()
        for key, keys in self.tables.items():
            name = key.removeprefix("prisma:")
            if key.startswith("prisma:") and name[:1].lower() + name[1:] == delegate:
                found.update(column for columns in keys for column in columns)
        return found

    def sequelize_unique(self, model_name: str) -> set[frozenset[str]]:
        """Unique column sets of the Sequelize model `model_name`: what its declaration says
        (`unique: true`, `@Unique`), and the unique indexes migrations put on its table (its
        `tableName`, else the names Sequelize would give it: `ShareSubscription` ->
        `ShareSubscriptions`, `share_subscriptions`)."""
        if self._model_tables is None:
            self._model_tables = {}
            for facts in self.files.values():
                for name, table in facts.extra.get("model_tables", {}).items():
                    self._model_tables.setdefault(name, set()).add(table)
        names = self._model_tables.get(model_name) or _default_tables(model_name)
        keys = {frozenset(columns) for columns in self.tables.get(f"sequelize:{model_name}", ())}
        for table in names:
            keys.update(frozenset(columns) for columns in self.tables.get(f"sql:{table}", ()))
        return keys

    def typeorm_unique(self, entity: str) -> set[frozenset[str]]:
        """Unique column sets of the TypeORM entity `entity`, as its class declares them."""
        return {frozenset(columns) for columns in self.tables.get(f"typeorm:{entity}", ())}

    @property
    def calls(self) -> ForeignCalls:
        """Calls into other JavaScript files, for the interpreter (`_js_calls.py`)."""
        if self._calls is None:
            self._calls = ForeignCalls(self)
        return self._calls

    def imports_of(self, path: str) -> list[tuple[str, str]]:
        return [(str(spec), str(name)) for spec, name in self.imported_names(path).values()]

    def imported_names(self, path: str) -> dict[str, list[str]]:
        imports: dict[str, list[str]] = self._extra(path).get("imports", {})
        return imports

    # -- JavaScript: names across modules ---------------------------------------------------------
    def _extra(self, path: str) -> dict[str, Any]:
        facts = self.files.get(path)
        return facts.extra if facts is not None else {}

    def specifier(self, path: str, spec: str) -> str | None:
        """The indexed file a relative specifier written in `path` names, or None (a package)."""
        if not spec.startswith(("./", "../")) and spec not in (".", ".."):
            return None
        base = os.path.normpath(os.path.join(os.path.dirname(path), spec))
        stem, suffix = os.path.splitext(base)
        candidates = [base, *(base + s for s in _JS), *(os.path.join(base, "index" + s) for s in _JS)]
        candidates += [stem + s for s in _COMPILED_FROM.get(suffix, ())]
        return next((self._aliases[c] for c in candidates if c in self._aliases), None)

    def export(self, path: str | None, name: str, hops: int = 0) -> Target | None:
        """Where the binding `path` exports as `name` is defined (`=`: CommonJS `module.exports`).
        Each (file, name) is answered once: `export *` fans out at every hop, and files that
        star-export each other would otherwise cost (fan-out ** hops)."""
        if path is None or hops > _MAX_HOPS:
            return None
        key = (path, name)
        if key in self._exports:
            return self._exports[key]
        self._exports[key] = None  # met again while being answered: a cycle names nothing
        found = self._export(path, name, hops)
        self._exports[key] = found
        return found

    def _export(self, path: str, name: str, hops: int) -> Target | None:
        extra = self._extra(path)
        exports: dict[str, Any] = extra.get("exports", {})
        value = exports.get(name)
        if value is None and name in ("=", "default"):
            value = exports.get("default" if name == "=" else "=")
        if value is None:
            stars = extra.get("stars", []) if name not in ("=", "default") else []
            found = (self.export(self.specifier(path, star), name, hops + 1) for star in stars)
            return next((target for target in found if target is not None), None)
        if isinstance(value, list) and len(value) == 3:
            return self.export(self.specifier(path, str(value[1])), str(value[2]), hops + 1)
        if not isinstance(value, str):
            return None
        if value in extra.get("imports", {}):  # `import { f } from "./x"; export { f }`
            return self.binding(path, value, "", hops + 1)
        return path, value

    def binding(self, path: str, local: str, member: str, hops: int = 0) -> Target | None:
        """What `local` (or `local.member`), imported in `path`, names in the project."""
        imported = self._extra(path).get("imports", {}).get(local)
        if imported is None or hops > _MAX_HOPS:
            return None
        spec, name = imported
        target = self.specifier(path, spec)
        if target is None:
            return None
        if not member:
            return self.export(target, "=" if name == "*" else name, hops + 1)
        if name in ("*", "default"):  # a namespace, or a CommonJS module's exports object
            found = self.export(target, member, hops + 1)
            if found is not None:
                return found
        holder = self.export(target, "=" if name == "*" else name, hops + 1)  # `Service.method`
        return (holder[0], f"{holder[1]}.{member}") if holder is not None else None

    def target(self, path: str, ref: list[str]) -> Target | None:
        kind = ref[0] if ref else ""
        if kind in ("fn", "var") and len(ref) == 2:
            return path, ref[1]
        if kind == "imp" and len(ref) == 3:
            return self.binding(path, ref[1], ref[2])
        if kind == "req" and len(ref) == 2:
            return self.export(self.specifier(path, ref[1]), "=")
        return None

    def js_prefix(self, path: str, router: str, hops: int = 0) -> str:
        """The path prefix of routes registered on `router` of `path`, mounts followed up."""
        if self._mounted is None:
            self._mounted = {}
            for where, facts in self.files.items():
                for parent, prefix, child in facts.extra.get("mounts", ()) if facts.kind == "js" else ():
                    found = self.target(where, child)
                    if found is not None and found != (where, parent):
                        self._mounted.setdefault(found, (where, parent, prefix))
        own = self._extra(path).get("own_prefix", {}).get(router, "")
        parent = self._mounted.get((path, router))
        if parent is None or hops > _MAX_HOPS:
            return str(own)
        where, name, prefix = parent
        return join(join(self.js_prefix(where, name, hops + 1), prefix), own)

    # -- Rust: module paths in a crate ------------------------------------------------------------
    def crate_path(self, path: str) -> tuple[str, list[str]] | None:
        """(the crate's `src` directory, the file's module path `["crate", "api", "wallet"]`)."""
        parts = path.split(os.sep)
        if "src" not in parts:
            return None
        at = len(parts) - 1 - parts[::-1].index("src")
        inner = parts[at + 1 :]
        stem = inner[-1].removesuffix(".rs") if inner else ""
        names = [*inner[:-1], stem]
        if names in (["main"], ["lib"]) or names[-1:] == ["mod"]:
            names = names[:-1]
        return os.sep.join(parts[: at + 1]), ["crate", *names]

    def _crate_files(self) -> dict[tuple[str, str], str]:
        if self._crates is None:
            self._crates = {}
            for path, facts in self.files.items():
                where = self.crate_path(path) if facts.kind == "rs" else None
                if where is not None and "bin" not in where[1][1:2]:
                    self._crates.setdefault((where[0], "::".join(where[1])), path)
        return self._crates

    def rust_target(self, path: str, written: str, hops: int = 0) -> Target | None:
        """The function a path written in `path` (`handlers::withdraw`, `withdraw` after a `use`)
        names, in the file that defines it."""
        extra = self._extra(path)
        where = self.crate_path(path)
        segments = [s for s in written.split("::") if s]
        if not segments or where is None or hops > _MAX_HOPS:
            return None
        if len(segments) == 1 and segments[0] in extra.get("functions", ()):
            return path, segments[0]
        options = [self._absolute(extra, where[1], segments, 0)]
        if len(segments) == 1:
            options += [
                self._absolute(extra, where[1], [*g.split("::"), *segments], 0)
                for g in extra.get("globs", ())
            ]
        for absolute in options:
            if absolute is None or len(absolute) < 2:
                continue
            module = self._crate_files().get((where[0], "::".join(absolute[:-1])))
            name = absolute[-1]
            if module is None:
                continue
            defined = self._extra(module)
            if name in defined.get("functions", ()):
                return module, name
            if name in defined.get("imports", {}):  # `pub use`
                return self.rust_target(module, name, hops + 1)
        return None

    def _absolute(
        self, extra: dict[str, Any], here: list[str], segments: list[str], depth: int
    ) -> list[str] | None:
        head = segments[0]
        if head == "crate":
            return segments
        if head == "self":
            return [*here, *segments[1:]]
        if head == "super":
            ups = len(segments) - len([s for s in segments if s != "super"])
            return [*here[: max(1, len(here) - ups)], *segments[ups:]]
        imports: dict[str, str] = extra.get("imports", {})
        if head in imports and depth < _MAX_HOPS and imports[head].split("::")[0] != head:
            base = self._absolute(extra, here, imports[head].split("::"), depth + 1)
            return [*base, *segments[1:]] if base is not None else None
        if head in extra.get("mods", ()):
            return [*here, *segments]
        return None

    def rust_prefix(self, path: str, function: str, hops: int = 0) -> str:
        """The prefix `.nest("/api", f())` gives routes registered in `function` of `path`."""
        if self._nested is None:
            self._nested = {}
            for where, facts in self.files.items():
                for parent, prefix, callee in facts.extra.get("nests", ()) if facts.kind == "rs" else ():
                    found = self.rust_target(where, callee)
                    if found is not None and found != (where, parent):
                        self._nested.setdefault(found, (where, parent, prefix))
        parent = self._nested.get((path, function))
        if parent is None or hops > _MAX_HOPS:
            return ""
        return self.rust_prefix(parent[0], parent[1], hops + 1) + parent[2]

    # -- the project's routes and what they reach --------------------------------------------------
    def _compute(self) -> None:
        if self._entries is not None:
            return
        entries: dict[str, list[model.EntryPoint]] = {}
        starts: list[tuple[str, str, model.EntryPoint]] = []
        for path, facts in self.files.items():
            if facts.kind == "js":
                self._js_routes(path, facts, entries, starts)
            elif facts.kind == "rs":
                self._rust_routes(path, facts, entries, starts)
        self._entries = entries
        for path, qualname, entry in starts:
            self._reach(path, qualname, entry)

    def _js_routes(
        self,
        path: str,
        facts: FileFacts,
        entries: dict[str, list[model.EntryPoint]],
        starts: list[tuple[str, str, model.EntryPoint]],
    ) -> None:
        for verb, route, router, handler, framework in facts.extra.get("routes", ()):
            found = self.target(path, handler)
            if found is None:
                continue
            full = f"{verb} {join(self.js_prefix(path, router), route)}"
            entry = model.EntryPoint(found[1], "http", "event-loop", full, framework)
            entries.setdefault(found[0], []).append(entry)
            starts.append((found[0], found[1], entry))
        for name, info in facts.extra.get("classes", {}).items():
            for method, (kind, route) in info.get("entries", {}).items():
                qualname = f"{name}.{method}"
                starts.append(
                    (path, qualname, model.EntryPoint(qualname, kind, "event-loop", route, "nestjs"))
                )

    def _rust_routes(
        self,
        path: str,
        facts: FileFacts,
        entries: dict[str, list[model.EntryPoint]],
        starts: list[tuple[str, str, model.EntryPoint]],
    ) -> None:
        for function, declared in facts.extra.get("macros", {}).items():
            prefix = self.rust_prefix(path, function)  # `web::scope("/api").service(f)` elsewhere
            verb, _, route = str(declared).partition(" ")
            entry = model.EntryPoint(function, "http", "event-loop", f"{verb} {prefix}{route}", "actix-web")
            if prefix:
                entries.setdefault(path, []).append(entry)
            starts.append((path, function, entry))
        for function, route, verb, handler, framework in facts.extra.get("routes", ()):
            found = self.rust_target(path, handler)
            if found is not None:
                full = f"{verb} {self.rust_prefix(path, function)}{route}"
                entry = model.EntryPoint(found[1], "http", "event-loop", full, framework)
                entries.setdefault(found[0], []).append(entry)
                starts.append((found[0], found[1], entry))

    def _reach(self, path: str, qualname: str, entry: model.EntryPoint) -> None:
        """Functions of other files `qualname` calls, a few calls deep, lent `entry`."""
        seen = {(path, qualname)}
        level = [(path, qualname)]
        for _ in range(_MAX_REACH):
            following = []
            for where, caller in level:
                for ref in self._extra(where).get("calls", {}).get(caller, ()):
                    found = self._callee(where, caller, ref)
                    if found is None or found in seen:
                        continue
                    seen.add(found)
                    following.append(found)
                    if found[0] != path:
                        self._reached.setdefault(found[0], {}).setdefault(found[1], entry)
            level = following

    def callee(self, path: str, caller: str, ref: list[str] | str) -> Target | None:
        """What a call recorded in `caller` of `path` names (see `_extract_js` for references)."""
        return self._callee(path, caller, ref)

    def _callee(self, path: str, caller: str, ref: list[str] | str) -> Target | None:
        if isinstance(ref, str):  # Rust: a path as written
            return self.rust_target(path, ref)
        if ref[0] != "this" or len(ref) != 3:
            return self.target(path, ref)
        owner = caller.split(".", 1)[0] if "." in caller else None
        if owner is None:
            return None
        _, prop, method = ref
        if not prop:
            return path, f"{owner}.{method}"
        typed = self._extra(path).get("classes", {}).get(owner, {}).get("props", {}).get(prop)
        if not typed:
            return None
        holder = (
            self.binding(path, typed, "") if typed in self._extra(path).get("imports", {}) else (path, typed)
        )
        return (holder[0], f"{holder[1]}.{method}") if holder is not None else None


class LanguageFacts:
    """What the analysis of one JavaScript/TypeScript or Rust file asks of its project (the
    `facts` its pipeline and recognizers receive; absent questions are the interpreter's
    Python-only ones, answered by nothing)."""

    def __init__(self, cross: CrossFile, path: str) -> None:
        self.cross = cross
        self.path = os.path.realpath(path)

    def with_project_routes(self, local: list[model.EntryPoint]) -> list[model.EntryPoint]:
        """The file's own entry points with the routes other files declare for its functions: a
        local route the project mounts under a prefix is replaced by the prefixed one."""
        foreign = list(dict.fromkeys(self.cross.entry_points(self.path)))
        kept = [entry for entry in local if not any(_same_route(entry, other) for other in foreign)]
        return [*foreign, *kept]

    def entry_reaching(
        self, function: model.Function, module: model.ModuleModel | None = None
    ) -> model.EntryPoint | None:
        return self.cross.entry_reaching(self.path, function.qualname)

    def prisma_unique(self, delegate: str) -> set[str]:
        return self.cross.prisma_unique(delegate)

    def sequelize_unique(self, model_name: str) -> set[frozenset[str]]:
        return self.cross.sequelize_unique(model_name)

    def typeorm_unique(self, entity: str) -> set[frozenset[str]]:
        return self.cross.typeorm_unique(entity)

    def resolver(self) -> Resolver:
        """The interpreter's resolver of calls into other JavaScript files of the project."""
        calls, home = self.cross.calls, self.path

        def resolve(call: model.Call, frame: Frame) -> Callee | None:
            return calls.resolve(home, call, frame)

        return resolve

    def helper_text(self) -> str:
        """The text of the project files this one imports (which stores its calls may reach)."""
        return self.cross.calls.helper_text(self.path)


def _default_tables(model_name: str) -> set[str]:
    """The table Sequelize names a model without a `tableName`: the plural of its name, as is or
    in snake case (`underscored`), lower-cased as the index keys are."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", model_name).lower()
    names = {snake, model_name.lower()}
    return names | {_plural(name) for name in names}


def _plural(name: str) -> str:
    if name.endswith(("s", "x", "ch", "sh")):
        return f"{name}es"
    if name.endswith("y") and name[-2:-1] not in "aeiou":
        return f"{name[:-1]}ies"
    return f"{name}s"


def _same_route(local: model.EntryPoint, mounted: model.EntryPoint) -> bool:
    """`POST /withdraw` of the file is `POST /api/wallet/withdraw` once the router is mounted."""
    if local.qualname != mounted.qualname or not local.route or not mounted.route:
        return False
    verb, _, path = local.route.partition(" ")
    other_verb, _, other_path = mounted.route.partition(" ")
    return verb == other_verb and other_path.rstrip("/").endswith(path.rstrip("/"))
