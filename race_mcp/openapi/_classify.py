"""What an operation does, judged by evidence, so that each rule says only what is true of it.

PUT and PATCH update, DELETE deletes, safe methods read. A POST can do anything, so its kind is
read from, in order of trust:

1. `x-` hints the spec states: `x-readonly`/`x-read-only`/`x-safe` (a read), `x-idempotent` (a
   retry is harmless, so no idempotency key is wanted).
2. Its verb: the first verb of the operation's name (`x-methodName`, else `operationId`), else
   of its summary, else of its last path segment, else of its description's first word.
   `BatchRetrieveOrders` reads, `refundCapturedPayment` moves money, `CancelPayment` changes an
   existing resource's state (a duplicate finds it cancelled already), `bulk-upsert` writes.
3. Without a verb: read-only OAuth scopes (`ORDERS_READ`, `.../invoices/read`), or a request of
   filters and ids answered by a list, make it a read; a POST on `/things/{id}` updates the thing.

Money is claimed only on evidence about the operation itself: a money verb (pay, charge, capture,
refund, transfer, payout...) or a money head noun (the last word of its name or path:
`/payments`, `createRefund`), never a word that only qualifies another noun (`/apple-pay/domains`,
`payoutSettings`, `transferLimits`) and never the API's domain. An `amount` or `currency` in the
request body is quoted as further evidence.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from ._operations import Facts

__all__ = ["Kind", "classify", "words_of"]

UPDATE_METHODS = frozenset({"PUT", "PATCH"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "QUERY"})

_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SPLIT_KEEPING_DOTS = re.compile(r"[^a-z0-9.]+")
_DOTTED = "."


def _classes(**groups: str) -> dict[str, str]:
    return {word: group for group, words in groups.items() for word in words.split()}


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Verbs, by what a second, duplicate request would do.
_VERBS = _classes(
    read="retrieve get list search query find lookup fetch read view show describe validate verify check "
    "preview estimate calculate compute simulate test count reveal render ping echo dryrun quote introspect "
    "login logout signin signout authenticate token oauth oauth2",
    money="pay charge capture refund transfer payout withdraw deposit donate purchase buy checkout settle "
    "disburse remit reauthorize debit topup",
    spend="redeem claim book reserve vote bid mint subscribe",
    create="create add new register submit generate issue send upload import clone copy duplicate make start "
    "initiate schedule invite record open request apply attach provision enroll track notify remind "
    "resend forward provide supply defend setup",
    transition="cancel void pause resume activate deactivate suspend reactivate dismiss complete approve "
    "reject accept decline archive unarchive publish unpublish enable disable lock unlock close reopen "
    "revoke confirm finalize expire release hold block unblock terminate stop restart retry acknowledge "
    "link unlink deny appeal escalate",
    write="update set put replace upsert modify edit change patch delete remove clear unset reset rename "
    "assign unassign reassign swap revise adjust",
)
_AUTHORIZE = frozenset({"authorize", "authorise"})  # a payment hold, or an OAuth step
# Verbs that move money only when the body carries an amount or the name a money noun:
# `payment.execute`, Adyen's stored-value `load`, `/authorise` a payment (not an OAuth authorize).
_AMBIGUOUS = _AUTHORIZE | {"execute", "load", "process"}
_SIGN_IN = _wordset("oauth oauth2 openid token consent login signin sso auth authentication")
_DELETING = frozenset({"delete", "remove", "clear", "unset"})
_MONEY_NOUNS = _wordset(
    "payment payout charge refund transfer capture withdrawal deposit donation purchase "
    "disbursement remittance topup"
)
# Head nouns of configuration, not of money moving: `payoutSettings`, `transferLimits`,
# `paymentMethods`, `apple-pay/domains`.
_CONFIG_NOUNS = _wordset(
    "setting settings limit schedule instrument method domain rule account profile template "
    "configuration config policy option preference type category webhook notification key group plan "
    "link tier detail details status fee currency"
)
_AMOUNT_FIELDS = ("amount", "money", "currency", "price")
_FILTER_FIELDS = _wordset(
    "query q filter filters search cursor limit offset page pagesize pagenumber pagetoken sort sortby "
    "sortorder orderby fields include expand count totalrequired begintime endtime startdate enddate "
    "from to since until"
)
_READ_SCOPE = re.compile(r"(?:^|[^a-z])(read|readonly|view)(?:$|[^a-z])", re.IGNORECASE)
_WRITE_SCOPE = re.compile(r"write|manage|create|update|delete|edit|admin|\*", re.IGNORECASE)
_READ_HINTS = ("x-readonly", "x-read-only", "x-safe")
_IDEMPOTENT_HINTS = ("x-idempotent",)


@dataclass(frozen=True, slots=True)
class Kind:
    """What an operation does, and the evidence for it, in words a message can quote."""

    name: str  # update, delete, create, charge, spend, transition, write, read, safe, other
    evidence: str = ""  # "'refund' in its name", "x-readonly", "its OAuth scopes only read"
    idempotent: bool = False  # the spec declares retries harmless (x-idempotent)
    amount: str | None = None  # a body field that carries an amount, when there is one

    @property
    def changes_state(self) -> bool:
        return self.name not in ("read", "safe")


def words_of(text: str) -> list[str]:
    """`BatchRetrieveOrders`, `batch-retrieve`, `orders.track.create` -> lower-case words (a dot
    stays as a word of its own, `.`, for the names that put their verb after it)."""
    spaced = _CAMEL.sub(r"\1 \2", text).lower().replace(".", f" {_DOTTED} ")
    return [word for word in _SPLIT_KEEPING_DOTS.split(spaced) if word]


def _noun(word: str) -> str:
    """`payments` -> `payment`, `settings` -> `setting`: the singular of a noun we know."""
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", "")):
        if word.endswith(suffix):
            stem = word[: -len(suffix)] + replacement
            if stem in _MONEY_NOUNS or stem in _CONFIG_NOUNS or stem in _VERBS:
                return stem
    return word


def _verb(word: str, source: str, index: int) -> str:
    """A name or sentence may start `updatesOrder`, `Retrieves`, `Lists`; elsewhere, and in a path,
    a plural is a noun (`paymentLinks`, `/books` and `/votes` are not the verbs link, book, vote)."""
    if source != "path" and index == 0:
        for suffix in ("es", "s"):
            if word.endswith(suffix) and word[: -len(suffix)] in _VERBS:
                return word[: -len(suffix)]
    return word


def classify(facts: Facts) -> Kind:
    operation = facts.operation
    method = operation.method
    if method in UPDATE_METHODS:
        return _toggle(facts) or Kind("update")
    if method == "DELETE":
        return Kind("delete")
    if method in SAFE_METHODS:
        return Kind("safe")
    if method != "POST":
        return Kind("other")
    return _classify_post(facts)


def _toggle(facts: Facts) -> Kind | None:
    """A PUT with no request body switches a state or adds a link (`PUT /v2/events/disable`,
    `PUT /customers/{id}/groups/{group_id}`): it writes nothing a client read, so there is no
    update to lose. (A PATCH without one is a spec that left its body out.)"""
    if facts.has_body or facts.operation.method != "PUT":
        return None
    segments = [segment for segment in facts.operation.path.split("/") if segment]
    last = words_of(segments[-1]) if segments and "{" not in segments[-1] else []
    verb = last[0] if len(last) == 1 and _VERBS.get(last[0]) == "transition" else None
    return Kind("transition", f"'{verb}' in its path" if verb else "no request body")


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What a POST's names say: its verbs, its head noun, money words, an amount in the body."""

    verbs: list[str]
    source: str  # where the verbs were found: name, operationId, summary, path, description
    head: str
    money_word: str | None  # a money word anywhere in its name or last path segment
    amount: str | None
    signs_in: bool  # OAuth words in its path or name: an `authorize` there grants, it holds no money
    money_elsewhere: str | None  # a money verb in its summary or path when its name says create

    @property
    def money_head(self) -> bool:
        return self.head in _MONEY_NOUNS

    @property
    def configures(self) -> bool:
        """`payoutSettings`, `createTransferLimit`: money words that only qualify configuration."""
        return self.head in _CONFIG_NOUNS

    def moves_money(self) -> str | None:
        """What shows the POST moves money, or None. A read, a state change or a write verb
        (`CancelPayment`, `getDonationCampaigns`) decides before a money noun does."""
        if self.configures:
            return None
        money_verb = next((verb for verb in self.verbs if _VERBS.get(verb) == "money"), None)
        if money_verb is not None:
            return f"'{money_verb}' in its {self.source}"
        first = self.verbs[0] if self.verbs else None
        if first in _AUTHORIZE and not self.signs_in:
            return f"'{first}' in its {self.source}"
        if first in _AMBIGUOUS and (self.money_head or self.money_word or self.amount):
            return f"'{first}' in its {self.source}"
        if first is not None and _VERBS.get(first) != "create":
            return None
        if self.money_elsewhere:
            return self.money_elsewhere
        if self.money_head:
            return f"'{self.head}' in its name"
        if self.money_word and self.amount:  # createTransferBalance with an amount
            return f"'{self.money_word}' in its name"
        return None


