"""The server-side events as data: pure functions, no I/O.

Values come from the one `tracking.events.Purchase` the browser events are built from
(`feeds.events.source.EventSource.purchase_of`), through the same service functions:
GA4's parameters are `tracking.services.ga4.event_params`, Meta's `custom_data` is the
Pixel's `tracking.services.meta_pixel.context` parameters. So value, tax, shipping,
currency and item ids equal what the loader sends in the browser, and the platforms
deduplicate the two (GA4 by `transaction_id`, Meta by `event_id` = the Pixel's eventID).

Platform rules, with their sources:

- GA4 Measurement Protocol: `POST {endpoint}?measurement_id=G-...&api_secret=...`, a JSON
  body `{client_id, timestamp_micros, consent, events: [{name, params}]}`;
  `timestamp_micros` backdates an event by at most 72 hours; `session_id` and
  `engagement_time_msec` are event parameters; `consent.ad_user_data` and
  `consent.ad_personalization` are "GRANTED"/"DENIED"
  (https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference,
  .../ga4/sending-events). The endpoint answers 2xx even for a payload it drops; the
  validation server is `/debug/mp/collect`, answering `{"validationMessages": [{fieldPath,
  description, validationCode}]}` (.../ga4/validating-events).
- Meta Conversions API: `event_time` at most 7 days old, or the whole request fails;
  `event_id` deduplicates against the Pixel's eventID within 48 h; website events need
  `client_user_agent`, `action_source` and `event_source_url`; `em`, `ph`, `fn`, `ln`,
  `ct`, `zp`, `country` are SHA-256 hex of the normalised value, `external_id` hashing is
  recommended, `client_ip_address`, `client_user_agent`, `fbp`, `fbc` are never hashed
  (https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/server-event,
  .../parameters/customer-information-parameters, .../conversions-api/parameters).
  Normalisation: e-mail trimmed and lower-case; phone digits only with the country code
  and no leading zeros; names lower-case without punctuation (UTF-8 letters kept); city
  lower-case without digits, spaces or punctuation; postcode lower-case without spaces,
  only the part before a dash; country the lower-case ISO 3166-1 alpha-2 code (the
  customer-information page, and facebook-python-business-sdk's
  `adobjects/serverside/normalize.py`, which applies the same rules).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from feeds.core.model import Customer
from tracking.events import Purchase
from tracking.options import TrackingOptions
from tracking.serialize import js_dumps
from tracking.services import ga4, meta_pixel

__all__ = [
    "BEACON_FIELDS",
    "CALLING_CODES",
    "CONSENT_SIGNALS",
    "GA4_WINDOW",
    "META_BATCH",
    "META_WINDOW",
    "SAFETY_MARGIN",
    "Beacon",
    "Consent",
    "Platform",
    "ga4_purchase",
    "allowed",
    "ga4_refund",
    "hashed",
    "is_sha256",
    "meta_purchase",
    "meta_user_data",
    "money",
    "normalise",
    "sha256",
    "too_old",
    "window",
    "wire",
]


class Platform(StrEnum):
    GA4 = "ga4"
    META = "meta"


#: GA4 Measurement Protocol: events backdated at most 72 hours (reference, timestamp_micros).
GA4_WINDOW = timedelta(hours=72)
#: Meta: `event_time` at most 7 days before the send (server-event parameters).
META_WINDOW = timedelta(days=7)
#: Kept off each window: the run's own duration and clock skew must not push an event
#: over the edge (for Meta one late event fails its whole batch).
SAFETY_MARGIN = timedelta(minutes=10)
#: Meta: events per request ("up to 1,000 events" in `data`, Conversions API, using the API).
META_BATCH = 1000
#: The four Consent Mode v2 signals, as the loader reports them.
CONSENT_SIGNALS = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")
#: What a beacon may carry besides the consent (all optional).
BEACON_FIELDS = ("ga_client_id", "ga_session_id", "fbp", "fbc", "page_url", "user_agent", "ip")


def window(platform: Platform) -> timedelta:
    return GA4_WINDOW if platform is Platform.GA4 else META_WINDOW


def too_old(order_time: datetime | None, now: datetime, platform: Platform) -> bool:
    """Whether an order of `order_time` is past `platform`'s window (less the margin);
    an order without a time is (its age is unknown)."""
    return order_time is None or now - order_time > window(platform) - SAFETY_MARGIN


# ---------------------------------------------------------------- consent and beacons


@dataclass(frozen=True)
class Consent:
    """The Consent Mode v2 signals a beacon reported (all False when none was)."""

    ad_storage: bool = False
    analytics_storage: bool = False
    ad_user_data: bool = False
    ad_personalization: bool = False

    @classmethod
    def read(cls, value: Any) -> Consent:
        """From `{signal: "granted" | "denied" | true | false}`; anything else is denied."""
        if not isinstance(value, Mapping):
            return cls()
        return cls(**{s: value.get(s) is True or value.get(s) == "granted"
                      for s in CONSENT_SIGNALS})

    def as_json(self) -> dict[str, str]:
        return {s: "granted" if getattr(self, s) else "denied" for s in CONSENT_SIGNALS}

    @property
    def ads(self) -> bool:
        """Meta may use the browser's ids, UA, IP and URL (the issue's rule)."""
        return self.ad_storage and self.ad_user_data


@dataclass(frozen=True)
class Beacon:
    """What the browser told about one order, already cut down to what consent allowed."""

    order: str
    received_at: datetime
    consent: Consent
    ga_client_id: str = ""
    ga_session_id: str = ""
    fbp: str = ""
    fbc: str = ""
    page_url: str = ""
    user_agent: str = ""
    ip: str = ""

    @classmethod
    def from_stored(cls, order: str, received_at: datetime, data: Mapping[str, Any]) -> Beacon:
        consent = Consent.read(data.get("consent"))
        values = {k: str(data.get(k) or "") for k in BEACON_FIELDS}
        return allowed(cls(order=order, received_at=received_at, consent=consent, **values))

    def stored(self) -> dict[str, Any]:
        """The beacon as the inbox keeps it (only non-empty fields)."""
        data: dict[str, Any] = {"consent": self.consent.as_json()}
        data.update({k: getattr(self, k) for k in BEACON_FIELDS if getattr(self, k)})
        return data

    @property
    def website_ready(self) -> bool:
        """Meta's website event needs the UA and the page URL, and ads consent."""
        return self.consent.ads and bool(self.user_agent and self.page_url)


