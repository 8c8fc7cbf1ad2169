"""The demo shop "Demobutiken": products, categories and orders in Vendre's `/API/1` shape.

Every function here is pure: the only input is `now` (timezone-aware), which
anchors the unix dates (so pre-orders stay in the future and orders stay within
the last 60 days). Everything else is fixed, so golden files can be built from
these objects with a pinned `now`.

The products have all 68 keys of a real `/API/1/products` object (vendre-api.md
§4) with the same types. The filled shapes of `variants`/`variant_products`,
`price_special_date_range` and the whole order object have never been seen in a
real payload (§5, §6, §10): the shapes below are plausible inventions, marked
as such where they are built.
"""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = [
    "API_URL",
    "BASE_URL",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "TAX_RATES",
    "demo_categories",
    "demo_orders",
    "demo_products",
]

BASE_URL = "https://demo.vendre-feeds.test"
API_URL = f"{BASE_URL}/API/1"
LANGUAGES = ("sv", "en", "nb")
DEFAULT_LANGUAGE = "sv"
# The demo shop's VAT map (tax_class_id -> percent). Product 1013 uses class 9,
# which is deliberately missing here; its price is computed as if it were 25 %.
TAX_RATES = {2: 25, 3: 6, 4: 12}
_UNKNOWN_CLASS_RATE = 25
_URL_PREFIX = {"sv": "", "en": "en/", "nb": "nb/"}
_DAY = 86400
_ZERO_DATE = -62169988332  # MySQL's 0000-00-00, as Vendre sends it (vendre-api.md §8)


# ---------------------------------------------------------------- small helpers


def _unix(now: datetime) -> int:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return int(now.timestamp())


def _ml(sv: str, en: str | None = None, nb: str | None = None) -> dict[str, str]:
    """A multilingual value; a missing translation copies the Swedish text, "" stays empty."""
    return {"sv": sv, "en": sv if en is None else en, "nb": sv if nb is None else nb}


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def _midnight(ts: int) -> int:
    """The start (UTC) of the day that `ts` falls in."""
    return ts - ts % _DAY


_FOLD = str.maketrans({"ø": "o", "æ": "ae", "ß": "ss"})


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower().translate(_FOLD))
    text = text.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _net(gross: float, tax_class_id: int = 2) -> float | int:
    """The ex-VAT price Vendre stores for a shelf price `gross` (up to 4 decimals)."""
    rate = TAX_RATES.get(tax_class_id, _UNKNOWN_CLASS_RATE)
    net = (Decimal(str(gross)) * 100 / (100 + rate)).quantize(Decimal("0.0001"))
    return int(net) if net == net.to_integral_value() else float(net)


# ---------------------------------------------------------------- categories

# id, parent_id, names (sv, en, nb), google_product_category, overrides
_CATEGORY_ROWS: tuple[tuple[int, int | None, tuple[str, str, str], int | None, dict], ...] = (
    (110, None, ("Spel", "Games", "Spill"), 1239, {}),
    (111, 110, ("Brädspel", "Board games", "Brettspill"), None,
     {"filters": [{"id": 61, "type": 1,
                   "names": _ml("Antal spelare", "Number of players", "Antall spillere")}]}),
    (112, 110, ("Kortspel", "Card games", "Kortspill"), None, {}),
    (120, None, ("Rollspel & Tärningar", "RPGs & Dice", "Rollespill & terninger"), None, {}),
    (121, 120, ("Tärningar", "Dice", "Terninger"), 1239, {}),
    (130, None, ("Böcker", "Books", "Bøker"), 783, {}),
    (131, 130, ("Rollspelsböcker", "RPG books", "Rollespillbøker"), None, {}),
    (140, None, ("Kläder & accessoarer", "Clothing & accessories", "Klær & tilbehør"), 1604, {}),
    # A category imported without a date (zero-date sentinel) and with the odd
    # `parent_external_id: false` and a `-c<id>` slug suffix seen in real shops.
    (141, 140, ("T-shirts", "T-shirts", "T-skjorter"), None,
     {"date_added": _ZERO_DATE, "parent_external_id": False}),
)
_CATEGORY_PARENT = {row[0]: row[1] for row in _CATEGORY_ROWS}
_CATEGORY_NAMES = {row[0]: _ml(*row[2]) for row in _CATEGORY_ROWS}
_SLUG_SUFFIX = {141: "-c141"}


def _ancestry(category_id: int) -> list[int]:
    """Ids from the root down to `category_id`."""
    chain: list[int] = []
    current: int | None = category_id
    while current is not None:
        chain.insert(0, current)
        current = _CATEGORY_PARENT[current]
    return chain


def _category_seo(category_id: int) -> dict[str, str]:
    return {
        lang: _URL_PREFIX[lang] + "".join(
            _slug(_CATEGORY_NAMES[c][lang]) + _SLUG_SUFFIX.get(c, "") + "/"
            for c in _ancestry(category_id))
        for lang in LANGUAGES
    }


