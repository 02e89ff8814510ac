"""RC601 over the program model, for every language: a money-moving POST handler that writes on every
call and neither takes a client's idempotency key nor fails a retry by a guarded state transition.

The judgement (which handlers, which effects, what counts as a guard) is the same in every language;
what differs is how a handler receives the key, which each front-end hands over as `KeyFacts`:
parameters that carry it (an idempotency-named parameter, a NestJS `@Headers("idempotency-key")`
parameter, an Axum `TypedHeader<IdempotencyKey>` extractor) and whether middleware on the route
enforces one (`app.post("/p", requireIdempotencyKey, h)`, a Tower layer, a NestJS interceptor).
Header reads are found in the body whatever the framework (`req.get("Idempotency-Key")`,
`request.headers["idempotency-key"]`, `c.req.header(..)`, `headers.get(..)`, `body.idempotencyKey`).

Reading the key is not enough: it must reach a call that stores or forwards it (an INSERT under a
unique constraint, `SET NX`, the payment provider's `idempotencyKey`), or a retry still repeats the
effect. A lookup (`SELECT .. WHERE idempotency_key = $1`) followed by a keyless insert is a check
then an act, and stays racy. Signal receivers, tasks and consumers answer no client that could resend
with a key, so only HTTP and GraphQL handlers are judged.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import model
from .state import Direct, Step
from .walk import expressions, statements

if TYPE_CHECKING:
    from ...findings import Finding
    from .checks import Reporter
    from .interpret import Interpreter

__all__ = [
    "IDEMPOTENCY_WORDS",
    "KEY_WORDS",
    "MONEY_WORDS",
    "PROVIDER_CALL",
    "PROVIDER_MARKERS",
    "KeyFacts",
    "idempotency_direct",
    "mentions_key",
    "moves_ownership",
    "names_a_key",
    "names_a_thing_it_did_not_create",
    "route_verbs",
]

# Every pattern here runs over untrusted code, and `re` backtracks: each is written to be linear.
MONEY_WORDS = re.compile(
    r"pay|charge|transfer|withdraw|refund|redeem|checkout|order|purchase|deposit|top[_-]?up|payout|"
    r"capture|donat|tip\b|gift|(?<!un)subscribe|booking|reserve",
    re.IGNORECASE,
)
# "Transfer" moves money or moves ownership (a check to another project, an alias to another
# user): only a handler whose code names an amount moves money (healthchecks, simplelogin review).
# "Subscribe" starts a paid plan or puts an address on a mailing list (outline's share
# subscriptions, issue 12 review): the same test.
_AMBIGUOUS_MONEY = re.compile(r"transfer|subscribe", re.IGNORECASE)
# Money words that name a thing rather than an act. A handler named only after one
# (`OrderDeny.post`, `EventOrderViewSet.mark_canceled`, `/orders/{id}/invoice`) acts on an order
# that exists, which a retry finds in the state the first attempt left it in, unless it creates
# one (pretix review: cancel, deny, reactivate, reissue an invoice; 13 of its 19 high RC601 false;
# lnbits: a payment's labels, settling or cancelling a hold invoice by its hash). "pay" is a verb,
# "payment" a thing: the words are read whole.
_THING_WORDS = re.compile(r"(?:order|booking|gift|payment)s?", re.IGNORECASE)
# A call named for creating one (`place_order`, `handle_place_order_submission`, `createPayment`).
_CREATES_A_THING = re.compile(
    r"(?:place|create|make|submit|execute)_?(?:an?_)?(?:order|booking|payment)s?(?-i:(?![a-z]))",
    re.IGNORECASE,
)
# The words of a model or table name (`OrderPayment`, `gift_cards`), and the head words of rows
# that hold money without a money verb in their name.
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")
_MONEY_HEADS = re.compile(r"transaction|card|voucher|ledger|reservation|subscription|coupon", re.IGNORECASE)
_AMOUNT_WORDS = re.compile(
    r"amount|\bamt\b|balance|quantit|price|total|fund|credit|debit|cents|currency|money|payment|"
    r"billing|invoice",
    re.IGNORECASE,
)
KEY_WORDS = r"idempot|request[_-]?id|client[_-]?token|dedup|nonce"
IDEMPOTENCY_WORDS = re.compile(KEY_WORDS, re.IGNORECASE)
# A check that this request's effect was already applied, on the entity the route names: an `if`
# test or a `match`/`switch` subject reading a status-like field.
_STATUS_FIELDS = re.compile(
    r"status|state|processed|is_?processed|paid|is_?paid|completed|settled|captured|fulfilled|used|redeemed",
    re.IGNORECASE,
)
# Payment providers: a call into their SDK moves money even when nothing is stored. A dotted (or
# `::`-separated) name is tried once, from its start, up to its first provider (the atomic group).
PROVIDER_CALL = re.compile(
    r"(?<![\w.:])(?>[\w.:]*?\b(?:stripe|braintree|paypalrestsdk|adyen|razorpay|mollie|square)(?:\.|::))"
    r"[\w.:]*+\(|\.(?:charge|capture|payout|refund|create_?transfer|create_?payment)\w*+\(",
    re.IGNORECASE,
)
# A call the front-end qualified through the imports (`use stripe::PaymentIntent` makes
# `PaymentIntent::create` `stripe::PaymentIntent::create`).
_PROVIDER_NAME = re.compile(r"(?:^|[.:/])(?:stripe|braintree|adyen|razorpay|mollie|square)\b", re.IGNORECASE)
# Words that make a file worth analysing for RC601 even when it names no store.
PROVIDER_MARKERS = ("stripe", "braintree", "adyen", "razorpay", "mollie", "square")
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH"})
_ANY_VERB = frozenset({"ALL", "ANY"})
# Calls that answer or log: a key echoed back or logged is not stored.
_ANSWERS = frozenset(
    {"json", "send", "end", "status", "header", "setHeader", "type", "render", "redirect", "text", "body"}
)
_LOGS = frozenset({"log", "info", "warn", "warning", "error", "debug", "trace"})
_ANSWERING_RECEIVERS = frozenset({"res", "reply", "response", "resp", "console", "logger", "log", "tracing"})
# Calls that only look a key up (`findUnique`, Redis `get`, `exists`): a check, not a store.
_LOOKUPS = re.compile(
    r"(?:find|get|fetch|select|exists|count|has|lookup|load|query_?one|first|headers?)\w*", re.IGNORECASE
)
_WRITE_SQL = re.compile(r"\b(?:insert|update|upsert|replace|merge)\b", re.IGNORECASE)
_READ_SQL = re.compile(r"\bselect\b", re.IGNORECASE)
# A key the server invents per request deduplicates nothing.
_INVENTED = re.compile(r"uuid|random|nanoid|cuid|ulid|new_v4|now", re.IGNORECASE)


@dataclass(frozen=True)
class KeyFacts:
    """How a handler receives a client's key, as its front-end reads it: parameters carrying the key
    (besides idempotency-named ones, which every language counts), and whether middleware on the
    route enforces one (then the middleware stores it)."""

    params: frozenset[str] = frozenset()
    enforced: bool = False


def names_a_key(text: str) -> bool:
    """`Idempotency-Key`, `idempotency_key`, `X-Request-Id`, `clientToken`, `dedupKey`..."""
    return IDEMPOTENCY_WORDS.search(text) is not None


def route_verbs(route: str | None) -> frozenset[str]:
    """`POST /x` -> {POST}; `POST|PUT /x` -> both; a route with no method (Next.js `pages/api`), `ALL`,
    `ANY` or no route at all answers every method, writes included."""
    if not route or " " not in route:
        return WRITE_VERBS
    verbs = frozenset(route.split(" ", 1)[0].upper().split("|"))
    return WRITE_VERBS if verbs & _ANY_VERB else verbs


def idempotency_finding(
    reporter: Reporter,
    interpreter: Interpreter,
    entry: model.EntryPoint,
    function: model.Function,
    keys: KeyFacts,
) -> Finding | None:
    """RC601 for one interpreted root, as a finding: a money handler that neither takes a
    client's key nor fails a retry (each front-end says how its frameworks pass the key)."""
    direct = idempotency_direct(
        reporter.module,
        entry,
        function,
        persisted_writes=interpreter.persisted_writes,
        claims=interpreter.claims,
        keys=keys,
        inserted=interpreter.inserted,
    )
    return None if direct is None else reporter.direct_finding(direct, entry, "high", entry.qualname)


