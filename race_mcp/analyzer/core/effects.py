"""What a call does to shared state, as a store recognizer sees it, and what it may ask the interpreter.

A recognizer (one per store per language, declared in `core/stores.py`) looks at one `model.Call`
and answers with effects, or `None` when the call is not its business:

- `read`: the call reads `key`; its result carries the read (so `row = cur.fetchone()` aliases it).
- `write`: the call writes `key`. The race it completes is reported as `rule`. `guard` says what the
  store itself checks atomically at the write (a `WHERE x >= ?`, a `ConditionExpression`, `SET NX`,
  a MongoDB filter on the field): `ALL` guards everything, a set of names guards reads that looked
  at those columns or attributes. `needs_check`: only a *decision* read makes the write racy (an
  INSERT after a lookup, an INCR after a comparison), a value read alone does not.
- `lock` / `unlock`: a lock region opens or closes (a row lock from `FOR UPDATE` until the commit).
- `begin` / `commit`: a transaction opens or ends (a commit also writes pending ORM changes).
- `direct`: the call is a problem by itself (an unguarded DynamoDB decrement, `select_for_update`
  outside a transaction), reported as `rule`.
- `store_write`: counts toward the multi-write rules (RC202, RC403) without a race of its own.
- `atomic`: the call's value is computed by the store at the write (Django's `F("balance") - 1`):
  assigning it to a field of a row read earlier and saving that row is atomic, not a lost update
  (the interpreter adds the row's local to `state.atomic_aliases`, which the save consults).

Keys name the store first: `sql:accounts`, `orm:Account`, `dynamodb:items`, `redis:rate:?`,
`fs:path`, `mongo:orders`; keys without a registered store prefix are in-process state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from . import model

__all__ = [
    "ALL",
    "TRANSACTION_LOCK",
    "CallContext",
    "ChainRecognizer",
    "ContextRecognizer",
    "Effect",
    "Recognizer",
    "TransactionRecognizer",
]

ALL: frozenset[str] = frozenset({"*"})
TRANSACTION_LOCK = "transaction"

# `fresh`: the call's value is unique to this request (a row the call inserted: its primary key,
# which the database drew, no other request holds yet), as `core/fresh.py`'s random draws are.
Kind = Literal[
    "read", "write", "lock", "unlock", "begin", "commit", "direct", "store_write", "atomic", "fresh"
]


@dataclass(frozen=True)
class Effect:
    kind: Kind
    key: str = ""
    rule: str = ""
    guard: frozenset[str] = frozenset()
    needs_check: bool = False
    detail: frozenset[str] = frozenset()
    region: str = TRANSACTION_LOCK
    node: model.Node | None = None
    # `cur.execute("SELECT ...")`: the rows are fetched later from `cur`, so `cur` holds the read.
    bind_receiver: bool = False
    # For `store_write`: the driver commits each statement on its own (asyncpg, `databases`).
    autocommit: bool = False
    # For `write`: the columns an UPDATE sets, and whether it is a guarded state transition.
    columns: frozenset[str] = frozenset()
    claim: bool = False
    # For `write`: the columns it sets that its own condition compares (`SET locked_by = ? WHERE ..
    # AND locked_by IS NULL`), a compare-and-set whether or not its count is read. Unverified, it
    # still says the write depends on their current value: no blind overwrite (see `_unrelated`).
    compares: frozenset[str] = frozenset()
    # For a blind save of a row changed in memory: the attributes set. Only a check that looked at
    # one of them races it; an existence check does not clear it (the row found may decide an
    # insert the recognizers cannot see, such as a schema-loaded object added to the session).
    overwrites: frozenset[str] = frozenset()
    # For `read`: the columns a raw SQL row holds without naming them (see `Access.selected`).
    selected: frozenset[str] = frozenset()
    # For `read`: a value that decides inserts only (an UPDATE's count: `Access.inserts_only`).
    inserts_only: bool = False
    # For `read`: the call itself decides (it raises on what it found: Django's `full_clean()`),
    # so the read is a check whether or not its value is tested.
    decides: bool = False
    # For `direct`: the finding's message when the rule's title does not say what this call did.
    message: str = ""
    # For an insert: its `guard` is a unique key the store enforces, but no handler turns the
    # duplicate-key error into an answer (`except IntegrityError`): the loser of a check-then-insert
    # race fails with an unhandled error. Still reported, at low severity (`Sequence.refused`).
    refused: bool = False
    # For `write`: every value it stores is one every request stores (`core/idempotent.py`).
    same_value: bool = False
    # For an insert: columns the store fills with a value drawn for the new row alone (a unique
    # field's `default=uuid4` the insert does not set): as unique to the request as `core/fresh.py`'s.
    drawn: frozenset[str] = frozenset()


class CallContext(Protocol):
    """What a recognizer may see of the interpreter while it looks at one call.

    `args` / `receiver` are the reads (interpreter `Access`es) the arguments and the receiver carry;
    `arguments` the same reads per argument, in `call.args` order (the same objects as in `args`);
    `test` is true when the call's value is being tested (`if await r.get(k):`). `state` is the
    path's abstract state (checks, aliases, dirty ORM objects, locks, transaction depth).
    A recognizer may append to `args` the reads that flow into its write (the pending change an
    ORM `save()` writes, the values of an `.update(...)` it evaluated itself): the interpreter
    applies the returned effects with `[*receiver, *args]` as the write's values. It may also
    remove from `args` (in place) reads that only say which item is written, not what is written
    (a MongoDB filter's `{"_id": doc["_id"]}`).
    """

    state: Any
    args: list[Any]
    arguments: list[list[Any]]
    receiver: list[Any]
    test: bool
    notes: dict[str, Any]

    def string(self, expr: model.Expr | None) -> str | None:
        """The text of a string expression: literals, templates (holes as `?`), `+`/`%` of them,
        names bound to string constants in the function, the module or a class."""

    def evaluate(self, expr: model.Expr) -> list[Any]:
        """Interpret `expr` for its effects (a recognizer that owns a whole query chain evaluates the
        arguments inside it itself); the reads its value carries."""

    def catching(self, names: Sequence[str]) -> bool:
        """Inside a `try` whose handlers catch one of `names` (`IntegrityError`, `DuplicateKeyError`)."""

    def handlers(self, names: Sequence[str]) -> list[model.Handler]:
        """The handlers of the enclosing `try` statements catching one of `names`, innermost first."""

    def region_held(self, name: str) -> bool:
        """The named lock region (`transaction:orm:Account`) is held on this path."""

    def result_used(self, call: model.Call) -> bool:
        """The call's value is kept or tested (not thrown away by an expression statement)."""

    def function(self) -> model.Function:
        """The function being interpreted (a called helper while it runs)."""

    def root(self) -> model.Function:
        """The function the interpretation started from (the handler)."""

    def fresh(self, expr: model.Expr) -> bool:
        """`expr`'s value is unique to this request (a random draw, a row it inserted)."""

    def root_is_entry(self) -> bool:
        """The root is an entry point of its module: a framework calls it, so what it returns
        answers a client or a queue, not a caller that acts on it."""

    def module(self) -> model.ModuleModel:
        """The module of the function being interpreted."""

    def resolve(self, call: model.Call) -> model.Function | None:
        """The project function `call` invokes, when it can be resolved (across files)."""

    def facts(self) -> Any:
        """The whole-project facts (`analyzer/project`): uniqueness of model fields, transaction
        wrappers, classes across files. `None` when analysing a lone source text."""

    def self_class(self) -> str | None:
        """The class `self` stands for in the function being interpreted (a subclass's, when a
        method inherited from a base runs on it): a DRF view's `self.get_queryset()`."""

    def returned(self) -> list[Any]:
        """The reads the functions on the call stack returned so far (cache-aside: the value read
        was handed back on the hit path, so the SET on the miss path refills, not decides)."""


class Recognizer(Protocol):
    def effects(self, call: model.Call, ctx: CallContext) -> list[Effect] | None: ...


class ContextRecognizer(Protocol):
    """Optional: recognizers that also know context managers (`with transaction.atomic():`)."""

    def enter(self, context: model.Expr, ctx: CallContext) -> list[Effect] | None: ...


class TransactionRecognizer(Protocol):
    """Optional: recognizers that know functions run whole inside one transaction
    (`@transaction.atomic`, `@database.transaction()`, a `with_transaction` callback). The
    interpreter opens a transaction at the function's start and commits it at its end."""

    def transactional(self, function: model.Function) -> bool: ...


class ChainRecognizer(Protocol):
    """Optional: recognizers that read a whole query chain at its outer call
    (`A.objects.filter(x=1).first()`): the interpreter does not evaluate the call's receiver for
    them (they evaluate what they need with `ctx.evaluate`)."""

    def owns_chain(self, call: model.Call) -> bool: ...