def _category_path(category_id: int) -> str:
    return "|".join(_CATEGORY_NAMES[c][DEFAULT_LANGUAGE] for c in _ancestry(category_id))


def _category(ts: int, index: int, row: tuple) -> dict[str, Any]:
    cid, parent, _names, google_category, overrides = row
    name = _CATEGORY_NAMES[cid]
    url = f"{API_URL}/categories/{cid}"
    category = {
        "id": cid,
        "parent_id": parent,
        "parent_external_id": None if parent is None else 5000 + parent,
        "external_id": 5000 + cid,
        "name": name,
        "description": {lang: f"<p>{html.escape(text, quote=False)}</p>"
                        for lang, text in name.items()},
        "meta_title": name,
        "meta_description": _ml(""),
        "meta_keywords": _ml(""),
        "seo_link": _category_seo(cid),
        "seo_text": _ml(""),
        "seo_title": name,
        "status": True,
        "show_in_listing": True,
        "show_sub_categories": None,
        "sort_order": (index + 1) * 10,
        "google_product_category": google_category,
        "image_id": 900 + cid if parent is None else None,
        "image_url": f"/categories/{_slug(name['sv'])}.png" if parent is None else None,
        "icon_image_id": None,
        "icon_image_url": None,
        "filters": [],
        "customer_groups": [{"id": 1, "status": True, "name": "Privatkund"},
                            {"id": 3, "status": True, "name": "Återförsäljare"},
                            {"id": 0, "status": True, "name": "Gäst"}],
        "extra": {"1": "", "2": "", "3": "", "4": _ml(""), "5": _ml("")},
        "date_added": ts - (900 - index * 30) * _DAY,
        "date_modified": ts - (40 + index * 3) * _DAY,
        "actions": {"category_url": url, "category_save_url": url, "category_delete_url": url},
    }
    category.update(overrides)
    return category


def demo_categories(now: datetime) -> list[dict[str, Any]]:
    """The demo shop's 9 categories (a two-level tree), as `/API/1/categories` lists them."""
    ts = _unix(now)
    return [_category(ts, index, row) for index, row in enumerate(_CATEGORY_ROWS)]


# ---------------------------------------------------------------- product parts


def _images(pid: int, slug: str, count: int = 1, file: str = "") -> list[dict[str, Any]]:
    images = []
    for n in range(1, count + 1):
        image_id = pid * 10 + n
        name = file or f"{slug}-{n}.jpg"
        images.append({
            "id": image_id,
            "path": f"/products/{name[0].lower()}/{name}",
            "url": {"full": f"{BASE_URL}/image/{image_id}/{name}",
                    "thumbnail": f"{BASE_URL}/thumb/{image_id}/480x480/{name}"},
            "description": "",
            "sort_order": 0,
        })
    return images


def _warehouses(main: int, shop: int = 0) -> list[dict[str, Any]]:
    return [{"external_id": "lager", "quantity": main, "location": None},
            {"external_id": "butik", "quantity": shop, "location": None}]


def _specs(players: str, minutes: str, age: str) -> dict[str, Any]:
    """Board-game specifications (the demo shop's spec ids 501-503)."""
    values = ((501, players), (502, minutes), (503, age))
    return {"value": [], "text": [
        {"id": spec_id, "value": _ml(value, "", ""), "short_value": _ml("", "", "")}
        for spec_id, value in values]}


def _associated(*ids: int) -> list[dict[str, Any]]:
    return [{"id": i, "model": f"DB-{i}", "priority": "0", "type": 0} for i in ids]


def _supplier(price: float) -> list[dict[str, Any]]:
    return [{"id": 4, "model": "", "price": f"{price:.4f}", "currencies_id": 3}]


def _extra(date_added: int) -> dict[str, dict[str, str]]:
    return {"1": _ml("0"), "2": _ml("0"), "3": _ml(_date(date_added)),
            "4": _ml(""), "5": _ml("")}


