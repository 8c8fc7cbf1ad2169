"""A fake Mirakl operator instance (seller API OF01/OF02/OF03), on 127.0.0.1 in a thread.

Used by the tests and the benchmarks (so: no pytest here)::

    with FakeMirakl(polls_to_complete=1) as mirakl:
        mirakl.unknown_product("7350000000019")
        mirakl.fail_next("OF01", 429, retry_after=2)
        client = MiraklClient(mirakl.url, mirakl.api_key)
        ...
        mirakl.offers()["SKU-1"].price, mirakl.imports[0].suspicious_cells, mirakl.requests

The contract ([C] from Mirakl's seller OpenAPI, [I] the fake's own choice):

* Every call needs `Authorization: <shop API key>`, the raw key with no scheme; anything
  else -> 401. `shop_id` (query) picks one of `shop_ids`; another id -> 403; no shop_id
  while the key has several shops -> 400 (real Mirakl falls back to the user's default
  shop [C]; the fake is stricter so that the client always says which shop).
  Errors are JSON `{"status": <code>, "message": "…"}`.
* OF01 `POST /api/offers/imports`, multipart: `file` (a `.csv` file name [I]) and
  `import_mode` NORMAL or REPLACE -> 201 `{"import_id": <int>}`; a missing part, another
  mode or another extension -> 400. At most one import per `min_import_interval` seconds
  per shop (Mirakl: once a minute at most [C]; default 0): too soon -> 429 with
  Retry-After (whole seconds).
* OF02 `GET /api/offers/imports/{id}` -> `{"import_id", "status", "mode", "date_created",
  "lines_read", "lines_in_success", "lines_in_error", "lines_in_pending",
  "offer_inserted", "offer_updated", "offer_deleted", "has_error_report",
  "reason_status", "type"}` with Mirakl's field names [C] — note `status`, not
  `import_status` (that is P42's). The first poll says WAITING, the next RUNNING, and poll
  `polls_to_complete + 1` COMPLETE (or FAILED); with the default 2: WAITING, RUNNING,
  COMPLETE. Counts are 0 until then. `finish()` completes imports without polls.
* OF03 `GET /api/offers/imports/{id}/error_report` -> the rows in error as CSV (UTF-8,
  `;`, `"`-quoted where needed): the file's own header plus `error-line` (the row's line
  in the file, the header being line 1) and `error-message` (several joined by " | "); 404
  while not COMPLETE or without errors.
* OF02 and OF03 each answer a shop at most once per `min_poll_interval` seconds (the
  OpenAPI's "Call Frequency" of both: "Maximum usage: Once per minute" [C]; default 60):
  sooner -> 429 with Retry-After (whole seconds), and the poll does not count.

The file (UTF-8, a BOM is skipped and noted): the header must have `REQUIRED_COLUMNS`
and no repeated column, and the CSV must parse, else the import is FAILED with a
`reason_status` [I]; unknown columns are ignored. Each row is checked: price a positive
dot decimal; quantity and leadtime-to-ship non-negative integers; product-id-type in
`product_id_types`; an EAN/UPC with a valid check digit; state in `states`; update-delete
empty, "update" or "delete"; discount-price a decimal below price; discount dates ISO
(date or date-time) and in order; the product known (`known_products`, `unknown_product()`
-> "The product does not exist"); `reject_sku()` rules; a sku repeated in the file [I]; a
delete of an offer that does not exist [I]. A delete row carries the same product columns
as an update row: its `product-id` and `product-id-type` must name the offer's product
[I: issue 15's reading; the OpenAPI does not describe a delete row]. Valid rows are
applied to the offer store of that shop when the import completes; REPLACE then
deletes the shop's offers whose sku is not in the file [C]. Nothing is checked for
spreadsheet formulas, but the import records every cell starting with = + - @ TAB or CR.

Faults per endpoint ("OF01", "OF02", "OF03"): `fail_next` (429 with Retry-After, 500, …)
`times` times, then recovering, checked after authentication. The request log keeps
method, path, endpoint, shop_id, whether the key matched and the status; never the key.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.loopback import LoopbackFake

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_SHOP_ID",
    "ENDPOINTS",
    "REQUIRED_COLUMNS",
    "STANDARD_COLUMNS",
    "FakeMirakl",
    "LoggedRequest",
    "Offer",
    "OfferImport",
]

DEFAULT_API_KEY = "fake-mirakl-shop-key-2b7e9d41c0"
DEFAULT_SHOP_ID = 2001
ENDPOINTS = ("OF01", "OF02", "OF03")
STANDARD_COLUMNS = (
    "sku", "product-id", "product-id-type", "description", "internal-description", "price",
    "price-additional-info", "quantity", "min-quantity-alert", "state",
    "available-start-date", "available-end-date", "discount-price", "discount-start-date",
    "discount-end-date", "discount-ranges", "allow-quote-requests", "leadtime-to-ship",
    "min-order-quantity", "max-order-quantity", "package-quantity", "update-delete",
    "price-ranges", "ecotax", "gift-wrap", "min-quantity-ordered",
)
REQUIRED_COLUMNS = ("sku", "product-id", "product-id-type", "price", "quantity", "state")
PRODUCT_NOT_FOUND = "The product does not exist"
SUSPICIOUS_STARTS = ("=", "+", "-", "@", "\t", "\r")

_ROUTES = Map([
    Rule("/api/offers/imports", methods=["POST"], endpoint="OF01"),
    Rule("/api/offers/imports/<int:import_id>", methods=["GET"], endpoint="OF02"),
    Rule("/api/offers/imports/<int:import_id>/error_report", methods=["GET"], endpoint="OF03"),
])
_DECIMAL = re.compile(r"\d+(\.\d+)?")
_INTEGER = re.compile(r"\d+")
_MODES = ("NORMAL", "REPLACE")


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the fake saw it; the key itself is not kept, only whether it matched."""

    method: str
    path: str
    endpoint: str  # OF01, OF02, OF03, or "" for an unknown path
    shop_id: str | None  # the shop_id query parameter as sent
    authorized: bool
    status: int


