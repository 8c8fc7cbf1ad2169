"""Derived products in a compact stored form: derived at sync, loaded by every build.

Deriving a product from its raw JSON (`parse_product`) is most of a build's work
per product, and decoding that JSON most of the rest (BENCHMARKS.md). A sync
decodes every product anyway and mostly waits for the shop, so it also derives
each one for every target the enabled channels read and stores the result
(`Preparer`, written next to the raw JSON by `feeds.storage.store`); a build
loads it (`load`, `product`) several times faster than it could decode and
derive the raw JSON. The raw JSON stays the truth: the form is only a cache of
what `parse_product` gives.

When the stored form is not used (the build derives from the raw JSON instead):
- the build's clock is outside the stretch of time in which the product's
  derivation stays the same (`derive_window`: its release, backorder and sale
  dates on the same side of the clock, its estimated dates on the same day), or
  the product could not be read at all;
- a value the form cannot carry exactly (an integer beyond 64 bits, a lone
  surrogate, a NaN, a field type this module does not know): each entry is loaded
  back at sync and compared with what was encoded;
- the target's key differs: every form is filed under `context_key`, a digest of
  the parser's own source code (`parser_version`: any change to the derivation
  code, or to this module, makes every stored form stale), of every setting of
  the target's `DeriveContext` except the clock, and of the snapshot's categories.

Form: one JSON array per product (orjson, safe to decode whatever the bytes):
`[reason]` for a product not for sale (its reason, the same for every target),
else `["", entry, entry, ...]`, one entry per key (null where not stored): the
`Product`'s fields in their declared order, Money as [amount, currency], Decimals
as text, times in ISO 8601, the availability and violations by value.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pkgutil
import sys
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from typing import Any

import orjson

import feeds.core
from feeds.core.model import Availability, Money, Product, product_of
from feeds.core.validation import Severity, Violation
from feeds.vendre.parse import DeriveContext, derive_window, not_sellable_because

__all__ = ["FORMAT", "MAX_KEYS", "Prepared", "Preparer", "context_key", "load", "micros_now",
           "parser_version", "product"]

FORMAT = 1  # the layout of a form; part of every key
# (form, mask of the keys it holds, valid from, valid until): see `Preparer.prepare`.
Prepared = tuple[bytes, int, int | None, int | None]
MAX_KEYS = 30  # targets prepared per product: one bit each in the stored mask

_FIELDS = tuple(f.name for f in fields(Product))
_INDEX = {name: n for n, name in enumerate(_FIELDS)}
_MONEY = frozenset({"net_price", "price", "sale_price"})
_DECIMAL = frozenset({"weight_kg", "vat_percent"})
_TUPLE = frozenset({"images", "category_ids", "category_path"})
_MAPPING = frozenset({"seo_paths", "raw_variant", "variant_attributes"})
_TIME = frozenset({"availability_date", "sale_start", "sale_end"})
_PLAIN = (str, int, bool, type(None))
_AVAILABILITY = {a.value: a for a in Availability}
_SEVERITY = {s.value: s for s in Severity}


# ---------------------------------------------------------------- keys


@cache
def parser_version() -> str:
    """A digest of the source of everything a derivation runs (`feeds.core`,
    `feeds.vendre.parse`, this module), of the Python version and of `FORMAT`; ''
    when a source cannot be read (then nothing is prepared)."""
    names = sorted(f"feeds.core.{m.name}" for m in pkgutil.iter_modules(feeds.core.__path__))
    digest = hashlib.sha256(f"{FORMAT} {sys.version_info[:2]}".encode())
    for name in ["feeds.core", *names, "feeds.vendre.parse", __name__]:
        spec = importlib.util.find_spec(name)
        loader = spec.loader if spec is not None else None
        source = loader.get_source(name) if loader is not None and \
            hasattr(loader, "get_source") else None
        if source is None:
            return ""
        digest.update(name.encode() + b"\x00" + source.encode("utf-8", "replace"))
    return digest.hexdigest()


def context_key(ctx: DeriveContext) -> str:
    """The key of the forms derived with `ctx`: equal keys, equal products (whatever
    `ctx.now` is, for the products `derive_timeless` gives); '' when nothing is prepared."""
    version = parser_version()
    if not version:
        return ""
    settings = [(f.name, getattr(ctx, f.name)) for f in fields(ctx)
                if f.name not in ("now", "memo", "categories")]
    categories = sorted(ctx.categories.items())
    return hashlib.sha256(repr((version, settings, categories)).encode()).hexdigest()


# ---------------------------------------------------------------- writing


class Preparer:
    """Derives products for the targets of `contexts` (at most `MAX_KEYS`, distinct
    keys) and gives each one's form (`prepare`)."""

    def __init__(self, contexts: Sequence[DeriveContext]) -> None:
        found: dict[str, DeriveContext] = {}
        for ctx in contexts:
            key = context_key(ctx)
            if key and key not in found and len(found) < MAX_KEYS:
                found[key] = ctx
        self.keys = tuple(found)
        self._contexts = tuple(found.values())
        self._all = (1 << len(self.keys)) - 1

    def prepare(self, raw: Any, parent: Any = None) -> Prepared:
        """(form, mask, valid from, valid until) of one product as a build reads it: `raw`
        and `parent` decoded from the stored JSON. Bit n of the mask is set when the form
        holds the product derived under `keys[n]`, the same for a build whose clock is
        within [valid from, valid until) (microseconds since 1970; None: unbounded)."""
        why = not_sellable_because(raw, parent)
        if why:
            return orjson.dumps([why]), self._all, None, None
        parts = [b'""']
        mask = 0
        since: datetime | None = None
        until: datetime | None = None
        for n, ctx in enumerate(self._contexts):
            found = derive_window(raw, ctx, parent)
            stored = _stored(found[0]) if found is not None else b""
            parts.append(stored or b"null")
            if stored:
                mask |= 1 << n
                start, end = found[1]  # type: ignore[index]
                since = start if since is None or start is not None and start > since \
                    else since
                until = end if until is None or end is not None and end < until else until
        return b"[" + b",".join(parts) + b"]", mask, _micros(since), _micros(until)

    def __bool__(self) -> bool:
        return bool(self.keys)