def _product(ts: int, pid: int, name: dict[str, str], categories: list[int], gross: float,
             **fields: Any) -> dict[str, Any]:
    """One product with all 68 keys, in the order `/API/1` sends them.

    `gross` is the shelf price incl. VAT; `price` is derived from it and the tax
    class. `fields` override any key (a key `/API/1` does not have is an error).
    """
    tax_class = fields.get("tax_class_id", 2)
    quantity = fields.get("quantity", 10)
    added = fields.get("date_added", ts - (120 + pid % 97 * 5) * _DAY - pid * 613 % _DAY)
    slug = _slug(name[DEFAULT_LANGUAGE])
    url = f"{API_URL}/products/{pid}"
    product = {
        "id": pid,
        "ordered": pid % 7,
        "article_number": f"DB-{pid}",
        "associated_products": [],
        "attributes": [],
        "category_ids": categories,
        "category_paths": [_category_path(c) for c in categories],
        "child_product_ids": [],
        "collection": None,
        "commodity_code": "",
        "country_of_origin": "",
        "customer_groups": [{"id": 1, "status": True, "price": None},
                            {"id": 3, "status": True, "price": None},
                            {"id": 0, "status": True, "price": None}],
        "date_added": added,
        "date_available": None,
        "date_modified": added + (ts - added) // 3,
        "delivery_time": "",
        "description": _ml(""),
        "description_short": _ml(""),
        "ean1": "",
        "external_id": str(700000 + pid),
        "extra": _extra(added),
        "featured": False,
        "images": _images(pid, slug),
        "inactivate_stock_under_zero": None,
        "is_parent": False,
        "lead_time": None,
        "lowest_number": 0,
        "manufacturer_id": None,
        "manufacturer_model": "",
        "manufacturer_name": None,
        "meta_description": name,
        "meta_keywords": _ml(""),
        "meta_title": name,
        "name": name,
        "new_until": None,
        "note": "",
        "package_size": None,
        "parent": 0,
        "price": _net(gross, tax_class),
        "price_in": None,
        "price_rek": None,
        "price_special": None,
        "price_special_date_range": None,
        "purchase_limits": {"customer_groups": {}, "customer_types": {}, "price_lists": {}},
        "quantity": quantity,
        "quantity_update": 1,
        "reorder_stock": None,
        "replacement_product": "",
        "search_engine_text": _ml(""),
        "seo_link": {lang: _category_seo(categories[0])[lang]
                     + _slug(name[lang] or name[DEFAULT_LANGUAGE]) + "/" for lang in LANGUAGES},
        "shipping_class": None,
        "show": True,
        "sort_order": 100000,
        "specifications": {"value": [], "text": []},
        "status": True,
        "stock_allow_checkout": None,
        "stock_allow_watch": None,
        "stock_place": "",
        "suppliers": [],
        "tag_ids": [],
        "tax_class_id": tax_class,
        "type": "st",
        "url": _ml(""),
        "variant_products": {},
        "variants": {},
        "warehouses": _warehouses(quantity) if quantity > 0 else [],
        "weight": None,
        "actions": {"product_url": url, "product_save_url": url, "product_delete_url": url},
    }
    unknown = fields.keys() - product.keys()
    if unknown:
        raise TypeError(f"not a Vendre product key: {sorted(unknown)}")
    product.update(fields)
    return product


def _brand(manufacturer_id: int) -> dict[str, Any]:
    names = {1: "Nordspel", 2: "Kogge Games", 3: "Foxtail Games", 4: "Förlaget Pergament"}
    return {"manufacturer_id": manufacturer_id, "manufacturer_name": names[manufacturer_id]}


# ---------------------------------------------------------------- products