@dataclass(frozen=True)
class Offer:
    """An offer in the store; the cells as sent, plus the parsed numbers."""

    sku: str
    product_id: str
    product_id_type: str
    price: Decimal
    quantity: int
    state: str
    import_id: int | None  # None when set by `add_offer`
    description: str = ""
    discount_price: Decimal | None = None
    discount_start_date: str = ""
    discount_end_date: str = ""
    leadtime_to_ship: int | None = None
    row: Mapping[str, str] = field(default_factory=dict)


@dataclass
class OfferImport:
    """One OF01 call that was accepted, and what the fake made of its file."""

    import_id: int
    shop_id: int
    mode: str
    filename: str
    size: int  # bytes of the file
    utf8: bool
    bom: bool  # the file started with a UTF-8 byte order mark
    created: datetime
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)  # data rows, by column
    lines: list[int] = field(default_factory=list)  # each row's line in the file
    raw_rows: list[list[str]] = field(default_factory=list, repr=False)
    unknown_columns: list[str] = field(default_factory=list)
    suspicious_cells: list[tuple[int, str]] = field(default_factory=list)  # (line, column)
    failure: str | None = None  # why the import will be FAILED
    status: str = "WAITING"
    polls: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    lines_in_success: int = 0
    offer_inserted: int = 0
    offer_updated: int = 0
    offer_deleted: int = 0
    error_report: bytes | None = None

    @property
    def lines_read(self) -> int:
        return len(self.rows)

    @property
    def has_formula_like_cells(self) -> bool:
        return bool(self.suspicious_cells)

    @property
    def final(self) -> bool:
        return self.status in ("COMPLETE", "FAILED")


@dataclass
class _Fault:
    endpoint: str
    times: int | None
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def take(self, endpoint: str) -> bool:
        if endpoint != self.endpoint or self.times == 0:
            return False
        if self.times is not None:
            self.times -= 1
        return True


