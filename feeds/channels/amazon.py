"""Amazon (Amazon.se by default): a `JSON_LISTINGS_FEED` v2 document of offer-only messages.

Spec: https://developer-docs.amazon.com/sp-api/docs/building-listings-management-workflows-guide
(the feed's envelope: Amazon's listings-feed-schema-v2; attributes: the Product
Type Definitions API). Amazon removed the XML and flat-file listing feeds on
31 July 2025; this document is what replaces them.

Every sellable item with a valid GTIN becomes one `UPDATE` message with
`requirements` `LISTING_OFFER_ONLY`: Amazon matches it to an existing product by
its EAN and we send only the offer (condition, price, sale price, stock). An
item without a GTIN cannot be matched and is left out. (The push client sends
the offer and stock alone, as PATCHes, to a SKU that was listed before this tool.)

What Amazon makes of an offer (sources: the amzn/selling-partner-api-models issue
threads #4134, #5235 and #4970, and the v2 schemas in ../shared/schemas):

- The offer carries `"audience": "ALL"`: a `replace` of `purchasable_offer`
  addresses the listing's offer by its selectors (marketplace and audience), and one
  without the audience matches no existing offer and is added beside it, leaving the
  old one (and its sale price) in place (#4134, #5235).
- A `discounted_price` always has `start_at` and `end_at`. Vendre's sale dates are
  used; an open-ended sale starts at the start of its renewal window and ends
  `open_sale_days` later. The window moves every `open_sale_days // 2` days (by the
  build's clock, from the Unix epoch), so later pushes renew the end date before
  Amazon ends the sale, while a push in between sends nothing new.
- The header asks for the issues Amazon finds after accepting a message
  (`"report": {"includedData": ["issues"], "apiVersion": "2021-08-01"}`, the SP-API
  changelog "JSON_LISTINGS_FEED now includes includedData"): "accepted" is not
  "buyable", and the client records those issues per SKU.

A message's attributes come from a table of attribute functions chosen by
`listing_for()`. Full `LISTING` messages (title, brand, images ... per product
type, mapped from Vendre categories and checked against the seller's Product
Type Definitions) fit in there later: another `Listing` with more functions.

`messageId` is numbered by the document writer (`Json.sequence_field`), in file
order; the push client renumbers the messages of each feed it sends anyway,
since an incremental feed holds only some of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from feeds.channels import Channel, ItemContext
from feeds.core.model import Derived, Product
from feeds.core.outputs import Json, Push
from feeds.core.settings import PushedSettings, Required, setting
from feeds.core.validation import Rule, Severity
from feeds.errors import FeedInvalid

__all__ = ["CHANNEL", "INCLUDED_DATA", "PRICE_ATTRIBUTE", "STOCK_ATTRIBUTE", "AmazonSettings",
           "Listing", "OnRemoved", "document_header", "listing_for", "sale_window"]

SWEDEN = "A2NODRKZP88ZB9"
# The currency each marketplace sells in (the EU ones a Swedish shop is likely to use).
CURRENCIES = {SWEDEN: "SEK", "A1PA6795UKMFR9": "EUR", "A1C3SOZRARQ6R3": "PLN",
              "A1805IZSGTT6HS": "EUR", "A13V1IB3VIYZZH": "EUR", "APJ6JRA9NG5V4": "EUR",
              "A1RKKUPIHCS9HS": "EUR", "AMEN7PMS3EDWL": "EUR", "A1F83G8C2ARO7P": "GBP"}
PRICE_ATTRIBUTE = "purchasable_offer"
STOCK_ATTRIBUTE = "fulfillment_availability"
MAX_SKU = 40  # Amazon: a seller SKU has at most 40 characters
MAX_MESSAGE_ID = 2_147_483_647
OPERATIONS = {"UPDATE", "PARTIAL_UPDATE", "PATCH", "DELETE"}
REQUIREMENTS = {"LISTING", "LISTING_PRODUCT_ONLY", "LISTING_OFFER_ONLY"}
# What the processing report is to include of each listing (besides the message issues).
INCLUDED_DATA = ("issues",)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OnRemoved(StrEnum):
    """What a push does with a listing whose product is no longer sellable in Vendre."""

    DELETE = "delete"
    ZERO = "zero"


@dataclass(frozen=True)
class AmazonSettings(PushedSettings):
    """[channels.amazon]: a seller account on one Amazon marketplace."""

    seller_id: str = setting("", "The seller's merchant token (Seller Central: Settings > "
                                 "Account info > Merchant token)", example="A1...")
    marketplace_id: str = setting(SWEDEN, "The Amazon marketplace (A2NODRKZP88ZB9 = Amazon.se)")
    endpoint: str = setting("https://sellingpartnerapi-eu.amazon.com",
                            "The SP-API endpoint of the marketplace's region")
    token_url: str = setting("https://api.amazon.com/auth/o2/token",
                             "Login with Amazon's token endpoint (refresh token -> access token)")
    product_type: str = setting("PRODUCT", "The product type offer-only messages name")
    lead_time_days: int = setting(0, "Handling time sent as lead_time_to_ship_max_days; "
                                     "0 = not sent (the account's default)", min=0, max=30)
    on_removed: OnRemoved = setting(OnRemoved.DELETE, "A product no longer sellable in Vendre: "
                                                      "delete (the listing) or zero (quantity 0)")
    open_sale_days: int = setting(30, "A Vendre sale without an end date is sent to Amazon as "
                                      "ending this many days ahead, renewed by later pushes",
                                  min=2, max=365)
    look_up_skus: bool = setting(True, "Before a SKU's first full UPDATE, ask Amazon "
                                       "(getListingsItem, 5 a second) whether it is listed "
                                       "already; one that is gets offer and stock PATCHes "
                                       "only. false: only for an account with no listings "
                                       "made elsewhere")

    required: ClassVar[tuple[Required, ...]] = (
        Required(("seller_id",), "every offer is sent under the seller's merchant token "
                                 "(Seller Central: Settings > Account info > Merchant token)"),)


def document_header(settings: AmazonSettings, language: str, country: str) -> dict[str, Any]:
    """The feed document's header; the envelope's rules are checked here.

    :raises FeedInvalid: no seller id (Amazon ends such a feed FATAL).
    """
    if not settings.seller_id:
        raise FeedInvalid(f"channels.{settings.name or 'amazon'}.seller_id is not set: the "
                          "feed's header must name the seller (the merchant token)")
    header: dict[str, Any] = {"sellerId": settings.seller_id, "version": "2.0"}
    if len(language) == 2 and len(country) == 2:
        header["issueLocale"] = f"{language.lower()}_{country.upper()}"
    header["report"] = {"includedData": list(INCLUDED_DATA), "apiVersion": "2021-08-01"}
    return header


def _header(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {"header": document_header(meta["settings"], meta["language"], meta["country"])}


# ---------------------------------------------------------------- attributes

Attribute = Callable[[Product, ItemContext], list[dict[str, Any]]]


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _settings(ctx: ItemContext) -> AmazonSettings:
    return ctx.settings  # type: ignore[return-value]


def sale_window(p: Product, now: datetime, days: int) -> tuple[datetime, datetime]:
    """(start_at, end_at) of a sale: Vendre's dates, else those of the renewal window
    `now` falls in (windows of `days // 2` days from the epoch; the sale ends `days`
    after its window starts, so between `days // 2` and `days` days ahead)."""
    step = max(1, days // 2)
    window = _EPOCH + timedelta(days=(now - _EPOCH).days // step * step)
    start = p.sale_start or window
    end = p.sale_end or max(window, start) + timedelta(days=days)
    return start, end


def _condition(_p: Product, ctx: ItemContext) -> list[dict[str, Any]]:
    return [{"value": "new_new", "marketplace_id": _settings(ctx).marketplace_id}]


def _identifier(p: Product, ctx: ItemContext) -> list[dict[str, Any]]:
    if not p.gtin:
        return []
    kind = {12: "upc", 14: "gtin"}.get(len(p.gtin), "ean")
    return [{"type": kind, "value": p.gtin, "marketplace_id": _settings(ctx).marketplace_id}]


def _offer(p: Product, ctx: ItemContext) -> list[dict[str, Any]]:
    if p.price is None:
        return []
    s = _settings(ctx)
    offer: dict[str, Any] = {"marketplace_id": s.marketplace_id, "audience": "ALL",
                             "currency": p.price.currency,
                             "our_price": [{"schedule": [{"value_with_tax": p.price.amount}]}]}
    if p.sale_price is not None:
        start, end = sale_window(p, ctx.now, s.open_sale_days)
        offer["discounted_price"] = [{"schedule": [{
            "start_at": _moment(start), "end_at": _moment(end),
            "value_with_tax": p.sale_price.amount}]}]
    return [offer]


def _availability(p: Product, ctx: ItemContext) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {"fulfillment_channel_code": "DEFAULT",
                             "quantity": max(p.quantity, 0)}
    if _settings(ctx).lead_time_days:
        entry["lead_time_to_ship_max_days"] = _settings(ctx).lead_time_days
    return [entry]


OFFER_ATTRIBUTES: Mapping[str, Attribute] = {
    "condition_type": _condition,
    "externally_assigned_product_identifier": _identifier,
    PRICE_ATTRIBUTE: _offer,
    STOCK_ATTRIBUTE: _availability,
}


@dataclass(frozen=True)
class Listing:
    """How one product is listed: its product type, requirements and attributes."""

    product_type: str
    requirements: str
    attributes: Mapping[str, Attribute]


def listing_for(_product: Product, settings: AmazonSettings) -> Listing:
    """Offer-only for every product today. Full LISTING messages would pick a product
    type by the product's Vendre category here and add that type's attributes."""
    return Listing(settings.product_type, "LISTING_OFFER_ONLY", OFFER_ATTRIBUTES)


def to_item(derived: Derived, ctx: ItemContext) -> dict[str, Any]:
    product = derived.primary
    settings: AmazonSettings = ctx.settings  # type: ignore[assignment]
    listing = listing_for(product, settings)
    attributes = {name: value for name, build in listing.attributes.items()
                  if (value := build(product, ctx))}
    item: dict[str, Any] = {"sku": product.feed_id, "operationType": "UPDATE",
                            "productType": listing.product_type,
                            "requirements": listing.requirements, "attributes": attributes}
    if product.sale_price is not None and product.sale_end is None:
        item["_open_sale_days"] = settings.open_sale_days
    return item


# ---------------------------------------------------------------- rules


def _sku(v: Any, _item: Any) -> str | None:
    if not v:
        return "missing SKU"
    return f"{len(v)} characters, more than Amazon's {MAX_SKU}" if len(v) > MAX_SKU else None


def _gtin(v: Any, _item: Any) -> str | None:
    return None if v else ("no valid GTIN (EAN/UPC): an offer-only listing is matched to an "
                           "Amazon product by it, so the item cannot be listed")


def _price(v: Any, _item: Any) -> str | None:
    if not v:
        return "missing price (unknown tax class or unreadable price)"
    amount = v[0]["our_price"][0]["schedule"][0]["value_with_tax"]
    return None if amount > 0 else f"price {amount} is not above 0"


def _currency(v: Any, _item: Any) -> str | None:
    wanted = CURRENCIES.get(v[0]["marketplace_id"]) if v else None
    if wanted is None or v[0]["currency"] == wanted:
        return None
    return (f"this marketplace sells in {wanted}, the shop's prices are in "
            f"{v[0]['currency']}")


def _sale_window(v: Any, item: Any) -> str | None:
    sale = v[0].get("discounted_price") if v else None
    if sale and item.get("_open_sale_days"):
        return (f"the sale has no end date in Vendre: Amazon is told it ends "
                f"{sale[0]['schedule'][0]['end_at'][:10]} ({item['_open_sale_days']} days "
                "ahead, open_sale_days), and later pushes move that on")
    return None


def _envelope(v: Any, item: Any) -> str | None:
    """The v2 message schema's rules for what this channel writes (an UPDATE)."""
    if v not in OPERATIONS:
        return f"operationType {v!r} is not one of {sorted(OPERATIONS)}"
    if v != "DELETE" and not item.get("productType"):
        return f"a {v} message needs a productType"
    if item.get("requirements", "LISTING") not in REQUIREMENTS:
        return f"requirements {item.get('requirements')!r} is not one of {sorted(REQUIREMENTS)}"
    if v in ("UPDATE", "PARTIAL_UPDATE") and not item.get("attributes"):
        return f"a {v} message needs at least one attribute"
    if v == "UPDATE" and "patches" in item:
        return "an UPDATE message cannot carry patches"
    return None