def _board_games(ts: int) -> list[dict[str, Any]]:
    release = _midnight(ts + 30 * _DAY)
    return [
        _product(
            ts, 1001, _ml("Stigar genom skogen", "Paths Through the Forest",
                          "Stier gjennom skogen"),
            [111], 349, quantity=14, ordered=87, ean1="7350001001012", weight=1.2,
            shipping_class=8, price_in=150, suppliers=_supplier(150), tag_ids=[11, 12],
            images=_images(1001, "stigar-genom-skogen", 3), associated_products=_associated(1002),
            specifications=_specs("2–4", "30–45", "8+"), **_brand(1),
            description=_ml(
                "<p>Ett stämningsfullt familjespel där ni lägger stigar &amp; samlar svamp"
                " innan mörkret faller.</p>\r\n<ul>\r\n<li>2–4 spelare</li>\r\n"
                "<li>Speltid ca 30\u00a0min</li>\r\n<li>Från 8 år</li>\r\n</ul>",
                "<p>An atmospheric family game: lay paths &amp; gather mushrooms before"
                " nightfall.</p>\r\n<ul>\r\n<li>2–4 players</li>\r\n"
                "<li>Playing time about 30\u00a0min</li>\r\n<li>Ages 8+</li>\r\n</ul>",
                "<p>Et stemningsfullt familiespill der dere legger stier &amp; samler sopp"
                " før mørket faller.</p>"),
            description_short=_ml("", "<p>Family game for 2–4 players.</p>", "")),
        _product(
            ts, 1002, _ml("Kapten Kvasts äventyr", "Captain Broom's Adventure",
                          "Kaptein Kosts eventyr"),
            [111], 299, quantity=6, ordered=31, ean1="7350001001029", price_special=_net(249),
            specifications=_specs("2–5", "20", "6+"), **_brand(1),
            description=_ml("<p>Segla, städa och skratta! Ett snabbt barnspel med"
                            " <strong>magnetiska</strong> kvastar.</p>",
                            "<p>Sail, sweep and laugh! A quick children's game with"
                            " <strong>magnetic</strong> brooms.</p>",
                            "<p>Seil, kost og le! Et raskt barnespill.</p>")),
        _product(
            ts, 1003, _ml("Hansans köpmän", "Merchants of the Hansa", "Hansaens kjøpmenn"),
            [111], 449, quantity=3, ordered=12, ean1="7350001001036", weight=1.8,
            price_special=_net(379),
            # Invented shape: no real price_special_date_range has been seen (§6).
            price_special_date_range={"from": ts - 5 * _DAY, "to": ts + 10 * _DAY},
            **_brand(2),
            description=_ml("<p>Handla med sill, salt och vax i Östersjöns hamnar.</p>",
                            "<p>Trade herring, salt and wax in the ports of the Baltic.</p>",
                            "<p>Handle med sild, salt og voks i Østersjøens havner.</p>")),
        _product(
            ts, 1004, _ml("Fjällräddarna", "The Mountain Rescuers", "Fjellredderne"),
            [111], 279, quantity=9, ean1="7350001001043", price_special=_net(229),
            price_special_date_range={"from": ts - 40 * _DAY, "to": ts - 10 * _DAY},
            description=_ml("<p>Ett samarbetsspel: rädda vandrarna innan ovädret når"
                            " toppen.</p>",
                            "<p>A cooperative game: rescue the hikers before the storm"
                            " reaches the summit.</p>",
                            "<p>Et samarbeidsspill: redd turgåerne før uværet kommer.</p>")),
        _product(
            ts, 1005, _ml("Vintervarg: Flocken växer (expansion)",
                          "Winter Wolf: The Pack Grows (expansion)",
                          "Vinterulv: Flokken vokser (utvidelse)"),
            [111], 249, quantity=0, ean1="7350001001050", stock_allow_checkout=True,
            date_available=release, delivery_time=f"Release {_date(release)}", **_brand(1),
            description=_ml("<p>Expansion till Vintervarg. Kräver grundspelet.</p>",
                            "<p>Expansion for Winter Wolf. Requires the base game.</p>",
                            "<p>Utvidelse til Vinterulv. Krever grunnspillet.</p>")),
        _product(
            ts, 1006, _ml("Tornbyggarna", "The Tower Builders", "Tårnbyggerne"),
            [111], 399, quantity=0, ean1="7350001001067", stock_allow_checkout=False,
            warehouses=_warehouses(0, -2),
            description=_ml("<p>Bygg det högsta tornet i staden – men se upp för"
                            " blixten.</p>",
                            "<p>Build the tallest tower in town – but beware of"
                            " lightning.</p>",
                            "<p>Bygg det høyeste tårnet i byen.</p>")),
        _product(
            ts, 1007, _ml("Skattjakten på Gotland", "Treasure Hunt on Gotland",
                          "Skattejakten på Gotland"),
            [111], 199, quantity=0, ean1="7350001001074", stock_allow_checkout=True,
            description=_ml("<p>Leta skatter bland raukar och ringmurar.</p>",
                            "<p>Hunt for treasure among sea stacks and town walls.</p>",
                            "<p>Let etter skatter blant raukene.</p>")),
        # English text in the Swedish slot and an empty Norwegian translation.
        _product(
            ts, 1008, _ml("Cosmic Couriers", "Cosmic Couriers", ""),
            [111], 379, quantity=7, ean1="7350001001081", **_brand(3),
            description=_ml("<p>Deliver parcels across the galaxy before your rivals"
                            " do.</p>",
                            "<p>Deliver parcels across the galaxy before your rivals"
                            " do.</p>", ""),
            meta_title=_ml("Cosmic Couriers", "Cosmic Couriers", ""),
            meta_description=_ml("Cosmic Couriers", "Cosmic Couriers", "")),
        _product(
            ts, 1009, _ml(
                "Stora äventyrsboxen: Drakens dal, Trollskogen och Kristallgrottorna –"
                " samlingsutgåva med alla tre grundspelen, fyra expansioner, metallmynt,"
                " målade figurer och förvaringslåda i trä",
                "The Big Adventure Box: Dragon Valley, Troll Forest and the Crystal Caves –"
                " collector's edition with all three base games, four expansions, metal coins,"
                " painted miniatures and a wooden storage box",
                "Den store eventyrboksen: Dragedalen, Trollskogen og Krystallgrottene –"
                " samleutgave med alle tre grunnspillene, fire utvidelser, metallmynter,"
                " malte figurer og oppbevaringskasse i tre"),
            [111], 1499, quantity=2, ean1="7350001001098", weight=4.5, shipping_class=2,
            **_brand(1),
            description=_ml("<p>Allt i en låda.<br>Begränsad upplaga.</p>",
                            "<p>Everything in one box.<br>Limited edition.</p>",
                            "<p>Alt i én eske.<br>Begrenset opplag.</p>")),
        _product(
            ts, 1010, _ml("Testprodukt – visas inte", "Test product – hidden",
                          "Testprodukt – vises ikke"),
            [111], 10, quantity=100, show=False,
            description=_ml("<p>Används för att testa kassan.</p>",
                            "<p>Used to test the checkout.</p>",
                            "<p>Brukes for å teste kassen.</p>")),
        _product(
            ts, 1011, _ml("Demobutikens spelkatalog (gratis)",
                          "The Demo Shop game catalogue (free)",
                          "Demobutikkens spillkatalog (gratis)"),
            [110], 0, quantity=500,
            description=_ml("<p>Vår tryckta katalog, gratis till din beställning.</p>",
                            "<p>Our printed catalogue, free with your order.</p>",
                            "<p>Vår trykte katalog, gratis med bestillingen.</p>")),
        _product(
            ts, 1012, _ml("Extra spelpjäser, 40 st", "Extra game pieces, 40 pcs",
                          "Ekstra spillebrikker, 40 stk"),
            [110], 59, quantity=25, ean1="7350001001166", images=[],
            description=_ml("<p>Träpjäser i fyra färger.</p>",
                            "<p>Wooden pieces in four colours.</p>",
                            "<p>Trebrikker i fire farger.</p>")),
        _product(
            ts, 1013, _ml("Resespel: Lyckohjulet", "Travel Game: Wheel of Fortune",
                          "Reisespill: Lykkehjulet"),
            [111], 149, quantity=11, ean1="7350001001111", tax_class_id=9,
            description=_ml("<p>Ett litet spel för tåget och bilen.</p>",
                            "<p>A small game for the train and the car.</p>",
                            "<p>Et lite spill for toget og bilen.</p>")),
    ]