def _micros(moment: datetime | None) -> int | None:
    """`moment` in whole microseconds since 1970 (exact, unlike a float timestamp)."""
    return None if moment is None else (moment - _EPOCH) // _MICROSECOND


def micros_now(now: datetime) -> int:
    """A build's clock in the unit of a form's validity (`Preparer.prepare`)."""
    return (now - _EPOCH) // _MICROSECOND


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _stored(found: Product | None) -> bytes:
    """A product's entry, encoded; b'' when it cannot be stored exactly: a value of a
    type the form does not carry, or one JSON cannot carry (what is stored is loaded
    back here and compared with the entry: a NaN would come back as null)."""
    entry = _entry(found) if found is not None else None
    if entry is None:
        return b""
    try:
        encoded = orjson.dumps(entry)
    except TypeError:  # an integer beyond 64 bits, a lone surrogate, a key not a text
        return b""
    return encoded if orjson.loads(encoded) == entry else b""


_PLAIN_VALUE, _MONEY_VALUE, _DECIMAL_VALUE, _TUPLE_VALUE, _MAPPING_VALUE, _TIME_VALUE = range(6)
_KIND = tuple(_MONEY_VALUE if name in _MONEY else _DECIMAL_VALUE if name in _DECIMAL else
              _TUPLE_VALUE if name in _TUPLE else _MAPPING_VALUE if name in _MAPPING else
              _TIME_VALUE if name in _TIME else _PLAIN_VALUE for name in _FIELDS)