def idempotency_direct(
    module: model.ModuleModel,
    entry: model.EntryPoint,
    function: model.Function,
    *,
    persisted_writes: int,
    claims: int,
    keys: KeyFacts,
    inserted: Collection[str],
) -> Direct | None:
    """RC601 for a routed handler, given what the interpreter counted on its paths."""
    if entry.kind not in ("http", "graphql"):
        return None  # a signal receiver or a task answers no client that could resend with a key
    label = f"{entry.qualname} {entry.route or ''}"
    if not route_verbs(entry.route) & WRITE_VERBS or not MONEY_WORDS.search(label):
        return None
    code = _function_text(module, function)
    if moves_ownership(label, code):
        return None
    provider = PROVIDER_CALL.search(code) is not None or _calls_provider(function)
    if persisted_writes == 0 and not provider:
        return None
    if not provider and names_a_thing_it_did_not_create(label, code, inserted, entry.route):
        return None
    if claims:
        return None  # a guarded state transition makes a retry fail instead of repeating the effect
    if keys.enforced or _checks_status(function):
        return None
    flow = _KeyFlow(module, function, keys.params)
    if flow.stored():
        return None
    detail = ""
    if flow.read is not None:
        detail = (
            f"The handler reads an idempotency key (line {flow.read.span.line}) but never stores it "
            "or passes it on: a retry with the same key repeats the effect. Store the key under a "
            "unique constraint with the result, or claim it (SET NX), before acting."
        )
    where = entry.route or label.strip()
    return Direct("RC601", where, (Step(function, "handler", 0),), detail)