def _classify_post(facts: Facts) -> Kind:
    node: dict[str, Any] = facts.operation.node.value
    idempotent = any(node.get(hint) is True for hint in _IDEMPOTENT_HINTS)
    for hint in _READ_HINTS:
        if node.get(hint) is True:
            return Kind("read", hint)
    evidence = _evidence(facts)
    money = evidence.moves_money()
    if money is not None:
        return Kind("charge", money, idempotent, evidence.amount)
    if evidence.verbs:
        first = evidence.verbs[0]
        said = f"'{first}' in its {evidence.source}"
        group = _VERBS.get(first) or ("read" if first in _AUTHORIZE else "create")
        if group == "write":
            return _write_kind(facts, first, said)
        if group == "money":  # a money verb qualifying configuration: createTransferLimit
            group = "create"
        return Kind(group, said, idempotent, evidence.amount)
    read = _read_evidence(facts)
    if read:
        return Kind("read", read)
    if _targets_item(facts.operation.path):
        return Kind("update", "a POST to one item's path")
    return Kind("create", "a POST that names no verb", idempotent, evidence.amount)


def _evidence(facts: Facts) -> _Evidence:
    names = _names(facts)
    verbs, source = _verbs(names)
    head = _head_noun(names, facts.operation.path)
    words = {
        _noun(word) for what, found in names if what in ("name", "operationId", "path") for word in found
    }
    money_word = next((word for word in sorted(words) if word in _MONEY_NOUNS), None)
    amounts = sorted((field for field in facts.fields if field.endswith(_AMOUNT_FIELDS)), key=len)
    amount = amounts[0] if amounts else None  # `amount` before `additionalamount`
    path_words = {word for segment in facts.operation.path.split("/") for word in words_of(segment)}
    signs_in = bool((words | path_words) & _SIGN_IN)
    money_elsewhere = _money_verb_elsewhere(names, source)
    return _Evidence(verbs, source, head, money_word, amount, signs_in, money_elsewhere)