def _entry(found: Product) -> list[Any] | None:
    """A product's fields as JSON values; None for a value of a type not stored."""
    values = vars(found)
    entry = [values[name] for name in _FIELDS]
    for n, kind in enumerate(_KIND):
        value = entry[n]
        if kind == _PLAIN_VALUE:
            if type(value) not in _PLAIN and n != _I_AVAILABILITY and n != _I_VIOLATIONS:
                return None  # datetimes (set only when timed), new types
        elif value is None:
            if kind == _TUPLE_VALUE or kind == _MAPPING_VALUE:
                return None
        elif kind == _MONEY_VALUE:
            if type(value) is not Money or type(value.amount) is not Decimal:
                return None
            entry[n] = [str(value.amount), value.currency]
        elif kind == _DECIMAL_VALUE:
            if type(value) is not Decimal:
                return None
            entry[n] = str(value)
        elif kind == _TIME_VALUE:
            # ISO 8601 keeps the offset the feeds write (fixed offsets only: a zone's
            # rules would not survive the text)
            if type(value) is not datetime or type(value.tzinfo) is not timezone:
                return None
            entry[n] = value.isoformat()
        elif kind == _TUPLE_VALUE:
            if type(value) is not tuple or not all(type(v) in (str, int) for v in value):
                return None
            entry[n] = list(value)
        elif type(value) is not dict:  # a mapping
            return None
    availability = entry[_I_AVAILABILITY]
    if type(availability) is not Availability:
        return None
    entry[_I_AVAILABILITY] = availability.value
    entry[_I_VIOLATIONS] = [[v.severity.value, v.item_id, v.field, v.message, v.rule]
                            for v in entry[_I_VIOLATIONS]]
    return entry


# ---------------------------------------------------------------- reading


def load(form: bytes) -> list[Any]:
    """A stored form decoded: `[reason]`, or `["", entry or None, ...]` by key."""
    return orjson.loads(form)


_I_NET, _I_PRICE, _I_SALE = _INDEX["net_price"], _INDEX["price"], _INDEX["sale_price"]
_I_WEIGHT, _I_VAT = _INDEX["weight_kg"], _INDEX["vat_percent"]
_I_AVAILABILITY, _I_VIOLATIONS = _INDEX["availability"], _INDEX["violations"]
_I_TUPLES = tuple(_INDEX[name] for name in sorted(_TUPLE))
_I_TIMES = tuple(_INDEX[name] for name in sorted(_TIME))


def product(stored: list[Any]) -> Product:
    """The `Product` a stored entry holds."""
    entry = list(stored)
    money = _money
    entry[_I_NET] = money(entry[_I_NET])
    if entry[_I_PRICE] is not None:
        entry[_I_PRICE] = money(entry[_I_PRICE])
    if entry[_I_SALE] is not None:
        entry[_I_SALE] = money(entry[_I_SALE])
    if entry[_I_WEIGHT] is not None:
        entry[_I_WEIGHT] = Decimal(entry[_I_WEIGHT])
    if entry[_I_VAT] is not None:
        entry[_I_VAT] = Decimal(entry[_I_VAT])
    for n in _I_TIMES:
        if entry[n] is not None:
            entry[n] = datetime.fromisoformat(entry[n])
    entry[_I_AVAILABILITY] = _AVAILABILITY[entry[_I_AVAILABILITY]]
    found = entry[_I_VIOLATIONS]
    entry[_I_VIOLATIONS] = tuple(Violation(_SEVERITY[s], i, f, m, r)
                                 for s, i, f, m, r in found) if found else ()
    for n in _I_TUPLES:
        entry[n] = tuple(entry[n])
    return product_of(dict(zip(_FIELDS, entry, strict=True)))


# Prices repeat across a catalogue: each amount is made once (Money is immutable).
_AMOUNTS: dict[tuple[str, str], Money] = {}


def _money(pair: list[str]) -> Money:
    """Money made once per amount and currency, without its dataclass `__init__`."""
    key = (pair[0], pair[1])
    made = _AMOUNTS.get(key)
    if made is None:
        if len(_AMOUNTS) >= 4096:  # a catalogue of ever-new prices: stay small
            _AMOUNTS.clear()
        made = _AMOUNTS[key] = object.__new__(Money)
        object.__setattr__(made, "__dict__", {"amount": Decimal(key[0]), "currency": key[1]})
    return made