def moves_ownership(label: str, code: str) -> bool:
    """The route's only money words are "transfer" or "subscribe" and the handler names no amount:
    a thing changes hands, an address joins a list, no funds move."""
    words = {match.group(0).lower() for match in MONEY_WORDS.finditer(label)}
    ambiguous = all(_AMBIGUOUS_MONEY.fullmatch(word) for word in words)
    return ambiguous and _AMOUNT_WORDS.search(code) is None


def names_a_thing_it_did_not_create(
    label: str, code: str, inserted: Iterable[str], route: str | None
) -> bool:
    """The label's only money words name things (an order, a booking, a gift card), the route is
    no POST to their collection (`POST /orders` creates one, whatever it writes), the code calls
    nothing named for creating one (`place_order`, `createPayment`: where the analysis could not
    follow), and the handler inserted no row whose model or table is named by a money word
    (`orm:Order`, `sql:payments`)."""
    if _CREATES_A_THING.search(code):
        return False
    last = (route or "").partition(" ")[2].rstrip("/").rpartition("/")[2]
    member = last[:1] in ("{", "<", ":")  # `/payments/{hash}`: one that exists
    if not member and _THING_WORDS.fullmatch((_NAME_WORDS.findall(last) or [""])[0]):
        return False  # `/orders`, `/orders-express`; not `/orders/{id}/cancel`
    things = [word.span() for word in _NAME_WORDS.finditer(label) if _THING_WORDS.fullmatch(word.group(0))]
    money = [match.span() for match in MONEY_WORDS.finditer(label)]
    within = all(any(start <= at and end <= until for start, until in things) for at, end in money)
    if not money or not within:
        return False
    return not any(_money_row(key) for key in inserted)


def _money_row(key: str) -> bool:
    """A row that is money by its model's or table's head word, the last (`Order`, `OrderPayment`,
    `gift_cards`; not `OrderNote`, `PrintLog`, `invoices`)."""
    name = key.partition(":")[2].partition("#")[0]
    head = (_NAME_WORDS.findall(name) or [""])[-1]
    return bool(head) and bool(MONEY_WORDS.match(head) or _MONEY_HEADS.match(head))


def _calls_provider(function: model.Function) -> bool:
    return any(
        isinstance(node, model.Call) and _PROVIDER_NAME.search(node.name or "")
        for statement in statements(function.body)
        for node in expressions(statement)
    )


def _checks_status(function: model.Function) -> bool:
    """An `if` test or a `match`/`switch` subject reads a status-like field (a front-end's temporary
    for a match subject, `$match1 = invoice.status`, is followed to its value)."""
    temporaries: dict[str, model.Expr] = {}
    for statement in statements(function.body):
        if isinstance(statement, model.Assign) and statement.value is not None:
            for target in statement.targets:
                if isinstance(target, model.Name) and target.id.startswith("$"):
                    temporaries[target.id] = statement.value
            continue
        if isinstance(statement, model.If):
            tested = statement.test
        elif isinstance(statement, model.Branch):
            tested = statement.subject
        else:
            continue
        if isinstance(tested, model.Name) and tested.id in temporaries:
            tested = temporaries[tested.id]
        if any(_STATUS_FIELDS.fullmatch(_field(node) or "") for node in expressions(tested)):
            return True
    return False


def _field(node: model.Expr) -> str | None:
    if isinstance(node, model.Attribute):
        return node.attr
    return node.key if isinstance(node, model.Subscript) else None


def _function_text(module: model.ModuleModel, function: model.Function) -> str:
    lines = module.source.splitlines()
    first = min([function.span.line, *(d.span.line for d in function.decorators)])
    return "\n".join(lines[max(first, 1) - 1 : function.span.end_line or function.span.line])


