"""A fake Amazon SP-API: LWA tokens, Feeds API 2021-06-30 and the S3-like document store.

One server on 127.0.0.1 plays all three hosts, for the tests and the benchmarks (so: no
pytest here)::

    with FakeSpApi(polls_to_done=1) as amazon:
        amazon.reject_sku("SKU-2", code="90220", message="'[brand]' is required but not supplied.",
                          attribute="brand")
        amazon.fail_next("createFeed", status=429)
        client = SpApiClient(token_url=amazon.token_url, endpoint=amazon.url, ...)
        ...
        amazon.listings["SKU-1"].attributes, amazon.feeds[0].message_count, amazon.requests

The contract, as far as the fake knows it ([C] confirmed by Amazon's docs or schemas, [I] the
fake's own choice where the real behaviour is not documented):

* `POST /auth/o2/token` (form or JSON: `grant_type=refresh_token`, `refresh_token`,
  `client_id`, `client_secret`) -> 200 `{"access_token": "Atza|…", "refresh_token",
  "token_type": "bearer", "expires_in"}`. A wrong client id or secret -> 401
  `{"error": "invalid_client", …}`; a wrong refresh token -> 400 `{"error": "invalid_grant",
  …}`; another grant type -> 400 `unsupported_grant_type`; a missing field -> 400
  `invalid_request` (the LWA shapes [C2]). Tokens live `token_ttl` seconds of `clock`.
* Every `/feeds/…` call needs `x-amz-access-token: <a live token>`, else 403
  `{"errors": [{"code": "Unauthorized", "message", "details"}]}` (details name an expired
  token). Every SP-API answer carries `x-amzn-RequestId`; rate-limited operations carry
  `x-amzn-RateLimit-Limit`. Too many calls -> 429 `QuotaExceeded` without Retry-After [C].
* `POST /feeds/2021-06-30/documents {"contentType"}` -> 201 `{"feedDocumentId", "url"}`; the
  url is `<fake>/upload/<id>?X-Amz-…&X-Amz-Signature=…`, valid `url_ttl` seconds.
  `PUT` it with exactly the declared Content-Type (else 403 `SignatureDoesNotMatch`, an S3
  XML error) and a Content-Length (chunked -> 411 `MissingContentLength`) -> 200.
* `POST /feeds/2021-06-30/feeds {"feedType", "marketplaceIds", "inputFeedDocumentId"}` ->
  202 `{"feedId"}`; 400 `InvalidInput` for a bad body, an unknown document or a marketplace
  outside `marketplace_ids`. createFeed is limited to `create_feed_burst` calls, refilled at
  `create_feed_rate` per second (Amazon: 15, then one per 120 s [C]).
* `GET /feeds/2021-06-30/feeds/{feedId}` -> `{"feedId", "feedType", "marketplaceIds",
  "createdTime", "processingStatus", "processingStartTime"?, "processingEndTime"?,
  "resultFeedDocumentId"?}`. Each poll advances the feed: the first says IN_QUEUE, the
  following ones IN_PROGRESS, and poll number `polls_to_done + 1` gives the final status
  (DONE, FATAL or CANCELLED; with the default 2: IN_QUEUE, IN_PROGRESS, DONE). `finish()`
  settles feeds without polls. `DELETE` on a feed still IN_QUEUE cancels it (200) [C];
  later -> 400.
* `GET /feeds/2021-06-30/documents/{id}` -> `{"feedDocumentId", "url",
  "compressionAlgorithm": "GZIP"?}`; the url (`<fake>/download/<id>?…`) serves the bytes.
  With `gzip_reports=True` a report is gzipped and served *without* Content-Encoding, as S3
  does, so the client must gunzip it itself.
* `GET /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=…&includedData=…`
  (getListingsItem) -> 200 `{"sku", "summaries": [{"marketplaceId", "asin", "productType",
  "conditionType", "status", "itemName", "createdDate", "lastUpdatedDate"}], "issues"?}` for
  a listing in the store, 404 `{"errors": [{"code": "NOT_FOUND", …}]}` otherwise [C: Listings
  Items API 2021-08-01]; no marketplaceIds -> 400; another sellerId -> 403. Limited to 5
  calls a second after a burst of 10 (`listings_rate`, `listings_burst`: Amazon's usage
  plan for getListingsItem [C]).

Processing a JSON_LISTINGS_FEED (when the feed reaches its final poll):

* The whole document is checked first; a document that is not UTF-8 JSON, an envelope that
  breaks listings-feed-schema-v2 (header.sellerId, header.version "2.0", header.report,
  1…`max_messages` messages; Amazon's limit is 25,000 [C]), a header.sellerId other than
  `seller_id` [I], a document never uploaded [I] -> FATAL, with a report whose single issue
  has no messageId (code 4002006 [C2: seen for a bad version]). Another feed type (the XML
  and flat-file ones were removed) -> FATAL without a report [I].
* Each message is checked by hand against the message schema (messageId, sku,
  operationType and which of productType/requirements/attributes/patches each operation
  needs or forbids; patch op/path/value; a patch path must be `/attributes/<name>` [I]);
  a violation -> ERROR code 4002008 "The provided message did not meet the schema validation
  requirements for a feed message." plus the detail [C2]. A repeated messageId is one too
  [I]. An attribute value that is not an array of objects (the product-type rule) -> ERROR
  4000001 "The provided value for '<name>' is invalid." with attributeName [C2].
  `reject_sku()` adds configured issues. A message with an ERROR is invalid; the others are
  accepted and applied to the listing store: UPDATE replaces the attributes,
  PARTIAL_UPDATE replaces the attributes given, PATCH applies add, replace, delete
  (the whole attribute, or the entries matching each given object) and merge (each given
  object is merged into the entry with the same marketplace_id/language_tag/
  fulfillment_channel_code…, else appended) [I], DELETE removes the sku. PATCH and
  PARTIAL_UPDATE of an unknown sku create it (Amazon accepts those too [C2]).
  A stored `purchasable_offer` entry always has an `audience` (Amazon fills in "ALL").
  A `replace` of `purchasable_offer` or `fulfillment_availability` addresses the stored
  entries by their selectors (marketplace_id and audience; fulfillment_channel_code): a
  value whose selectors match no stored entry is added beside them, so an offer sent
  without `"audience": "ALL"` leaves the old offer (and its discounted_price) in place
  [C2: selling-partner-api-models #4134, #5235].
  A `discounted_price` schedule without `start_at` and `end_at` is an ERROR 90220 of
  `purchasable_offer` [I: issue 15 from #4970; the PTD schema asks for both].
* The report follows listings-feed-processing-report-schema-v2: `{"header": {"sellerId",
  "version": "2.0", "feedId", "report"?}, "issues": [{"messageId", "sku", "code",
  "severity", "message", "attributeName"?}], "summary": {"errors", "warnings",
  "messagesProcessed", "messagesAccepted", "messagesInvalid", "itemSummary"?}, "items"?}`.
  When the header asked for `"report": {"includedData": [...], "apiVersion":
  "2021-08-01"}` (the SP-API changelog "JSON_LISTINGS_FEED now includes includedData"),
  `items` holds the listing of each accepted message but a DELETE: `{"sku", "summaries"?,
  "issues"?}` with the data asked for; its issues are those `listing_issue()` set up, in
  the Listings Items API's shape `{"code", "message", "severity", "attributeNames"?,
  "categories"}` (issues found after a message was accepted: "accepted" is not "buyable").

Faults are rules per operation (`token`, `createFeedDocument`, `upload`, `createFeed`,
`getFeed`, `cancelFeed`, `getFeedDocument`, `download`, `getListingsItem`), checked after
authentication,
before the rate limit, in the order added; the first with tries left is used once.
The request log keeps method, path (never the query: it holds the signature), operation,
whether the caller was authorized, and the status; never tokens, secrets or bodies.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.loopback import LoopbackFake

__all__ = [
    "CODE_ATTRIBUTE_VALUE",
    "CODE_DOCUMENT",
    "CODE_MESSAGE_SCHEMA",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "DEFAULT_SELLER_ID",
    "EU_MARKETPLACES",
    "OPERATIONS",
    "SWEDEN",
    "Document",
    "FakeSpApi",
    "Feed",
    "Listing",
    "LoggedRequest",
]

DEFAULT_CLIENT_ID = "amzn1.application-oa2-client.fake0000000000000000000000000001"
DEFAULT_CLIENT_SECRET = "fake-lwa-client-secret-3c9e1a7b5d"
DEFAULT_REFRESH_TOKEN = "Atzr|fake-refresh-token-6f2b8d0e4a"
DEFAULT_SELLER_ID = "AFAKESELLER0001"
SWEDEN = "A2NODRKZP88ZB9"
EU_MARKETPLACES = frozenset({
    SWEDEN, "A1PA6795UKMFR9", "A1C3SOZRARQ6R3", "A1805IZSGTT6HS",  # SE DE PL NL
    "A1F83G8C2ARO7P", "A13V1IB3VIYZZH", "APJ6JRA9NG5V4", "A1RKKUPIHCS9HS",  # UK FR IT ES
    "AMEN7PMS3EDWL",  # BE
})
FEEDS = "/feeds/2021-06-30"
JSON_LISTINGS_FEED = "JSON_LISTINGS_FEED"
CREATE_FEED_RATE = 1 / 120  # Amazon's documented 0.0083 requests per second
CREATE_FEED_BURST = 15
LISTINGS_RATE = 5.0  # getListingsItem: 5 requests per second, burst 10 (Amazon's usage plan)
LISTINGS_BURST = 10
LISTINGS = "/listings/2021-08-01/items"
MAX_MESSAGES = 25_000
MAX_MESSAGE_ID = 2_147_483_647

CODE_DOCUMENT = "4002006"
CODE_MESSAGE_SCHEMA = "4002008"
CODE_ATTRIBUTE_VALUE = "4000001"
MESSAGE_SCHEMA_TEXT = ("The provided message did not meet the schema validation requirements "
                       "for a feed message.")

OPERATIONS = ("token", "createFeedDocument", "upload", "createFeed", "getFeed", "cancelFeed",
              "getFeedDocument", "download", "getListingsItem")
_SPAPI_OPERATIONS = frozenset({"createFeedDocument", "createFeed", "getFeed", "cancelFeed",
                               "getFeedDocument", "getListingsItem"})

_ROUTES = Map([
    Rule("/auth/o2/token", methods=["POST"], endpoint="token"),
    Rule(f"{FEEDS}/documents", methods=["POST"], endpoint="createFeedDocument"),
    Rule(f"{FEEDS}/documents/<doc_id>", methods=["GET"], endpoint="getFeedDocument"),
    Rule(f"{FEEDS}/feeds", methods=["POST"], endpoint="createFeed"),
    Rule(f"{FEEDS}/feeds/<feed_id>", methods=["GET"], endpoint="getFeed"),
    Rule(f"{FEEDS}/feeds/<feed_id>", methods=["DELETE"], endpoint="cancelFeed"),
    Rule("/upload/<doc_id>", methods=["PUT"], endpoint="upload"),
    Rule("/download/<doc_id>", methods=["GET"], endpoint="download"),
    Rule(f"{LISTINGS}/<seller_id>/<path:sku>", methods=["GET"], endpoint="getListingsItem"),
])

_OPERATION_TYPES = ("UPDATE", "PARTIAL_UPDATE", "PATCH", "DELETE")
_REQUIREMENTS = ("LISTING", "LISTING_PRODUCT_ONLY", "LISTING_OFFER_ONLY")
# (required, forbidden) per operationType: the oneOf branches of the message schema
_SHAPES = {
    "UPDATE": (("productType", "attributes"), ("patches",)),
    "PARTIAL_UPDATE": (("productType", "attributes"), ("requirements", "patches")),
    "PATCH": (("productType", "patches"), ("requirements", "attributes")),
    "DELETE": ((), ("requirements", "attributes", "productType", "patches")),
}
_SHAPE_SETS = {op: (frozenset(required), frozenset(forbidden))
               for op, (required, forbidden) in _SHAPES.items()}
_PATCH_OPS = ("add", "replace", "merge", "delete")
_INCLUDED_DATA = frozenset({"summaries", "attributes", "issues", "offers",
                            "fulfillmentAvailability", "procurement", "relationships",
                            "productTypes"})
# keys that say which entry of an attribute a `merge` or `delete` value means [I]
_SELECTORS = ("marketplace_id", "language_tag", "fulfillment_channel_code", "audience",
              "currency", "type")
# the selectors a `replace` addresses stored entries by (#4134, #5235) [C2]
_REPLACE_SELECTORS = {"purchasable_offer": ("marketplace_id", "audience"),
                      "fulfillment_availability": ("fulfillment_channel_code",)}
CODE_REQUIRED = "90220"
_SPAPI_ERROR_CODES = {400: "InvalidInput", 403: "Unauthorized", 404: "NotFound",
                      413: "RequestEntityTooLarge", 415: "UnsupportedMediaType",
                      429: "QuotaExceeded", 500: "InternalFailure", 503: "ServiceUnavailable"}
_S3_ERROR_CODES = {403: "AccessDenied", 404: "NoSuchKey", 500: "InternalError",
                   503: "SlowDown"}


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the fake saw it; no token, secret, query string or body is kept."""

    method: str
    path: str
    operation: str  # one of OPERATIONS, or "" for an unknown path
    authorized: bool  # a live token, the right LWA credentials, or a valid signed URL
    status: int


