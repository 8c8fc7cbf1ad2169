"""The bundled demo shop: Vendre's /API/1 shapes, paging, dates relative to `now`, determinism."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from stdnum import ean

from feeds.demo import (
    API_URL,
    BASE_URL,
    LANGUAGES,
    TAX_RATES,
    demo_categories,
    demo_orders,
    demo_products,
    demo_transport,
)

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
DAY = 86400
ML_KEYS = ("name", "description", "description_short", "meta_title", "meta_description",
           "meta_keywords", "search_engine_text", "seo_link", "url")
CATEGORY_KEYS = {
    "id", "parent_id", "parent_external_id", "external_id", "name", "description", "meta_title",
    "meta_description", "meta_keywords", "seo_link", "seo_text", "seo_title", "status",
    "show_in_listing", "show_sub_categories", "sort_order", "google_product_category",
    "image_id", "image_url", "icon_image_id", "icon_image_url", "filters", "customer_groups",
    "extra", "date_added", "date_modified", "actions",
}


@pytest.fixture(scope="module")
def products() -> dict[int, dict]:
    return {p["id"]: p for p in demo_products(NOW)}


@pytest.fixture(scope="module")
def categories() -> dict[int, dict]:
    return {c["id"]: c for c in demo_categories(NOW)}


def _kind(value: object) -> str:
    """JSON kind, with int and float both 'number' (Vendre sends 70 and 439.2 alike)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


# ---------------------------------------------------------------- product shape


def test_product_keys_and_types_match_the_real_fixture(products, real_products):
    real = real_products
    real_keys = set(real[0])
    assert len(real_keys) == 68
    for product in products.values():
        assert set(product) == real_keys, product["id"]
    # Where every real product has a non-null value of one kind, so must the demo.
    for key in real_keys:
        kinds = {_kind(p[key]) for p in real}
        if len(kinds) == 1 and "NoneType" not in kinds:
            (kind,) = kinds
            wrong = [p["id"] for p in products.values() if _kind(p[key]) != kind]
            assert not wrong, f"{key} should be {kind} in products {wrong}"


def test_every_product_has_68_keys_and_is_plain_json():
    listed = demo_products(NOW)
    assert 30 <= len(listed) <= 40
    assert {len(p) for p in listed} == {68}
    assert json.loads(json.dumps(listed)) == listed


def test_ids_article_numbers_and_external_ids_are_unique(products):
    listed = list(products.values())
    for key in ("article_number", "external_id"):
        assert len({p[key] for p in listed}) == len(listed), key
    eans = [p["ean1"] for p in listed if p["ean1"]]
    assert len(set(eans)) == len(eans)


def test_multilingual_fields_have_exactly_the_shop_languages(products):
    for product in products.values():
        for key in ML_KEYS:
            value = product[key]
            assert set(value) == set(LANGUAGES), (product["id"], key)
            assert all(isinstance(v, str) for v in value.values())
        assert product["name"]["sv"], product["id"]


def test_seo_links_are_relative_with_language_prefix_and_trailing_slash(products):
    for product in products.values():
        links = product["seo_link"]
        assert all(link.endswith("/") and not link.startswith("/") for link in links.values())
        assert not links["sv"].startswith(("en/", "nb/"))
        assert links["en"].startswith("en/")
        assert links["nb"].startswith("nb/")


def test_category_paths_follow_the_category_tree(products, categories):
    def path(category_id):
        names = []
        while category_id is not None:
            names.insert(0, categories[category_id]["name"]["sv"])
            category_id = categories[category_id]["parent_id"]
        return "|".join(names)

    for product in products.values():
        assert product["category_ids"]
        assert product["category_paths"] == [path(c) for c in product["category_ids"]]


def test_prices_are_ex_vat_with_at_most_four_decimals(products):
    for product in products.values():
        price = product["price"]
        assert isinstance(price, (int, float)) and not isinstance(price, bool)
        assert round(price, 4) == price
        rate = TAX_RATES.get(product["tax_class_id"], 25)
        gross = Decimal(str(price)) * (100 + rate) / 100
        assert abs(gross - gross.to_integral_value()) < Decimal("0.001"), product["id"]