def _card_games(ts: int) -> list[dict[str, Any]]:
    return [
        _product(
            ts, 1014, _ml("Rävspel", "Fox Tricks", "Revespill"),
            [112], 159, quantity=20, ean1="081234001018", **_brand(3),  # UPC-A
            description=_ml("<p>Ett stick-spel för listiga rävar.</p>",
                            "<p>A trick-taking game for cunning foxes.</p>",
                            "<p>Et stikkspill for lure rever.</p>")),
        _product(
            ts, 1015, _ml("Snabba tjugan", "Quick Twenty", "Kjappe tjueren"),
            [112], 99, quantity=30, ean1="73500018",  # EAN-8
            description=_ml("<p>Räkna snabbt till tjugo – först vinner.</p>",
                            "<p>Count to twenty fast – first one wins.</p>",
                            "<p>Tell raskt til tjue.</p>")),
        _product(
            ts, 1016, _ml("Tolv troll", "Twelve Trolls", "Tolv troll"),
            [112], 129, quantity=8, ean1="7350001001125",  # wrong check digit (8 is right)
            description=_ml("<p>Samla tolv troll innan solen går upp.</p>",
                            "<p>Collect twelve trolls before sunrise.</p>",
                            "<p>Samle tolv troll før solen står opp.</p>")),
        _product(
            ts, 1017, _ml("Vändkort", "Flip Cards", "Snukort"),
            [112], 119, quantity=15, manufacturer_model="KG-VK-2024", **_brand(2),
            description=_ml("<p>Vänd, matcha och vinn.</p>", "<p>Flip, match and win.</p>",
                            "<p>Snu, match og vinn.</p>")),
        _product(
            ts, 1018, _ml("Kortfickor 100-pack", "Card sleeves, 100 pack",
                          "Kortlommer 100-pakning"),
            [112], 49, quantity=60,
            description=_ml("<p>Skyddar dina kort. Passar standardstorlek 63,5\u00a0×\u00a088"
                            "\u00a0mm.</p>",
                            "<p>Protects your cards. Fits standard size 63.5\u00a0×\u00a088"
                            "\u00a0mm.</p>", "")),
    ]


# Invented shape for a filled `variants` / `variant_products` (no real payload is
# known, vendre-api.md §5): `variants` maps an option-axis id to its ML name and
# its choices; `variant_products` maps each child id to the choice it has on
# every axis. Children carry empty dicts, as every non-parent product does.
def _variant_parent(axis: int, axis_name: dict[str, str],
                    choices: list[tuple[int, int, dict[str, str]]]) -> dict[str, Any]:
    return {
        "is_parent": True,
        "child_product_ids": [child for _, child, _ in choices],
        "variants": {str(axis): {
            "id": axis,
            "name": axis_name,
            "choices": {str(choice): {"id": choice, "name": label, "sort_order": n}
                        for n, (choice, _, label) in enumerate(choices)},
        }},
        "variant_products": {str(child): {"product_id": child, "choices": {str(axis): choice}}
                             for choice, child, _ in choices},
    }


