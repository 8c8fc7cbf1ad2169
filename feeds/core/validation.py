"""Violations: bad catalogue data, reported with a severity instead of raised.

An `ERROR` keeps the item out of the feed; a `WARNING` lets it through. Each
channel states its rules as data (`Rule` objects) and `check` applies them to
one mapped item. Violations found while deriving a product from Vendre's JSON
(an unknown tax class, a bad GTIN check digit) travel with the product.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Checker", "Rule", "Severity", "Violation", "check", "checker", "has_error",
           "lookup", "max_length", "one_of", "required"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Violation:
    """One problem with one item: which item, which field, what is wrong."""

    severity: Severity
    item_id: str
    field: str
    message: str
    rule: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"severity": self.severity.value, "item_id": self.item_id, "field": self.field,
                "rule": self.rule or self.field, "message": self.message}


@dataclass(frozen=True)
class Rule:
    """A named check of one field of a mapped item.

    `field` is a key, or a dotted path into nested objects and lists
    (`price.0.value`). `test(value, item)` returns None when the value is fine,
    else the message. Keys starting with `_` are for rules only: the pipeline
    removes them before the item is written.

    `when` says where the test can find anything, so that the build calls it only
    there: a key of the item (its value is truthy) or a (key, value) pair (the item's
    value equals it). Elsewhere the rule passes without a call; a guard must never
    skip an item the test would fault (a test in `tests/test_validation.py` holds every
    channel's guards to that).
    """

    name: str
    field: str
    severity: Severity
    test: Callable[[Any, Mapping[str, Any]], str | None]
    when: str | tuple[str, Any] = ""

    def applies(self, item: Mapping[str, Any]) -> bool:
        """Whether `when` lets the test run on `item`."""
        if not self.when:
            return True
        if isinstance(self.when, str):
            return bool(item.get(self.when))
        key, value = self.when
        return bool(item.get(key) == value)

    def apply(self, item_id: str, item: Mapping[str, Any]) -> Violation | None:
        if not self.applies(item):
            return None
        value = item.get(self.field) if "." not in self.field else lookup(item, self.field)
        message = self.test(value, item)
        if message is None:
            return None
        return Violation(self.severity, item_id, self.field, message, self.name)


def check(item_id: str, item: Mapping[str, Any], rules: Iterable[Rule]) -> list[Violation]:
    """Every violation of `rules` by one mapped item (`checker(rules)` checks many)."""
    return checker(rules)(item_id, item)


Checker = Callable[[str, Mapping[str, Any]], list[Violation]]


def checker(rules: Iterable[Rule]) -> Checker:
    """`check` with `rules` fixed, for the build's hottest loop (every rule of every
    item): `Rule.apply` inlined, and each rule's attributes read once, not per item.

    The `required`, `max_length` and `one_of` rules of plain fields are first tested
    all at once, without a call per rule; an item that passes them all is checked by the
    other rules only, and any other item by every rule in order (the same violations, in
    the same order, either way). A rule's `when` is tested inline: its test is called
    only where the guard lets it."""
    compiled = tuple(_compiled(r) for r in rules)
    present = tuple(c[1] for c in compiled if c[0] is _REQUIRED)
    lengths = tuple((c[1], c[3].limit) for c in compiled if c[0] is _LENGTH)
    members = tuple((c[1], c[3].allowed) for c in compiled if c[0] is _MEMBER)
    called = tuple(c for c in compiled if c[0] is _CALL)

    def check_item(item_id: str, item: Mapping[str, Any]) -> list[Violation]:
        get = item.get
        if not all(map(get, present)):
            return _every(compiled, item_id, item)
        for name, limit in lengths:
            value = get(name)
            if value and len(value) > limit:
                return _every(compiled, item_id, item)
        for name, allowed in members:
            if get(name) not in allowed:
                return _every(compiled, item_id, item)
        return _every(called, item_id, item) if called else []

    return check_item


# A guard that asks for a truthy value rather than an equal one.
_TRUTHY = object()


def _compiled(rule: Rule) -> tuple[Any, ...]:
    """(kind, field, dotted, test, severity, name, guard key, guard value) of a rule."""
    dotted = "." in rule.field
    kind = _KINDS.get(type(rule.test), _CALL) if not dotted and not rule.when else _CALL
    when = rule.when
    key, expected = (when, _TRUTHY) if isinstance(when, str) else when
    return kind, rule.field, dotted, rule.test, rule.severity, rule.name, key, expected


def _every(compiled: tuple[tuple[Any, ...], ...], item_id: str, item: Mapping[str, Any]
           ) -> list[Violation]:
    """Every rule of `compiled` in order (`required`, `max_length` and `one_of` tested
    inline, guards first)."""
    found = []
    get = item.get
    for kind, name, dotted, test, severity, rule, key, expected in compiled:
        if key:
            guard = get(key)
            if (not guard) if expected is _TRUTHY else guard != expected:
                continue
        value = lookup(item, name) if dotted else get(name)
        if kind is _CALL:
            message = test(value, item)
            if message is None:
                continue
        elif kind is _REQUIRED:
            if value:
                continue
            message = test.message
        elif kind is _MEMBER:
            if value in test.allowed:
                continue
            message = test(value, item)
        elif value and len(value) > test.limit:
            message = test(value, item)
        else:
            continue
        found.append(Violation(severity, item_id, name, message, rule))
    return found


def has_error(violations: Iterable[Violation]) -> bool:
    return any(v.severity is Severity.ERROR for v in violations)


def required(field: str, severity: Severity = Severity.ERROR, what: str = "") -> Rule:
    """The field must be present and non-empty."""
    return Rule(f"{field}_required", field, severity, _Required(f"missing {what or field}"))


def max_length(field: str, limit: int, severity: Severity = Severity.WARNING, *,
               cut: bool = True) -> Rule:
    """The field's text must be at most `limit` characters (checked before truncation).

    :param cut: the message says the value was truncated (a limited field of the
        channel, `Channel.limits`); False for a limit that is a plain refusal (an id).
    """
    return Rule(f"{field}_max_length", field, severity, _MaxLength(limit, cut))


def one_of(field: str, allowed: Iterable[str], severity: Severity = Severity.ERROR) -> Rule:
    """The field must be one of `allowed` (catches a template or mapping mistake)."""
    return Rule(f"{field}_value", field, severity, _OneOf(frozenset(allowed)))


class _Required:
    """`required`'s test (a class, so that `checker` knows it without calling it)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, value: Any, _item: Mapping[str, Any]) -> str | None:
        return None if value else self.message


class _MaxLength:
    """`max_length`'s test."""

    __slots__ = ("cut", "limit")

    def __init__(self, limit: int, cut: bool) -> None:
        self.limit = limit
        self.cut = cut

    def __call__(self, value: Any, _item: Mapping[str, Any]) -> str | None:
        if value and len(value) > self.limit:
            what = f"{len(value)} characters, more than {self.limit}"
            return f"{what}: truncated" if self.cut else what
        return None


class _OneOf:
    """`one_of`'s test."""

    __slots__ = ("allowed",)

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def __call__(self, value: Any, _item: Mapping[str, Any]) -> str | None:
        return None if value in self.allowed else \
            f"{value!r} is not one of {sorted(self.allowed)}"


def lookup(item: Any, path: str) -> Any:
    """The value at a dotted `path` (keys, or list indexes as digits); None where absent."""
    value = item
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


_CALL, _REQUIRED, _LENGTH, _MEMBER = "call", "required", "max_length", "one_of"
_KINDS = {_Required: _REQUIRED, _MaxLength: _LENGTH, _OneOf: _MEMBER}