def test_tax_classes(products):
    classes = Counter(p["tax_class_id"] for p in products.values())
    assert classes[2] > 20
    assert {pid for pid, p in products.items() if p["tax_class_id"] == 3} == \
        {1026, 1027, 1028, 1029}
    assert [pid for pid, p in products.items() if p["tax_class_id"] == 4] == [1020]
    assert [pid for pid, p in products.items() if p["tax_class_id"] not in TAX_RATES] == [1013]


def test_eans_cover_every_format_and_one_bad_check_digit(products):
    lengths = Counter()
    for pid, product in products.items():
        code = product["ean1"]
        assert isinstance(code, str)
        if not code:
            continue
        assert code.isdigit()
        lengths[len(code)] += 1
        assert ean.is_valid(code) == (pid != 1016), pid
    assert set(lengths) == {8, 12, 13}
    assert products[1014]["ean1"] == "081234001018"
    assert products[1017]["ean1"] == "" and products[1017]["manufacturer_model"]
    assert products[1018]["ean1"] == "" and products[1018]["manufacturer_model"] == ""
    assert products[1018]["manufacturer_name"] is None


def test_images_have_absolute_urls(products):
    for product in products.values():
        for image in product["images"]:
            assert image["url"]["full"].startswith(BASE_URL + "/")
            assert image["url"]["thumbnail"].startswith(BASE_URL + "/")
            assert image["path"].startswith("/")
    assert products[1012]["images"] == []
    assert len(products[1001]["images"]) == 3


def test_actions_point_at_the_products_api_url(products):
    for pid, product in products.items():
        assert set(product["actions"].values()) == {f"{API_URL}/products/{pid}"}


# ---------------------------------------------------------------- the cases the feeds need


def test_stock_cases(products):
    now = int(NOW.timestamp())
    preorder = products[1005]
    assert preorder["quantity"] == 0
    assert now + 29 * DAY <= preorder["date_available"] <= now + 31 * DAY
    release = datetime.fromtimestamp(preorder["date_available"], UTC).date().isoformat()
    assert preorder["delivery_time"] == f"Release {release}"
    assert products[1006]["quantity"] == 0 and products[1006]["stock_allow_checkout"] is False
    assert min(w["quantity"] for w in products[1006]["warehouses"]) < 0
    assert products[1007]["quantity"] == 0 and products[1007]["stock_allow_checkout"] is True
    assert products[1007]["date_available"] is None
    assert sum(p["quantity"] > 0 for p in products.values()) > 25


def test_special_prices(products):
    now = int(NOW.timestamp())
    for pid in (1002, 1003, 1004):
        assert 0 < products[pid]["price_special"] < products[pid]["price"]
    assert products[1002]["price_special_date_range"] is None
    active = products[1003]["price_special_date_range"]
    assert active["from"] < now < active["to"]
    assert products[1004]["price_special_date_range"]["to"] < now
    with_special = {pid for pid, p in products.items() if p["price_special"] is not None}
    assert with_special == {1002, 1003, 1004}


def test_text_quirks(products):
    descriptions = "".join(v for p in products.values() for v in p["description"].values())
    for fragment in ("<p>", "<ul>", "<li>", "<br>", "&amp;", "\u00a0", "\r\n"):
        assert fragment in descriptions, fragment
    assert products[1025]["description"]["sv"] == "<p> </p>\r\n<p> </p>"
    assert "\x0b" in products[1024]["description"]["sv"]
    assert products[1019]["name"]["sv"] == 'Tärning "Deluxe" <20 mm> & co'
    assert products[1008]["name"]["nb"] == "" and products[1008]["name"]["sv"] == \
        "Cosmic Couriers"
    assert len(products[1009]["name"]["sv"]) > 150


def test_visibility_price_and_brand_cases(products):
    assert [pid for pid, p in products.items() if not p["show"]] == [1010]
    assert [pid for pid, p in products.items() if p["price"] == 0] == [1011]
    assert all(p["status"] is True for p in products.values())
    branded = [p for p in products.values() if p["manufacturer_id"] is not None]
    assert branded and len(branded) < len(products)
    assert all(isinstance(p["manufacturer_name"], str) for p in branded)
    assert any(p["weight"] for p in products.values())
    assert any(p["weight"] is None for p in products.values())


