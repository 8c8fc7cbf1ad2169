"""Mirakl marketplaces (Afound, and any other operator on Mirakl): an OF01 offers file.

Spec: Mirakl's seller API, OF01 "Import a file to add offers"
(https://developer.mirakl.com/content/product/mmp/rest/seller/openapi3/offers/of01).
A semicolon-separated UTF-8 CSV with these of Mirakl's standard columns; each
row is one offer on a product the operator's catalogue already has, matched by
`product-id` of type `product-id-type` (EAN by default).

This is a kind: `[channels.<name>] kind = "mirakl"` adds another Mirakl
marketplace under its own name, file and `<NAME>_API_KEY`, with no code.
`feeds.channels.afound` is a preset of it.

The file has no currency column: an operator reads every price in its own currency
(the shop's `currency_iso_code`, Mirakl A01). `currency` names it, and a channel whose
shop prices are in another currency is a config error when enabled (Afound: SEK).

Cells a spreadsheet would read as a formula (starting with = + - @, a tab or a
carriage return) lose those leading characters, with a warning: operators and
sellers open these files in spreadsheets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from feeds.channels import Channel, ItemContext
from feeds.core.model import Derived, Money, Product, round_money
from feeds.core.outputs import Csv, Push
from feeds.core.settings import PushedSettings, Target, setting
from feeds.core.validation import Rule, Severity, required
from feeds.errors import ConfigError

__all__ = ["CHANNEL", "COLUMNS", "MiraklSettings", "ProductIdType", "defuse", "to_item"]

COLUMNS = ("sku", "product-id", "product-id-type", "description", "price", "quantity", "state",
           "discount-price", "discount-start-date", "discount-end-date", "leadtime-to-ship",
           "update-delete")
TEXT_COLUMNS = ("sku", "product-id", "description")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_DESCRIPTION = 2000  # [I] Mirakl's offer description; longer text is cut with a warning


class ProductIdType(StrEnum):
    """How an offer names the operator's product (the operator says which it accepts)."""

    EAN = "EAN"     # the product's GTIN as 8, 13 or 14 digits (a UPC gets a leading 0)
    UPC = "UPC"     # a 12-digit UPC-A
    ISBN = "ISBN"   # a 13-digit GTIN starting 978/979
    SKU = "SKU"     # the operator's product sku: the shop's article number (else its id)
    MPN = "MPN"     # the manufacturer's part number


@dataclass(frozen=True)
class MiraklSettings(PushedSettings):
    """[channels.<name>] of kind "mirakl": one shop on one Mirakl operator."""

    api_url: str = setting("", "The operator's Mirakl URL, given at onboarding",
                           example="https://<instance>.mirakl.net")
    shop_id: str = setting("", "The shop's id; only when the API key serves several shops")
    product_id_type: ProductIdType = setting(ProductIdType.EAN,
                                             "How offers name products: EAN, UPC, ISBN, SKU "
                                             "or MPN, as the operator accepts")
    state: str = setting("11", "Mirakl's offer state code (11 = new)")
    leadtime_to_ship: int = setting(2, "Days from order to shipping", min=0, max=365)
    prices_include_vat: bool = setting(True, "Send consumer prices with VAT (the operator "
                                             "decides; Afound takes them)")
    currency: str = setting("", "The operator's currency, in which it reads every price of "
                                "the file: [shop] currency must be it (empty: not checked)",
                            example="EUR")

    def with_home(self, home: Target) -> MiraklSettings:
        """The shop's own target; checked against the operator's currency when enabled."""
        settings = dataclasses.replace(self, targets=(home, *self.targets))
        wanted = self.currency.strip().upper()
        if self.enabled and wanted and home.currency.upper() != wanted:
            raise ConfigError(f"channels.{self.name}.currency: {self.name} reads prices in "
                              f"{wanted}, but the shop's are in {home.currency} ([shop] "
                              "currency); the file has no currency column to say otherwise")
        return settings


def defuse(text: str) -> str:
    """`text` without the leading characters a spreadsheet reads as a formula."""
    return text.lstrip("".join(FORMULA_STARTS))


def _product_id(p: Product, kind: ProductIdType) -> str:
    gtin = p.gtin or ""
    if kind is ProductIdType.EAN:
        return "0" + gtin if len(gtin) == 12 else gtin
    if kind is ProductIdType.UPC:
        return gtin[1:] if len(gtin) == 13 and gtin.startswith("0") else \
            gtin if len(gtin) == 12 else ""
    if kind is ProductIdType.ISBN:
        return gtin if len(gtin) == 13 and gtin.startswith(("978", "979")) else ""
    if kind is ProductIdType.SKU:
        return p.article_number or p.feed_id
    return p.mpn


def _amount(value: Money | None, p: Product, with_vat: bool) -> str:
    """A dot-decimal price, with VAT or (by the product's own VAT ratio) without."""
    if value is None:
        return ""
    amount = value.amount
    if not with_vat and p.price is not None and p.price.amount:
        amount = round_money(amount * p.net_price.amount / p.price.amount)
    return f"{amount.quantize(Decimal('0.01'))}"


def _moment(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def to_item(derived: Derived, ctx: ItemContext) -> dict[str, Any]:
    p = derived.primary
    s: MiraklSettings = ctx.settings  # type: ignore[assignment]
    raw = {"sku": p.feed_id, "product-id": _product_id(p, s.product_id_type),
           "description": p.description}
    sale = p.sale_price is not None
    item: dict[str, Any] = {name: defuse(value) for name, value in raw.items()}
    item.update({
        "product-id-type": s.product_id_type.value,
        "price": _amount(p.price, p, s.prices_include_vat),
        "quantity": str(max(p.quantity, 0)),
        "state": s.state,
        "discount-price": _amount(p.sale_price, p, s.prices_include_vat) if sale else "",
        "discount-start-date": _moment(p.sale_start) if sale else "",
        "discount-end-date": _moment(p.sale_end) if sale else "",
        "leadtime-to-ship": str(s.leadtime_to_ship),
        "update-delete": "update",
        "_raw": raw,
    })
    return item


def _formula(column: str) -> Rule:
    def test(value: Any, item: Any) -> str | None:
        before = item["_raw"][column]
        if before == value:
            return None
        return (f"started with {before[:len(before) - len(value)]!r}, which a spreadsheet reads "
                "as a formula: removed")

    return Rule(f"{column}_formula", column, Severity.WARNING, test)


def _product_id_rule(value: Any, item: Any) -> str | None:
    if value:
        return None
    return (f"no {item['product-id-type']} (product_id_type): Mirakl matches an offer to the "
            "operator's product by it")


RULES: tuple[Rule, ...] = (
    required("sku"),
    Rule("product_id_required", "product-id", Severity.ERROR, _product_id_rule),
    required("price", what="price (unknown tax class or unreadable price)"),
    *(_formula(column) for column in TEXT_COLUMNS),
)

CHANNEL = Channel(
    code="mirakl",
    title="Mirakl marketplace",
    spec_url="https://developer.mirakl.com/content/product/mmp/rest/seller/openapi3/offers/of01",
    to_item=to_item,
    rules=RULES,
    limits={"description": MAX_DESCRIPTION},
    format=Csv(columns=COLUMNS, id_column="sku", delimiter=";",
               diff_fields={"price": "price", "discount-price": "discount-price",
                            "quantity": "quantity"}),
    settings=MiraklSettings,
    delivery=Push(client="mirakl", credentials={"api_key": "{NAME}_API_KEY"}),
    one_file_per_target=False,
    default_instance=False,
)