def _dice(ts: int) -> list[dict[str, Any]]:
    set_name = ("Tärningsset polyedriskt 7 st", "Polyhedral dice set, 7 pcs",
                "Polyedrisk terningsett, 7 stk")
    colours = [(11, 1022, _ml("Röd", "Red", "Rød")), (12, 1023, _ml("Blå", "Blue", "Blå"))]

    def colour_child(pid: int, colour: dict[str, str], gross: float, **fields: Any) -> dict:
        name = {lang: f"{set_name[i]} – {colour[lang]}" for i, lang in enumerate(LANGUAGES)}
        code = colour["en"].upper()
        return _product(
            ts, pid, name, [121], gross, parent=1021, article_number=f"DB-1021-{code}",
            description=_ml(f"<p>Sju tärningar (T4–T20), färg: {colour['sv'].lower()}.</p>",
                            f"<p>Seven dice (d4–d20), colour: {colour['en'].lower()}.</p>",
                            f"<p>Sju terninger (T4–T20), farge: {colour['nb'].lower()}.</p>"),
            **fields)

    return [
        _product(
            ts, 1019, _ml('Tärning "Deluxe" <20 mm> & co', 'Die "Deluxe" <20 mm> & co',
                          'Terning "Deluxe" <20 mm> & co'),
            [121], 89, quantity=40, ean1="7350001001197",
            images=_images(1019, "", file="Tärning deluxe_2048x.jpeg"),
            description=_ml("<p>En stor tärning i metall, 20\u00a0mm &amp; tung.</p>",
                            "<p>A big metal die, 20\u00a0mm &amp; heavy.</p>",
                            "<p>En stor terning i metall, 20\u00a0mm &amp; tung.</p>")),
        _product(
            ts, 1020, _ml("Godistärningar 200 g", "Candy dice 200 g", "Godteriterninger 200 g"),
            [121], 49, quantity=50, ean1="7350001001203", tax_class_id=4, weight=0.2,
            description=_ml("<p>Sockerbitar formade som tärningar. Innehåller socker"
                            " &amp; gelatin.</p>",
                            "<p>Sweets shaped like dice. Contains sugar &amp; gelatine.</p>",
                            "<p>Godteri formet som terninger.</p>")),
        _product(
            ts, 1021, _ml(*set_name), [121], 129, quantity=23,
            **_variant_parent(1, _ml("Färg", "Colour", "Farge"), colours),
            images=_images(1021, "tarningsset-polyedriskt-7-st", 2),
            description=_ml("<p>Sju tärningar för rollspel, i två färger.</p>",
                            "<p>Seven role-playing dice, in two colours.</p>",
                            "<p>Sju terninger for rollespill, i to farger.</p>")),
        colour_child(1022, colours[0][2], 129, quantity=18, ordered=44, ean1="7350001001227"),
        colour_child(1023, colours[1][2], 149, quantity=5, ean1="7350001001234"),
        _product(
            ts, 1024, _ml("Tärningstorn i ek", "Oak dice tower", "Terningtårn i eik"),
            [121], 349, quantity=4, ean1="7350001001241", weight=0.9,
            # \x0b: a vertical tab pasted from a word processor; illegal in XML.
            description=_ml("<p>Handgjort i svensk ek.\x0bLevereras monterat.</p>",
                            "<p>Handmade from Swedish oak.\x0bDelivered assembled.</p>",
                            "<p>Håndlaget i svensk eik.</p>")),
        _product(
            ts, 1025, _ml("Tärningsbricka i läder", "Leather dice tray", "Terningbrett i lær"),
            [121], 199, quantity=12, ean1="7350001001258",
            description=_ml("<p> </p>\r\n<p> </p>", "<p> </p>\r\n<p> </p>",
                            "<p> </p>\r\n<p> </p>"),
            description_short=_ml("", "<p>Foldable leather tray that keeps dice on the"
                                      " table.</p>", "")),
    ]


def _books(ts: int) -> list[dict[str, Any]]:
    book = {"tax_class_id": 3, **_brand(4)}
    return [
        _product(
            ts, 1026, _ml("Äventyrarens handbok", "The Adventurer's Handbook",
                          "Eventyrerens håndbok"),
            [131], 399, quantity=22, ordered=140, ean1="9789170001017", weight=0.9,
            date_available=ts - 400 * _DAY, price_in=180.5, suppliers=_supplier(180.5),
            associated_products=_associated(1027, 1029), **book,
            description=_ml("<p>Grundboken för nya äventyrare:</p>\r\n<ul>\r\n"
                            "<li>regler</li>\r\n<li>tolv färdiga hjältar</li>\r\n</ul>",
                            "<p>The core book for new adventurers:</p>\r\n<ul>\r\n"
                            "<li>rules</li>\r\n<li>twelve ready-made heroes</li>\r\n</ul>",
                            "<p>Grunnboken for nye eventyrere.</p>")),
        _product(
            ts, 1027, _ml("Spelledarens guide", "The Game Master's Guide", "Spillederens guide"),
            [131, 120], 349, quantity=9, ean1="9789170001024", **book,
            description=_ml("<p>Allt en spelledare behöver.</p>",
                            "<p>Everything a game master needs.</p>",
                            "<p>Alt en spilleder trenger.</p>")),
        _product(
            ts, 1028, _ml("Brädspelets historia", "A History of Board Games",
                          "Brettspillets historie"),
            [130], 299, quantity=6, ean1="9789170001031", new_until=_date(ts - 300 * _DAY),
            **book,
            description=_ml("<p>Från senet till moderna eurospel.</p>",
                            "<p>From senet to modern eurogames.</p>",
                            "<p>Fra senet til moderne europeiske spill.</p>")),
        _product(
            ts, 1029, _ml("Monsterkompendiet", "The Monster Compendium", "Monsterkompendiet"),
            [131], 449, quantity=15, ean1="9789170001048", date_added=ts - 4 * _DAY,
            new_until=_date(ts + 21 * _DAY), **book,
            description=_ml("<p>Över 200 monster med bilder.</p>",
                            "<p>More than 200 illustrated monsters.</p>",
                            "<p>Over 200 monstre med bilder.</p>")),
    ]