@dataclass(frozen=True)
class Listing:
    """A listing in the fake's store. Treat `attributes` as read-only."""

    sku: str
    product_type: str
    requirements: str
    attributes: dict[str, Any]
    feed_id: str | None  # the feed that last changed it; None when set by `add_listing`
    asin: str = ""


@dataclass
class Document:
    """A feed document: an input the client uploads, or a processing report."""

    document_id: str
    kind: str  # "input" | "report"
    content_type: str
    body: bytes | None = None  # None until uploaded
    utf8: bool | None = None  # whether the uploaded body was valid UTF-8
    compression: str | None = None  # "GZIP" when the body is gzipped
    uploads: int = 0
    signatures: dict[str, float] = field(default_factory=dict, repr=False)


@dataclass
class Feed:
    """A submitted feed, with what the fake made of its document."""

    feed_id: str
    feed_type: str
    marketplace_ids: list[str]
    document_id: str
    created: datetime
    outcome: str  # the final status it will reach: DONE, FATAL or CANCELLED
    content_type: str | None = None  # the input document's declared type
    size: int = 0  # bytes of the input document
    utf8: bool | None = None
    document: Any = None  # the parsed JSON (dropped after processing unless keep_documents)
    message_count: int = 0  # len(document["messages"]) when that is a list
    fatal_reason: str | None = None
    fatal_report: bool = True
    status: str = "IN_QUEUE"
    polls: int = 0
    started: datetime | None = None
    ended: datetime | None = None
    result_document_id: str | None = None
    report: dict[str, Any] | None = None

    @property
    def final(self) -> bool:
        return self.status in ("DONE", "FATAL", "CANCELLED")