def allowed(beacon: Beacon) -> Beacon:
    """`beacon` less what its consent does not allow: the GA4 ids only with
    analytics_storage; Meta's fbp/fbc, the UA, IP and page URL only with ad_storage and
    ad_user_data."""
    c = beacon.consent
    ga = {} if c.analytics_storage else {"ga_client_id": "", "ga_session_id": ""}
    ads = {} if c.ads else {"fbp": "", "fbc": "", "page_url": "", "user_agent": "", "ip": ""}
    if not ga and not ads:
        return beacon
    return Beacon(**{**beacon.__dict__, **ga, **ads})


# ---------------------------------------------------------------- GA4


def _micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _ga4_consent(beacon: Beacon | None) -> dict[str, str]:
    """Ads consent for the event: the browser's when it reported one, else denied."""
    c = beacon.consent if beacon else Consent()
    return {"ad_user_data": "GRANTED" if c.ad_user_data else "DENIED",
            "ad_personalization": "GRANTED" if c.ad_personalization else "DENIED"}


def ga4_purchase(purchase: Purchase, options: TrackingOptions, *, order_time: datetime,
                 client_id: str, beacon: Beacon | None) -> dict[str, Any]:
    """The Measurement Protocol body of one order's `purchase`.

    `client_id` is the browser's (from a beacon with analytics consent) or one made up
    for the order; `session_id` is sent when the beacon had it.
    """
    params = ga4.event_params(purchase, options)
    if beacon is not None and beacon.ga_session_id:
        params["session_id"] = beacon.ga_session_id
        params["engagement_time_msec"] = 1  # a session needs engagement to be reported
    return {"client_id": client_id, "timestamp_micros": _micros(order_time),
            "consent": _ga4_consent(beacon),
            "events": [{"name": "purchase", "params": params}]}


def ga4_refund(purchase: Purchase, options: TrackingOptions, *, client_id: str
               ) -> dict[str, Any]:
    """A full refund of a sent purchase, by its `transaction_id` (no items: GA4 then
    refunds the whole transaction); timed when it is sent."""
    params = ga4.event_params(purchase, options)
    return {"client_id": client_id, "consent": _ga4_consent(None),
            "events": [{"name": "refund", "params": {
                "transaction_id": params["transaction_id"], "currency": params["currency"],
                "value": params["value"]}}]}


# ---------------------------------------------------------------- Meta


def meta_purchase(purchase: Purchase, options: TrackingOptions, *, order_time: datetime,
                  user_data: Mapping[str, Any], source_url: str = "") -> dict[str, Any]:
    """One Conversions API `Purchase`: `website` with the page's URL when the user data
    came with the browser's UA, else `other` (matched by customer data only)."""
    pixel = meta_pixel.context(purchase, options)
    event: dict[str, Any] = {
        "event_name": pixel["name"],
        "event_time": int(order_time.timestamp()),
        "event_id": pixel["event_options"]["eventID"],
        "action_source": "website" if source_url else "other",
        "user_data": dict(user_data),
        "custom_data": {**pixel["params"], "order_id": purchase.transaction_id},
    }
    if source_url:
        event["event_source_url"] = source_url
    return event


