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
           "lookup", "max_length", "required"]


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
    """

    name: str
    field: str
    severity: Severity
    test: Callable[[Any, Mapping[str, Any]], str | None]

    def apply(self, item_id: str, item: Mapping[str, Any]) -> Violation | None:
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

    The `required` and `max_length` rules of plain fields are first tested all at once,
    without a call per rule; an item that passes them all is checked by the other rules
    only, and any other item by every rule in order (the same violations, in the same
    order, either way)."""
    rules = tuple(rules)
    compiled = tuple((_KINDS.get(type(r.test), _CALL) if "." not in r.field else _CALL,
                      r.field, "." in r.field, r.test, r.severity, r.name) for r in rules)
    present = tuple(c[1] for c in compiled if c[0] is _REQUIRED)
    lengths = tuple((c[1], c[3].limit) for c in compiled if c[0] is _LENGTH)
    called = tuple(c for c in compiled if c[0] is _CALL)

    def check_item(item_id: str, item: Mapping[str, Any]) -> list[Violation]:
        get = item.get
        if not all(map(get, present)):
            return _every(compiled, item_id, item)
        for name, limit in lengths:
            value = get(name)
            if value and len(value) > limit:
                return _every(compiled, item_id, item)
        return _every(called, item_id, item)

    return check_item


def _every(compiled: tuple[tuple[Any, ...], ...], item_id: str, item: Mapping[str, Any]
           ) -> list[Violation]:
    """Every rule of `compiled` in order (`required` and `max_length` tested inline)."""
    found = []
    get = item.get
    for kind, name, dotted, test, severity, rule in compiled:
        value = lookup(item, name) if dotted else get(name)
        if kind is _CALL:
            message = test(value, item)
            if message is None:
                continue
        elif kind is _REQUIRED:
            if value:
                continue
            message = test.message
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


def max_length(field: str, limit: int, severity: Severity = Severity.WARNING) -> Rule:
    """The field's text must be at most `limit` characters (checked before truncation)."""
    return Rule(f"{field}_max_length", field, severity, _MaxLength(limit))


class _Required:
    """`required`'s test (a class, so that `checker` knows it without calling it)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, value: Any, _item: Mapping[str, Any]) -> str | None:
        return None if value else self.message


class _MaxLength:
    """`max_length`'s test."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, value: Any, _item: Mapping[str, Any]) -> str | None:
        if value and len(value) > self.limit:
            return f"{len(value)} characters, more than {self.limit}: truncated"
        return None


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


_CALL, _REQUIRED, _LENGTH = "call", "required", "max_length"
_KINDS = {_Required: _REQUIRED, _MaxLength: _LENGTH}