class FakeMirakl(LoopbackFake):
    """A Mirakl operator with one or more shops, their offers, imports and fault rules.

    :param shop_ids: the shops the key may use; with more than one, shop_id is required.
    :param polls_to_complete: OF02 answers before the final one.
    :param min_import_interval: seconds between two accepted OF01 calls of a shop.
    :param min_poll_interval: seconds between two answered OF02 (or OF03) calls of a shop.
    :param product_id_types: accepted product-id-type values.
    :param states: accepted offer state codes (Mirakl's "11" is new).
    :param known_products: the product ids that exist; None = every one does.
    :param clock: monotonic seconds, for the import interval.
    """

    thread_name = "fake-mirakl"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        shop_ids: Sequence[int] = (DEFAULT_SHOP_ID,),
        polls_to_complete: int = 2,
        min_import_interval: float = 0.0,
        min_poll_interval: float = 60.0,
        product_id_types: Collection[str] = ("EAN", "SKU", "UPC"),
        states: Collection[str] = ("11",),
        known_products: Collection[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not shop_ids:
            raise ValueError("at least one shop id")
        self.api_key = api_key
        self.shop_ids = tuple(shop_ids)
        self.polls_to_complete = polls_to_complete
        self.min_import_interval = min_import_interval
        self.min_poll_interval = min_poll_interval
        self.product_id_types = frozenset(product_id_types)
        self.states = frozenset(states)
        self.known_products = None if known_products is None else frozenset(known_products)
        self.clock = clock
        self._lock = threading.RLock()
        self._offers: dict[int, dict[str, Offer]] = {shop: {} for shop in self.shop_ids}
        self._imports: dict[int, OfferImport] = {}
        self._last_import: dict[int, float] = {}
        self._last_poll: dict[tuple[int, str], float] = {}
        self._unknown: set[str] = set()
        self._rejections: dict[str, str] = {}
        self._faults: list[_Fault] = []
        self._next_failures: list[str] = []
        self._log: list[LoggedRequest] = []
        self._next_id = 1000
        self._init_server()

    # ------------------------------------------------------------ set-up

    def fail_next(self, endpoint: str, status: int = 500, *, times: int | None = 1,
                  retry_after: float | None = None,
                  headers: Mapping[str, str] | None = None) -> FakeMirakl:
        """Answer `status` `times` times (None: forever), then recover.

        `retry_after` adds a Retry-After header in whole seconds.
        """
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = str(math.ceil(retry_after))
        return self._add(_Fault(_endpoint(endpoint), times, status=status,
                                headers=all_headers))

    def delay(self, endpoint: str, seconds: float, *, times: int | None = None) -> FakeMirakl:
        """Wait `seconds` before answering `endpoint` normally (for client timeouts)."""
        return self._add(_Fault(_endpoint(endpoint), times, status=200, delay=seconds))

    def reject_sku(self, sku: str, message: str = "The offer was rejected by the operator",
                   ) -> FakeMirakl:
        """Every row with `sku` (other than a delete) is in error with `message`."""
        with self._lock:
            self._rejections[sku] = message
        return self

    def unknown_product(self, *product_ids: str) -> FakeMirakl:
        """Rows for these product ids are in error: "The product does not exist"."""
        with self._lock:
            self._unknown.update(product_ids)
        return self

    def fail_next_import(self, reason: str = "The import failed") -> FakeMirakl:
        """The next accepted OF01 ends FAILED with `reason_status` = `reason`."""
        with self._lock:
            self._next_failures.append(reason)
        return self

    def add_offer(self, sku: str, *, product_id: str = "", product_id_type: str = "EAN",
                  price: str | Decimal = "100.00", quantity: int = 1, state: str = "11",
                  shop_id: int | None = None) -> FakeMirakl:
        """Put an offer in a shop's store, as if an earlier import had created it."""
        offer = Offer(sku, product_id or sku, product_id_type, Decimal(price), quantity,
                      state, None)
        with self._lock:
            self._offers[self._shop(shop_id)][sku] = offer
        return self

    def finish(self, import_id: int | None = None) -> FakeMirakl:
        """Bring `import_id` (or every import) to COMPLETE or FAILED, as its last poll would."""
        with self._lock:
            imports = ([self._imports[import_id]] if import_id is not None
                       else list(self._imports.values()))
            for job in imports:
                if not job.final:
                    self._complete(job)
        return self

    def _add(self, fault: _Fault) -> FakeMirakl:
        with self._lock:
            self._faults.append(fault)
        return self

    def _shop(self, shop_id: int | None) -> int:
        if shop_id is None:
            if len(self.shop_ids) > 1:
                raise ValueError("several shops: say which")
            return self.shop_ids[0]
        return shop_id

    # ------------------------------------------------------------ running

    @property
    def url(self) -> str:
        """The instance base, e.g. `http://127.0.0.1:PORT` (paths start `/api/…`)."""
        return f"{self.base_url}"

    # ------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request so far, in the order the answers were finished."""
        with self._lock:
            return list(self._log)

    def calls(self, endpoint: str, status: int | None = None) -> int:
        """How many requests reached `endpoint` (with answer `status`, if given)."""
        return sum(1 for r in self.requests
                   if r.endpoint == endpoint and status in (None, r.status))

    def offers(self, shop_id: int | None = None) -> dict[str, Offer]:
        """The offer store of a shop (the only one when shop_id is None), by sku."""
        with self._lock:
            return dict(self._offers[self._shop(shop_id)])

    @property
    def imports(self) -> list[OfferImport]:
        """Snapshots of the accepted imports, oldest first."""
        with self._lock:
            return [replace(job) for job in self._imports.values()]

    def get_import(self, import_id: int) -> OfferImport:
        with self._lock:
            return replace(self._imports[import_id])

    def reset(self) -> None:
        """Forget requests, fault rules, rejections and the import interval (not the data)."""
        with self._lock:
            self._log.clear()
            self._faults.clear()
            self._rejections.clear()
            self._unknown.clear()
            self._next_failures.clear()
            self._last_import.clear()
            self._last_poll.clear()

    # ------------------------------------------------------------ serving

    def _wsgi(self, environ: dict, start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        authorized = request.headers.get("Authorization") == self.api_key
        try:
            endpoint, args = _ROUTES.bind_to_environ(environ).match()
        except HTTPException as exc:
            response = _error(exc.code or 404, "Not found")
            self._record(request, "", authorized, response.status_code)
            return response(environ, start_response)
        try:
            response = self._answer(str(endpoint), args, request, authorized)
        finally:
            request.close()  # the spooled temporary files of a multipart upload
        self._record(request, str(endpoint), authorized, response.status_code)
        return response(environ, start_response)

    def _answer(self, endpoint: str, args: dict[str, Any], request: Request,
                authorized: bool) -> Response:
        if not authorized:
            return _error(401, "Unauthorized")
        shop = request.args.get("shop_id")
        if shop is None:
            if len(self.shop_ids) > 1:
                return _error(400, "shop_id is required: this key has access to several shops")
            shop_id = self.shop_ids[0]
        elif not shop.isdigit() or int(shop) not in self.shop_ids:
            return _error(403, f"You do not have access to shop {shop}")
        else:
            shop_id = int(shop)
        with self._lock:
            fault = next((f for f in self._faults if f.take(endpoint)), None)
        if fault is not None:
            self._stopping.wait(fault.delay)
            if fault.status != 200:
                response = _error(fault.status, "injected failure")
                response.headers.update(fault.headers)
                return response
        if endpoint == "OF01":
            return self._of01(request, shop_id)
        too_soon = self._too_soon(shop_id, endpoint)
        if too_soon is not None:
            return too_soon
        with self._lock:
            job = self._imports.get(args["import_id"])
            if job is None or job.shop_id != shop_id:
                return _error(404, f"Import {args['import_id']} not found")
            if endpoint == "OF02":
                return self._of02(job)
            if job.status != "COMPLETE" or job.error_report is None:
                return _error(404, f"No error report for import {job.import_id}")
            return Response(job.error_report, status=200,
                            headers={"Content-Type": "text/csv; charset=UTF-8"})

    def _too_soon(self, shop_id: int, endpoint: str) -> Response | None:
        """The 429 for an OF02/OF03 call less than `min_poll_interval` after the last."""
        now = self.clock()
        with self._lock:
            last = self._last_poll.get((shop_id, endpoint))
            if last is not None and now - last < self.min_poll_interval:
                wait = math.ceil(self.min_poll_interval - (now - last))
                response = _error(429, f"{endpoint} may be called once per minute")
                response.headers["Retry-After"] = str(max(1, wait))
                return response
            self._last_poll[(shop_id, endpoint)] = now
        return None

    def _of01(self, request: Request, shop_id: int) -> Response:
        upload = request.files.get("file")
        mode = request.form.get("import_mode")
        if upload is None:
            return _error(400, "The 'file' part is required")
        if mode not in _MODES:
            return _error(400, "import_mode must be NORMAL or REPLACE")
        filename = upload.filename or ""
        if not filename.lower().endswith(".csv"):
            return _error(400, f"Unsupported file format: {filename!r} (expected a .csv file)")
        now = self.clock()
        with self._lock:
            last = self._last_import.get(shop_id)
            if last is not None and now - last < self.min_import_interval:
                wait = math.ceil(self.min_import_interval - (now - last))
                response = _error(429, "Too many offer imports; wait before the next one")
                response.headers["Retry-After"] = str(max(1, wait))
                return response
            self._last_import[shop_id] = now
        data = upload.read()
        job = _parse(data, filename, mode, shop_id)
        with self._lock:
            self._next_id += 1
            job.import_id = self._next_id
            if self._next_failures:
                job.failure = self._next_failures.pop(0)
            self._imports[job.import_id] = job
        return _json(201, {"import_id": job.import_id})

    def _of02(self, job: OfferImport) -> Response:
        job.polls += 1
        if not job.final:
            if job.polls > self.polls_to_complete:
                self._complete(job)
            elif job.polls >= 2:
                job.status = "RUNNING"
        complete = job.status == "COMPLETE"
        errors = len(job.errors) if complete else 0
        body = {
            "import_id": job.import_id,
            "status": job.status,
            "mode": job.mode,
            "date_created": job.created.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "lines_read": job.lines_read if complete else 0,
            "lines_in_success": job.lines_in_success,
            "lines_in_error": errors,
            "lines_in_pending": 0,
            "offer_inserted": job.offer_inserted,
            "offer_updated": job.offer_updated,
            "offer_deleted": job.offer_deleted,
            "has_error_report": complete and job.error_report is not None,
            "reason_status": job.failure if job.status == "FAILED" else None,
            "type": "MIRAKL",
        }
        return _json(200, body)

    # --- processing

    def _complete(self, job: OfferImport) -> None:
        """Check every row against the rules now in force and apply the valid ones."""
        if job.failure is not None:
            job.status = "FAILED"
            return
        store = self._offers[job.shop_id]
        seen: set[str] = set()
        failed_lines: list[int] = []
        for row, line, raw in zip(job.rows, job.lines, job.raw_rows, strict=True):
            problems = self._row_problems(row, raw, len(job.columns), store, seen)
            sku = row.get("sku", "")
            if sku:
                seen.add(sku)
            if problems:
                job.errors.append((line, " | ".join(problems)))
                failed_lines.append(line)
                continue
            job.lines_in_success += 1
            if row.get("update-delete", "") == "delete":
                del store[sku]
                job.offer_deleted += 1
            else:
                if sku in store:
                    job.offer_updated += 1
                else:
                    job.offer_inserted += 1
                store[sku] = _offer(row, job.import_id)
        if job.mode == "REPLACE":
            for sku in [s for s in store if s not in seen]:
                del store[sku]
                job.offer_deleted += 1
        if job.errors:
            job.error_report = _error_report(job)
        job.status = "COMPLETE"

    def _row_problems(self, row: Mapping[str, str], raw: list[str], width: int,
                      store: Mapping[str, Offer], seen: set[str]) -> list[str]:
        if len(raw) != width:
            return [f"The line has {len(raw)} columns; the header has {width}"]
        sku = row.get("sku", "")
        if not sku.strip():
            return ["The offer sku is missing"]
        problems: list[str] = []
        if sku in seen:
            problems.append("The offer appears more than once in the file")
        action = row.get("update-delete", "")
        if action not in ("", "update", "delete"):
            problems.append(f"update-delete must be empty, 'update' or 'delete', not {action!r}")
        elif action == "delete":
            if sku not in store and not problems:
                problems.append("The offer to delete does not exist")
            elif sku in store:
                problems += _delete_problems(row, store[sku])
            return problems
        problems += _value_problems(row, self.product_id_types, self.states)
        product_id = row.get("product-id", "")
        if product_id in self._unknown or (self.known_products is not None
                                           and product_id not in self.known_products):
            problems.append(PRODUCT_NOT_FOUND)
        if sku in self._rejections:
            problems.append(self._rejections[sku])
        return problems

    def _record(self, request: Request, endpoint: str, authorized: bool, status: int) -> None:
        entry = LoggedRequest(request.method, request.path, endpoint,
                              request.args.get("shop_id"), authorized, status)
        with self._lock:
            self._log.append(entry)


# ---------------------------------------------------------------- the file (no I/O)


def _endpoint(endpoint: str) -> str:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; one of {', '.join(ENDPOINTS)}")
    return endpoint


def _parse(data: bytes, filename: str, mode: str, shop_id: int) -> OfferImport:
    """Read the CSV into an import; a file that cannot be read becomes a FAILED import."""
    bom = data.startswith(b"\xef\xbb\xbf")
    job = OfferImport(import_id=0, shop_id=shop_id, mode=mode, filename=filename,
                      size=len(data), utf8=True, bom=bom, created=datetime.now(UTC))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        job.utf8, job.failure = False, f"The file is not valid UTF-8 ({exc.reason} at byte "\
                                       f"{exc.start})"
        return job
    if bom:
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"',
                        strict=True)
    try:
        header = next(reader, None)
        if not header:
            job.failure = "The file is empty or has no header line"
            return job
        job.columns = header
        _read_rows(reader, job, reader.line_num)
    except csv.Error as exc:
        job.failure = f"The file is not valid CSV at line {reader.line_num}: {exc}"
        return job
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if missing:
        job.failure = f"Missing column(s) in the header: {', '.join(missing)}"
    elif repeated:
        job.failure = f"Repeated column(s) in the header: {', '.join(repeated)}"
    job.unknown_columns = [c for c in header
                           if c not in STANDARD_COLUMNS and not c.endswith("]")]
    return job


def _read_rows(reader: Any, job: OfferImport, line_num: int) -> None:
    """Collect the data rows; `line_num` is the number of lines the header took."""
    for raw in reader:
        start, line_num = line_num + 1, reader.line_num  # a quoted cell may span lines
        if not any(cell.strip() for cell in raw):
            continue  # a blank line is not a row
        row = dict(zip(job.columns, raw, strict=False))
        job.rows.append(row)
        job.raw_rows.append(raw)
        job.lines.append(start)
        for column, cell in zip(job.columns, raw, strict=False):
            if cell.startswith(SUSPICIOUS_STARTS):
                job.suspicious_cells.append((start, column))


def _delete_problems(row: Mapping[str, str], offer: Offer) -> list[str]:
    """A delete row names the offer's product as an update row does."""
    problems = []
    if not row.get("product-id"):
        problems.append("The product-id is missing")
    elif (row.get("product-id"), row.get("product-id-type")) != \
            (offer.product_id, offer.product_id_type):
        problems.append(f"The product {row.get('product-id-type')} {row.get('product-id')} "
                        "is not the product of this offer")
    return problems


def _value_problems(row: Mapping[str, str], id_types: Collection[str],
                    states: Collection[str]) -> list[str]:
    problems: list[str] = []
    id_type, product_id = row.get("product-id-type", ""), row.get("product-id", "")
    if not product_id:
        problems.append("The product-id is missing")
    if id_type not in id_types:
        problems.append(f"The product-id-type {id_type!r} is not one of "
                        f"{', '.join(sorted(id_types))}")
    elif id_type in ("EAN", "UPC") and product_id and not _gtin_ok(product_id, id_type):
        problems.append(f"The {id_type} {product_id!r} is not valid (check digit or length)")
    price = _decimal(row.get("price", ""))
    if price is None or price <= 0:
        problems.append(f"The price {row.get('price', '')!r} is not a positive number with a "
                        "dot as decimal separator")
    if not _INTEGER.fullmatch(row.get("quantity", "")):
        problems.append(f"The quantity {row.get('quantity', '')!r} is not a non-negative "
                        "integer")
    if row.get("state", "") not in states:
        problems.append(f"The state {row.get('state', '')!r} is not one of "
                        f"{', '.join(sorted(states))}")
    lead = row.get("leadtime-to-ship", "")
    if lead and not _INTEGER.fullmatch(lead):
        problems.append(f"The leadtime-to-ship {lead!r} is not a non-negative integer")
    problems += _discount_problems(row, price)
    return problems


def _discount_problems(row: Mapping[str, str], price: Decimal | None) -> list[str]:
    problems: list[str] = []
    raw = row.get("discount-price", "")
    if raw:
        discount = _decimal(raw)
        if discount is None or discount <= 0:
            problems.append(f"The discount-price {raw!r} is not a positive number with a dot "
                            "as decimal separator")
        elif price is not None and discount >= price:
            problems.append(f"The discount-price {raw} must be lower than the price "
                            f"{row.get('price')}")
    dates: list[datetime] = []
    for column in ("discount-start-date", "discount-end-date"):
        value = row.get(column, "")
        if not value:
            continue
        parsed = _iso_moment(value)
        if parsed is None:
            problems.append(f"The {column} {value!r} is not an ISO 8601 date")
        else:
            dates.append(parsed)
    if len(dates) == 2 and dates[0] > dates[1]:
        problems.append("The discount-start-date is after the discount-end-date")
    return problems


def _decimal(value: str) -> Decimal | None:
    return Decimal(value) if _DECIMAL.fullmatch(value) else None


def _iso_moment(value: str) -> datetime | None:
    """A date or date-time in ISO 8601 (a naive one taken as UTC), else None."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        if "T" not in value:
            return None
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _gtin_ok(code: str, id_type: str) -> bool:
    """GS1 check digit; EAN takes 8, 13 or 14 digits, UPC 12."""
    lengths = (12,) if id_type == "UPC" else (8, 13, 14)
    if not code.isdigit() or len(code) not in lengths:
        return False
    digits = [int(d) for d in code]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == digits[-1]


def _offer(row: Mapping[str, str], import_id: int) -> Offer:
    discount = row.get("discount-price", "")
    lead = row.get("leadtime-to-ship", "")
    return Offer(
        sku=row["sku"], product_id=row["product-id"], product_id_type=row["product-id-type"],
        price=Decimal(row["price"]), quantity=int(row["quantity"]), state=row["state"],
        import_id=import_id, description=row.get("description", ""),
        discount_price=Decimal(discount) if discount else None,
        discount_start_date=row.get("discount-start-date", ""),
        discount_end_date=row.get("discount-end-date", ""),
        leadtime_to_ship=int(lead) if lead else None, row=dict(row),
    )


def _error_report(job: OfferImport) -> bytes:
    """The rows in error, as sent, plus error-line and error-message."""
    width = len(job.columns)
    by_line = dict(zip(job.lines, job.raw_rows, strict=True))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", quotechar='"', lineterminator="\n")
    writer.writerow([*job.columns, "error-line", "error-message"])
    for line, message in job.errors:
        cells = (by_line[line] + [""] * width)[:width]
        writer.writerow([*cells, str(line), message])
    return out.getvalue().encode("utf-8")


# ---------------------------------------------------------------- responses


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, message: str) -> Response:
    return _json(status, {"status": status, "message": message})