def test_variant_sets(products):
    parents = {pid: p for pid, p in products.items() if p["is_parent"]}
    assert set(parents) == {1021, 1030}
    assert parents[1021]["child_product_ids"] == [1022, 1023]
    assert parents[1030]["child_product_ids"] == [1031, 1032, 1033]
    for pid, parent in parents.items():
        assert parent["parent"] == 0
        assert set(parent["variant_products"]) == {str(c) for c in parent["child_product_ids"]}
        (axis,) = parent["variants"].values()
        assert set(axis["name"]) == set(LANGUAGES)
        for child_id in parent["child_product_ids"]:
            child = products[child_id]
            assert child["parent"] == pid and child["is_parent"] is False
            assert child["article_number"] != parent["article_number"]
            assert child["ean1"] and child["price"] > 0
            (choice,) = parent["variant_products"][str(child_id)]["choices"].values()
            assert str(choice) in axis["choices"]
    children = [pid for pid, p in products.items() if p["parent"]]
    assert sorted(children) == [1022, 1023, 1031, 1032, 1033]
    assert [pid for pid in children if products[pid]["quantity"] == 0] == [1033]
    for product in products.values():
        if not product["is_parent"]:
            assert product["variants"] == {} and product["variant_products"] == {}
            assert product["child_product_ids"] == []


# ---------------------------------------------------------------- categories


def test_categories_shape_and_tree(categories):
    assert 8 <= len(categories) <= 10
    for cid, category in categories.items():
        assert set(category) == CATEGORY_KEYS
        assert category["parent_id"] is None or category["parent_id"] in categories
        assert set(category["name"]) == set(LANGUAGES)
        assert all(link.endswith("/") for link in category["seo_link"].values())
        assert set(category["actions"].values()) == {f"{API_URL}/categories/{cid}"}
    roots = [c for c in categories.values() if c["parent_id"] is None]
    assert 2 <= len(roots) < len(categories)
    google = {c["google_product_category"] for c in categories.values()}
    assert {1239, 783, 1604, None} <= google
    assert [c["id"] for c in categories.values() if c["date_added"] < 0] == [141]
    assert categories[141]["date_added"] == -62169988332


# ---------------------------------------------------------------- orders


def _order_id(order):
    return order.get("id", order.get("orders_id"))


def _order_time(order):
    if "date_added" in order:
        return order["date_added"]
    when = datetime.strptime(order["date_purchased"], "%Y-%m-%d %H:%M:%S")
    return int(when.replace(tzinfo=UTC).timestamp())


def _lines(order):
    for line in order.get("products") or order["order_products"]:
        yield line.get("product_id", line.get("id")), int(line["quantity"])


def test_orders_dates_and_shapes(products):
    orders = demo_orders(NOW)
    now = int(NOW.timestamp())
    ages = [(now - _order_time(o)) / DAY for o in orders]
    assert sum(0 <= age <= 50 for age in ages) == 10
    assert sum(age > 60 for age in ages) == 1
    assert len({_order_id(o) for o in orders}) == len(orders)
    assert any("orders_id" in o and isinstance(o["date_purchased"], str) for o in orders)
    assert any(isinstance(line.get("price_each"), str) for o in orders
               for line in o.get("products", []))
    for order in orders:
        assert {t["class"] for t in order["totals"]} == \
            {"ot_subtotal", "ot_shipping", "ot_tax", "ot_total"}
        if "customer" in order:
            assert order["customer"]["email"].endswith("@example.com")
            assert order["currency"] == "SEK"
    unknown = {pid for o in orders for pid, _ in _lines(o)} - set(products)
    assert unknown == {990}


def test_order_totals_add_up():
    for order in demo_orders(NOW):
        value = {t["class"]: Decimal(str(t["value"])) for t in order["totals"]}
        assert value["ot_subtotal"] + value["ot_shipping"] == value["ot_total"]
        assert 0 < value["ot_tax"] < value["ot_total"]