def meta_user_data(beacon: Beacon | None, customer: Customer | None, *,
                   default_country: str) -> dict[str, Any]:
    """Meta's `user_data`: the browser's ids where ads consent allowed them (never
    hashed), and the customer's data normalised and hashed (when `customer` is given,
    i.e. `[purchases] send_user_data`)."""
    data: dict[str, Any] = {}
    if beacon is not None and beacon.consent.ads:
        for key, value in (("client_user_agent", beacon.user_agent),
                           ("client_ip_address", beacon.ip), ("fbp", beacon.fbp),
                           ("fbc", beacon.fbc)):
            if value:
                data[key] = value
    if customer is not None:
        data.update(hashed(customer, default_country))
    return data


# ---------------------------------------------------------------- customer data

# Country calling codes (ITU-T E.164) of the countries a Nordic shop mostly sells to; a
# national number ("070 ...") from a country not listed here is left out, never guessed.
CALLING_CODES = {
    "SE": "46", "NO": "47", "DK": "45", "FI": "358", "AX": "358", "IS": "354", "EE": "372",
    "LV": "371", "LT": "370", "DE": "49", "NL": "31", "BE": "32", "LU": "352", "FR": "33",
    "ES": "34", "PT": "351", "IT": "39", "AT": "43", "CH": "41", "PL": "48", "CZ": "420",
    "SK": "421", "HU": "36", "IE": "353", "GB": "44", "GR": "30", "US": "1", "CA": "1",
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _letters(text: str) -> str:
    """Lower case, letters only (UTF-8 letters such as å and é kept, composed)."""
    text = unicodedata.normalize("NFC", text.strip().lower())
    return "".join(ch for ch in text if ch.isalpha())


def normalise(field: str, value: str, country: str = "") -> str:
    """One customer value as Meta wants it before hashing; "" when unusable.

    :param country: the customer's (else the shop's) ISO country, for a phone number
        written without its country code.
    """
    text = value.strip()
    if not text:
        return ""
    if field == "em":
        text = text.lower()
        return text if _EMAIL.fullmatch(text) else ""
    if field == "ph":
        return _phone(text, country)
    if field in ("fn", "ln", "ct"):
        return _letters(text)
    if field == "zp":
        return re.sub(r"\s", "", text.lower()).split("-")[0]
    if field == "country":
        code = text.lower()
        return code if re.fullmatch(r"[a-z]{2}", code) else ""
    if field == "external_id":
        return text
    raise ValueError(f"unknown customer field {field!r}")


def _phone(text: str, country: str) -> str:
    """Digits with the country code and no leading zeros; "" when that cannot be told."""
    international = text.startswith("+") or text.startswith("00")
    digits = re.sub(r"\D", "", text)
    if text.startswith("00"):
        digits = digits[2:]
    if not international:
        code = CALLING_CODES.get(country.upper(), "")
        national = digits.lstrip("0")
        if not code or not national:
            return ""
        # "070 123 45 67" is national; "46 70 123 45 67" already carries the code.
        digits = national if digits.startswith(code) and not digits.startswith("0") \
            else code + national
    digits = digits.lstrip("0")
    return digits if 7 <= len(digits) <= 15 else ""  # E.164 numbers have at most 15 digits


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hashed(customer: Customer, default_country: str) -> dict[str, Any]:
    """The customer's `user_data` fields, normalised and SHA-256 hashed; empty ones left
    out. `em` and `ph` go as lists (Meta accepts a string or a list of strings)."""
    country = customer.country or default_country
    values = {"em": customer.email, "ph": customer.phone, "fn": customer.first_name,
              "ln": customer.last_name, "ct": customer.city, "zp": customer.postcode,
              "country": customer.country, "external_id": customer.id}
    out: dict[str, Any] = {}
    for field, value in values.items():
        text = normalise(field, value, country)
        if text:
            out[field] = [sha256(text)] if field in ("em", "ph") else sha256(text)
    return out


def is_sha256(value: str) -> bool:
    return bool(_SHA256.fullmatch(value))


# ---------------------------------------------------------------- the wire


def wire(payload: Any) -> bytes:
    """A body as JSON bytes. Amounts are Decimals: written as JSON numbers through the
    project's one serializer (a 2-decimal amount survives the conversion digit for digit)."""
    return js_dumps(payload).encode("utf-8")


def money(value: Any) -> str:
    """An amount for a dry-run line: two decimals."""
    return f"{Decimal(str(value)):.2f}"
