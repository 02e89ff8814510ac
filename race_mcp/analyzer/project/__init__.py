"""The whole-project index: facts that live in other modules, read once per file content and cached.

Build it for the project enclosing an analysed path (the nearest directory at or above it with
`pyproject.toml`, `setup.cfg`, `setup.py` or `.git`, never above the allowed roots), over the files
`race_mcp._walk.SourceWalk` yields (plus migrations and `.sql` files, which declare uniqueness):

    index = ProjectIndex.for_path(path, boundary=roots, exclude=settings.exclude,
                                  default_exclude=settings.default_exclude)
    index = ProjectIndex.build(root, files)          # when the caller already has the file list

Names are qualified by the project's import paths (`shop.orders.models.Order`; methods
`shop.orders.services.Checkout.pay`); src-layout and packages nested in plain folders are handled.

Names and classes
    `resolve(module, dotted)`          what `dotted`, written in `module`, names (imports, relative
                                       imports and `__init__` re-exports followed)
    `canonical(qualname)`              the same for an already qualified name
    `class_bases(qualname)`            all ancestors, nearest first (outside ones by imported name)
    `lookup_method(class, name)`       the method Python would find (`Class.save` through mixins)
    `module_of_path(path)`, `function_location(qualname) -> (path, line)`, `function(qualname)`

Uniqueness (RC303, the MongoDB and SQL recognizers)
    `unique_keys(model) -> set[frozenset[str]] | None`   None: not a model of the project
    `is_unique(model, fields) -> bool | None`            Django lookups (`pk`, `user_id`, `__iexact`)
    `table_unique_keys(table)`, `collection_unique_keys(collection)`

Transactions and locks (RC302, RC1xx)
    `is_transaction_context(text, module=None)`  a `with` item / decorator opens a transaction
    `is_lock_context(text, module=None)`         ... holds a lock
    `is_transaction_wrapper(qualname)`, `is_lock_wrapper(qualname)`   through any number of wrappers
    `runs_in_transaction(qualname)`               decorated with one

Call graph
    `callers(qualname) -> list[CallSite]`        (caller, path, line, transaction held, lock held)
    `all_callers_hold_transaction(qualname)`, `all_callers_hold_lock(qualname)`
    `referenced(qualname)`                       also used as a value: callers may be unseen

The analysis of one file (`ProjectSession`, `_session.py`)
    `session.facts_for(path) -> ModuleFacts`     what `CallContext.facts()` returns: `unique_fields(name)`,
                                                 `sql_unique[table]`, `mongo_unique(collection)`,
                                                 `opens_transaction(expr)`, `opens_lock(expr)`,
                                                 `holds_transaction(function)`, `row_method(key, name)`,
                                                 `entry_reaching(function)` (a handler elsewhere)
    `session.resolver_for(path)`                 the interpreter's `Resolver` for calls into other modules
    `facts.lowered(source, label, tree)`         the analysed module lowered once per process: a module
                                                 lowered for a call into it is reused by its own analysis
                                                 (`facts.known_shape` then spares the parse), and one
                                                 lowered by its analysis is kept when other modules call it

JavaScript/TypeScript and Rust (`_languages.py`, `_extract_js.py`, `_extract_rust.py`, `_js_calls.py`)
    `index.cross_file`                           routes, mounts, injected services, Prisma keys
    `language_facts_for(path) -> LanguageFacts`  what such a file's analysis gets: `with_project_routes`,
                                                 `entry_reaching`, `prisma_unique`, `resolver`, `helper_text`

A run (`_runs.py`): `start_run(paths, roots, settings)` indexes the projects of the named paths
(`analyze_paths` skips it for a small run where no file passes the pipeline's text pre-filter)
and returns picklable specs for `activate_in_worker` (a process pool's initializer); the analysis of
one file asks `context_for(path) -> (facts, resolver)`; `end_run()` lets the indexes go.

The cache (`_cache.py`) lives in a per-user directory, keyed by content; `index.stats` says how many
files were extracted and how many came from the cache.
"""

from ._cache import FactsCache, cache_directory
from ._discover import PROJECT_MARKERS, find_project_root, project_files
from ._facts import ClassFacts, FileFacts, FunctionFacts
from ._index import BuildStats, CallSite, ProjectIndex
from ._languages import LanguageFacts
from ._runs import ProjectSpec, activate_in_worker, context_for, end_run, language_facts_for, start_run
from ._session import ModuleFacts, ProjectSession, context_text

__all__ = [
    "PROJECT_MARKERS",
    "BuildStats",
    "CallSite",
    "ClassFacts",
    "FactsCache",
    "FileFacts",
    "FunctionFacts",
    "LanguageFacts",
    "ModuleFacts",
    "ProjectIndex",
    "ProjectSession",
    "ProjectSpec",
    "activate_in_worker",
    "cache_directory",
    "context_for",
    "context_text",
    "end_run",
    "find_project_root",
    "language_facts_for",
    "project_files",
    "start_run",
]
