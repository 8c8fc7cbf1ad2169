"""CDON: JSON articles pushed to CDON's Merchants API (v2 articles, bulk).

Spec: https://docs.cdon.com/view/metadata/2sAYkKHdBZ (the Postman collection "CDON
API Documentation"; summary and field table in ../shared/docs/marketplaces.md 1.2).
The XML import was switched off on 4 March 2026. Prices include VAT as
`amount_including_vat` with `vat_rate` as a fraction; titles and descriptions in
sv-SE, nb-NO, da-DK, fi-FI and en-US ("Title and Description": one entry per
language; a market whose language has no text of its own follows
`language_fallback`); `category` is one id; `parent_sku` is any group id (the Vendre
parent's feed id); `brand` is optional and never the shop's `default_brand`. Of the
optional GPSR fields (the "PARAMETERS" table) `kn_number` is sent from Vendre's
`commodity_code`; `manufacturer` is not, as it needs the maker's address, which
Vendre does not hold. The client is `feeds.pipeline.deliver.cdon`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from feeds.channels import Channel, ItemContext
from feeds.channels._merchant_settings import MerchantSettings
from feeds.channels._merchants import Flavour, article, group_id, rules
from feeds.core.model import Derived
from feeds.core.outputs import Json, Push
from feeds.core.settings import setting

__all__ = ["CHANNEL", "CdonSettings"]


@dataclass(frozen=True)
class CdonSettings(MerchantSettings):
    api_url: str = setting("https://merchants-api.cdon.com/api",
                           "CDON's Merchants API (sandbox: "
                           "https://merchants-api.sandbox.cdon.com/api)")


FLAVOUR = Flavour(title_max=150, price_key="amount_including_vat", original_price=False,
                  category_list=False, plain_text=False, max_axes=None, parent_sku=group_id,
                  gpsr=True)


def to_item(derived: Derived, ctx: ItemContext) -> dict[str, Any]:
    return article(derived, ctx, FLAVOUR)


CHANNEL = Channel(
    code="cdon",
    title="CDON",
    spec_url="https://docs.cdon.com/view/metadata/2sAYkKHdBZ",
    to_item=to_item,
    rules=rules(FLAVOUR.title_max, FLAVOUR.category_key),
    limits={"brand": 50},
    format=Json(items_key="articles", id_field="sku",
                diff_fields={"price": "price.0.value.amount_including_vat",
                             "quantity": "quantity", "title": "title.0.value"}),
    settings=CdonSettings,
    delivery=Push(credentials={"merchant_id": "{NAME}_MERCHANT_ID",
                               "token": "{NAME}_API_TOKEN"}),
    one_file_per_target=False,
)
