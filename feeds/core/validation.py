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
    item): `Rule.apply` inlined, and each rule's attributes read once, not per item."""
    compiled = tuple((r.field, "." in r.field, r.test, r.severity, r.name) for r in rules)

    def check_item(item_id: str, item: Mapping[str, Any]) -> list[Violation]:
        found = []
        get = item.get
        for name, dotted, test, severity, rule in compiled:
            message = test(lookup(item, name) if dotted else get(name), item)
            if message is not None:
                found.append(Violation(severity, item_id, name, message, rule))
        return found

    return check_item


def has_error(violations: Iterable[Violation]) -> bool:
    return any(v.severity is Severity.ERROR for v in violations)


def required(field: str, severity: Severity = Severity.ERROR, what: str = "") -> Rule:
    """The field must be present and non-empty."""
    message = f"missing {what or field}"
    return Rule(f"{field}_required", field, severity, lambda v, _: None if v else message)


def max_length(field: str, limit: int, severity: Severity = Severity.WARNING) -> Rule:
    """The field's text must be at most `limit` characters (checked before truncation)."""

    def test(value: Any, _item: Mapping[str, Any]) -> str | None:
        if value and len(value) > limit:
            return f"{len(value)} characters, more than {limit}: truncated"
        return None

    return Rule(f"{field}_max_length", field, severity, test)


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
