"""Fake CDON and Fyndiq Merchant APIs, served over real HTTP on 127.0.0.1 in a background thread.

Used by the tests and the benchmarks (so: no pytest here)::

    with FakeCdon(ok_after_polls=1) as cdon:        # base url: http://127.0.0.1:PORT/api
        cdon.fail("POST /v2/articles/bulk", 429, headers={"Retry-After": "1"})
        cdon.reject_sku("X-1", code="invalid_category", message="Unknown category 99")
        ...                                         # the client under test talks to cdon.url
        cdon.articles["X-1"]["quantity"]            # the state, by sku
        cdon.calls("POST", "/v2/articles/bulk")     # how many such requests arrived

    with FakeFyndiq() as fyndiq:                    # base url: http://127.0.0.1:PORT/api/v1
        fyndiq.drop_connection("POST /articles/bulk", after_apply=True)

The two APIs share the article model (marketplaces.md 1.2, 2.2-2.4). Both want HTTP Basic auth
`merchant_id:token`; anything else gets 401 and changes nothing.

CDON (paths below the base `/api`):

- `POST /v2/articles/bulk` `{"articles": [...]}` -> 202 `{"batch_id", "success": [{"id", "sku"}],
  "failed": [{"sku", "errors": [{"message", "field": [path...]}]}]}`. `field` is the path to the
  faulty value, e.g. `["price", 0, "value", "currency"]`. A valid article whose sku exists already
  is listed in `success` (with a new id) but not created again; its batch status is `failed` with
  `sku_already_exists`. `max_batch` (default None: no limit, as documented) -> 400 when exceeded.
- `PUT /v2/articles/bulk` `{"actions": [{"sku", "action", "body"}]}` -> 202 `{"batch_id",
  "success": [{"sku", "action"}], "failed": [{"sku", "action", "errors": [...]}]}`.
  `update_article` replaces the article (price and quantity are kept; sending them is an error,
  and so is `sku`, which the action names already: "Fields not relevant to the action should
  be omitted" [I: the collection's key points; it documents no error for it]),
  `update_article_price` replaces the prices of the markets it names, `update_article_quantity`,
  `delete_article` (no body). An unknown sku fails with "Article not found".
- `manufacturer` (GPSR) is checked against the collection's field table: `name` and `address`
  {`street_address`, `city`, `postal_code`, `country` (2 letters)} required; `website`,
  `email`, `responsible_person` {`name`, `phone`?, `email`?} optional. `kn_number` 1-48.
- `POST /v1/statuses/batch` `{"batch_ids": [...]}` and `POST /v1/statuses/sku` `{"skus": [...]}`
  -> 200 in the shape of the collection's "STATUSES" examples::

      {"batches": [{"id": "<batch id>",                             # /statuses/batch
                    "statuses": [{"correlation_id", "article_id", "sku", "action",
                                  "markets": [{"market": "SE", "status": "failed",
                                               "error_code": "invalid_category"}]}]}]}
      {"statuses": [<the same rows>]}                                # /statuses/sku

  A row has no status of its own: its markets say `ok`, `pending` or `failed` (with
  `error_code`; `null` otherwise). By batch: one row per accepted article or action of each
  known batch, in order (a batch id CDON does not know is left out of the answer [I]). By
  sku: the latest change of each live article; an unknown or deleted sku gives one market
  `"*"` failed with `article_does_not_exist`. Every row is `pending` in its first
  `ok_after_polls` answers (0: never), then final: `ok`, or `failed` with
  `sku_already_exists`, `invalid_vat_rate` (a vat_rate outside 0 <= rate < 1, e.g. 25
  instead of 0.25) or what `reject_sku` set up. Rejected and vat-failed articles are still
  stored, as CDON keeps them. `status_shape` = "flat" answers the shape these notes showed
  before (`{"statuses": [{"sku", "batch_id", "status", "error_code", "markets"}],
  "unknown_batch_ids"}`), "list" a bare list of such rows, "other" an object in neither.

Fyndiq (paths below the base `/api/v1`):

- `POST /articles/bulk`: a bare list of at most 100 create bodies -> 202 `{"description":
  "Accepted", "responses": [...]}` in request order: `{"id", "description": "Article was
  created"}`, or `{"description": "Can not create article", "errors": {...}, "status_code": 400}`,
  or `{"description": "SKU already exists, can not create article!", "status_code": 409}`.
  A bulk that is not a list of objects, or too long, -> 400 `{"description": "Invalid payload",
  "errors": {"bulk_payload": [...]}}` (positions count from 0).
- `POST /articles` -> 201 `{"id", "description": "Article was created."}`, 400, or 409.
- `GET /articles/sku/{sku}` -> 200 `{"description": "Article found", "content": {"article":
  {...}}}` or 404; `GET /articles/{id}` -> 200 the article, or 403 (unknown id, as documented).
  Read-back prices follow the docs: `amount` EXCLUDING VAT plus `vat_amount` and `vat_rate`, as
  strings (market default rates SE/DK/NO 0.25, FI 0.255 unless the article gave one).
- `PUT /articles/{id}` (full update, without price/quantity: "We do not support partial
  updates", so every editable field must be present, optional ones as `""` or `[]`: `sku`,
  `parent_sku`, `status`, `categories`, `properties`, `variational_properties`, `brand`,
  `gtin`, `main_image`, `images`, `markets`, `title`, `description`, `shipping_time`; not
  `legacy_product_id`, an integer id from the former platform that no new article has [I]),
  `PUT /articles/{id}/price` (`price` and `original_price`, both required, merged by market),
  `PUT /articles/{id}/quantity`, `DELETE /articles/{id}` -> 204 with no body; 400 invalid
  (e.g. `{"description": "Invalid payload", "errors": {"original_price": ["required
  field"]}}`); 403 for an unknown id or an article `deny()` set up.
- `PUT /articles/bulk`: a bare list of at most 200 `{"action", "id", "body"}` (body always
  present, `{}` for delete; one action at most once per article) -> 202 with `responses` in
  request order: `{"description": "Accepted", "status_code": 202}`, `{"description": "Invalid
  payload", "errors": {...}, "status_code": 400}` or `{"description": "No permission to edit
  article", "status_code": 403}` (an unknown id, or an article `deny()` set up).

Fyndiq errors are Cerberus-shaped as in its docs: `{"title": [{"0": [{"value": ["max length is
64"]}]}]}`. Messages are Cerberus' ("required field", "unknown field", "max length is 64", "must
be of integer type", "unallowed value X", "null value not allowed") for both APIs, except CDON's
own "Required field missing", "Field not allowed" and "Article not found". Checked beyond the
field table: each market in `markets` needs a `price` and a `shipping_time` entry, currencies
must match the market, shipping `min` <= `max`, and Fyndiq text may not hold HTML tags.

Faults are rules checked in the order added; the first that matches and has tries left is used
once. A target is a path pattern below the base (`fnmatch`, `*` crosses `/`), optionally after
a method: `"POST /v2/articles/bulk"`, `"/articles/*/quantity"`, `"*"`. `fail` answers a status
(429 or 500 with e.g. `Retry-After`), `drop_connection` closes the socket without an answer.
With `after_apply=True` the request is carried out first and only its answer is lost, as when
a run dies between sending and recording: a retry must not create twice.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Any, ClassVar, Self

import orjson
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.loopback import LoopbackFake, QuietHandler
from tests.fakes.misbehave import Match

__all__ = [
    "DEFAULT_MERCHANT_ID",
    "DEFAULT_TOKEN",
    "FakeCdon",
    "FakeFyndiq",
    "LoggedRequest",
]

DEFAULT_MERCHANT_ID = "fake-merchant-4711"
DEFAULT_TOKEN = "fake-merchant-token-c8e1f03b"

MARKETS = ("SE", "DK", "FI", "NO")
CURRENCY = {"SE": "SEK", "DK": "DKK", "FI": "EUR", "NO": "NOK"}
DEFAULT_VAT = {"SE": Decimal("0.25"), "DK": Decimal("0.25"), "FI": Decimal("0.255"),
               "NO": Decimal("0.25")}
STATUSES = ("for sale", "paused")
ACTIONS = ("update_article", "update_article_price", "update_article_quantity", "delete_article")
MAX_QUANTITY = 500_000
MAX_AMOUNT = 9_999_999
CENT = Decimal("0.01")

# ---------------------------------------------------------------- validation

PathT = tuple[str | int, ...]
Errors = list[tuple[PathT, str]]
Check = Callable[[Any, PathT, Errors], None]

_URL = re.compile(r"https?://[^\s/?#]+[^\s]*\Z")
_HTML = re.compile(r"<\s*/?\s*[A-Za-z][^<>]*>")


@dataclass(frozen=True)
class _Words:
    required: str
    unknown: str


CDON_WORDS = _Words(required="Required field missing", unknown="Field not allowed")
FYNDIQ_WORDS = _Words(required="required field", unknown="unknown field")


def _string(lo: int, hi: int | None = None) -> Check:
    def check(value: Any, path: PathT, errors: Errors) -> None:
        if not isinstance(value, str):
            errors.append((path, "must be of string type"))
        elif len(value) < lo:
            errors.append((path, f"min length is {lo}"))
        elif hi is not None and len(value) > hi:
            errors.append((path, f"max length is {hi}"))
    return check


def _choice(allowed: Iterable[str]) -> Check:
    values = frozenset(allowed)

    def check(value: Any, path: PathT, errors: Errors) -> None:
        if not isinstance(value, str) or value not in values:
            errors.append((path, f"unallowed value {value}"))
    return check


def _range(value: float, path: PathT, errors: Errors, lo: float | None, hi: float | None) -> None:
    if lo is not None and value < lo:
        errors.append((path, f"min value is {lo}"))
    elif hi is not None and value > hi:
        errors.append((path, f"max value is {hi}"))


def _integer(lo: int, hi: int) -> Check:
    def check(value: Any, path: PathT, errors: Errors) -> None:
        if type(value) is not int:
            errors.append((path, "must be of integer type"))
        else:
            _range(value, path, errors, lo, hi)
    return check


def _number(lo: float | None, hi: float | None) -> Check:
    def check(value: Any, path: PathT, errors: Errors) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append((path, "must be of float type"))
        else:
            _range(value, path, errors, lo, hi)
    return check


def _all(*checks: Check) -> Check:
    """The checks in turn, stopping at the first that finds something."""
    def check(value: Any, path: PathT, errors: Errors) -> None:
        before = len(errors)
        for one in checks:
            one(value, path, errors)
            if len(errors) > before:
                return
    return check


def _url_shape(value: Any, path: PathT, errors: Errors) -> None:
    if not _URL.match(value):
        errors.append((path, "must be a valid URL"))


def _no_html(value: Any, path: PathT, errors: Errors) -> None:
    if _HTML.search(value):
        errors.append((path, "HTML is not allowed"))


def _anything(value: Any, path: PathT, errors: Errors) -> None:
    pass


def _object(value: Any, path: PathT, errors: Errors) -> None:
    if not isinstance(value, dict):
        errors.append((path, "must be of dict type"))


def _list(item: Check, *, lo: int = 0, hi: int | None = None) -> Check:
    def check(value: Any, path: PathT, errors: Errors) -> None:
        if not isinstance(value, list):
            errors.append((path, "must be of list type"))
            return
        if len(value) < lo:
            errors.append((path, "empty values not allowed" if lo == 1 else f"min length is {lo}"))
        elif hi is not None and len(value) > hi:
            errors.append((path, f"max length is {hi}"))
        for index, element in enumerate(value):
            item(element, (*path, index), errors)
    return check


def _record(fields: Mapping[str, Check], required: Iterable[str], words: _Words) -> Check:
    """An object with known `fields`; `required` ones must be there, others are refused."""
    needed = tuple(required)

    def check(value: Any, path: PathT, errors: Errors) -> None:
        if not isinstance(value, dict):
            errors.append((path, "must be of dict type"))
            return
        for name in needed:
            if name not in value:
                errors.append(((*path, name), words.required))
        for name, element in value.items():
            one = fields.get(name)
            if one is None:
                errors.append(((*path, name), words.unknown))
            elif element is None:
                errors.append(((*path, name), "null value not allowed"))
            else:
                one(element, (*path, name), errors)
    return check


def _localized(value_check: Check, languages: Iterable[str], words: _Words) -> Check:
    entry = _record({"language": _choice(languages), "value": value_check},
                    ("language", "value"), words)
    return _list(entry, lo=1)


def _price_entry(amount_keys: tuple[str, ...], vat_rate: Check, words: _Words) -> Check:
    """`{"market", "value": {<amount key>, "currency", "vat_rate"?}}`, currency of the market."""
    value_fields = {key: _number(0, MAX_AMOUNT) for key in amount_keys}
    value_fields |= {"currency": _choice(CURRENCY.values()), "vat_rate": vat_rate}
    inner = _record(value_fields, ("currency",), words)

    def value_check(value: Any, path: PathT, errors: Errors) -> None:
        inner(value, path, errors)
        if isinstance(value, dict) and not any(key in value for key in amount_keys):
            errors.append(((*path, amount_keys[0]), words.required))

    entry = _record({"market": _choice(MARKETS), "value": value_check}, ("market", "value"), words)

    def check(value: Any, path: PathT, errors: Errors) -> None:
        before = len(errors)
        entry(value, path, errors)
        if len(errors) == before:
            market, currency = value["market"], value["value"]["currency"]
            if CURRENCY[market] != currency:
                errors.append(((*path, "value", "currency"),
                               f"unallowed value {currency} for market {market}"))
    return check


def _shipping_entry(words: _Words) -> Check:
    entry = _record({"market": _choice(MARKETS), "min": _integer(1, 9), "max": _integer(1, 9)},
                    ("market", "min", "max"), words)

    def check(value: Any, path: PathT, errors: Errors) -> None:
        before = len(errors)
        entry(value, path, errors)
        if len(errors) == before and value["min"] > value["max"]:
            errors.append(((*path, "min"), "min must not be greater than max"))
    return check


@dataclass(frozen=True)
class _Flavour:
    """What differs between the CDON and the Fyndiq article model."""

    words: _Words
    languages: tuple[str, ...]
    title_max: int
    no_html: bool
    amount_keys: tuple[str, ...]
    vat_rate: Check
    delivery_types: tuple[str, ...]
    variational_max: int | None
    extra: Mapping[str, Check]
    price_fields: tuple[str, ...]
    price_required: tuple[str, ...]
    create_required: tuple[str, ...]
    update_required: tuple[str, ...]
    update_sku: bool  # whether an update_article body names its sku (Fyndiq) or not (CDON)


def _article_fields(flavour: _Flavour, *, update: bool) -> dict[str, Check]:
    """The article's field checks; a full update may blank optional strings and has no
    price or quantity."""
    words, opt = flavour.words, 0 if update else 1
    title, text = _string(5, flavour.title_max), _string(10, 4096)
    if flavour.no_html:
        title, text = _all(title, _no_html), _all(text, _no_html)
    url = _all(_string(1, 1500), _url_shape)
    prop = _record({"name": _string(1), "value": _string(1, 36),
                    "language": _choice(flavour.languages)}, ("name", "value"), words)
    delivery = _record({"market": _choice(MARKETS), "value": _choice(flavour.delivery_types)},
                       ("market", "value"), words)
    fields: dict[str, Check] = {
        "sku": _string(1, 64),
        "parent_sku": _string(opt, 64),
        "status": _choice(STATUSES),
        "main_image": url,
        "images": _list(url, hi=10),
        "markets": _list(_choice(MARKETS), lo=1),
        "title": _localized(title, flavour.languages, words),
        "description": _localized(text, flavour.languages, words),
        "shipping_time": _list(_shipping_entry(words), lo=1),
        "properties": _list(prop),
        "variational_properties": _list(_string(1), hi=flavour.variational_max),
        "brand": _string(opt, 50),
        "gtin": _string(opt, 13),
        "delivery_type": _list(delivery),
        "kn_number": _string(opt, 48),
        **flavour.extra,
    }
    if not update:
        fields["quantity"] = _integer(0, MAX_QUANTITY)
        prices = _list(_price_entry(flavour.amount_keys, flavour.vat_rate, words), lo=1)
        fields |= {name: prices for name in flavour.price_fields}
    elif not flavour.update_sku:
        del fields["sku"]
    return fields


@dataclass(frozen=True)
class _Schema:
    create: Check
    update: Check
    price: Check
    quantity: Check

    def for_action(self, action: str) -> tuple[Check, tuple[str, ...]]:
        """The body check of an update action and the lists that must cover every market."""
        return {
            "update_article": (self.update, ("shipping_time",)),
            "update_article_price": (self.price, ()),
            "update_article_quantity": (self.quantity, ()),
        }[action]


def _schema(flavour: _Flavour) -> _Schema:
    words = flavour.words
    prices = _list(_price_entry(flavour.amount_keys, flavour.vat_rate, words), lo=1)
    return _Schema(
        create=_record(_article_fields(flavour, update=False), flavour.create_required, words),
        update=_record(_article_fields(flavour, update=True), flavour.update_required, words),
        price=_record({name: prices for name in flavour.price_fields}, flavour.price_required,
                      words),
        quantity=_record({"quantity": _integer(0, MAX_QUANTITY)}, ("quantity",), words),
    )


_REQUIRED = ("sku", "status", "quantity", "main_image", "markets", "title", "description",
             "price", "shipping_time")
# Fyndiq's "Update an article" table: every editable field must be present.
FYNDIQ_EDITABLE = ("sku", "parent_sku", "status", "categories", "properties",
                   "variational_properties", "brand", "gtin", "main_image", "images", "markets",
                   "title", "description", "shipping_time")
_ADDRESS = _record({"street_address": _string(1), "city": _string(1),
                    "postal_code": _string(1), "country": _string(2, 2)},
                   ("street_address", "city", "postal_code", "country"), CDON_WORDS)
_PERSON = _record({"name": _string(1), "phone": _string(1), "email": _string(1)}, ("name",),
                  CDON_WORDS)
_MANUFACTURER = _record({"name": _string(1), "address": _ADDRESS, "website": _string(1),
                         "email": _string(1), "responsible_person": _PERSON},
                        ("name", "address"), CDON_WORDS)
_UPDATE_REQUIRED = ("status", "main_image", "markets", "shipping_time", "title", "description")
COVERED = ("price", "shipping_time")

CDON = _schema(_Flavour(
    words=CDON_WORDS,
    languages=("sv-SE", "en-US", "da-DK", "fi-FI", "nb-NO"),
    title_max=150,
    no_html=False,
    amount_keys=("amount_including_vat",),
    vat_rate=_number(None, None),  # out of range -> invalid_vat_rate in the statuses
    delivery_types=("mailbox", "service_point", "home_delivery"),
    variational_max=None,
    extra={"category": _string(1), "shipped_from": _choice(("EU", "NON_EU")),
           "manufacturer": _MANUFACTURER,
           **dict.fromkeys(("unique_selling_points", "specifications", "classifications",
                            "availability_dates", "internal_note", "mpn"), _anything)},
    price_fields=("price",),
    price_required=("price",),
    create_required=_REQUIRED,
    update_required=_UPDATE_REQUIRED,
    update_sku=False,
))

FYNDIQ = _schema(_Flavour(
    words=FYNDIQ_WORDS,
    languages=("sv-SE", "en-US"),
    title_max=64,
    no_html=True,
    amount_keys=("amount", "amount_including_vat"),
    vat_rate=_number(0, 1),
    delivery_types=("mailbox", "service_point"),
    variational_max=2,
    extra={"categories": _list(_string(1), lo=1, hi=5),
           "legacy_product_id": _integer(0, 100_000_000)},
    price_fields=("price", "original_price"),
    price_required=("price", "original_price"),   # "Update an article price": both required
    create_required=(*_REQUIRED, "categories"),
    update_required=FYNDIQ_EDITABLE,
    update_sku=True,
))

_CDON_ACTION = _record({"sku": _string(1, 64), "action": _choice(ACTIONS), "body": _anything},
                       ("sku", "action"), CDON_WORDS)
_FYNDIQ_ACTION = _record({"action": _choice(ACTIONS), "id": _string(1), "body": _object},
                         ("action", "id", "body"), FYNDIQ_WORDS)


def _validate(check: Check, body: Any, covered: tuple[str, ...] = ()) -> Errors:
    """Errors of `body`; when it is well-formed, also every market without a `covered` entry."""
    errors: Errors = []
    check(body, (), errors)
    if not errors:
        for name in covered:
            if name in body:
                have = {entry["market"] for entry in body[name]}
                errors.extend(((name,), f"missing entry for market {market}")
                              for market in body["markets"] if market not in have)
    return errors


def _flat(errors: Errors) -> list[dict[str, Any]]:
    """CDON's error list: `[{"message", "field": [path...]}]`."""
    return [{"message": message, "field": list(path)} for path, message in errors]