@dataclass
class _Fault:
    operation: str
    times: int | None  # None = forever
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def take(self, operation: str) -> bool:
        if operation != self.operation or self.times == 0:
            return False
        if self.times is not None:
            self.times -= 1
        return True


@dataclass
class _Bucket:
    """A token bucket: `burst` calls at once, refilled at `rate` calls per second."""

    rate: float
    burst: int
    tokens: float
    last: float

    def take(self, now: float) -> bool:
        self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0 - 1e-9:  # float sums: 120 × (1/120) may fall a hair short
            self.tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class _Rejection:
    code: str
    message: str
    attribute: str | None
    severity: str


@dataclass(frozen=True)
class _ListingIssue:
    code: str
    message: str
    severity: str
    attributes: tuple[str, ...]
    categories: tuple[str, ...]


class FakeSpApi(LoopbackFake):
    """LWA + Feeds API 2021-06-30 + pre-signed document URLs, with an in-memory listing store.

    :param seller_id: the selling partner the credentials belong to; a feed whose
        header.sellerId differs ends FATAL.
    :param marketplace_ids: the marketplaces createFeed accepts; None accepts any.
    :param token_ttl: seconds an access token lives (on `clock`); tests use a small value.
    :param polls_to_done: getFeed answers before the final one.
    :param create_feed_rate: createFeed refill, calls per second (Amazon: 1/120).
    :param create_feed_burst: createFeed calls allowed at once (Amazon: 15).
    :param gzip_reports: store processing reports gzipped, with compressionAlgorithm GZIP.
    :param max_messages: the most messages a document may hold (Amazon: 25,000).
    :param keep_documents: keep each feed's parsed document and input bytes after
        processing (benchmarks with huge feeds may turn this off to save memory).
    :param url_ttl: seconds a pre-signed URL stays valid (Amazon: 300).
    :param listings_rate: getListingsItem refill, calls per second (Amazon: 5; None: no limit).
    :param listings_burst: getListingsItem calls allowed at once (Amazon: 10).
    :param clock: monotonic seconds, for token expiry, URL expiry and rate limits.
    """

    thread_name = "fake-spapi"

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        refresh_token: str = DEFAULT_REFRESH_TOKEN,
        seller_id: str = DEFAULT_SELLER_ID,
        marketplace_ids: Collection[str] | None = EU_MARKETPLACES,
        token_ttl: float = 3600.0,
        polls_to_done: int = 2,
        create_feed_rate: float = CREATE_FEED_RATE,
        create_feed_burst: int = CREATE_FEED_BURST,
        gzip_reports: bool = False,
        max_messages: int = MAX_MESSAGES,
        keep_documents: bool = True,
        url_ttl: float = 300.0,
        listings_rate: float | None = LISTINGS_RATE,
        listings_burst: int = LISTINGS_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.seller_id = seller_id
        self.marketplace_ids = None if marketplace_ids is None else frozenset(marketplace_ids)
        self.token_ttl = token_ttl
        self.polls_to_done = polls_to_done
        self.gzip_reports = gzip_reports
        self.max_messages = max_messages
        self.keep_documents = keep_documents
        self.url_ttl = url_ttl
        self.clock = clock
        self._lock = threading.RLock()
        self._tokens: dict[str, float] = {}  # token -> expiry on clock
        self._documents: dict[str, Document] = {}
        self._feeds: dict[str, Feed] = {}
        self._listings: dict[str, Listing] = {}
        self._rejections: dict[str, list[_Rejection]] = {}
        self._listing_issues: dict[str, list[_ListingIssue]] = {}
        self._faults: list[_Fault] = []
        self._limits: dict[str, tuple[float, int]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._next_outcome: list[tuple[str, str | None, bool]] = []
        self._log: list[LoggedRequest] = []
        self._feed_counter = 0
        self._init_server()
        self.rate_limit("createFeed", create_feed_rate, create_feed_burst)
        self.rate_limit("getListingsItem", listings_rate, listings_burst)

    # ------------------------------------------------------------ set-up

    def rate_limit(self, operation: str, rate: float | None, burst: int = 1) -> FakeSpApi:
        """Limit `operation` to `burst` calls at once, refilled at `rate` per second.

        `rate=None` lifts the limit. The bucket starts full.
        """
        _check_operation(operation)
        with self._lock:
            self._buckets.pop(operation, None)
            if rate is None:
                self._limits.pop(operation, None)
            else:
                self._limits[operation] = (rate, burst)
        return self

    def fail_next(self, operation: str, status: int = 500, *, times: int | None = 1,
                  headers: Mapping[str, str] | None = None) -> FakeSpApi:
        """Answer `status` (an SP-API, LWA or S3 error body as fits) `times` times."""
        _check_operation(operation)
        return self._add(_Fault(operation, times, status=status, headers=dict(headers or {})))

    def delay(self, operation: str, seconds: float, *, times: int | None = None) -> FakeSpApi:
        """Wait `seconds` before answering `operation` normally (for client timeouts)."""
        _check_operation(operation)
        return self._add(_Fault(operation, times, status=200, delay=seconds))

    def reject_sku(self, sku: str, *, code: str = "90220", message: str | None = None,
                   attribute: str | None = None, severity: str = "ERROR") -> FakeSpApi:
        """Report an issue for every message about `sku` (an ERROR makes it invalid).

        May be called several times for one sku; each adds one issue.
        """
        if severity not in ("ERROR", "WARNING", "INFO"):
            raise ValueError(f"severity must be ERROR, WARNING or INFO, not {severity!r}")
        if message is None:
            message = (f"'[{attribute}]' is required but not supplied." if attribute
                       else "The listing was rejected.")
        with self._lock:
            self._rejections.setdefault(sku, []).append(
                _Rejection(code, message, attribute, severity))
        return self

    def listing_issue(self, sku: str, *, code: str = "18027",
                      message: str = "The listing is not buyable.", severity: str = "ERROR",
                      attributes: Iterable[str] = (),
                      categories: Iterable[str] = ("INVALID_ATTRIBUTE",)) -> FakeSpApi:
        """An issue Amazon finds in the listing `sku` after accepting a message: reported
        under `items` when the feed asked for `includedData` "issues"."""
        if severity not in ("ERROR", "WARNING", "INFO"):
            raise ValueError(f"severity must be ERROR, WARNING or INFO, not {severity!r}")
        with self._lock:
            self._listing_issues.setdefault(sku, []).append(
                _ListingIssue(code, message, severity, tuple(attributes), tuple(categories)))
        return self

    def fatal_next_feed(self, message: str = "The feed could not be processed.", *,
                        report: bool = True) -> FakeSpApi:
        """The next feed created ends FATAL, unprocessed; with a report holding `message`."""
        with self._lock:
            self._next_outcome.append(("FATAL", message, report))
        return self

    def cancel_next_feed(self) -> FakeSpApi:
        """The next feed created goes IN_QUEUE, then CANCELLED (no report)."""
        with self._lock:
            self._next_outcome.append(("CANCELLED", None, False))
        return self

    def expire_tokens(self) -> FakeSpApi:
        """Every access token handed out so far expires now."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, -math.inf)
        return self

    def add_listing(self, sku: str, product_type: str, attributes: Mapping[str, Any],
                    requirements: str = "LISTING") -> FakeSpApi:
        """Put a listing in the store, as if an earlier feed had created it."""
        with self._lock:
            self._listings[sku] = Listing(sku, product_type, requirements,
                                          _with_audience(copy.deepcopy(dict(attributes))),
                                          None, _asin(sku))
        return self

    def finish(self, feed_id: str | None = None) -> FakeSpApi:
        """Bring `feed_id` (or every feed) to its final status, as its last poll would."""
        with self._lock:
            feeds = [self._feeds[feed_id]] if feed_id is not None else list(self._feeds.values())
            for feed in feeds:
                if not feed.final:
                    self._settle(feed)
        return self

    def _add(self, fault: _Fault) -> FakeSpApi:
        with self._lock:
            self._faults.append(fault)
        return self

    # ------------------------------------------------------------ running

    @property
    def url(self) -> str:
        """The SP-API endpoint, e.g. `http://127.0.0.1:PORT` (paths start `/feeds/…`)."""
        return f"{self.base_url}"

    @property
    def token_url(self) -> str:
        """The LWA token endpoint, `<url>/auth/o2/token`."""
        return f"{self.url}/auth/o2/token"

    # ------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request so far, in the order the answers were finished."""
        with self._lock:
            return list(self._log)

    def calls(self, operation: str, status: int | None = None) -> int:
        """How many requests reached `operation` (with answer `status`, if given)."""
        return sum(1 for r in self.requests
                   if r.operation == operation and status in (None, r.status))

    @property
    def create_feed_calls(self) -> int:
        """createFeed requests of any outcome (429s included)."""
        return self.calls("createFeed")

    @property
    def feeds(self) -> list[Feed]:
        """Snapshots of the feeds created, oldest first."""
        with self._lock:
            return [replace(f) for f in self._feeds.values()]

    def feed(self, feed_id: str) -> Feed:
        with self._lock:
            return replace(self._feeds[feed_id])

    def document(self, document_id: str) -> Document:
        with self._lock:
            return replace(self._documents[document_id], signatures={})

    @property
    def listings(self) -> dict[str, Listing]:
        """The listing store by sku (a snapshot; the listings themselves are immutable)."""
        with self._lock:
            return dict(self._listings)

    def reset(self) -> None:
        """Forget requests, faults, rejections, pending outcomes, rate-limit use (not data)."""
        with self._lock:
            self._log.clear()
            self._faults.clear()
            self._rejections.clear()
            self._listing_issues.clear()
            self._next_outcome.clear()
            self._buckets.clear()

    # ------------------------------------------------------------ serving

    def _wsgi(self, environ: dict, start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            endpoint, args = _ROUTES.bind_to_environ(environ).match()
        except HTTPException as exc:  # no such path, or not with this method
            status = exc.code or 404
            response = _spapi_error(status, _SPAPI_ERROR_CODES.get(status, "NotFound"),
                                    "No such resource or method.")
            self._record(request, "", False, status)
            return response(environ, start_response)
        authorized, response = self._answer(str(endpoint), args, request)
        self._record(request, str(endpoint), authorized, response.status_code)
        return response(environ, start_response)

    def _answer(self, operation: str, args: dict[str, str],
                request: Request) -> tuple[bool, Response]:
        if operation == "token":
            denied = self._check_credentials(request)
        elif operation in ("upload", "download"):
            denied = self._check_signature(args["doc_id"], request)
        else:
            denied = self._check_token(request)
        if denied is not None:
            return False, denied
        fault = self._fault(operation)
        if fault is not None:
            self._stopping.wait(fault.delay)
            if fault.status != 200:
                return True, _fault_response(operation, fault)
        limit_headers = self._limit_headers(operation)
        if limit_headers is not None and not self._take(operation):
            return True, _spapi_error(429, "QuotaExceeded",
                                      "You exceeded your quota for the requested resource.",
                                      headers=limit_headers)
        handler = getattr(self, f"_op_{operation}")
        response: Response = handler(request, **args)
        if operation in _SPAPI_OPERATIONS:
            response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
            response.headers.update(limit_headers or {})
        return True, response

    # --- authentication

    def _check_credentials(self, request: Request) -> Response | None:
        form: Mapping[str, Any] = request.form
        if request.mimetype == "application/json":
            body = request.get_json(silent=True)
            form = body if isinstance(body, dict) else {}
        fields = ("grant_type", "refresh_token", "client_id", "client_secret")
        missing = [name for name in fields if not form.get(name)]
        if missing:
            return _lwa_error(400, "invalid_request",
                              f"Missing parameter(s): {', '.join(missing)}")
        if form["grant_type"] != "refresh_token":
            return _lwa_error(400, "unsupported_grant_type",
                              "The authorization grant type is not supported.")
        if (not secrets.compare_digest(str(form["client_id"]), self.client_id)
                or not secrets.compare_digest(str(form["client_secret"]), self.client_secret)):
            return _lwa_error(401, "invalid_client", "Client authentication failed")
        if not secrets.compare_digest(str(form["refresh_token"]), self.refresh_token):
            return _lwa_error(400, "invalid_grant",
                              "The request has an invalid grant parameter : refresh_token")
        return None

    def _check_token(self, request: Request) -> Response | None:
        token = request.headers.get("x-amz-access-token", "")
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None:
            return _spapi_error(403, "Unauthorized", "Access to requested resource is denied.",
                                "")
        if self.clock() >= expiry:
            return _spapi_error(403, "Unauthorized", "Access to requested resource is denied.",
                                "The access token you provided has expired.")
        return None

    def _check_signature(self, doc_id: str, request: Request) -> Response | None:
        with self._lock:
            doc = self._documents.get(doc_id)
            issued = None if doc is None else doc.signatures.get(
                request.args.get("X-Amz-Signature", ""))
        if issued is None:
            return _s3_error(403, "SignatureDoesNotMatch",
                             "The request signature we calculated does not match the "
                             "signature you provided.")
        if self.clock() >= issued + self.url_ttl:
            return _s3_error(403, "AccessDenied", "Request has expired")
        return None

    def _fault(self, operation: str) -> _Fault | None:
        with self._lock:
            return next((f for f in self._faults if f.take(operation)), None)

    def _limit_headers(self, operation: str) -> dict[str, str] | None:
        with self._lock:
            limit = self._limits.get(operation)
        return None if limit is None else {"x-amzn-RateLimit-Limit": f"{limit[0]:.4g}"}

    def _take(self, operation: str) -> bool:
        now = self.clock()
        with self._lock:
            rate, burst = self._limits[operation]
            bucket = self._buckets.get(operation)
            if bucket is None:
                bucket = self._buckets[operation] = _Bucket(rate, burst, float(burst), now)
            return bucket.take(now)

    # --- operations

    def _op_token(self, request: Request) -> Response:
        token = "Atza|" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = self.clock() + self.token_ttl
        body = {"access_token": token, "refresh_token": self.refresh_token,
                "token_type": "bearer", "expires_in": max(1, math.ceil(self.token_ttl))}
        return _json(200, body, {"Cache-Control": "no-store"})

    def _op_createFeedDocument(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        content_type = body.get("contentType") if isinstance(body, dict) else None
        if not isinstance(content_type, str) or not content_type.strip():
            return _spapi_error(400, "InvalidInput", "contentType is required.")
        doc_id = f"amzn1.tortuga.4.eu.{uuid.uuid4()}.T{secrets.token_hex(6).upper()}"
        doc = Document(doc_id, "input", content_type)
        with self._lock:
            self._documents[doc_id] = doc
            url = self._signed_url("upload", doc)
        return _json(201, {"feedDocumentId": doc_id, "url": url})

    def _op_upload(self, request: Request, doc_id: str) -> Response:
        with self._lock:
            doc = self._documents[doc_id]
        if doc.kind != "input":
            return _s3_error(403, "AccessDenied", "Access Denied")
        if request.content_length is None:
            return _s3_error(411, "MissingContentLength",
                             "You must provide the Content-Length HTTP header.")
        if (request.headers.get("Content-Type") or "").strip() != doc.content_type:
            return _s3_error(403, "SignatureDoesNotMatch",
                             "The request signature we calculated does not match the signature "
                             "you provided. (The Content-Type differs from the one declared "
                             "in createFeedDocument.)")
        body = request.get_data(cache=False)
        try:
            body.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        with self._lock:
            doc.body, doc.utf8 = body, utf8
            doc.uploads += 1
        etag = '"' + secrets.token_hex(16) + '"'
        return Response(b"", status=200, headers={"ETag": etag})

    def _op_createFeed(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _spapi_error(400, "InvalidInput", "The request body must be a JSON object.")
        feed_type, ids = body.get("feedType"), body.get("marketplaceIds")
        doc_id = body.get("inputFeedDocumentId")
        if not isinstance(feed_type, str) or not feed_type:
            return _spapi_error(400, "InvalidInput", "feedType is required.")
        if (not isinstance(ids, list) or not ids
                or not all(isinstance(m, str) and m for m in ids)):
            return _spapi_error(400, "InvalidInput",
                                "marketplaceIds must be a non-empty list of strings.")
        if self.marketplace_ids is not None:
            unknown = [m for m in ids if m not in self.marketplace_ids]
            if unknown:
                return _spapi_error(400, "InvalidInput",
                                    f"Invalid marketplaceIds: {', '.join(unknown)}")
        with self._lock:
            doc = self._documents.get(doc_id) if isinstance(doc_id, str) else None
        if doc is None or doc.kind != "input":
            return _spapi_error(400, "InvalidInput", "Invalid inputFeedDocumentId.")
        feed = self._new_feed(feed_type, list(ids), doc)
        return _json(202, {"feedId": feed.feed_id})

    def _op_getFeed(self, request: Request, feed_id: str) -> Response:
        with self._lock:
            feed = self._feeds.get(feed_id)
            if feed is None:
                return _spapi_error(404, "NotFound", f"Feed {feed_id} not found.")
            self._poll(feed)
            body: dict[str, Any] = {
                "feedId": feed.feed_id, "feedType": feed.feed_type,
                "marketplaceIds": list(feed.marketplace_ids),
                "createdTime": _iso(feed.created), "processingStatus": feed.status,
            }
            if feed.started is not None:
                body["processingStartTime"] = _iso(feed.started)
            if feed.ended is not None:
                body["processingEndTime"] = _iso(feed.ended)
            if feed.result_document_id is not None:
                body["resultFeedDocumentId"] = feed.result_document_id
        return _json(200, body)

    def _op_cancelFeed(self, request: Request, feed_id: str) -> Response:
        with self._lock:
            feed = self._feeds.get(feed_id)
            if feed is None:
                return _spapi_error(404, "NotFound", f"Feed {feed_id} not found.")
            if feed.status != "IN_QUEUE":
                return _spapi_error(400, "InvalidInput",
                                    f"Feed {feed_id} is {feed.status}; only a feed IN_QUEUE "
                                    "can be cancelled.")
            feed.outcome = "CANCELLED"
            self._settle(feed)
        return Response(b"", status=200)

    def _op_getFeedDocument(self, request: Request, doc_id: str) -> Response:
        with self._lock:
            doc = self._documents.get(doc_id)
            if doc is None:
                return _spapi_error(404, "NotFound", f"Document {doc_id} not found.")
            body = {"feedDocumentId": doc_id, "url": self._signed_url("download", doc)}
            if doc.compression:
                body["compressionAlgorithm"] = doc.compression
        return _json(200, body)

    def _op_download(self, request: Request, doc_id: str) -> Response:
        with self._lock:
            doc = self._documents[doc_id]
        if doc.body is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if doc.compression == "GZIP":
            content_type = "application/x-gzip"
        elif doc.kind == "report":
            content_type = "application/json"
        else:
            content_type = doc.content_type
        # no Content-Encoding: S3 hands over the gzip bytes as they are
        return Response(doc.body, status=200, headers={"Content-Type": content_type})

    def _op_getListingsItem(self, request: Request, seller_id: str, sku: str) -> Response:
        if seller_id != self.seller_id:
            return _spapi_error(403, "Unauthorized", "Access to requested resource is denied.")
        marketplaces = [m for m in request.args.get("marketplaceIds", "").split(",") if m]
        if not marketplaces:
            return _spapi_error(400, "InvalidInput", "marketplaceIds is required.")
        included = [d for d in request.args.get("includedData", "summaries").split(",") if d]
        with self._lock:
            listing = self._listings.get(sku)
            issues = list(self._listing_issues.get(sku, ()))
        if listing is None:
            return _spapi_error(404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace "
                                                  f"{marketplaces[0]}")
        body: dict[str, Any] = {"sku": sku}
        if "summaries" in included:
            body["summaries"] = [_summary(listing, m) for m in marketplaces]
        if "issues" in included:
            body["issues"] = [_item_issue(i) for i in issues]
        if "attributes" in included:
            body["attributes"] = copy.deepcopy(listing.attributes)
        return _json(200, body)

    def _signed_url(self, kind: str, doc: Document) -> str:
        """A pre-signed-looking URL; its signature is valid `url_ttl` seconds from now."""
        signature = secrets.token_hex(32)
        doc.signatures[signature] = self.clock()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        credential = quote(f"AKIAFAKE/{stamp[:8]}/eu-west-1/s3/aws4_request", safe="")
        query = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}"
                 f"&X-Amz-Date={stamp}&X-Amz-Expires={math.ceil(self.url_ttl)}"
                 f"&X-Amz-SignedHeaders=content-type%3Bhost&X-Amz-Signature={signature}")
        return f"{self.url}/{kind}/{doc.document_id}?{query}"

    # --- feeds

    def _new_feed(self, feed_type: str, marketplace_ids: list[str], doc: Document) -> Feed:
        body = doc.body  # read once: a re-upload after createFeed does not change the feed
        parsed: Any = None
        parse_error: str | None = None
        if body is not None and feed_type == JSON_LISTINGS_FEED:
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                parse_error = f"The feed document is not valid UTF-8 JSON: {exc}"
        with self._lock:
            self._feed_counter += 1
            feed_id = str(50_001_000_000 + self._feed_counter)
            outcome, message, report = (self._next_outcome.pop(0) if self._next_outcome
                                        else ("DONE", None, True))
            feed = Feed(feed_id, feed_type, marketplace_ids, doc.document_id,
                        datetime.now(UTC), outcome, content_type=doc.content_type,
                        size=len(body or b""), utf8=doc.utf8, document=parsed,
                        fatal_reason=message, fatal_report=report)
            messages = parsed.get("messages") if isinstance(parsed, dict) else None
            feed.message_count = len(messages) if isinstance(messages, list) else 0
            if outcome == "DONE":
                self._precheck(feed, body, parse_error)
            self._feeds[feed_id] = feed
        return feed

    def _precheck(self, feed: Feed, body: bytes | None, parse_error: str | None) -> None:
        """Decide now whether the feed will end FATAL (the document as a whole is wrong)."""
        if body is None:
            reason = "The feed document was never uploaded."
        elif feed.feed_type != JSON_LISTINGS_FEED:
            feed.outcome, feed.fatal_report = "FATAL", False
            feed.fatal_reason = f"The feed type {feed.feed_type} is not supported."
            return
        elif parse_error is not None:
            reason = parse_error
        else:
            reason = _envelope_problem(feed.document, self.seller_id, self.max_messages)
        if reason is not None:
            feed.outcome, feed.fatal_reason, feed.fatal_report = "FATAL", reason, True

    def _poll(self, feed: Feed) -> None:
        feed.polls += 1
        if feed.final:
            return
        if feed.polls > self.polls_to_done:
            self._settle(feed)
        elif feed.polls >= 2 and feed.outcome != "CANCELLED":
            feed.status = "IN_PROGRESS"
            if feed.started is None:
                feed.started = datetime.now(UTC)

    def _settle(self, feed: Feed) -> None:
        """Final status: process the document (DONE), or write the fatal report (FATAL)."""
        now = datetime.now(UTC)
        if feed.outcome != "CANCELLED" and feed.started is None:
            feed.started = now
        report: dict[str, Any] | None = None
        if feed.outcome == "DONE":
            report = self._process(feed)
        elif feed.outcome == "FATAL" and feed.fatal_report:
            report = self._fatal_report(feed)
        if report is not None:
            feed.report = report
            feed.result_document_id = self._store_report(report)
        feed.status, feed.ended = feed.outcome, now
        if not self.keep_documents:
            feed.document = None
            doc = self._documents.get(feed.document_id)
            if doc is not None:
                doc.body = None

    def _store_report(self, report: dict[str, Any]) -> str:
        body = orjson.dumps(report)
        doc_id = f"amzn1.tortuga.4.eu.{uuid.uuid4()}.T{secrets.token_hex(6).upper()}"
        doc = Document(doc_id, "report", "application/json", body=body, utf8=True)
        if self.gzip_reports:
            doc.body, doc.compression = gzip.compress(body, mtime=0), "GZIP"
        self._documents[doc_id] = doc
        return doc_id

    def _header(self, feed: Feed) -> dict[str, Any]:
        doc = feed.document
        header = doc.get("header") if isinstance(doc, dict) else None
        seller = header.get("sellerId") if isinstance(header, dict) else None
        out = {"sellerId": seller if isinstance(seller, str) else self.seller_id,
               "version": "2.0", "feedId": feed.feed_id}
        if isinstance(header, dict) and isinstance(header.get("report"), dict):
            out["report"] = header["report"]
        return out

    def _fatal_report(self, feed: Feed) -> dict[str, Any]:
        issue = {"code": CODE_DOCUMENT, "severity": "ERROR",
                 "message": feed.fatal_reason or "The feed could not be processed."}
        return {"header": self._header(feed), "issues": [issue],
                "summary": {"errors": 1, "warnings": 0, "messagesProcessed": 0,
                            "messagesAccepted": 0, "messagesInvalid": 0}}

    def _process(self, feed: Feed) -> dict[str, Any]:
        """Check every message, apply the valid ones to the listing store, build the report."""
        messages = feed.document["messages"]
        issues: list[dict[str, Any]] = []
        seen: set[int] = set()
        applied: dict[str, None] = {}  # the skus changed, in order
        accepted = invalid = 0
        for message in messages:
            found = _message_issues(message, seen)
            sku = message.get("sku") if isinstance(message, dict) else None
            if isinstance(sku, str):
                for rule in self._rejections.get(sku, ()):
                    found.append(_issue(message, rule.code, rule.severity, rule.message,
                                        rule.attribute))
            issues.extend(found)
            if any(i["severity"] == "ERROR" for i in found):
                invalid += 1
            else:
                accepted += 1
                self._apply(message, feed.feed_id)
                if message["operationType"] != "DELETE":
                    applied[message["sku"]] = None
        errors = sum(1 for i in issues if i["severity"] == "ERROR")
        warnings = sum(1 for i in issues if i["severity"] == "WARNING")
        report: dict[str, Any] = {
            "header": self._header(feed), "issues": issues,
            "summary": {"errors": errors, "warnings": warnings,
                        "messagesProcessed": len(messages), "messagesAccepted": accepted,
                        "messagesInvalid": invalid}}
        included = self._included(feed)
        if included:
            items = [self._item(sku, feed, included) for sku in applied]
            report["items"] = items
            found = [i for item in items for i in item.get("issues", ())]
            report["summary"]["itemSummary"] = {
                "items": len(items), "errors": sum(i["severity"] == "ERROR" for i in found),
                "warnings": sum(i["severity"] == "WARNING" for i in found)}
        return report

    @staticmethod
    def _included(feed: Feed) -> list[str]:
        header = feed.document.get("header") if isinstance(feed.document, dict) else None
        report = header.get("report") if isinstance(header, dict) else None
        included = report.get("includedData") if isinstance(report, dict) else None
        return [d for d in included if isinstance(d, str)] if isinstance(included, list) else []

    def _item(self, sku: str, feed: Feed, included: list[str]) -> dict[str, Any]:
        """One listing as the Listings Items API shows it, with the data asked for."""
        listing = self._listings.get(sku)
        item: dict[str, Any] = {"sku": sku}
        if "summaries" in included and listing is not None:
            item["summaries"] = [_summary(listing, m) for m in feed.marketplace_ids]
        if "issues" in included:
            item["issues"] = [_item_issue(i) for i in self._listing_issues.get(sku, ())]
        if "attributes" in included and listing is not None:
            item["attributes"] = copy.deepcopy(listing.attributes)
        return item

    def _apply(self, message: dict[str, Any], feed_id: str) -> None:
        sku, op = message["sku"], message["operationType"]
        if op == "DELETE":
            self._listings.pop(sku, None)
            return
        old = self._listings.get(sku)
        attributes = {} if old is None else old.attributes
        requirements = "LISTING" if old is None else old.requirements
        if op == "UPDATE":
            attributes = dict(message["attributes"])
            requirements = message.get("requirements", "LISTING")
        elif op == "PARTIAL_UPDATE":
            attributes = {**attributes, **message["attributes"]}
        else:
            attributes = _patched(attributes, message["patches"])
        self._listings[sku] = Listing(sku, message["productType"], requirements,
                                      _with_audience(attributes), feed_id,
                                      old.asin if old is not None else _asin(sku))

    def _record(self, request: Request, operation: str, authorized: bool, status: int) -> None:
        entry = LoggedRequest(request.method, request.path, operation, authorized, status)
        with self._lock:
            self._log.append(entry)


# ---------------------------------------------------------------- checks (no I/O)


def _check_operation(operation: str) -> None:
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; one of {', '.join(OPERATIONS)}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _envelope_problem(doc: Any, seller_id: str, max_messages: int) -> str | None:
    """What makes the document as a whole break listings-feed-schema-v2, or None."""
    if not isinstance(doc, dict):
        return "The feed document must be a JSON object."
    header, messages = doc.get("header"), doc.get("messages")
    if not isinstance(header, dict):
        return "The feed document has no 'header' object."
    if not isinstance(header.get("sellerId"), str):
        return "The attribute 'sellerId' is required in the header."
    if header.get("version") != "2.0":
        return "The attribute 'version' does not match the required value '2.0'."
    if "issueLocale" in header and not isinstance(header["issueLocale"], str):
        return "The attribute 'issueLocale' must be a string."
    if "report" in header:
        report = header["report"]
        included = report.get("includedData") if isinstance(report, dict) else None
        if (not isinstance(included, list) or not included
                or not all(isinstance(x, str) and x in _INCLUDED_DATA for x in included)
                or report.get("apiVersion") != "2021-08-01"):
            return ("The header 'report' needs 'includedData' (a non-empty list of known "
                    "values) and 'apiVersion' '2021-08-01'.")
    if header["sellerId"] != seller_id:
        return (f"The sellerId '{header['sellerId']}' in the header is not the selling "
                "partner of this request.")
    if not isinstance(messages, list) or not messages:
        return "The feed document needs a non-empty 'messages' array."
    if len(messages) > max_messages:
        return (f"The feed document has {len(messages)} messages; at most {max_messages} "
                "are allowed.")
    return None


def _issue(message: Mapping[str, Any], code: str, severity: str, text: str,
           attribute: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {}
    mid, sku = message.get("messageId"), message.get("sku")
    if _is_int(mid) and 1 <= mid <= MAX_MESSAGE_ID:
        issue["messageId"] = mid
    if isinstance(sku, str) and sku:
        issue["sku"] = sku
    issue.update(code=code, severity=severity, message=text)
    if attribute is not None:
        issue["attributeName"] = attribute
    return issue


def _message_issues(message: Any, seen: set[int]) -> list[dict[str, Any]]:
    """The ERROR issues of one message: schema violations, then bad attribute values."""
    if not isinstance(message, dict):
        return [_issue({}, CODE_MESSAGE_SCHEMA, "ERROR",
                       f"{MESSAGE_SCHEMA_TEXT} A message must be an object.")]
    problems = _schema_problems(message)
    mid = message.get("messageId")
    if _is_int(mid):
        if mid in seen:
            problems.append(f"'messageId' {mid} is used by an earlier message.")
        seen.add(mid)
    issues = [_issue(message, CODE_MESSAGE_SCHEMA, "ERROR", f"{MESSAGE_SCHEMA_TEXT} {p}")
              for p in problems]
    attributes = message.get("attributes")
    if isinstance(attributes, dict):
        for name, value in attributes.items():
            if not _array_of_objects(value):
                issues.append(_issue(message, CODE_ATTRIBUTE_VALUE, "ERROR",
                                     f"The provided value for '{name}' is invalid. An "
                                     "attribute value must be an array of objects.", name))
    offers = [attributes.get("purchasable_offer")] if isinstance(attributes, dict) else []
    offers += [p.get("value") for p in message.get("patches") or []
               if isinstance(p, dict) and p.get("path") == "/attributes/purchasable_offer"]
    for missing in sorted({m for offer in offers for m in _sale_window_missing(offer)}):
        issues.append(_issue(message, CODE_REQUIRED, "ERROR",
                             f"'[purchasable_offer.discounted_price.schedule.{missing}]' is "
                             "required but not supplied.", "purchasable_offer"))
    return issues


def _sale_window_missing(offer: Any) -> set[str]:
    """`start_at` / `end_at` a discounted_price schedule of these offer entries lacks."""
    missing: set[str] = set()
    for entry in offer if isinstance(offer, list) else []:
        sales = entry.get("discounted_price") if isinstance(entry, dict) else None
        for sale in sales if isinstance(sales, list) else []:
            schedule = sale.get("schedule") if isinstance(sale, dict) else None
            for step in schedule if isinstance(schedule, list) else []:
                if isinstance(step, dict):
                    missing |= {k for k in ("start_at", "end_at") if not step.get(k)}
    return missing


def _schema_problems(message: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    mid = message.get("messageId")
    if not _is_int(mid) or not 1 <= mid <= MAX_MESSAGE_ID:
        problems.append("'messageId' must be an integer from 1 to 2147483647.")
    sku = message.get("sku")
    if not isinstance(sku, str) or not sku:
        problems.append("'sku' must be a non-empty string.")
    op = message.get("operationType")
    if op not in _SHAPES:
        problems.append(f"'operationType' must be one of {', '.join(_OPERATION_TYPES)}.")
        return problems
    required, forbidden = _SHAPES[op]
    keys = message.keys()
    if not keys >= _SHAPE_SETS[op][0]:
        problems += [f"'{name}' is required for {op}." for name in required
                     if name not in message]
    if keys & _SHAPE_SETS[op][1]:
        problems += [f"'{name}' is not allowed for {op}." for name in forbidden
                     if name in message]
    if "productType" in message and (not isinstance(message["productType"], str)
                                     or not message["productType"]):
        problems.append("'productType' must be a non-empty string.")
    if "requirements" in message and message["requirements"] not in _REQUIREMENTS:
        problems.append(f"'requirements' must be one of {', '.join(_REQUIREMENTS)}.")
    if "attributes" in message and (not isinstance(message["attributes"], dict)
                                    or not message["attributes"]):
        problems.append("'attributes' must be an object with at least one attribute.")
    if "patches" in message:
        problems += _patch_problems(message["patches"])
    return problems


def _patch_problems(patches: Any) -> list[str]:
    if not isinstance(patches, list) or not patches:
        return ["'patches' must be a non-empty array."]
    problems: list[str] = []
    for n, patch in enumerate(patches):
        where = f"patches[{n}]"
        if not isinstance(patch, dict):
            problems.append(f"'{where}' must be an object.")
            continue
        if patch.get("op") not in _PATCH_OPS:
            problems.append(f"'{where}.op' must be one of {', '.join(_PATCH_OPS)}.")
        path = patch.get("path")
        if not isinstance(path, str) or _attribute_name(path) is None:
            problems.append(f"'{where}.path' must be '/attributes/<name>'.")
        if "value" in patch:
            if not _array_of_objects(patch["value"]):
                problems.append(f"'{where}.value' must be an array of objects.")
        elif patch.get("op") in ("add", "replace", "merge"):
            problems.append(f"'{where}.value' is required for op {patch['op']}.")
    return problems


def _attribute_name(path: str) -> str | None:
    prefix = "/attributes/"
    name = path[len(prefix):] if path.startswith(prefix) else ""
    return name if name and "/" not in name else None


def _array_of_objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


# ---------------------------------------------------------------- patches (no I/O)


def _patched(attributes: Mapping[str, Any], patches: Iterable[Mapping[str, Any]]) -> dict:
    """`attributes` after `patches`; builds new containers, never changes its inputs."""
    result = dict(attributes)
    for patch in patches:
        name = _attribute_name(patch["path"])
        assert name is not None  # checked before
        op, value = patch["op"], patch.get("value")
        if op == "replace" and name in _REPLACE_SELECTORS and result.get(name):
            result[name] = _replaced(result[name], value, _REPLACE_SELECTORS[name])
        elif op in ("add", "replace"):
            result[name] = list(value)
        elif op == "merge":
            result[name] = _merged(result.get(name, []), value)
        elif value is None:
            result.pop(name, None)
        else:
            kept = [entry for entry in result.get(name, [])
                    if not any(_matches(entry, selector) for selector in value)]
            if kept:
                result[name] = kept
            else:
                result.pop(name, None)
    return result


def _replaced(existing: list[dict], values: list[dict], selectors: tuple[str, ...]
              ) -> list[dict]:
    """Each value replaces the stored entries with the same selector values (a selector
    the value does not give is None, so it matches no entry that has one); a value that
    matches none is added beside them."""
    out = list(existing)
    for value in values:
        key = tuple(value.get(k) for k in selectors)
        kept = [e for e in out if tuple(e.get(k) for k in selectors) != key]
        out = kept + [value] if len(kept) < len(out) else out + [value]
    return out


def _with_audience(attributes: dict[str, Any]) -> dict[str, Any]:
    """The attributes as stored: every offer entry has an audience ("ALL" unless given)."""
    offers = attributes.get("purchasable_offer")
    if isinstance(offers, list):
        attributes = {**attributes, "purchasable_offer": [
            {**o, "audience": o.get("audience", "ALL")} if isinstance(o, dict) else o
            for o in offers]}
    return attributes


def _asin(sku: str) -> str:
    return "B0" + uuid.uuid5(uuid.NAMESPACE_URL, sku).hex[:8].upper()


def _summary(listing: Listing, marketplace_id: str) -> dict[str, Any]:
    names = listing.attributes.get("item_name") or [{}]
    return {"marketplaceId": marketplace_id, "asin": listing.asin,
            "productType": listing.product_type, "conditionType": "new_new",
            "status": ["BUYABLE", "DISCOVERABLE"],
            "itemName": names[0].get("value", "") if isinstance(names[0], dict) else "",
            "createdDate": "2026-01-01T00:00:00Z", "lastUpdatedDate": "2026-01-01T00:00:00Z"}


def _item_issue(issue: _ListingIssue) -> dict[str, Any]:
    found: dict[str, Any] = {"code": issue.code, "message": issue.message,
                             "severity": issue.severity}
    if issue.attributes:
        found["attributeNames"] = list(issue.attributes)
    found["categories"] = list(issue.categories)
    return found


def _matches(entry: Mapping[str, Any], selector: Mapping[str, Any]) -> bool:
    return all(entry.get(key) == wanted for key, wanted in selector.items())


def _merged(existing: list[dict], values: list[dict]) -> list[dict]:
    out = list(existing)
    for position, value in enumerate(values):
        keys = [k for k in _SELECTORS if k in value]
        if keys:
            index = next((i for i, e in enumerate(out)
                          if all(e.get(k) == value[k] for k in keys)), None)
        else:
            index = position if position < len(out) else None
        if index is None:
            out.append(value)
        else:
            out[index] = _deep_merge(out[index], value)
    return out


def _deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# ---------------------------------------------------------------- responses


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=dict(headers or {}),
                    mimetype="application/json")


def _spapi_error(status: int, code: str, message: str, details: str | None = None,
                 headers: Mapping[str, str] | None = None) -> Response:
    error = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    response = _json(status, {"errors": [error]}, headers)
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


def _lwa_error(status: int, error: str, description: str) -> Response:
    return _json(status, {"error": error, "error_description": description})


def _s3_error(status: int, code: str, message: str) -> Response:
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>")
    return Response(body, status=status, mimetype="application/xml")


def _fault_response(operation: str, fault: _Fault) -> Response:
    status, headers = fault.status, fault.headers
    if operation == "token":
        response = _lwa_error(status, "server_error" if status >= 500 else "invalid_request",
                              "injected failure")
    elif operation in ("upload", "download"):
        response = _s3_error(status, _S3_ERROR_CODES.get(status, "InternalError"),
                             "injected failure")
    else:
        response = _spapi_error(status, _SPAPI_ERROR_CODES.get(status, "InternalFailure"),
                                "injected failure")
    response.headers.update(headers)
    return response