def _arrays_of_objects(v: Any, _item: Any) -> str | None:
    """The product-type schemas' rule (the envelope schema does not check it)."""
    if not isinstance(v, Mapping):
        return "attributes must be an object"
    bad = [name for name, value in v.items()
           if not isinstance(value, list) or not value
           or not all(isinstance(entry, Mapping) for entry in value)]
    return f"not a non-empty array of objects: {', '.join(bad)}" if bad else None


RULES: tuple[Rule, ...] = (
    Rule("sku", "sku", Severity.ERROR, _sku),
    Rule("gtin_required", "attributes.externally_assigned_product_identifier", Severity.ERROR,
         _gtin),
    Rule("price_required", f"attributes.{PRICE_ATTRIBUTE}", Severity.ERROR, _price),
    Rule("currency", f"attributes.{PRICE_ATTRIBUTE}", Severity.ERROR, _currency),
    Rule("sale_end", f"attributes.{PRICE_ATTRIBUTE}", Severity.WARNING, _sale_window),
    Rule("message_schema", "operationType", Severity.ERROR, _envelope),
    Rule("attribute_shape", "attributes", Severity.ERROR, _arrays_of_objects),
)


CHANNEL = Channel(
    code="amazon",
    title="Amazon",
    spec_url="https://developer-docs.amazon.com/sp-api/docs/"
             "building-listings-management-workflows-guide",
    to_item=to_item,
    rules=RULES,
    limits={},
    format=Json(items_key="messages", id_field="sku", header=_header,
                sequence_field="messageId",
                diff_fields={"price": f"attributes.{PRICE_ATTRIBUTE}.0.our_price.0.schedule.0."
                                      "value_with_tax",
                             "sale_price": f"attributes.{PRICE_ATTRIBUTE}.0.discounted_price.0."
                                           "schedule.0.value_with_tax",
                             "quantity": f"attributes.{STOCK_ATTRIBUTE}.0.quantity"}),
    settings=AmazonSettings,
    delivery=Push(credentials={"client_id": "{NAME}_LWA_CLIENT_ID",
                               "client_secret": "{NAME}_LWA_CLIENT_SECRET",
                               "refresh_token": "{NAME}_LWA_REFRESH_TOKEN"}),
    one_file_per_target=False,
)