def _nested(errors: Errors) -> dict[str, list[Any]]:
    """Fyndiq's (Cerberus') error tree: `{"title": [{"0": [{"value": ["max length is 64"]}]}]}`."""
    tree: dict[str, list[Any]] = {}
    for path, message in errors:
        node, keys = tree, [str(key) for key in path] or ["payload"]
        for key in keys[:-1]:
            items = node.setdefault(key, [])
            child = next((item for item in items if isinstance(item, dict)), None)
            if child is None:
                child = {}
                items.append(child)
            node = child
        node.setdefault(keys[-1], []).append(message)
    return tree


def _merged_prices(old: Any, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`old` with the markets named in `new` replaced (or added)."""
    by_market = {e.get("market"): e for e in old if isinstance(e, dict)} \
        if isinstance(old, list) else {}
    by_market.update((entry["market"], entry) for entry in new)
    return list(by_market.values())


def _price_as_read(entries: Any) -> Any:
    """Fyndiq's read-back price: amount excluding VAT, vat_amount and vat_rate, as strings."""
    try:
        out = []
        for entry in entries:
            value = entry["value"]
            gross = Decimal(str(value["amount"] if "amount" in value
                                else value["amount_including_vat"]))
            rate = (Decimal(str(value["vat_rate"])) if "vat_rate" in value
                    else DEFAULT_VAT[entry["market"]])
            net = (gross / (1 + rate)).quantize(CENT, ROUND_HALF_UP)
            out.append({"market": entry["market"],
                        "value": {"amount": str(net), "currency": value["currency"],
                                  "vat_amount": str((gross - net).quantize(CENT)),
                                  "vat_rate": str(rate)}})
        return out
    except (KeyError, TypeError, InvalidOperation):
        return entries  # a preloaded article that never was valid: shown as stored


# ---------------------------------------------------------------- serving machinery


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the fake saw it. The credentials are not kept, only whether they matched."""

    method: str
    path: str  # below the API base, e.g. "/v2/articles/bulk"
    items: int | None  # articles/actions/ids in the body; 1 for one object; None without JSON
    status: int | None  # None: the connection was closed without an answer
    authorized: bool
    fault: str | None = None  # "fail", "drop", "fail-after-apply" or "drop-after-apply"


@dataclass
class _Fault(Match):
    status: int | None  # None = close the connection without an answer
    headers: dict[str, str]
    after_apply: bool

    @property
    def label(self) -> str:
        kind = "drop" if self.status is None else "fail"
        return f"{kind}-after-apply" if self.after_apply else kind


@dataclass
class _Outcome:
    response: Response | None  # None: drop the connection
    authorized: bool
    fault: str | None = None


class _ConnectionDropped(ConnectionError):
    """Raised out of the WSGI app to close the socket without writing anything."""


class _DroppingHandler(QuietHandler):
    """A dropped answer closes the connection."""

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        if isinstance(error, _ConnectionDropped):
            self.close_connection = True  # nothing was sent: do not wait for a next request


def _json(payload: Any, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status=status, headers=dict(headers or {}),
                    mimetype="application/json")


def _parse(data: bytes) -> tuple[Any, int | None, bool]:
    """(body, number of items, whether the body was not JSON)."""
    if not data.strip():
        return None, None, False
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None, None, True
    return body, _count(body), False


def _count(body: Any) -> int | None:
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        for key in ("articles", "actions", "batch_ids", "skus"):
            if isinstance(body.get(key), list):
                return len(body[key])
        return 1
    return None


class _FakeMerchantApi(LoopbackFake):
    """What both fakes share: server, auth, faults, request log and the articles by sku."""

    prefix: ClassVar[str] = ""
    thread_name: ClassVar[str] = "fake-merchant"
    handler = _DroppingHandler
    words: ClassVar[_Words] = FYNDIQ_WORDS

    def __init__(self, *, merchant_id: str, token: str, latency: float, seed: int) -> None:
        self.merchant_id = merchant_id
        self.token = token
        self.latency = latency
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._articles: dict[str, dict[str, Any]] = {}
        self._id_of: dict[str, str] = {}
        self._sku_of: dict[str, str] = {}
        self._faults: list[_Fault] = []
        self._log: list[LoggedRequest] = []
        self._duplicates: list[str] = []
        self._urls = Map(self._routes(), strict_slashes=False, merge_slashes=False)
        self._init_server()

    # ------------------------------------------------------------ set-up

    def fail(self, target: str, status: int, *, times: int | None = 1,
             headers: Mapping[str, str] | None = None, after_apply: bool = False) -> Self:
        """Answer `status` (with `headers`, e.g. Retry-After) `times` times, then recover.

        With `after_apply` the request is carried out first; only its answer is replaced.
        """
        method, pattern = Match.target(target)
        return self._add(_Fault(method, pattern, times, status, dict(headers or {}), after_apply))

    def drop_connection(self, target: str, *, times: int | None = 1,
                        after_apply: bool = False) -> Self:
        """Close the connection without an answer (after carrying the request out, if asked)."""
        method, pattern = Match.target(target)
        return self._add(_Fault(method, pattern, times, None, {}, after_apply))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def preload(self, articles: Iterable[Mapping[str, Any]]) -> list[str]:
        """Store articles as existing already (unchecked, e.g. 100,000 for a benchmark); ids."""
        with self._lock:
            return [self._insert(str(article["sku"]), dict(article)) for article in articles]

    def _add(self, fault: _Fault) -> Self:
        with self._lock:
            self._faults.append(fault)
        return self

    # ------------------------------------------------------------ running

    @property
    def url(self) -> str:
        """The API base, e.g. `http://127.0.0.1:PORT/api` (CDON) or `.../api/v1` (Fyndiq)."""
        return f"{self.base_url}{self.prefix}"

    # ------------------------------------------------------------ inspection

    @property
    def articles(self) -> dict[str, dict[str, Any]]:
        """The live articles by sku, as last sent (a snapshot; the fake never mutates them)."""
        with self._lock:
            return dict(self._articles)

    def article(self, sku: str) -> dict[str, Any] | None:
        with self._lock:
            return self._articles.get(sku)

    @property
    def duplicate_creates(self) -> list[str]:
        """The SKUs of every create refused (CDON: accepted, but not applied) because the
        article existed already, in order."""
        with self._lock:
            return list(self._duplicates)

    def article_id(self, sku: str) -> str | None:
        """The id the fake gave the live article `sku`."""
        with self._lock:
            return self._id_of.get(sku)

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request so far, in the order the answers were finished."""
        with self._lock:
            return list(self._log)

    def calls(self, method: str | None = None, path: str = "*") -> int:
        """How many requests matched `method` (None: any) and the path pattern."""
        pattern = Match.target(path)[1]
        return sum(1 for r in self.requests
                   if method in (None, r.method) and fnmatchcase(r.path, pattern))

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    # ------------------------------------------------------------ serving

    def _routes(self) -> list[Rule]:
        raise NotImplementedError

    def _error(self, status: int, message: str,
               headers: Mapping[str, str] | None = None) -> Response:
        raise NotImplementedError

    def _invalid(self, errors: Errors) -> Response:
        raise NotImplementedError

    def _unauthorized(self) -> Response:
        raise NotImplementedError

    def _wsgi(self, environ: dict, start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        body, items, broken = _parse(request.get_data(cache=False))
        path = self._relative(request.path)
        outcome = self._serve(request.method, path, request, body, broken)
        status = outcome.response.status_code if outcome.response is not None else None
        entry = LoggedRequest(request.method, path or request.path, items, status,
                              outcome.authorized, outcome.fault)
        with self._lock:
            self._log.append(entry)
        if outcome.response is None:
            raise _ConnectionDropped("injected fault: no answer")
        return outcome.response(environ, start_response)

    def _serve(self, method: str, path: str | None, request: Request, body: Any,
               broken: bool) -> _Outcome:
        if not self._authorized(request):
            return _Outcome(self._unauthorized(), authorized=False)
        if self.latency:
            self._stopping.wait(self.latency)
        fault = self._take_fault(method, path or "")
        if fault is not None and not fault.after_apply:
            return _Outcome(self._fault_response(fault), True, fault.label)
        if broken:
            response = self._error(400, "Invalid JSON")
        else:
            response = self._dispatch(method, path, body)
        if fault is not None:
            return _Outcome(self._fault_response(fault), True, fault.label)
        return _Outcome(response, True)

    def _relative(self, path: str) -> str | None:
        if path == self.prefix or path.startswith(self.prefix + "/"):
            return path[len(self.prefix):] or "/"
        return None

    def _authorized(self, request: Request) -> bool:
        auth = request.authorization
        return (auth is not None and auth.type == "basic"
                and auth.username == self.merchant_id and auth.password == self.token)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            return next((f for f in self._faults if f.take(method, path)), None)

    def _fault_response(self, fault: _Fault) -> Response | None:
        if fault.status is None:
            return None
        return self._error(fault.status, HTTP_STATUS_CODES.get(fault.status, "Error"),
                           fault.headers)

    def _dispatch(self, method: str, path: str | None, body: Any) -> Response:
        if path is None:
            return self._error(404, "Not Found")
        try:
            endpoint, args = self._urls.bind("127.0.0.1").match(path, method)
        except HTTPException as exc:
            return self._error(exc.code or 404, exc.name)
        return getattr(self, f"_ep_{endpoint}")(body, **args)

    # ------------------------------------------------------------ state (callers hold the lock)

    def _new_id(self) -> str:
        with self._lock:
            return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def _insert(self, sku: str, article: dict[str, Any]) -> str:
        article_id = self._new_id()
        self._articles[sku] = article
        self._id_of[sku] = article_id
        self._sku_of[article_id] = sku
        return article_id

    def _remove(self, sku: str) -> None:
        self._articles.pop(sku, None)
        self._sku_of.pop(self._id_of.pop(sku, ""), None)

    def _changed(self, sku: str, action: str, body: dict[str, Any]) -> dict[str, Any] | Errors:
        """The article after an update action, or the errors that prevent it."""
        old = self._articles[sku]
        if action == "update_article":
            if body.get("sku", sku) != sku:
                return [(("sku",), "sku can not be changed")]
            kept = {k: old[k] for k in ("quantity", "price", "original_price") if k in old}
            return {"sku": sku, **body, **kept}
        if action == "update_article_quantity":
            return {**old, "quantity": body["quantity"]}
        new = {**old, "price": _merged_prices(old.get("price"), body["price"])}
        if "original_price" in body:
            new["original_price"] = _merged_prices(old.get("original_price"),
                                                   body["original_price"])
        return new


# ---------------------------------------------------------------- CDON


@dataclass
class _Tracked:
    """One accepted article or action, as the statuses report it."""

    sku: str
    batch_id: str | None
    markets: list[str]
    failures: dict[str, tuple[str, str]]  # market -> (error_code, message), known at submission
    action: str = "create_article"  # [I] the collection's examples say only "string"
    article_id: str | None = None
    polls: int = 0


@dataclass(frozen=True)
class _Rejection:
    code: str
    message: str
    markets: frozenset[str] | None  # None = every market


def _vat_failures(prices: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    failures = {}
    for entry in prices:
        rate = entry["value"].get("vat_rate")
        if rate is not None and not 0 <= rate < 1:
            failures[entry["market"]] = ("invalid_vat_rate",
                                         f"vat_rate must be a fraction such as 0.25, not {rate}")
    return failures


def _markets_of(article: Mapping[str, Any]) -> list[str]:
    markets = article.get("markets")
    return [m for m in markets if isinstance(m, str)] if isinstance(markets, list) else []


STATUS_SHAPES = ("batches", "flat", "list", "other")


def _missing_sku(sku: Any) -> dict[str, Any]:
    return {"correlation_id": None, "article_id": None, "sku": sku, "action": None,
            "markets": [{"market": "*", "status": "failed",
                         "error_code": "article_does_not_exist"}]}


def _flat_row(row: Mapping[str, Any], batch_id: str | None, messages: Mapping[str, str]
              ) -> dict[str, Any]:
    """A documented row in the shape these notes showed before: a top-level status, the
    batch id, and messages."""
    markets = [{k: v for k, v in m.items() if v is not None} for m in row["markets"]]
    for market in markets:
        if market.get("error_code") in messages:
            market["message"] = messages[market["error_code"]]
    states = {m["status"] for m in markets}
    flat: dict[str, Any] = {"sku": row["sku"], "batch_id": batch_id,
                            "status": "failed" if "failed" in states else
                            "pending" if "pending" in states else "ok", "markets": markets}
    failed = next((m for m in markets if m["status"] == "failed"), None)
    if failed is not None:
        flat |= {"error_code": failed["error_code"], "message": failed.get("message", "")}
    return flat


class FakeCdon(_FakeMerchantApi):
    """CDON's Merchants API: bulk create/update keyed by sku, and batch/sku statuses.

    :param max_batch: the most articles or actions one bulk call may hold (None: no limit).
    :param ok_after_polls: how many status answers show an accepted article as `pending`
        before its final status (0: final at once).
    :param status_shape: "batches" (the documented answers), "flat" or "list" (the shapes
        these notes showed before) or "other" (an answer in no known shape).
    :param latency: seconds added to every answer.
    :param seed: seeds the ids handed out, so runs repeat.
    """

    prefix = "/api"
    thread_name = "fake-cdon"
    words = CDON_WORDS

    def __init__(self, *, merchant_id: str = DEFAULT_MERCHANT_ID, token: str = DEFAULT_TOKEN,
                 max_batch: int | None = None, ok_after_polls: int = 1, latency: float = 0.0,
                 seed: int = 0, status_shape: str = "batches") -> None:
        if status_shape not in STATUS_SHAPES:
            raise ValueError(f"status_shape: one of {', '.join(STATUS_SHAPES)}")
        self.max_batch = max_batch
        self.ok_after_polls = ok_after_polls
        self.status_shape = status_shape
        self._batches: dict[str, list[_Tracked]] = {}
        self._latest: dict[str, _Tracked] = {}
        self._rejected: dict[str, _Rejection] = {}
        super().__init__(merchant_id=merchant_id, token=token, latency=latency, seed=seed)

    def reject_sku(self, sku: str, code: str = "invalid_category",
                   message: str = "Invalid category", *,
                   markets: Iterable[str] | None = None) -> Self:
        """Accept `sku` but report it `failed` with `code` (in `markets`, default all)."""
        with self._lock:
            self._rejected[sku] = _Rejection(code, message,
                                             None if markets is None else frozenset(markets))
        return self

    @property
    def batches(self) -> dict[str, list[str]]:
        """The skus accepted in each batch, by batch id, in the order the batches were made."""
        with self._lock:
            return {bid: [t.sku for t in tracked] for bid, tracked in self._batches.items()}

    def preload(self, articles: Iterable[Mapping[str, Any]]) -> list[str]:
        """Store articles as existing already; their status is `ok`."""
        articles = [dict(article) for article in articles]
        with self._lock:
            ids = super().preload(articles)
            for article in articles:
                self._latest[str(article["sku"])] = _Tracked(
                    str(article["sku"]), None, _markets_of(article), {},
                    article_id=self._id_of.get(str(article["sku"])),
                    polls=self.ok_after_polls)
        return ids

    # ------------------------------------------------------------ serving

    def _routes(self) -> list[Rule]:
        return [
            Rule("/v2/articles/bulk", methods=["POST"], endpoint="create"),
            Rule("/v2/articles/bulk", methods=["PUT"], endpoint="update"),
            Rule("/v1/statuses/batch", methods=["POST"], endpoint="statuses_batch"),
            Rule("/v1/statuses/sku", methods=["POST"], endpoint="statuses_sku"),
        ]

    def _error(self, status: int, message: str,
               headers: Mapping[str, str] | None = None) -> Response:
        return _json({"message": message}, status, headers)

    def _invalid(self, errors: Errors) -> Response:
        return _json({"message": "Invalid payload", "errors": _flat(errors)}, 400)

    def _unauthorized(self) -> Response:
        return self._error(401, "Unauthorized")

    def _bulk_list(self, body: Any, key: str) -> list[Any] | Response:
        """`body[key]` when it is a list within `max_batch`, else the 400 to answer."""
        if not isinstance(body, dict) or key not in body:
            return self._invalid([((key,), self.words.required)])
        items = body[key]
        if not isinstance(items, list):
            return self._invalid([((key,), "must be of list type")])
        if self.max_batch is not None and len(items) > self.max_batch:
            return self._invalid([((key,), f"max length is {self.max_batch}")])
        return items

    def _ep_create(self, body: Any) -> Response:
        articles = self._bulk_list(body, "articles")
        if isinstance(articles, Response):
            return articles
        checked = [(article, _validate(CDON.create, article, COVERED)) for article in articles]
        success: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        with self._lock:
            batch_id = self._open_batch()
            for article, errors in checked:
                if errors:
                    sku = article.get("sku") if isinstance(article, dict) else None
                    failed.append({"sku": sku, "errors": _flat(errors)})
                else:
                    success.append(self._create(article, batch_id))
        return _json({"batch_id": batch_id, "success": success, "failed": failed}, 202)

    def _open_batch(self) -> str:
        batch_id = self._new_id()
        self._batches[batch_id] = []
        return batch_id

    def _create(self, article: dict[str, Any], batch_id: str) -> dict[str, Any]:
        sku = article["sku"]
        if sku in self._articles:
            self._duplicates.append(sku)
            failure = ("sku_already_exists", "SKU already exists")
            self._batches[batch_id].append(
                _Tracked(sku, batch_id, article["markets"], dict.fromkeys(article["markets"],
                                                                          failure)))
            return {"id": self._new_id(), "sku": sku}
        article_id = self._insert(sku, article)
        self._track(sku, batch_id, article["markets"], _vat_failures(article["price"]),
                    "create_article")
        return {"id": article_id, "sku": sku}

    def _track(self, sku: str, batch_id: str, markets: list[str],
               failures: dict[str, tuple[str, str]], action: str) -> None:
        tracked = _Tracked(sku, batch_id, markets, failures, action, self._id_of.get(sku))
        self._batches[batch_id].append(tracked)
        self._latest[sku] = tracked

    def _ep_update(self, body: Any) -> Response:
        actions = self._bulk_list(body, "actions")
        if isinstance(actions, Response):
            return actions
        checked = [(action, _check_cdon_action(action)) for action in actions]
        success: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        with self._lock:
            batch_id = self._open_batch()
            for action, errors in checked:
                sku = action.get("sku") if isinstance(action, dict) else None
                name = action.get("action") if isinstance(action, dict) else None
                errors = errors or self._apply(sku, name, action.get("body") or {}, batch_id)
                if errors:
                    failed.append({"sku": sku, "action": name, "errors": _flat(errors)})
                else:
                    success.append({"sku": sku, "action": name})
        return _json({"batch_id": batch_id, "success": success, "failed": failed}, 202)

    def _apply(self, sku: str, action: str, body: dict[str, Any], batch_id: str) -> Errors:
        if sku not in self._articles:
            return [(("sku",), "Article not found")]
        if action == "delete_article":
            markets = _markets_of(self._articles[sku])
            self._remove(sku)
            self._batches[batch_id].append(_Tracked(sku, batch_id, markets, {}, action))
            self._latest.pop(sku, None)
            return []
        new = self._changed(sku, action, body)
        if isinstance(new, list):
            return new
        self._articles[sku] = new
        failures = _vat_failures(body["price"]) if action == "update_article_price" else {}
        self._track(sku, batch_id, _markets_of(new), failures, action)
        return []

    def _ep_statuses_batch(self, body: Any) -> Response:
        ids = _strings(body, "batch_ids")
        if ids is None:
            return self._invalid([(("batch_ids",), "must be a list of strings")])
        with self._lock:
            known = [b for b in ids if b in self._batches]
            batches = [(b, [self._status(t) for t in self._batches[b]]) for b in known]
        if self.status_shape == "batches":
            return _json({"batches": [{"id": b, "statuses": rows} for b, rows in batches]}, 200)
        flat = [_flat_row(row, b, self._messages()) for b, rows in batches for row in rows]
        unknown = [b for b in ids if b not in known]
        return self._other_shape(flat, {"unknown_batch_ids": unknown})

    def _ep_statuses_sku(self, body: Any) -> Response:
        skus = _strings(body, "skus")
        if skus is None:
            return self._invalid([(("skus",), "must be a list of strings")])
        with self._lock:
            tracked = [self._latest.get(sku) for sku in skus]
            rows = [self._status(t) if t is not None else _missing_sku(sku)
                    for sku, t in zip(skus, tracked, strict=True)]
        if self.status_shape == "batches":
            return _json({"statuses": rows}, 200)
        flat = [_flat_row(row, t.batch_id if t is not None else None, self._messages())
                for row, t in zip(rows, tracked, strict=True)]
        return self._other_shape(flat, {})

    def _other_shape(self, flat: list[dict[str, Any]], extra: dict[str, Any]) -> Response:
        if self.status_shape == "flat":
            return _json({"statuses": flat, **extra}, 200)
        if self.status_shape == "list":
            return _json(flat, 200)
        return _json({"results": flat}, 200)  # "other": a shape nobody documented

    def _messages(self) -> dict[str, str]:
        return {r.code: r.message for r in self._rejected.values()}

    def _status(self, tracked: _Tracked) -> dict[str, Any]:
        """One documented row: its markets' verdicts, one `"*"` market when they agree."""
        pending = tracked.polls < self.ok_after_polls
        tracked.polls += 1
        rejection = self._rejected.get(tracked.sku)
        markets = [self._market_status(tracked, market, pending, rejection)
                   for market in tracked.markets]
        if len({(m["status"], m["error_code"]) for m in markets}) <= 1:
            first = markets[0] if markets else {"status": "ok", "error_code": None}
            markets = [{**first, "market": "*"}]
        return {"correlation_id": self._new_id(),
                "article_id": tracked.article_id, "sku": tracked.sku, "action": tracked.action,
                "markets": markets}

    @staticmethod
    def _market_status(tracked: _Tracked, market: str, pending: bool,
                       rejection: _Rejection | None) -> dict[str, Any]:
        if pending:
            return {"market": market, "status": "pending", "error_code": None}
        failure = tracked.failures.get(market)
        if failure is None and rejection is not None and (
                rejection.markets is None or market in rejection.markets):
            failure = (rejection.code, rejection.message)
        if failure is None:
            return {"market": market, "status": "ok", "error_code": None}
        return {"market": market, "status": "failed", "error_code": failure[0]}


def _check_cdon_action(action: Any) -> Errors:
    errors = _validate(_CDON_ACTION, action)
    if errors or action["action"] == "delete_article":
        return errors
    if "body" not in action:
        return [(("body",), CDON_WORDS.required)]
    check, covered = CDON.for_action(action["action"])
    return _validate(check, action["body"], covered)


def _strings(body: Any, key: str) -> list[str] | None:
    items = body.get(key) if isinstance(body, dict) else None
    if isinstance(items, list) and all(isinstance(item, str) for item in items):
        return items
    return None


# ---------------------------------------------------------------- Fyndiq


def _non_objects(items: list[Any]) -> Errors:
    return [((index,), "must be of dict type") for index, item in enumerate(items)
            if not isinstance(item, dict)]


def _action_problems(items: list[Any]) -> Errors:
    """What makes a whole bulk update invalid: malformed actions, an action twice per article."""
    errors: Errors = []
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(items):
        found = _validate(_FYNDIQ_ACTION, item)
        errors.extend(((index, *path), message) for path, message in found)
        if found:
            continue
        key = (item["id"], item["action"])
        if key in seen:
            errors.append(((index, "action"), "the same action twice for one article"))
        seen.add(key)
    return errors


def _bulk_answer(status: int, errors: Errors) -> dict[str, Any]:
    if status == 403:
        return {"description": "No permission to edit article", "status_code": 403}
    if status == 400:
        return {"description": "Invalid payload", "errors": _nested(errors), "status_code": 400}
    return {"description": "Accepted", "status_code": 202}


class FakeFyndiq(_FakeMerchantApi):
    """Fyndiq's Merchant API v1: articles created by sku, then changed by Fyndiq article id.

    :param max_bulk_create: the most create bodies one `POST /articles/bulk` may hold.
    :param max_bulk_update: the most actions one `PUT /articles/bulk` may hold.
    :param latency: seconds added to every answer.
    :param seed: seeds the ids handed out, so runs repeat.
    """

    prefix = "/api/v1"
    thread_name = "fake-fyndiq"
    words = FYNDIQ_WORDS

    def __init__(self, *, merchant_id: str = DEFAULT_MERCHANT_ID, token: str = DEFAULT_TOKEN,
                 max_bulk_create: int = 100, max_bulk_update: int = 200, latency: float = 0.0,
                 seed: int = 0) -> None:
        self.max_bulk_create = max_bulk_create
        self.max_bulk_update = max_bulk_update
        self._denied: set[str] = set()
        super().__init__(merchant_id=merchant_id, token=token, latency=latency, seed=seed)

    def deny(self, *skus: str) -> Self:
        """Every change to these articles answers 403 "No permission to edit article"."""
        with self._lock:
            self._denied.update(skus)
        return self

    def article_by_id(self, article_id: str) -> dict[str, Any] | None:
        with self._lock:
            sku = self._sku_of.get(article_id)
            return None if sku is None else self._articles[sku]

    # ------------------------------------------------------------ serving

    def _routes(self) -> list[Rule]:
        return [
            Rule("/articles", methods=["POST"], endpoint="create"),
            Rule("/articles/bulk", methods=["POST"], endpoint="create_bulk"),
            Rule("/articles/bulk", methods=["PUT"], endpoint="update_bulk"),
            Rule("/articles/sku/<path:sku>", methods=["GET"], endpoint="get_by_sku"),
            Rule("/articles/<article_id>", methods=["GET"], endpoint="get"),
            Rule("/articles/<article_id>", methods=["PUT"], endpoint="update"),
            Rule("/articles/<article_id>", methods=["DELETE"], endpoint="delete"),
            Rule("/articles/<article_id>/price", methods=["PUT"], endpoint="update_price"),
            Rule("/articles/<article_id>/quantity", methods=["PUT"], endpoint="update_quantity"),
        ]

    def _error(self, status: int, message: str,
               headers: Mapping[str, str] | None = None) -> Response:
        return _json({"description": message}, status, headers)

    def _invalid(self, errors: Errors) -> Response:
        return _json({"description": "Invalid payload", "errors": _nested(errors)}, 400)

    def _unauthorized(self) -> Response:
        return self._error(401, "Authorization credentials were incorrect")

    def _bulk_problem(self, body: Any, limit: int,
                      problems: Callable[[list[Any]], Errors]) -> Response | None:
        """The 400 for a bulk that is not a list of at most `limit` well-formed items."""
        if not isinstance(body, list):
            found: list[Any] = ["must be of list type"]
        elif len(body) > limit:
            found = [f"max length is {limit}"]
        else:
            errors = problems(body)
            if not errors:
                return None
            found = [_nested(errors)]
        return _json({"description": "Invalid payload", "errors": {"bulk_payload": found}}, 400)

    # ------------------------------------------------------------ create and read

    def _ep_create(self, body: Any) -> Response:
        errors = _validate(FYNDIQ.create, body, COVERED)
        if errors:
            return self._invalid(errors)
        with self._lock:
            if body["sku"] in self._articles:
                self._duplicates.append(body["sku"])
                return _json({"description": "SKU already exists, can not create article!",
                              "errors": {"response_status_code": 200}}, 409)  # sic, as documented
            article_id = self._insert(body["sku"], body)
        return _json({"id": article_id, "description": "Article was created."}, 201)

    def _ep_create_bulk(self, body: Any) -> Response:
        problem = self._bulk_problem(body, self.max_bulk_create, _non_objects)
        if problem is not None:
            return problem
        checked = [(article, _validate(FYNDIQ.create, article, COVERED)) for article in body]
        with self._lock:
            responses = [self._bulk_create(article, errors) for article, errors in checked]
        return _json({"description": "Accepted", "responses": responses}, 202)

    def _bulk_create(self, article: dict[str, Any], errors: Errors) -> dict[str, Any]:
        if errors:
            return {"description": "Can not create article", "errors": _nested(errors),
                    "status_code": 400}
        if article["sku"] in self._articles:
            self._duplicates.append(article["sku"])
            return {"description": "SKU already exists, can not create article!",
                    "status_code": 409}
        return {"id": self._insert(article["sku"], article), "description": "Article was created"}

    def _as_read(self, sku: str) -> dict[str, Any]:
        article = {"id": self._id_of[sku], **self._articles[sku]}
        for name in ("price", "original_price"):
            if name in article:
                article[name] = _price_as_read(article[name])
        return article

    def _ep_get(self, body: Any, article_id: str) -> Response:
        with self._lock:
            sku = self._sku_of.get(article_id)
            article = None if sku is None else self._as_read(sku)
        if article is None:
            return self._error(403, "You do not have permission to access this object")
        return _json(article, 200)

    def _ep_get_by_sku(self, body: Any, sku: str) -> Response:
        with self._lock:
            article = self._as_read(sku) if sku in self._articles else None
        if article is None:
            return _json({"description": "Not found",
                          "errors": {"description": "Article not found", "content": {}}}, 404)
        return _json({"description": "Article found", "content": {"article": article}}, 200)

    # ------------------------------------------------------------ changes

    def _ep_update(self, body: Any, article_id: str) -> Response:
        return self._single("update_article", article_id, body)

    def _ep_update_price(self, body: Any, article_id: str) -> Response:
        return self._single("update_article_price", article_id, body)

    def _ep_update_quantity(self, body: Any, article_id: str) -> Response:
        return self._single("update_article_quantity", article_id, body)

    def _ep_delete(self, body: Any, article_id: str) -> Response:
        return self._single("delete_article", article_id, body)

    def _ep_update_bulk(self, body: Any) -> Response:
        problem = self._bulk_problem(body, self.max_bulk_update, _action_problems)
        if problem is not None:
            return problem
        responses = [_bulk_answer(*self._perform(item["action"], item["id"], item["body"]))
                     for item in body]
        return _json({"description": "Accepted", "responses": responses}, 202)

    def _single(self, action: str, article_id: str, body: Any) -> Response:
        status, errors = self._perform(action, article_id, body)
        if status == 403:
            return _json({"description": "Permission denied",
                          "errors": {"response_status_code": 403}}, 403)
        if status == 400:
            return self._invalid(errors)
        return Response(status=204)

    def _perform(self, action: str, article_id: str, body: Any) -> tuple[int, Errors]:
        """Carry out one action: (204, []), (400, errors) or (403, []) for an unknown id or
        a denied article."""
        errors: Errors = []
        if action != "delete_article":
            check, covered = FYNDIQ.for_action(action)
            errors = _validate(check, body, covered)
        with self._lock:
            sku = self._sku_of.get(article_id)
            if sku is None or sku in self._denied:
                return 403, []
            if errors:
                return 400, errors
            if action == "delete_article":
                self._remove(sku)
                return 204, []
            new = self._changed(sku, action, body)
            if isinstance(new, list):
                return 400, new
            self._articles[sku] = new
        return 204, []
