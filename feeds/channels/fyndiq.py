"""Fyndiq: JSON articles pushed to Fyndiq's Merchant API v1 (bulk, at most 100 per create).

Spec: https://merchantapi.fyndiq.com/view/metadata/7185ENK ("NEW FYNDIQ API"; summary
and field table in ../shared/docs/marketplaces.md 2.2-2.4). The pulled CSV feed is
legacy. Prices include VAT as `amount`, with `original_price` while a sale applies;
titles (at most 64 characters: the API's own answers enforce 64, though its table
says 150) and descriptions in sv-SE and en-US only, as plain text (a market whose
language has no text of its own follows `language_fallback`); `categories` is a
list; `brand` is optional and never the shop's `default_brand`; `parent_sku` is
"the sku of the main article", so the sku of a published one: each variant group
is named by the first of its variants the build published (`MainArticles`), never
by one it left out. The client is `feeds.pipeline.deliver.fyndiq`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from feeds.channels import Channel, ItemContext
from feeds.channels._merchant_settings import MerchantSettings
from feeds.channels._merchants import Flavour, MainArticles, article, group_id, rules
from feeds.core.model import Derived
from feeds.core.outputs import Json, Push
from feeds.core.settings import setting
from feeds.core.validation import Rule, Severity

__all__ = ["CHANNEL", "FyndiqSettings"]


@dataclass(frozen=True)
class FyndiqSettings(MerchantSettings):
    api_url: str = setting("https://merchants-api.fyndiq.se/api/v1",
                           "Fyndiq's Merchant API (sandbox: "
                           "https://merchants-api.sandbox.fyndiq.se/api/v1)")

    # Free text (titles, descriptions, properties) only in Swedish and English.
    languages: ClassVar[Mapping[str, str]] = {"sv": "sv-SE", "en": "en-US"}


FLAVOUR = Flavour(title_max=64, price_key="amount", original_price=True, category_list=True,
                  plain_text=True, max_axes=2, parent_sku=group_id)

RULES = (*rules(FLAVOUR.title_max, FLAVOUR.category_key),
         Rule("html_removed", "description", Severity.WARNING,
              lambda _v, item: "text Fyndiq reads as HTML tags (it takes plain text only): "
                               "removed" if item.get("_tags_removed") else None))


def to_item(derived: Derived, ctx: ItemContext) -> dict[str, Any]:
    return article(derived, ctx, FLAVOUR)


CHANNEL = Channel(
    code="fyndiq",
    title="Fyndiq",
    spec_url="https://merchantapi.fyndiq.com/view/metadata/7185ENK",
    to_item=to_item,
    rules=RULES,
    limits={"brand": 50},
    format=Json(items_key="articles", id_field="sku",
                diff_fields={"price": "price.0.value.amount", "quantity": "quantity",
                             "title": "title.0.value"}),
    settings=FyndiqSettings,
    delivery=Push(credentials={"merchant_id": "{NAME}_MERCHANT_ID",
                               "token": "{NAME}_API_TOKEN"}),
    one_file_per_target=False,
    in_file_order=MainArticles,
)