class _KeyFlow:
    """Where a client's key goes in one handler: read from a parameter, a header or a body field,
    copied through locals, and whether it reaches a call that stores or forwards it."""

    def __init__(self, module: model.ModuleModel, function: model.Function, params: frozenset[str]) -> None:
        self.module = module
        self.function = function
        self.locals = {p for p in function.params if names_a_key(p) or p in params}
        self.read: model.Node | None = None
        self.strings: dict[str, str] = {}  # local -> the string it was bound to (SQL text)
        if self.locals:
            self.read = function
        self._bind()

    def _bind(self) -> None:
        """Locals carrying the key, in source order: bound from a read of it, from another such
        local, or destructured under a key's name (`const { idempotencyKey } = req.body`); an
        assignment inside a test counts too (Rust's `if let Some(key) = headers.get(..)`)."""
        for statement in statements(self.function.body):
            if isinstance(statement, model.Assign) and statement.value is not None:
                self._assign(statement, statement.targets, statement.value)
            for node in expressions(statement):
                if isinstance(node, model.Walrus):
                    self._assign(node, (node.target,), node.value)

    def _assign(self, where: model.Node, targets: tuple[model.Expr, ...], value: model.Expr) -> None:
        if isinstance(value, model.Literal | model.Template):
            text = value.value if isinstance(value, model.Literal) else value.text
            for target in targets:
                if isinstance(target, model.Name) and isinstance(text, str):
                    self.strings[target.id] = text
        invented = any(
            isinstance(e, model.Call) and _INVENTED.search(e.name or e.method or "")
            for e in expressions(value)
        )
        carries = self._carries(value)
        for target in targets:
            for name in _target_names(target):
                if carries or (names_a_key(name) and not invented):
                    self.locals.add(name)
                    self.read = self.read or where

    def _carries(self, expr: model.Expr) -> bool:
        """The expression reads the key or holds a local that carries it."""
        for node in expressions(expr):
            if self._is_key(node):
                self.read = self.read or node
                return True
        return False

    def _is_key(self, node: model.Expr) -> bool:
        if isinstance(node, model.Name):
            return node.id in self.locals
        if isinstance(node, model.Subscript):
            return node.key is not None and names_a_key(node.key)
        if isinstance(node, model.Attribute):
            return names_a_key(node.attr) and not isinstance(node.value, model.Call)
        if isinstance(node, model.Call):
            first = node.positional(0)
            return (
                isinstance(first, model.Literal)
                and isinstance(first.value, str)
                and names_a_key(first.value)
                and _LOOKUPS.fullmatch(node.method or "") is not None
                and not _WRITE_SQL.search(first.value)
            )
        return False

    def stored(self) -> bool:
        """The key reaches an argument of a call that is no answer, log or mere lookup."""
        for statement in statements(self.function.body):
            for node in expressions(statement):
                if isinstance(node, model.Call) and self._stores(node):
                    return True
        return False

    def _stores(self, call: model.Call) -> bool:
        if not any(self._carries(arg.value) for arg in call.args):
            return False
        method = call.method or (call.name or "").rsplit(".", 1)[-1].rsplit("::", 1)[-1]
        if method in _ANSWERS or method in _LOGS or _base_name(call) in _ANSWERING_RECEIVERS:
            return False
        sql = self._sql_of(call)
        if sql is not None:
            return _WRITE_SQL.search(sql) is not None or not _READ_SQL.search(sql)
        return _LOOKUPS.fullmatch(method) is None

    def _sql_of(self, call: model.Call) -> str | None:
        """The SQL text the call's chain runs (`query("INSERT ..").bind(key)`), if any."""
        texts: list[str] = []
        current: model.Expr | None = call
        while isinstance(current, model.Call):
            for arg in current.args:
                value = arg.value
                if isinstance(value, model.Literal) and isinstance(value.value, str):
                    texts.append(value.value)
                elif isinstance(value, model.Template):
                    texts.append(value.text)
                elif isinstance(value, model.Name) and value.id in self.strings:
                    texts.append(self.strings[value.id])
            current = current.receiver
        sql = [t for t in texts if _WRITE_SQL.search(t) or _READ_SQL.search(t)]
        return " ".join(sql) if sql else None


def _target_names(target: model.Expr) -> list[str]:
    if isinstance(target, model.Name):
        return [target.id]
    if isinstance(target, model.Collection):
        return [n for element in target.elements for n in _target_names(element)]
    return []


def _base_name(call: model.Call) -> str:
    expr: model.Expr | None = call.receiver
    while isinstance(expr, model.Call | model.Attribute):
        expr = expr.receiver if isinstance(expr, model.Call) else expr.value
    return expr.id if isinstance(expr, model.Name) else ""


def mentions_key(expr: model.Expr) -> bool:
    """Middleware, a layer or a decorator that names a key (`requireIdempotencyKey`,
    `IdempotencyLayer::new()`, `@UseInterceptors(IdempotencyInterceptor)`, `dedup({ ttl })`)."""
    for node in expressions(expr):
        if isinstance(node, model.Name) and names_a_key(node.id):
            return True
        if isinstance(node, model.Attribute) and names_a_key(node.attr):
            return True
        if isinstance(node, model.Call) and names_a_key(node.name or ""):
            return True
    return False