def test_recent_sales_concentrate_on_a_few_products(products):
    now = int(NOW.timestamp())
    units = Counter()
    for order in demo_orders(NOW):
        if now - _order_time(order) <= 60 * DAY:
            for pid, quantity in _lines(order):
                units[pid] += quantity
    ranking = [pid for pid, _ in units.most_common()]
    assert ranking[:2] == [1001, 1026]
    assert {1022, 1031, 1032} <= set(units)  # variant children sell too
    assert 1028 not in units  # its only sale is older than 60 days


# ---------------------------------------------------------------- now and determinism


def test_same_now_gives_identical_objects():
    for build in (demo_products, demo_categories, demo_orders):
        first, second = build(NOW), build(NOW)
        assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
        first[0]["id"] = -1  # results are fresh objects, not shared state
        assert build(NOW)[0] != first[0]


def test_same_instant_in_another_zone_gives_identical_objects():
    stockholm = NOW.astimezone(timezone(timedelta(hours=2)))
    assert demo_products(stockholm) == demo_products(NOW)
    assert demo_orders(stockholm) == demo_orders(NOW)


def test_dates_move_with_now():
    shift = 100 * DAY
    later = NOW + timedelta(seconds=shift)
    before = {p["id"]: p for p in demo_products(NOW)}
    for product in demo_products(later):
        old = before[product["id"]]
        for key in ("date_added", "date_modified", "date_available"):
            if old[key] is not None:
                assert product[key] - old[key] == shift, (product["id"], key)
        assert product["date_modified"] <= int(later.timestamp())
    assert [_order_time(o) - shift for o in demo_orders(later)] == \
        [_order_time(o) for o in demo_orders(NOW)]


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        demo_products(datetime(2025, 6, 15, 12, 0))


# ---------------------------------------------------------------- transport


@pytest.fixture
def client():
    with httpx.Client(transport=demo_transport(NOW), base_url=API_URL,
                      headers={"X-Authorization": "demo"}) as http:
        yield http


@pytest.mark.parametrize("resource, build", [("products", demo_products),
                                             ("categories", demo_categories),
                                             ("orders", demo_orders)])
def test_paging_returns_every_object_once(client, resource, build):
    expected = build(NOW)
    items, offset, pages = [], 0, 0
    while True:
        response = client.get(f"/{resource}", params={"page_size": 7, "offset": offset})
        assert response.status_code == 200
        body = response.json()
        items += body["list"]
        offset += len(body["list"])
        pages += 1
        assert body["remaining"] == len(expected) - offset
        if body["remaining"] == 0:
            break
    assert items == expected
    assert pages == -(-len(expected) // 7)


def test_page_size_is_capped():
    transport = demo_transport(NOW, max_page_size=10)
    with httpx.Client(transport=transport, headers={"X-Authorization": "k"}) as http:
        body = http.get(f"{API_URL}/products", params={"page_size": 250}).json()
    assert len(body["list"]) == 10
    assert body["remaining"] == 26


def test_default_cap_is_100_and_offset_past_the_end_is_empty(client):
    body = client.get("/products", params={"page_size": 1000}).json()
    assert len(body["list"]) == 36 and body["remaining"] == 0
    assert client.get("/products", params={"offset": 500}).json() == {"list": [], "remaining": 0}


def test_any_host_and_prefix_is_answered():
    with httpx.Client(transport=demo_transport(NOW)) as http:
        response = http.get("http://elsewhere.example/shop/API/1/categories",
                            headers={"X-Authorization": "k"})
    assert response.status_code == 200
    assert len(response.json()["list"]) == len(demo_categories(NOW))


def test_missing_key_is_401():
    with httpx.Client(transport=demo_transport(NOW), base_url=API_URL) as http:
        assert http.get("/products").status_code == 401
        assert http.get("/products", headers={"X-Authorization": ""}).status_code == 401


@pytest.mark.parametrize("path", ["/customers", "/products/1001", "/", "/productsx"])
def test_other_paths_are_404(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("params", [{"page_size": "0"}, {"page_size": "ten"},
                                    {"offset": "-1"}])
def test_bad_paging_parameters_are_400(client, params):
    assert client.get("/products", params=params).status_code == 400


def test_writes_are_refused(client):
    assert client.post("/products", json={}).status_code == 405
