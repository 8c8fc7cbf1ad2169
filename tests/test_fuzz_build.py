"""A whole build never dies on one product (issue 9).

A store is filled with a few well-formed control products and a handful of
fuzzed ones (fields replaced by arbitrary JSON), fuzzed categories and orders;
`build_feeds` must not raise, must publish every feed, and every published feed
must parse with lxml and hold each control product once. Only the public
`build_feeds` and the files under `<data_dir>/feeds/` are used.
"""

from __future__ import annotations

import copy
import gzip
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from feeds.pipeline.run import build_feeds
from tests.conftest import NOW
from tests.feedkit import NS, demo_cfg, fill
from tests.test_parse_total import FIELDS, FUZZ, HANDMADE, KEYS, json_values

pytestmark = pytest.mark.slow

# What the store holds as it is: integers beyond 64 bits and lone surrogates stop the
# *sync* (SQLite and UTF-8 refuse them) before a build could see them; the parse tests
# cover those values.
STORABLE = json_values(big_ints=False, surrogates=False)
STEMS = ("google", "google-no", "meta", "criteo")
CONTROL_IDS = (30001, 30002, 30003)
FUZZED_IDS = range(31001, 31006)


def control(vendre_id: int) -> dict[str, Any]:
    return {**copy.deepcopy(HANDMADE), "id": vendre_id, "article_number": f"C-{vendre_id}",
            "ean1": "", "category_ids": [7], "parent": 0}


def fuzzed(base: dict[str, Any], vendre_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(base), **changes, "id": vendre_id,  # the store keys on an int id
            "article_number": changes.get("article_number", f"F-{vendre_id}")}


def _changes() -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from([k for k in FIELDS if k != "id"])
    # A parent that is one of the other products makes variants, hostile parents included.
    parent = st.sampled_from([*CONTROL_IDS, *FUZZED_IDS]) | STORABLE
    return st.dictionaries(keys, STORABLE, min_size=1, max_size=4).flatmap(
        lambda d: st.just(d) if "parent" not in d else parent.map(lambda p: {**d, "parent": p}))


CATEGORIES = st.lists(
    st.fixed_dictionaries({"id": st.sampled_from([7, 8, 9])},
                          optional={k: STORABLE for k in ("parent_id", "name", "seo_link",
                                                          "google_product_category", "status")}),
    max_size=3)
ORDERS = st.lists(
    st.fixed_dictionaries({"id": st.integers(1, 10**6), "date": st.just("2026-11-20 10:00:00")
                           | STORABLE},
                          optional={"products": st.lists(st.dictionaries(
                              st.sampled_from(KEYS), STORABLE) | st.fixed_dictionaries(
                              {"product_id": st.sampled_from(CONTROL_IDS)},
                              optional={"quantity": STORABLE, "price_each": STORABLE}),
                              max_size=3),
                              "currency": STORABLE}),
    max_size=3)


def build_and_check(products: list[dict[str, Any]], categories: list[dict[str, Any]],
                    orders: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = demo_cfg(Path(tmp))
        fill(cfg, NOW, products=products, categories=categories, orders=orders)
        build_feeds(cfg, force=True, now=NOW)                       # must not raise
        feeds = cfg.data_dir / "feeds"
        controls = {str(i) for i in CONTROL_IDS}
        everyone = {str(p["id"]) for p in products}
        for stem in STEMS:
            raw = (feeds / f"{stem}.xml").read_bytes()              # every feed published
            root = etree.fromstring(raw)                           # ... and parses
            items = root.findall(".//item")
            ids = [item.findtext("g:id", namespaces=NS) for item in items]
            # One id per item, each product at most once, every control product in.
            assert len(ids) == len(set(ids)) == len(items), stem
            assert controls <= set(ids) <= everyone, (stem, ids)
            assert gzip.decompress((feeds / f"{stem}.xml.gz").read_bytes()) == raw


@settings(FUZZ, max_examples=25)
@given(changes=st.lists(_changes(), min_size=1, max_size=len(FUZZED_IDS)),
       categories=CATEGORIES, orders=ORDERS)
def test_a_build_with_fuzzed_products_never_dies(changes, categories, orders):
    products = [control(i) for i in CONTROL_IDS]
    products += [fuzzed(HANDMADE, i, c) for i, c in zip(FUZZED_IDS, changes, strict=False)]
    build_and_check(products, categories, orders)


@settings(FUZZ, max_examples=10)
@given(data=st.data())
def test_a_build_with_fuzzed_real_products_never_dies(real_products, data):
    changes = data.draw(st.lists(_changes(), min_size=1, max_size=len(FUZZED_IDS)))
    bases = data.draw(st.lists(st.sampled_from(real_products), min_size=len(changes),
                               max_size=len(changes)))
    products = [control(i) for i in CONTROL_IDS]
    products += [fuzzed(b, i, c) for b, i, c in zip(bases, FUZZED_IDS, changes, strict=False)]
    build_and_check(products, [], [])


def test_the_issue_case_a_category_paths_object_still_builds():
    """One product whose category_paths is an object used to end the build (KeyError: 0)."""
    hostile = fuzzed(HANDMADE, 31001, {"category_paths": {"0": "A|B"}})
    build_and_check([control(i) for i in CONTROL_IDS] + [hostile], [], [])
