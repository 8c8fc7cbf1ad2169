"""The baseline for the build benchmark: the simplest honest code doing the same job.

    python -m bench.baseline_google STORE OUT BASE_URL

It reads the same SQLite snapshot and writes a Google RSS feed of the same
sellable products with plain loops: `json.loads`, regex tag stripping,
`Decimal` VAT, `html.escape` and string concatenation, no validation, no
templates, no parse-back. It is not used by vendre-feeds; it exists only so the
benchmark can show how close the real pipeline gets to the limit.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
import sys
from decimal import ROUND_HALF_UP, Decimal

TAX = {2: Decimal(25), 3: Decimal(6), 4: Decimal(12), 5: Decimal(0)}
TAGS = re.compile(r"<[^>]+>")
SPACE = re.compile(r"\s+")
CENT = Decimal("0.01")


def text(value: str) -> str:
    return SPACE.sub(" ", html.unescape(TAGS.sub(" ", value or ""))).strip()


def main(store: str, out: str, base_url: str) -> int:
    conn = sqlite3.connect(store)
    written = 0
    with open(out, "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
                 'xmlns:g="http://base.google.com/ns/1.0">\n<channel>\n<title>Shop</title>\n')
        rows = conn.execute("SELECT c.raw, p.raw FROM products c LEFT JOIN products p "
                            "ON p.id = c.parent ORDER BY c.id")
        for raw, parent_raw in rows:
            p = json.loads(raw)
            if not (p["status"] and p["show"]) or p["is_parent"] or not p["price"]:
                continue
            if parent_raw:  # a variant of a hidden or inactive parent is not for sale
                parent = json.loads(parent_raw)
                if not (parent["status"] and parent["show"]):
                    continue
            vat = TAX.get(p["tax_class_id"])
            if vat is None:
                continue
            price = (Decimal(str(p["price"])) * (1 + vat / 100)).quantize(CENT, ROUND_HALF_UP)
            images = [i["url"]["full"] for i in p["images"]]
            parts = [
                "<item>\n<g:id>", str(p["id"]), "</g:id>\n<title>",
                html.escape(text(p["name"].get("sv", ""))), "</title>\n<description>",
                html.escape(text(p["description"].get("sv", ""))), "</description>\n<link>",
                html.escape(base_url + "/" + p["seo_link"].get("sv", "")), "</link>\n",
            ]
            if images:
                parts += ["<g:image_link>", html.escape(images[0]), "</g:image_link>\n"]
            parts += ["<g:availability>", "in_stock" if p["quantity"] > 0 else "out_of_stock",
                      "</g:availability>\n<g:price>", str(price), " SEK</g:price>\n"]
            if p["ean1"]:
                parts += ["<g:gtin>", html.escape(p["ean1"]), "</g:gtin>\n"]
            if p["manufacturer_name"]:
                parts += ["<g:brand>", html.escape(p["manufacturer_name"]), "</g:brand>\n"]
            if p["parent"]:
                parts += ["<g:item_group_id>", str(p["parent"]), "</g:item_group_id>\n"]
            parts.append("</item>\n")
            fh.write("".join(parts))
            written += 1
        fh.write("</channel>\n</rss>\n")
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