def _clothing(ts: int) -> list[dict[str, Any]]:
    sizes = [(21, 1031, _ml("S")), (22, 1032, _ml("M")), (23, 1033, _ml("L"))]
    parent_name = _ml("T-shirt Meeple", "Meeple T-shirt", "T-skjorte Meeple")

    def size_child(pid: int, size: str, gross: float, **fields: Any) -> dict[str, Any]:
        # No text of its own: Vendre lets the main product supply it (§5).
        name = {lang: f"{text} – {size}" for lang, text in parent_name.items()}
        return _product(ts, pid, name, [141], gross, parent=1030,
                        article_number=f"DB-1030-{size}", weight=0.2, **fields)

    return [
        _product(
            ts, 1030, parent_name, [141], 199, quantity=20,
            **_variant_parent(2, _ml("Storlek", "Size", "Størrelse"), sizes),
            images=_images(1030, "t-shirt-meeple", 2),
            description=_ml("<p>Ekologisk bomull, 180\u00a0g/m².<br>\r\nTryck: meeple på"
                            " bröstet.</p>",
                            "<p>Organic cotton, 180\u00a0g/m².<br>\r\nPrint: meeple on the"
                            " chest.</p>",
                            "<p>Økologisk bomull, 180\u00a0g/m².</p>")),
        size_child(1031, "S", 199, quantity=8, ean1="7350001001319"),
        size_child(1032, "M", 199, quantity=12, ordered=58, ean1="7350001001326"),
        size_child(1033, "L", 219, quantity=0, stock_allow_checkout=False,
                   ean1="7350001001333"),
        _product(
            ts, 1034, _ml("Mössa Kritisk träff", "Critical Hit beanie", "Lue Kritisk treff"),
            [140], 179, quantity=10, ean1="7350001001340", weight=0.1,
            description=_ml("<p>Stickad mössa med en brodyr av en T20 som slår 20.</p>",
                            "<p>Knitted beanie embroidered with a d20 rolling 20.</p>",
                            "<p>Strikket lue med en brodert T20.</p>")),
        _product(
            ts, 1035, _ml("Spelmatta i neopren 60 × 60 cm", "Neoprene play mat 60 × 60 cm",
                          "Spillmatte i neopren 60 × 60 cm"),
            [120], 299, quantity=7, ean1="7350001001357", weight=0.8, shipping_class=8,
            description=_ml("<p>Halkfri matta för kort och tärningar.</p>",
                            "<p>Non-slip mat for cards and dice.</p>",
                            "<p>Sklisikker matte for kort og terninger.</p>")),
        _product(
            ts, 1036, _ml('Tygkasse "Jag spelar hellre"', 'Tote bag "I\'d rather be gaming"',
                          'Handlenett "Jeg spiller heller"'),
            [140], 129, quantity=20, ean1="7350001001364",
            description=_ml("<p>Rymlig kasse i bomull.</p>", "<p>Roomy cotton bag.</p>",
                            "<p>Romslig bomullsnett.</p>")),
    ]


def demo_products(now: datetime) -> list[dict[str, Any]]:
    """The demo shop's 36 products (ids 1001-1036), as `/API/1/products` lists them."""
    ts = _unix(now)
    return _board_games(ts) + _card_games(ts) + _dice(ts) + _books(ts) + _clothing(ts)


# ---------------------------------------------------------------- orders
# No real order payload is known (vendre-api.md §10). The shape is osCommerce-like
# (the storefront's order-history fields plus `totals` rows), and a few orders
# deliberately use other names and types to exercise defensive parsing.

_STATUS_NAMES = {1: "Väntande", 2: "Behandlas", 3: "Levererad"}
_SHIPPING_GROSS = Decimal(49)
# A line for a product that has since been deleted from the shop.
_GONE = {"product_id": 990, "model": "DB-990", "name": "Utgånget spel", "net": 79.2, "tax": 25}

# order id, days ago, customer number, language, status, lines (product id, quantity)
_ORDER_ROWS: tuple[tuple[int, float, int, str, int, tuple[tuple[int, int], ...]], ...] = (
    (50001, 75, 1, "sv", 3, ((1028, 20),)),  # older than 60 days: outside every window
    (50002, 48, 2, "sv", 3, ((1001, 2), (1014, 1))),
    (50003, 41, 3, "nb", 3, ((1026, 1), (1032, 1))),
    (50004, 33, 4, "sv", 3, ((1001, 1), (1022, 2))),
    (50005, 27, 5, "sv", 3, ((1026, 2), (1019, 1))),
    (50006, 21, 2, "sv", 3, ((1001, 3), (1032, 2))),
    (50007, 15, 6, "en", 3, ((1031, 2), (1020, 1), (_GONE["product_id"], 1))),
    (50008, 10.5, 7, "sv", 3, ((1001, 2), (1026, 1))),
    (50009, 6.25, 8, "sv", 2, ((1022, 2), (1002, 1))),
    (50010, 3.75, 3, "nb", 2, ((1032, 2), (1026, 2))),
    (50011, 0.5, 9, "sv", 1, ((1001, 1), (1034, 1))),
)


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _kronor(value: Decimal) -> str:
    return f"{value:,.2f}".replace(",", " ").replace(".", ",") + " kr"


