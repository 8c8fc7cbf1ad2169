"""Deterministic synthetic Vendre `/API/1` objects for benchmarks: any number, no I/O.

    product(i)                -> the i-th product (i = 0, 1, 2, ...), a fresh dict
    products(offset, limit)   -> [product(i) for i in range(offset, offset + limit)]
    categories(n)             -> n categories, a three-level tree
    orders(n, now=..., product_count=...) -> n orders of the 45 days before `now`

Every product has the 68 keys of a real `/API/1/products` object, with the
same types, and about 3 KB of compact JSON (2.5-4 KB; the real sample's
objects average 5.4 KB). Ids, names, prices, stock, EANs (mostly valid, some
missing, a few with a wrong check digit), images, categories, specifications
and dates vary by position, from an integer hash of `i`: the same `i` always
gives the same object, in any process, so a benchmark's shop can generate each
page on request instead of holding the catalogue. Every 50th product is a
variant parent followed by its three children (the filled `variants` /
`variant_products` shape is the one feeds/demo/catalog.py invented; no real
payload with variants is known).

Product dates are fixed (around 2026), not relative to today; only `orders`
takes a `now`, so that the sync's "last 60 days" window keeps them.

Importing this module does nothing but define tables; the category tree is
built on first use. A product costs some tens of microseconds, so a million
take well under a minute on one core.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = [
    "API_URL",
    "BASE_URL",
    "CATEGORY_COUNT",
    "VARIANT_CHILDREN",
    "VARIANT_EVERY",
    "categories",
    "category_id",
    "orders",
    "product",
    "product_id",
    "products",
]

BASE_URL = "https://bench.vendre-feeds.test"
API_URL = f"{BASE_URL}/API/1"
# Products refer to the categories of `categories(CATEGORY_COUNT)`.
CATEGORY_COUNT = 300
# Position i with i % VARIANT_EVERY == 0 is a variant parent; the next
# VARIANT_CHILDREN positions are its children.
VARIANT_EVERY = 50
VARIANT_CHILDREN = 3

_FIRST_ID = 10_000
_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: the anchor of every product date
_DAY = 86_400
_MASK = (1 << 64) - 1
_ROOTS = 12  # level-1 categories
_PER_ROOT = 8  # level-2 categories under each root
_LEVEL3_START = _ROOTS + _ROOTS * _PER_ROOT  # first level-3 category index (108)


def _mix(x: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def product_id(i: int) -> int:
    """The Vendre id of position i: increasing, with gaps as deleted products leave."""
    return _FIRST_ID + i + i // 7


def category_id(index: int) -> int:
    """The Vendre id of the index-th category of `categories(n)`."""
    return 100 + index


# ---------------------------------------------------------------- word tables
# (sv, en) pairs; slugs are derived once, when the tables are first used.

_ROOT_NAMES = [
    ("Brädspel", "Board games"), ("Kortspel", "Card games"), ("Rollspel", "Role-playing"),
    ("Tärningar", "Dice"), ("Böcker", "Books"), ("Figurspel", "Miniatures"),
    ("Pussel", "Puzzles"), ("Kläder", "Clothing"), ("Samlarkort", "Trading cards"),
    ("Tillbehör", "Accessories"), ("Hobby och färg", "Hobby and paint"),
    ("Presenter", "Gifts"),
]
_SUB_NAMES = [
    ("Familjespel", "Family games"), ("Strategispel", "Strategy games"),
    ("Partyspel", "Party games"), ("Samarbetsspel", "Co-operative games"),
    ("Expansioner", "Expansions"), ("Klassiker", "Classics"), ("Nyheter", "New releases"),
    ("Reor", "Sale"), ("Startset", "Starter sets"), ("Förvaring", "Storage"),
]
_LEAF_NAMES = [
    ("För två", "For two"), ("För barn", "For kids"), ("Med tema", "Themed"),
    ("Lyxutgåvor", "Deluxe editions"), ("Resespel", "Travel games"),
    ("På svenska", "In Swedish"), ("På engelska", "In English"), ("Metall", "Metal"),
    ("Trä", "Wood"), ("Samlarutgåvor", "Collector's editions"), ("Små", "Small"),
    ("Stora", "Large"),
]
_KINDS = [
    ("Tärningsset", "Dice set"), ("Brädspel", "Board game"), ("Kortlek", "Card deck"),
    ("Spelmatta", "Play mat"), ("Kortfickor", "Card sleeves"), ("Regelbok", "Rulebook"),
    ("Figurset", "Miniature set"), ("Pussel", "Jigsaw puzzle"), ("T-shirt", "T-shirt"),
    ("Mugg", "Mug"), ("Tärningstorn", "Dice tower"), ("Förvaringsbox", "Storage box"),
    ("Boosterpaket", "Booster pack"), ("Startlåda", "Starter box"), ("Penselset", "Brush set"),
    ("Färgset", "Paint set"), ("Kampanjbok", "Campaign book"), ("Expansion", "Expansion"),
]
_ADJECTIVES = [
    ("Klassisk", "Classic"), ("Lyx", "Deluxe"), ("Mini", "Mini"), ("Episk", "Epic"),
    ("Svart", "Black"), ("Gyllene", "Golden"), ("Mystisk", "Mystic"), ("Nordisk", "Nordic"),
    ("Antik", "Antique"), ("Stjärn", "Star"), ("Drak", "Dragon"), ("Skog", "Forest"),
    ("Havs", "Ocean"), ("Eld", "Fire"), ("Is", "Ice"), ("Kristall", "Crystal"),
]
_EDITIONS = [
    ("", ""), ("2:a utgåvan", "2nd edition"), ("Samlarutgåva", "Collector's edition"),
    ("Jubileumsutgåva", "Anniversary edition"), ("Reseutgåva", "Travel edition"),
]
_BRANDS = [
    (1, "Nordvik Spel"), (2, "Drakborg"), (3, "Kvistvik Games"), (4, "Lånebiblioteket"),
    (5, "Ugglemåla"), (6, "Stjärnfall"), (7, "Björkdal Hobby"), (8, "Runsten"),
    (9, "Fyrtorn Förlag"), (10, "Silverpil"), (11, "Gråsten Minis"), (12, "Vargmåne"),
]
_COLOURS = [("Röd", "Red"), ("Blå", "Blue"), ("Grön", "Green"), ("Svart", "Black"),
            ("Vit", "White"), ("Lila", "Purple")]
_SENTENCES = [
    ("Ett omtyckt val för både nya och erfarna spelare.",
     "A favourite with new and experienced players alike."),
    ("Tillverkad i slitstarkt material som tål många spelkvällar.",
     "Made of durable material that survives many game nights."),
    ("Passar perfekt som present till den som har allt.",
     "A perfect gift for the person who has everything."),
    ("Levereras i en stabil kartong med plats för tillbehör.",
     "Comes in a sturdy box with room for accessories."),
    ("Reglerna är lätta att lära sig men svåra att bemästra.",
     "The rules are easy to learn but hard to master."),
    ("Varje del är noggrant utformad med fina detaljer.",
     "Every part is carefully designed with fine details."),
    ("Kombinera gärna med andra produkter i samma serie.",
     "Combine it with other products from the same series."),
    ("En spelomgång tar ungefär en timme.", "A game takes about an hour."),
]
_FILES = ["front", "back", "box", "detail", "contents", "lifestyle"]
_ORIGINS = ["", "", "", "SE", "DE", "CN", "PL", "US"]
_COMMODITY = ["", "", "", "95044000", "95049080", "49019900"]
_SHIPPING = [8, 8, None, None, 2]
_TAGS = [403, 406, 414, 415, 423, 634, 635, 645, 809, 957]
# Gross (with VAT) price points; net = gross / (1 + VAT).
_GROSS = [29, 49, 79, 99, 129, 149, 199, 249, 299, 349, 399, 449, 499, 599, 699, 899, 1299]
_VAT = {2: 25, 3: 6, 4: 12}
_TAX_CLASSES = [2] * 13 + [3] * 2 + [4]


@functools.cache  # only ever called with combinations of the small tables above
def _slug(text: str) -> str:
    fold = str.maketrans({"å": "a", "ä": "a", "ö": "o", "é": "e", "'": ""})
    out = "".join(c if c.isalnum() else "-" for c in text.lower().translate(fold))
    return "-".join(part for part in out.split("-") if part)


# ---------------------------------------------------------------- categories


@functools.cache
def _category_rows(n: int) -> tuple[tuple[int, int | None, str, str, str, str, str], ...]:
    """(id, parent id, sv name, en name, sv path "A|B|C", sv seo prefix, en seo prefix)."""
    rows: list[tuple[int, int | None, str, str, str, str, str]] = []
    for k in range(n):
        if k < _ROOTS:
            parent, (sv, en) = None, _ROOT_NAMES[k]
        elif k < _LEVEL3_START:
            parent = (k - _ROOTS) // _PER_ROOT
            sv, en = _SUB_NAMES[(k - _ROOTS) % len(_SUB_NAMES)]
        else:
            parent = _ROOTS + (k - _LEVEL3_START) % (_ROOTS * _PER_ROOT)
            round_ = (k - _LEVEL3_START) // (_ROOTS * _PER_ROOT)
            sv, en = _LEAF_NAMES[(k + round_) % len(_LEAF_NAMES)]
            if round_:
                sv, en = f"{sv} {round_ + 1}", f"{en} {round_ + 1}"
        if parent is None:
            path, seo_sv, seo_en = sv, f"{_slug(sv)}/", f"en/{_slug(en)}/"
        else:
            _, _, _, _, p_path, p_sv, p_en = rows[parent]
            path, seo_sv, seo_en = f"{p_path}|{sv}", f"{p_sv}{_slug(sv)}/", f"{p_en}{_slug(en)}/"
        rows.append((category_id(k), None if parent is None else category_id(parent),
                     sv, en, path, seo_sv, seo_en))
    return tuple(rows)


def categories(n: int = CATEGORY_COUNT) -> list[dict[str, Any]]:
    """n category objects as `/API/1/categories` lists them: 12 roots, then two levels."""
    out = []
    for k, (cid, parent, sv, en, _path, seo_sv, seo_en) in enumerate(_category_rows(n)):
        name = {"sv": sv, "en": en}
        url = f"{API_URL}/categories/{cid}"
        out.append({
            "id": cid,
            "parent_id": parent,
            "parent_external_id": None if parent is None else 5000 + parent,
            "external_id": 5000 + cid,
            "name": name,
            "description": {"sv": f"<p>{sv}</p>", "en": f"<p>{en}</p>"},
            "meta_title": dict(name),
            "meta_description": {"sv": "", "en": ""},
            "meta_keywords": {"sv": "", "en": ""},
            "seo_link": {"sv": seo_sv, "en": seo_en},
            "seo_text": {"sv": "", "en": ""},
            "seo_title": dict(name),
            "status": k % 37 != 36,
            "show_in_listing": True,
            "show_sub_categories": None,
            "sort_order": (k % 20 + 1) * 10,
            "google_product_category": 1249 if parent is None and k % 3 == 0 else None,
            "image_id": 900 + cid if parent is None else None,
            "image_url": f"/categories/{_slug(sv)}.png" if parent is None else None,
            "icon_image_id": None,
            "icon_image_url": None,
            "filters": [],
            "customer_groups": [{"id": 1, "status": True, "name": "Privatkund"},
                                {"id": 3, "status": True, "name": "Återförsäljare"},
                                {"id": 0, "status": True, "name": "Gäst"}],
            "extra": {"1": "", "2": "", "3": "", "4": {"sv": "", "en": ""},
                      "5": {"sv": "", "en": ""}},
            "date_added": _EPOCH - (900 - k) * _DAY,
            "date_modified": _EPOCH - (k % 90) * _DAY,
            "actions": {"category_url": url, "category_save_url": url,
                        "category_delete_url": url},
        })
    return out


# ---------------------------------------------------------------- products


def _with_check(body: str) -> str:
    """`body` and its GTIN check digit (weights 3, 1, 3, ... from the right)."""
    total = sum(int(d) * (1 if n % 2 else 3) for n, d in enumerate(reversed(body)))
    return body + str(-total % 10)


def _ean(h: int) -> str:
    """Mostly a valid EAN-13; some empty, a few UPC-A or EAN-8, 1 in 50 a wrong check digit."""
    kind = h % 50
    if kind < 15:
        return ""
    if kind < 18:
        return _with_check(f"{(h >> 8) % 10**11:011d}")  # UPC-A (12 digits)
    if kind == 18:
        return _with_check(f"73{(h >> 8) % 10**5:05d}")  # EAN-8
    code = _with_check(f"73{(h >> 8) % 10**10:010d}")
    if kind == 19:  # hand-typed, the last digit wrong
        return code[:-1] + str((int(code[-1]) + 1) % 10)
    return code


def _article_number(i: int) -> str:
    slot = i % VARIANT_EVERY
    child_no = slot if 0 < slot <= VARIANT_CHILDREN else 0
    brand = _BRANDS[(_mix(i - child_no) >> 8) % len(_BRANDS)][1]
    pid = product_id(i)
    return f"{brand[:2].upper()}-{pid}" + (f"-{child_no}" if child_no else "")


def _images(pid: int, slug: str, count: int) -> list[dict[str, Any]]:
    out = []
    for n in range(count):
        image_id = pid * 4 + n
        name = f"{slug[:24]}-{_FILES[n]}.jpg"
        out.append({
            "id": image_id,
            "path": f"/products/{name[0]}/{name}",
            "url": {"full": f"{BASE_URL}/image/{image_id}/{name}",
                    "thumbnail": f"{BASE_URL}/thumb/{image_id}/480x480/{name}"},
            "description": "",
            "sort_order": n,
        })
    return out


def _specifications(h: int, players: int) -> dict[str, Any]:
    if h % 4:
        return {"value": [], "text": []}
    values = (str(players), str(15 * (1 + h % 8)), str(6 + (h >> 3) % 10))
    return {"value": [], "text": [
        {"id": 1603 + n, "value": {"sv": v, "en": ""}, "short_value": {"sv": "", "en": ""}}
        for n, v in enumerate(values)]}


def _variant_fields(i: int, colours: list[tuple[str, str]]) -> dict[str, Any]:
    """`is_parent`, `child_product_ids`, `variants`, `variant_products` of a parent."""
    children = [product_id(i + n) for n in range(1, VARIANT_CHILDREN + 1)]
    return {
        "is_parent": True,
        "child_product_ids": children,
        "variants": {"1": {
            "id": 1,
            "name": {"sv": "Färg", "en": "Colour"},
            "choices": {str(10 + n): {"id": 10 + n, "name": {"sv": sv, "en": en},
                                      "sort_order": n}
                        for n, (sv, en) in enumerate(colours)},
        }},
        "variant_products": {str(child): {"product_id": child, "choices": {"1": 10 + n}}
                             for n, child in enumerate(children)},
    }


def product(i: int) -> dict[str, Any]:
    """The i-th product (i >= 0) as `/API/1/products` lists it; a new dict every call."""
    slot = i % VARIANT_EVERY
    child_no = slot if 0 < slot <= VARIANT_CHILDREN else 0
    base = i - child_no  # a variant child takes its text and category from its parent
    h = _mix(base)
    g = _mix(i ^ 0x5DEECE66D)
    pid = product_id(i)
    rows = _category_rows(CATEGORY_COUNT)
    cat = rows[_LEVEL3_START + h % (CATEGORY_COUNT - _LEVEL3_START)]
    brand_id, brand = _BRANDS[(h >> 8) % len(_BRANDS)]
    kind = _KINDS[(h >> 12) % len(_KINDS)]
    adj = _ADJECTIVES[(h >> 17) % len(_ADJECTIVES)]
    edition = _EDITIONS[(h >> 21) % len(_EDITIONS)]
    model = (h >> 24) % 900 + 100
    sv = f"{brand} {adj[0]} {kind[0]} {model}"
    en = f"{brand} {adj[1]} {kind[1]} {model}"
    if edition[0]:
        sv, en = f"{sv} – {edition[0]}", f"{en} – {edition[1]}"
    colours = [_COLOURS[((h >> 28) + n) % len(_COLOURS)] for n in range(VARIANT_CHILDREN)]
    if child_no:
        colour = colours[child_no - 1]
        sv, en = f"{sv} – {colour[0]}", f"{en} – {colour[1]}"
    slug_sv = f"{_slug(f'{brand} {adj[0]} {kind[0]}')}-{model}"
    slug_en = f"{_slug(f'{brand} {adj[1]} {kind[1]}')}-{model}"
    if edition[0]:
        slug_sv, slug_en = f"{slug_sv}-{_slug(edition[0])}", f"{slug_en}-{_slug(edition[1])}"
    if child_no:
        slug_sv, slug_en = f"{slug_sv}-{_slug(colour[0])}", f"{slug_en}-{_slug(colour[1])}"
    first = (h >> 32) % len(_SENTENCES)
    sentences = [_SENTENCES[(first + n) % len(_SENTENCES)] for n in range(1 + ((h >> 36) % 3 == 0))]
    desc_sv = "".join(f"<p>{s}</p>\r\n" for s, _ in sentences)
    desc_en = "".join(f"<p>{e}</p>\r\n" for _, e in sentences)
    short = (h >> 38) % 4 == 0

    tax = _TAX_CLASSES[(h >> 40) % len(_TAX_CLASSES)]
    gross = _GROSS[(h >> 44) % len(_GROSS)] + (20 * child_no if child_no == 3 else 0)
    net = round(gross * 100 / (100 + _VAT[tax]), 4)
    price: float | int = int(net) if net == int(net) else net
    sale = g % 25 == 0
    stock = (g >> 5) % 40 - 8 if (g >> 5) % 3 else 0
    quantity = max(stock, 0)
    added = _EPOCH - (h >> 48) % 700 * _DAY - (g >> 10) % _DAY
    modified = added + (g >> 20) % 120 * _DAY + (g >> 30) % _DAY
    is_parent = slot == 0
    external_id = str(160_000 + i)

    item: dict[str, Any] = {
        "id": pid,
        "ordered": (g >> 35) % 60 if (g >> 35) % 4 == 0 else 0,
        "article_number": _article_number(i),
        "associated_products": [
            {"id": product_id(j), "model": _article_number(j), "priority": "0", "type": 0}
            for j in range(i + 5, i + 5 + ((g >> 40) % 4 if g % 3 == 0 else 0))],
        "attributes": [],
        "category_ids": [cat[0]],
        "category_paths": [cat[4]],
        "child_product_ids": [],
        "collection": None,
        "commodity_code": _COMMODITY[(h >> 52) % len(_COMMODITY)],
        "country_of_origin": _ORIGINS[(h >> 55) % len(_ORIGINS)],
        "customer_groups": [{"id": 1, "status": True, "price": None},
                            {"id": 3, "status": True, "price": None},
                            {"id": 0, "status": True, "price": None}],
        "date_added": added,
        "date_available": added + 200 * _DAY if stock < 0 and g % 5 == 0 else None,
        "date_modified": modified,
        "delivery_time": "",
        "description": {"sv": desc_sv, "en": desc_en},
        "description_short": {"sv": "", "en": f"<p>{sentences[0][1]}</p>" if short else ""},
        "ean1": "" if is_parent else _ean(g),
        "external_id": external_id,
        "extra": {"1": {"sv": "1" if sale else "0", "en": "1" if sale else "0"},
                  "2": {"sv": "0", "en": "0"},
                  "3": {"sv": "2026-05-05", "en": "2026-05-05"} if g % 3 else
                       {"sv": "", "en": ""},
                  "4": {"sv": "", "en": ""}, "5": {"sv": "", "en": ""}},
        "featured": g % 41 == 0,
        "images": _images(pid, slug_sv, 0 if child_no else 1 + ((h >> 57) % 4 == 0)),
        "inactivate_stock_under_zero": None,
        "is_parent": False,
        "lead_time": None,
        "lowest_number": 0,
        "manufacturer_id": brand_id if (h >> 59) % 3 else None,
        "manufacturer_model": f"{kind[1][:2].upper()}{model}",
        "manufacturer_name": brand if (h >> 59) % 3 else None,
        "meta_description": {"sv": sv, "en": en},
        "meta_keywords": {"sv": "", "en": ""},
        "meta_title": {"sv": sv, "en": en},
        "name": {"sv": sv, "en": en},
        "new_until": "2026-03-30" if g % 17 == 0 else None,
        "note": "",
        "package_size": None,
        "parent": product_id(base) if child_no else 0,
        "price": price,
        "price_in": round(net * 0.6, 2) if g % 3 == 1 else None,
        "price_rek": gross if g % 11 == 0 else None,
        "price_special": round(net * 0.8, 2) if sale else None,
        "price_special_date_range": None,
        "purchase_limits": {"customer_groups": {}, "customer_types": {}, "price_lists": {}},
        "quantity": quantity,
        "quantity_update": 1,
        "reorder_stock": None,
        "replacement_product": "",
        "search_engine_text": {"sv": "", "en": ""},
        "seo_link": {"sv": f"{cat[5]}{slug_sv}/", "en": f"{cat[6]}{slug_en}/"},
        "shipping_class": _SHIPPING[(g >> 45) % len(_SHIPPING)],
        "show": g % 13 != 0,
        "sort_order": 100_000,
        "specifications": _specifications(h >> 4, 2 + h % 4),
        "status": g % 53 != 0,
        "stock_allow_checkout": g % 7 == 0,
        "stock_allow_watch": None,
        "stock_place": "",
        "suppliers": [{"id": 4, "model": "", "price": f"{net * 0.6:.4f}", "currencies_id": 3}]
        if g % 19 == 0 else [],
        "tag_ids": sorted({_TAGS[(g >> (50 + 3 * n)) % len(_TAGS)] for n in range((g >> 48) % 3)}),
        "tax_class_id": tax,
        "type": "st",
        "url": {"sv": "", "en": ""},
        "variant_products": {},
        "variants": {},
        "warehouses": [{"external_id": "svea", "quantity": quantity, "location": None},
                       {"external_id": "kung", "quantity": min(stock, 0), "location": None}],
        "weight": round(0.1 + (h >> 60) * 0.15, 2) if g % 2 else None,
        "actions": {"product_url": f"{API_URL}/products/{pid}",
                    "product_save_url": f"{API_URL}/products/{pid}",
                    "product_delete_url": f"{API_URL}/products/{pid}"},
    }
    if is_parent:
        item.update(_variant_fields(i, colours))
    return item


def products(offset: int, limit: int) -> list[dict[str, Any]]:
    """Positions offset .. offset + limit - 1 (a `FakeVendre` page source)."""
    return [product(i) for i in range(offset, offset + limit)]


# ---------------------------------------------------------------- orders

_STATUS = {1: "Väntande", 2: "Behandlas", 3: "Skickad", 5: "Avbruten"}


def orders(n: int, *, now: int, product_count: int, days: int = 45) -> list[dict[str, Any]]:
    """n orders spread over the `days` days before `now` (unix seconds), newest last.

    Their lines name products among the first `product_count` positions. The
    shape is the one feeds/demo/catalog.py invented (no real order payload is known).
    """
    out = []
    for k in range(n):
        h = _mix(k ^ 0xC0FFEE)
        at = now - days * _DAY + (k * days * _DAY) // max(n, 1) + 60
        lines = []
        net_sum = vat_sum = 0.0
        for m in range(1 + h % 3):
            item = product((h >> (8 + 16 * m)) % max(product_count, 1))
            quantity = 1 + (h >> (4 + m)) % 3
            vat = _VAT.get(item["tax_class_id"], 25)
            net_sum += item["price"] * quantity
            vat_sum += item["price"] * quantity * vat / 100
            lines.append({"id": k * 10 + m, "product_id": item["id"],
                          "model": item["article_number"], "name": item["name"]["sv"],
                          "quantity": quantity, "price_each": item["price"],
                          "price_total": round(item["price"] * quantity, 4), "tax": vat})
        subtotal = round(net_sum + vat_sum, 2)
        status = (1, 2, 3, 3, 3, 5)[(h >> 60) % 6]
        out.append({
            "id": 700_000 + k,
            "date_added": at,
            "status_id": status,
            "status_name": _STATUS[status],
            "currency": "SEK",
            "customer": {"id": 90_000 + h % 5000, "email": f"kund{h % 5000}@example.com",
                         "language_code": "sv" if h % 5 else "en"},
            "products": lines,
            "totals": [
                {"class": "ot_subtotal", "title": "Delsumma:", "value": subtotal},
                {"class": "ot_shipping", "title": "Frakt:", "value": 59.0},
                {"class": "ot_tax", "title": "Varav moms:", "value": round(vat_sum + 11.8, 2)},
                {"class": "ot_total", "title": "Totalt:", "value": round(subtotal + 59.0, 2)},
            ],
        })
    return out