def _names(facts: Facts) -> list[tuple[str, list[str]]]:
    """Where a verb may be found, most trusted first: (what it is, its words)."""
    node: dict[str, Any] = facts.operation.node.value
    found: list[tuple[str, list[str]]] = []
    method = facts.operation.method.lower()
    for key, what in (("x-methodName", "name"), ("operationId", "operationId")):
        value = node.get(key)
        if isinstance(value, str) and (words := words_of(value)):
            # The HTTP method is no verb of the operation: Adyen's `post-payments`, `payouts.post`.
            if words[0] == method and len(words) > 1:
                words = words[1:]
            if words[-1] == method and len(words) > 2 and words[-2] == _DOTTED:
                words = words[:-2]
            found.append((what, words))
            break
    summary = node.get("summary")
    if isinstance(summary, str) and (words := words_of(summary)):
        found.append(("summary", words[:1]))  # a summary starts with its verb, or has none
    static = [segment for segment in facts.operation.path.split("/") if segment and "{" not in segment]
    if static:
        found.append(("path", words_of(static[-1])))
    description = node.get("description")
    if isinstance(description, str) and (words := words_of(description)):
        found.append(("description", words[:1]))
    return found


def _verbs(names: list[tuple[str, list[str]]]) -> tuple[list[str], str]:
    """The first verb of the first name that has one, and any verb joined to it by and/or."""
    for source, words in names:
        verbs = _verbs_in(source, words)
        if verbs:
            return verbs, source
    return [], ""