def _order_line(line_id: int, product: dict[str, Any] | None, pid: int, quantity: int,
                at: int) -> dict[str, Any]:
    if product is None:
        model, name, net, tax = _GONE["model"], _GONE["name"], _GONE["net"], _GONE["tax"]
    else:
        model, name = product["article_number"], product["name"][DEFAULT_LANGUAGE]
        net = _price_at(product, at)
        tax = TAX_RATES.get(product["tax_class_id"], _UNKNOWN_CLASS_RATE)
    total = Decimal(str(net)) * quantity
    return {"id": line_id, "product_id": pid, "model": model, "name": name,
            "quantity": quantity, "price_each": net, "price_total": float(total), "tax": tax}


def _price_at(product: dict[str, Any], at: int) -> float | int:
    """The ex-VAT unit price a product sold for at `at` (special price when active)."""
    special, window = product["price_special"], product["price_special_date_range"]
    if special is None or (window and not window["from"] <= at < window["to"]):
        return product["price"]
    return special


def _totals(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """osCommerce-style total rows; amounts include VAT, `ot_tax` is the VAT part."""
    net = sum(Decimal(str(line["price_each"])) * line["quantity"] for line in lines)
    vat = sum(Decimal(str(line["price_each"])) * line["quantity"] * line["tax"] / 100
              for line in lines)
    shipping_vat = _SHIPPING_GROSS - _SHIPPING_GROSS * 100 / 125
    subtotal = _money(net + vat)
    rows = (("ot_subtotal", "Delsumma:", subtotal),
            ("ot_shipping", "Frakt (Postnord):", _SHIPPING_GROSS),
            ("ot_tax", "Varav moms:", _money(vat + shipping_vat)),
            ("ot_total", "Totalt:", subtotal + _SHIPPING_GROSS))
    return [{"class": cls, "title": title, "text": _kronor(value), "value": float(value)}
            for cls, title, value in rows]


def _order(row: tuple, products: dict[int, dict[str, Any]], ts: int) -> dict[str, Any]:
    oid, days_ago, customer, language, status, items = row
    at = ts - int(days_ago * _DAY)
    lines = [_order_line(oid * 10 + n, products.get(pid), pid, quantity, at)
             for n, (pid, quantity) in enumerate(items, start=1)]
    return {
        "id": oid,
        "date_added": at,
        "status_id": status,
        "status_name": _STATUS_NAMES[status],
        "currency": "SEK",
        # Obviously fake customer data only.
        "customer": {"id": 9000 + customer, "email": f"kund{customer}@example.com",
                     "language_code": language},
        "products": lines,
        "totals": _totals(lines),
    }


def _with_string_numbers(order: dict[str, Any]) -> dict[str, Any]:
    """Decimals as MySQL strings ("263.2000"), as osCommerce-descended APIs often send them."""
    for line in order["products"]:
        for key in ("price_each", "price_total", "tax"):
            line[key] = f"{Decimal(str(line[key])):.4f}"
    for row in order["totals"]:
        row["value"] = f"{Decimal(str(row['value'])):.4f}"
    return order


def _with_legacy_names(order: dict[str, Any]) -> dict[str, Any]:
    """The same order under osCommerce's column names (the aliases vendre-api.md §10 lists):
    `orders_id`, a "YYYY-MM-DD HH:MM:SS" `date_purchased` (UTC), `order_products`
    whose `id` is the product id and whose unit price is `final_price`, and no currency."""
    purchased = datetime.fromtimestamp(order["date_added"], UTC)
    return {
        "orders_id": order["id"],
        "date_purchased": purchased.strftime("%Y-%m-%d %H:%M:%S"),
        "orders_status": order["status_id"],
        "orders_status_name": order["status_name"],
        "customers_email_address": order["customer"]["email"],
        "order_products": [
            {"id": line["product_id"], "model": line["model"], "name": line["name"],
             "quantity": line["quantity"], "final_price": line["price_each"],
             "tax": line["tax"]}
            for line in order["products"]],
        "totals": order["totals"],
    }


_ORDER_VARIANTS = {50004: _with_string_numbers, 50005: _with_legacy_names}


def demo_orders(now: datetime) -> list[dict[str, Any]]:
    """The demo shop's 11 orders, oldest first: ten within the last 50 days, one 75 days old."""
    ts = _unix(now)
    products = {p["id"]: p for p in demo_products(now)}
    orders = []
    for row in _ORDER_ROWS:
        order = _order(row, products, ts)
        reshape = _ORDER_VARIANTS.get(row[0])
        orders.append(reshape(order) if reshape else order)
    return orders