def _verbs_in(source: str, words: list[str]) -> list[str]:
    if source in ("name", "operationId") and _DOTTED in words:
        # PayPal's `captures.refund`, `orders.track.create`: the verb is the last part.
        cut = len(words) - 1 - words[::-1].index(_DOTTED)
        words = words[cut + 1 :] + words[:cut]
    words = [word for word in words if word != _DOTTED]
    bases = [_verb(word, source, index) for index, word in enumerate(words)]
    for index, word in enumerate(bases):
        if _is_verb(word):
            rest = bases[index + 1 :]
            joined = [
                after
                for joiner, after in itertools.pairwise(rest)
                if joiner in ("and", "or") and _is_verb(after)
            ]
            return [word, *joined]
    return []


def _money_verb_elsewhere(names: list[tuple[str, list[str]]], source: str) -> str | None:
    """`createOrder` whose summary says "Buy a product": a money verb in the summary or the last
    path segment, where the name's own verb only said create."""
    for other, words in names:
        if other != source and other in ("summary", "path"):
            verbs = _verbs_in(other, words)
            if verbs and _VERBS.get(verbs[0]) == "money":
                return f"'{verbs[0]}' in its {other}"
    return None


def _is_verb(word: str) -> bool:
    return word in _VERBS or word in _AMBIGUOUS


def _head_noun(names: list[tuple[str, list[str]]], path: str) -> str:
    """The last word of the operation's name when it is a noun, else of its last static segment."""
    for source, words in names:
        words = [word for word in words if word != _DOTTED]
        if source in ("name", "operationId") and not _is_verb(_verb(words[-1], source, len(words) - 1)):
            return _noun(words[-1])
    static = [segment for segment in path.split("/") if segment and "{" not in segment]
    last = words_of(static[-1]) if static else []
    return _noun(last[-1]) if last else ""


def _write_kind(facts: Facts, verb: str, evidence: str) -> Kind:
    """A POST that sets or deletes: one item's precondition matters, a bulk write converges."""
    if not _targets_item(facts.operation.path):
        return Kind("write", evidence)
    return Kind("delete" if verb in _DELETING else "update", evidence)


def _targets_item(path: str) -> bool:
    segments = [segment for segment in path.split("/") if segment]
    return bool(segments) and segments[-1].startswith("{")


def _read_evidence(facts: Facts) -> str:
    scopes = facts.scopes
    only_read = all(_READ_SCOPE.search(scope) and not _WRITE_SCOPE.search(scope) for scope in scopes)
    if scopes and only_read:
        return "its OAuth scopes only read"
    body = facts.body_fields
    if facts.lists_results and body and all(_is_filter(name) for name in body):
        return "a request of filters answered by a list"
    return ""


def _is_filter(name: str) -> bool:
    return name in _FILTER_FIELDS or name.endswith(
        ("id", "ids", "filter", "filters", "query", "cursor", "since", "until", "before", "after")
    )
