"""The fake CDON and Fyndiq Merchant APIs (tests/fakes/merchants_api.py), over real HTTP."""

from __future__ import annotations

import copy
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.merchants_api import DEFAULT_MERCHANT_ID, DEFAULT_TOKEN, FakeCdon, FakeFyndiq

AUTH = (DEFAULT_MERCHANT_ID, DEFAULT_TOKEN)
# One TLS context for every client: httpx builds a new one per Client otherwise (~60 ms each),
# though the fakes speak plain HTTP on loopback.
TLS = ssl.create_default_context()


def cdon_article(sku: str = "SKU-1", **changes: Any) -> dict[str, Any]:
    article = {
        "sku": sku,
        "status": "for sale",
        "quantity": 5,
        "main_image": "https://img.example/shirt.jpg",
        "markets": ["SE", "DK"],
        "title": [{"language": "sv-SE", "value": "Röd tröja"}],
        "description": [{"language": "sv-SE", "value": "En röd tröja av bomull."}],
        "price": [
            {"market": "SE",
             "value": {"amount_including_vat": 199.0, "currency": "SEK", "vat_rate": 0.25}},
            {"market": "DK", "value": {"amount_including_vat": 149.0, "currency": "DKK"}},
        ],
        "shipping_time": [{"market": "SE", "min": 1, "max": 3},
                          {"market": "DK", "min": 2, "max": 5}],
        "category": "1124",
    }
    article.update(changes)
    return article


def fyndiq_article(sku: str = "SKU-1", **changes: Any) -> dict[str, Any]:
    article = {
        "sku": sku,
        "status": "for sale",
        "quantity": 5,
        "categories": ["1", "423"],
        "main_image": "https://img.example/shirt.jpg",
        "markets": ["SE"],
        "title": [{"language": "sv-SE", "value": "Röd tröja"}],
        "description": [{"language": "sv-SE", "value": "En röd tröja av bomull."}],
        "price": [{"market": "SE", "value": {"amount": 100, "currency": "SEK"}}],
        "shipping_time": [{"market": "SE", "min": 1, "max": 3}],
    }
    article.update(changes)
    return article


def edited(article: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    copied = copy.deepcopy(article)
    edit(copied)
    return copied


def client_for(fake: FakeCdon | FakeFyndiq) -> httpx.Client:
    return httpx.Client(base_url=fake.url, auth=AUTH, verify=TLS, timeout=10)


def fyndiq_update_body(article: dict[str, Any]) -> dict[str, Any]:
    """A full `update_article` body: every editable field, the absent ones empty."""
    body = dict.fromkeys(("parent_sku", "brand", "gtin"), "")
    body |= dict.fromkeys(("images", "properties", "variational_properties"), [])
    return body | {k: v for k, v in article.items() if k not in ("price", "quantity")}


def cdon_update_body(article: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in article.items() if k not in ("sku", "price", "quantity")}


@pytest.fixture
def cdon() -> Iterator[FakeCdon]:
    with FakeCdon() as fake:
        yield fake


@pytest.fixture
def fyndiq() -> Iterator[FakeFyndiq]:
    with FakeFyndiq() as fake:
        yield fake


@pytest.fixture
def cdon_http(cdon: FakeCdon) -> Iterator[httpx.Client]:
    with client_for(cdon) as client:
        yield client


@pytest.fixture
def fyndiq_http(fyndiq: FakeFyndiq) -> Iterator[httpx.Client]:
    with client_for(fyndiq) as client:
        yield client


def create_cdon(http: httpx.Client, *articles: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/v2/articles/bulk", json={"articles": list(articles)})
    assert response.status_code == 202
    return response.json()


def create_fyndiq(http: httpx.Client, article: dict[str, Any]) -> str:
    response = http.post("/articles", json=article)
    assert response.status_code == 201, response.text
    return response.json()["id"]


# ---------------------------------------------------------------- both: auth and the log


@pytest.mark.parametrize("auth", [None, (DEFAULT_MERCHANT_ID, "wrong-token"),
                                  ("other-merchant", DEFAULT_TOKEN)])
def test_cdon_refuses_missing_or_wrong_credentials(cdon: FakeCdon,
                                                   auth: tuple[str, str] | None) -> None:
    response = httpx.post(f"{cdon.url}/v2/articles/bulk", auth=auth,
                          json={"articles": [cdon_article()]})
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert cdon.articles == {}
    assert [(r.path, r.items, r.status, r.authorized) for r in cdon.requests] == [
        ("/v2/articles/bulk", 1, 401, False)]


def test_fyndiq_refuses_a_wrong_token_and_never_logs_it(fyndiq: FakeFyndiq) -> None:
    response = httpx.post(f"{fyndiq.url}/articles", auth=(DEFAULT_MERCHANT_ID, "s3cret-guess"),
                          json=fyndiq_article())
    assert response.status_code == 401
    assert response.json() == {"description": "Authorization credentials were incorrect"}
    assert fyndiq.articles == {}
    assert "s3cret-guess" not in repr(fyndiq.requests)
    assert DEFAULT_TOKEN not in repr(fyndiq.requests)


def test_base_urls_are_loopback_with_each_apis_prefix(cdon: FakeCdon,
                                                      fyndiq: FakeFyndiq) -> None:
    assert cdon.url.startswith("http://127.0.0.1:") and cdon.url.endswith("/api")
    assert fyndiq.url.startswith("http://127.0.0.1:") and fyndiq.url.endswith("/api/v1")


def test_unknown_path_is_404(cdon_http: httpx.Client) -> None:
    response = cdon_http.get("/v2/nothing")
    assert response.status_code == 404


def test_calls_and_reset_log(cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    create_cdon(cdon_http, cdon_article("A"), cdon_article("B"))
    cdon_http.post("/v1/statuses/sku", json={"skus": ["A"]})
    assert cdon.calls("POST", "/v2/articles/bulk") == 1
    assert cdon.calls("PUT", "/v2/articles/bulk") == 0
    assert cdon.calls(path="/v1/statuses/*") == 1
    assert cdon.calls() == 2
    assert [(r.method, r.path, r.items, r.status) for r in cdon.requests] == [
        ("POST", "/v2/articles/bulk", 2, 202), ("POST", "/v1/statuses/sku", 1, 200)]
    cdon.reset_log()
    assert cdon.requests == [] and cdon.calls() == 0
    assert set(cdon.articles) == {"A", "B"}  # the state stays


# ---------------------------------------------------------------- CDON create


def test_cdon_bulk_create_stores_valid_articles_and_lists_the_rest(
        cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    good = cdon_article("A")
    body = create_cdon(cdon_http, good, {"sku": "B", "status": "for sale", "quantity": 3})
    assert isinstance(body["batch_id"], str) and len(body["batch_id"]) == 36
    assert body["success"] == [{"id": cdon.article_id("A"), "sku": "A"}]
    assert body["failed"] == [{"sku": "B", "errors": [
        {"message": "Required field missing", "field": [name]}
        for name in ("main_image", "markets", "title", "description", "price", "shipping_time")
    ]}]
    assert cdon.articles == {"A": good}
    assert cdon.batches == {body["batch_id"]: ["A"]}


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(article: dict[str, Any]) -> None:
        node = article
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda article: article.pop(name)


CDON_REFUSALS = [
    (_drop("main_image"), ["main_image"], "Required field missing"),
    (_set(("sku",), "S" * 65), ["sku"], "max length is 64"),
    (_set(("sku",), ""), ["sku"], "min length is 1"),
    (_set(("status",), "active"), ["status"], "unallowed value active"),
    (_set(("quantity",), 500_001), ["quantity"], "max value is 500000"),
    (_set(("quantity",), -1), ["quantity"], "min value is 0"),
    (_set(("quantity",), "5"), ["quantity"], "must be of integer type"),
    (_set(("quantity",), None), ["quantity"], "null value not allowed"),
    (_set(("main_image",), "img/shirt.jpg"), ["main_image"], "must be a valid URL"),
    (_set(("main_image",), "https://x.example/" + "a" * 1483), ["main_image"],
     "max length is 1500"),
    (_set(("markets",), []), ["markets"], "empty values not allowed"),
    (_set(("markets",), ["SE", "DE"]), ["markets", 1], "unallowed value DE"),
    (_set(("title", 0, "value"), "Kort"), ["title", 0, "value"], "min length is 5"),
    (_set(("title", 0, "value"), "T" * 151), ["title", 0, "value"], "max length is 150"),
    (_set(("title", 0, "language"), "de-DE"), ["title", 0, "language"],
     "unallowed value de-DE"),
    (_set(("description", 0, "value"), "Nine char"), ["description", 0, "value"],
     "min length is 10"),
    (_set(("description", 0, "value"), "D" * 4097), ["description", 0, "value"],
     "max length is 4096"),
    (_set(("price", 0, "value", "currency"), "EUR"), ["price", 0, "value", "currency"],
     "unallowed value EUR for market SE"),
    (_set(("price", 0, "value", "amount_including_vat"), "199"),
     ["price", 0, "value", "amount_including_vat"], "must be of float type"),
    (_set(("price",), [{"market": "SE", "value": {"amount_including_vat": 199.0,
                                                  "currency": "SEK"}}]),
     ["price"], "missing entry for market DK"),
    (_set(("shipping_time", 1, "max"), 10), ["shipping_time", 1, "max"], "max value is 9"),
    (_set(("shipping_time", 0, "min"), 0), ["shipping_time", 0, "min"], "min value is 1"),
    (_set(("shipping_time", 0, "min"), 5), ["shipping_time", 0, "min"],
     "min must not be greater than max"),
    (_set(("brand",), "B" * 51), ["brand"], "max length is 50"),
    (_set(("gtin",), "12345678901234"), ["gtin"], "max length is 13"),
    (_set(("images",), ["https://img.example/x.jpg"] * 11), ["images"], "max length is 10"),
    (_set(("properties",), [{"name": "color", "value": "C" * 37, "language": "en-US"}]),
     ["properties", 0, "value"], "max length is 36"),
    (_set(("parent_sku",), "P" * 65), ["parent_sku"], "max length is 64"),
    (_set(("colour",), "red"), ["colour"], "Field not allowed"),
]


@pytest.mark.parametrize(("edit", "field", "message"), CDON_REFUSALS,
                         ids=[f"{r[1]}-{r[2]}" for r in CDON_REFUSALS])
def test_cdon_refuses_each_rule_with_the_documented_shape(
        cdon: FakeCdon, cdon_http: httpx.Client, edit: Callable[[dict[str, Any]], None],
        field: list[Any], message: str) -> None:
    bad = edited(cdon_article("BAD"), edit)
    body = create_cdon(cdon_http, bad, cdon_article("OK"))
    assert body["failed"] == [{"sku": bad["sku"],
                               "errors": [{"message": message, "field": field}]}]
    assert [s["sku"] for s in body["success"]] == ["OK"]
    assert set(cdon.articles) == {"OK"}


def test_cdon_price_must_use_amount_including_vat(cdon_http: httpx.Client) -> None:
    bad = edited(cdon_article(), _set(("price", 1, "value"), {"amount": 149.0,
                                                               "currency": "DKK"}))
    assert create_cdon(cdon_http, bad)["failed"][0]["errors"] == [
        {"message": "Field not allowed", "field": ["price", 1, "value", "amount"]},
        {"message": "Required field missing",
         "field": ["price", 1, "value", "amount_including_vat"]},
    ]


def test_cdon_existing_sku_is_accepted_but_fails_and_is_not_created_again(
        cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    first = create_cdon(cdon_http, cdon_article("A", quantity=5))
    second = create_cdon(cdon_http, cdon_article("A", quantity=99))
    assert [s["sku"] for s in second["success"]] == ["A"] and second["failed"] == []
    assert second["success"][0]["id"] != first["success"][0]["id"]
    assert cdon.articles["A"]["quantity"] == 5
    assert cdon.article_id("A") == first["success"][0]["id"]
    cdon.ok_after_polls = 0
    answer = cdon_http.post("/v1/statuses/batch",
                            json={"batch_ids": [second["batch_id"]]}).json()
    (batch,) = answer["batches"]
    assert batch["id"] == second["batch_id"]
    (row,) = batch["statuses"]
    assert (row["sku"], row["action"]) == ("A", "create_article")
    assert row["markets"] == [{"market": "*", "status": "failed",
                               "error_code": "sku_already_exists"}]


def test_cdon_batch_limit_is_off_by_default_and_configurable() -> None:
    with FakeCdon() as unlimited, client_for(unlimited) as http:
        articles = [cdon_article(f"S{i}") for i in range(250)]
        response = http.post("/v2/articles/bulk", json={"articles": articles})
        assert response.status_code == 202 and len(response.json()["success"]) == 250
    with FakeCdon(max_batch=2) as limited, client_for(limited) as http:
        too_many = [cdon_article(f"S{i}") for i in range(3)]
        response = http.post("/v2/articles/bulk", json={"articles": too_many})
        assert response.status_code == 400
        assert response.json()["errors"] == [{"message": "max length is 2",
                                              "field": ["articles"]}]
        assert limited.articles == {}


def test_cdon_bulk_body_must_hold_an_articles_list(cdon_http: httpx.Client) -> None:
    response = cdon_http.post("/v2/articles/bulk", json=[cdon_article()])
    assert response.status_code == 400
    assert response.json()["errors"] == [{"message": "Required field missing",
                                          "field": ["articles"]}]
    broken = cdon_http.post("/v2/articles/bulk", content=b'{"articles": [',
                            headers={"Content-Type": "application/json"})
    assert broken.status_code == 400


# ---------------------------------------------------------------- CDON updates


def test_cdon_update_actions_change_the_state(cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    create_cdon(cdon_http, cdon_article("A"), cdon_article("B"), cdon_article("C"))
    new_text = cdon_update_body(cdon_article("A"))
    new_text["title"] = [{"language": "sv-SE", "value": "Blå tröja"}]
    actions = [
        {"sku": "A", "action": "update_article", "body": new_text},
        {"sku": "A", "action": "update_article_price", "body": {"price": [
            {"market": "SE", "value": {"amount_including_vat": 249.5, "currency": "SEK"}}]}},
        {"sku": "B", "action": "update_article_quantity", "body": {"quantity": 0}},
        {"sku": "C", "action": "delete_article"},
    ]
    response = cdon_http.put("/v2/articles/bulk", json={"actions": actions})
    assert response.status_code == 202
    body = response.json()
    assert body["failed"] == []
    assert body["success"] == [{"sku": a["sku"], "action": a["action"]} for a in actions]
    a = cdon.articles["A"]
    assert a["sku"] == "A" and a["title"] == [{"language": "sv-SE", "value": "Blå tröja"}]
    assert a["quantity"] == 5
    assert a["price"] == [
        {"market": "SE", "value": {"amount_including_vat": 249.5, "currency": "SEK"}},
        {"market": "DK", "value": {"amount_including_vat": 149.0, "currency": "DKK"}},
    ]
    assert cdon.articles["B"]["quantity"] == 0
    assert "C" not in cdon.articles


def test_cdon_update_refusals(cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    create_cdon(cdon_http, cdon_article("A"))
    actions = [
        {"sku": "A", "action": "update_article", "body": cdon_article("A")},
        {"sku": "A", "action": "update_article",
         "body": {"status": "paused", "title": [{"language": "en-US", "value": "Red shirt"}]}},
        {"sku": "NOPE", "action": "update_article_quantity", "body": {"quantity": 1}},
        {"sku": "A", "action": "update_article_quantity", "body": {"quantity": "7"}},
        {"sku": "A", "action": "rename_article", "body": {}},
    ]
    body = cdon_http.put("/v2/articles/bulk", json={"actions": actions}).json()
    assert body["success"] == []
    assert body["failed"] == [
        {"sku": "A", "action": "update_article", "errors": [
            {"message": "Field not allowed", "field": ["sku"]},
            {"message": "Field not allowed", "field": ["quantity"]},
            {"message": "Field not allowed", "field": ["price"]}]},
        {"sku": "A", "action": "update_article", "errors": [
            {"message": "Required field missing", "field": [name]}
            for name in ("main_image", "markets", "shipping_time", "description")]},
        {"sku": "NOPE", "action": "update_article_quantity", "errors": [
            {"message": "Article not found", "field": ["sku"]}]},
        {"sku": "A", "action": "update_article_quantity", "errors": [
            {"message": "must be of integer type", "field": ["quantity"]}]},
        {"sku": "A", "action": "rename_article", "errors": [
            {"message": "unallowed value rename_article", "field": ["action"]}]},
    ]
    assert cdon.articles["A"] == cdon_article("A")


# ---------------------------------------------------------------- CDON statuses


def test_cdon_statuses_go_from_pending_to_ok(cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    batch_id = create_cdon(cdon_http, cdon_article("A"))["batch_id"]
    by_batch = {"batch_ids": [batch_id, "no-such-batch"]}
    first = cdon_http.post("/v1/statuses/batch", json=by_batch).json()
    (batch,) = first["batches"]                     # an unknown batch is not in the answer
    (row,) = batch["statuses"]
    assert set(row) == {"correlation_id", "article_id", "sku", "action", "markets"}
    assert (batch["id"], row["sku"], row["article_id"]) == (batch_id, "A", cdon.article_id("A"))
    assert row["markets"] == [{"market": "*", "status": "pending", "error_code": None}]
    second = cdon_http.post("/v1/statuses/sku", json={"skus": ["A", "GHOST"]}).json()
    assert [(r["sku"], r["markets"]) for r in second["statuses"]] == [
        ("A", [{"market": "*", "status": "ok", "error_code": None}]),
        ("GHOST", [{"market": "*", "status": "failed",
                    "error_code": "article_does_not_exist"}])]


@pytest.mark.parametrize("shape", ["flat", "list"])
def test_cdon_answers_the_shapes_seen_before_when_asked(shape: str) -> None:
    with FakeCdon(ok_after_polls=0, status_shape=shape) as fake, client_for(fake) as http:
        fake.reject_sku("A", code="invalid_category", message="Unknown category 1124")
        batch_id = create_cdon(http, cdon_article("A"))["batch_id"]
        answer = http.post("/v1/statuses/batch", json={"batch_ids": [batch_id, "x"]}).json()
        rows = answer if shape == "list" else answer["statuses"]
        assert rows == [{"sku": "A", "batch_id": batch_id, "status": "failed",
                         "error_code": "invalid_category", "message": "Unknown category 1124",
                         "markets": [{"market": "*", "status": "failed",
                                      "error_code": "invalid_category",
                                      "message": "Unknown category 1124"}]}]
        if shape == "flat":
            assert answer["unknown_batch_ids"] == ["x"]


def test_cdon_can_answer_in_no_known_shape() -> None:
    with FakeCdon(status_shape="other") as fake, client_for(fake) as http:
        create_cdon(http, cdon_article("A"))
        answer = http.post("/v1/statuses/sku", json={"skus": ["A"]}).json()
        assert set(answer) == {"results"}


def test_cdon_ok_after_polls_is_configurable() -> None:
    with FakeCdon(ok_after_polls=0) as at_once, client_for(at_once) as http:
        create_cdon(http, cdon_article("A"))
        status = http.post("/v1/statuses/sku", json={"skus": ["A"]}).json()["statuses"][0]
        assert status["markets"][0]["status"] == "ok"
    with FakeCdon(ok_after_polls=3) as slow, client_for(slow) as http:
        create_cdon(http, cdon_article("A"))
        seen = [http.post("/v1/statuses/sku", json={"skus": ["A"]}).json()["statuses"][0]
                ["markets"][0]["status"] for _ in range(4)]
        assert seen == ["pending", "pending", "pending", "ok"]


def test_cdon_rejected_sku_fails_with_its_code(cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    cdon.ok_after_polls = 0
    cdon.reject_sku("A", code="invalid_category", message="Unknown category 1124",
                    markets=["DK"])
    create_cdon(cdon_http, cdon_article("A"))
    assert "A" in cdon.articles  # accepted, then refused: it exists in a failed state
    status = cdon_http.post("/v1/statuses/sku", json={"skus": ["A"]}).json()["statuses"][0]
    assert status["markets"] == [
        {"market": "SE", "status": "ok", "error_code": None},
        {"market": "DK", "status": "failed", "error_code": "invalid_category"},
    ]


def test_cdon_vat_percent_instead_of_fraction_fails_as_invalid_vat_rate(
        cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    cdon.ok_after_polls = 0
    article = edited(cdon_article("A"), _set(("price", 0, "value", "vat_rate"), 25))
    batch_id = create_cdon(cdon_http, article)["batch_id"]
    status = cdon_http.post("/v1/statuses/batch",
                            json={"batch_ids": [batch_id]}).json()["batches"][0]["statuses"][0]
    assert [(m["market"], m["status"], m["error_code"]) for m in status["markets"]] == [
        ("SE", "failed", "invalid_vat_rate"), ("DK", "ok", None)]
    fix = {"sku": "A", "action": "update_article_price", "body": {"price": [
        {"market": "SE",
         "value": {"amount_including_vat": 199.0, "currency": "SEK", "vat_rate": 0.25}}]}}
    cdon_http.put("/v2/articles/bulk", json={"actions": [fix]})
    status = cdon_http.post("/v1/statuses/sku", json={"skus": ["A"]}).json()["statuses"][0]
    assert status["markets"] == [{"market": "*", "status": "ok", "error_code": None}]
    assert status["action"] == "update_article_price"


def test_cdon_deleted_article_no_longer_exists(cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    cdon.preload([cdon_article("A")])
    status = cdon_http.post("/v1/statuses/sku", json={"skus": ["A"]}).json()["statuses"][0]
    assert status["markets"][0]["status"] == "ok"
    cdon_http.put("/v2/articles/bulk",
                  json={"actions": [{"sku": "A", "action": "delete_article"}]})
    status = cdon_http.post("/v1/statuses/sku", json={"skus": ["A"]}).json()["statuses"][0]
    assert status["markets"] == [{"market": "*", "status": "failed",
                                  "error_code": "article_does_not_exist"}]


def test_cdon_manufacturer_follows_the_field_table(cdon_http: httpx.Client) -> None:
    address = {"street_address": "Gatan 1", "city": "Lund", "postal_code": "22100",
               "country": "SE"}
    full = cdon_article("A", manufacturer={"name": "Nordspel AB", "address": address},
                        kn_number="95044000")
    name_only = cdon_article("B", manufacturer={"name": "Nordspel AB"})
    body = create_cdon(cdon_http, full, name_only)
    assert [s["sku"] for s in body["success"]] == ["A"]
    assert body["failed"] == [{"sku": "B", "errors": [
        {"message": "Required field missing", "field": ["manufacturer", "address"]}]}]


# ---------------------------------------------------------------- Fyndiq create and read


def test_fyndiq_bulk_create_answers_in_request_order(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    fyndiq.preload([fyndiq_article("OLD")])
    long_title = edited(fyndiq_article("LONG"), _set(("title", 0, "value"), "T" * 65))
    bulk = [fyndiq_article("A"), long_title, fyndiq_article("OLD"), fyndiq_article("B")]
    response = fyndiq_http.post("/articles/bulk", json=bulk)
    assert response.status_code == 202
    assert response.json() == {"description": "Accepted", "responses": [
        {"id": fyndiq.article_id("A"), "description": "Article was created"},
        {"description": "Can not create article", "status_code": 400,
         "errors": {"title": [{"0": [{"value": ["max length is 64"]}]}]}},
        {"description": "SKU already exists, can not create article!", "status_code": 409},
        {"id": fyndiq.article_id("B"), "description": "Article was created"},
    ]}
    assert set(fyndiq.articles) == {"OLD", "A", "B"}


def test_fyndiq_single_create_201_then_409(fyndiq: FakeFyndiq,
                                           fyndiq_http: httpx.Client) -> None:
    first = fyndiq_http.post("/articles", json=fyndiq_article("A"))
    assert first.status_code == 201
    assert first.json() == {"id": fyndiq.article_id("A"), "description": "Article was created."}
    again = fyndiq_http.post("/articles", json=fyndiq_article("A", quantity=9))
    assert again.status_code == 409
    assert again.json()["description"] == "SKU already exists, can not create article!"
    assert fyndiq.articles["A"]["quantity"] == 5


def test_fyndiq_reads_back_by_sku_and_id_with_price_excluding_vat(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    article = fyndiq_article("A", original_price=[
        {"market": "SE", "value": {"amount": 199, "currency": "SEK"}}])
    article_id = create_fyndiq(fyndiq_http, article)
    by_sku = fyndiq_http.get("/articles/sku/A")
    assert by_sku.status_code == 200
    body = by_sku.json()
    assert body["description"] == "Article found"
    read = body["content"]["article"]
    assert read["id"] == article_id and read["sku"] == "A"
    assert read["price"] == [{"market": "SE", "value": {
        "amount": "80.00", "currency": "SEK", "vat_amount": "20.00", "vat_rate": "0.25"}}]
    assert read["original_price"][0]["value"]["amount"] == "159.20"
    assert read["original_price"][0]["value"]["vat_amount"] == "39.80"
    assert fyndiq_http.get(f"/articles/{article_id}").json() == read
    missing = fyndiq_http.get("/articles/sku/NOPE")
    assert missing.status_code == 404
    assert missing.json() == {"description": "Not found",
                              "errors": {"description": "Article not found", "content": {}}}
    assert fyndiq_http.get("/articles/00000000-0000-4000-8000-000000000000").status_code == 403


FYNDIQ_REFUSALS = [
    (_drop("categories"), {"categories": ["required field"]}),
    (_set(("categories",), ["1", "2", "3", "4", "5", "6"]), {"categories": ["max length is 5"]}),
    (_set(("categories",), [1]), {"categories": [{"0": ["must be of string type"]}]}),
    (_set(("title", 0, "value"), "T" * 65), {"title": [{"0": [{"value": ["max length is 64"]}]}]}),
    (_set(("title", 0, "language"), "da-DK"),
     {"title": [{"0": [{"language": ["unallowed value da-DK"]}]}]}),
    (_set(("description", 0, "value"), "Fin <b>tröja</b> av bomull"),
     {"description": [{"0": [{"value": ["HTML is not allowed"]}]}]}),
    (_set(("price", 0, "value", "amount"), "60"),
     {"price": [{"0": [{"value": [{"amount": ["must be of float type"]}]}]}]}),
    (_set(("status",), "in-stock"), {"status": ["unallowed value in-stock"]}),
    (_set(("quantity",), "5"), {"quantity": ["must be of integer type"]}),
    (_set(("variational_properties",), ["color", "size", "material"]),
     {"variational_properties": ["max length is 2"]}),
    (_set(("delivery_type",), [{"market": "SE", "value": "home_delivery"}]),
     {"delivery_type": [{"0": [{"value": ["unallowed value home_delivery"]}]}]}),
    (_set(("category",), "1124"), {"category": ["unknown field"]}),
    (_set(("brand",), None), {"brand": ["null value not allowed"]}),
]


@pytest.mark.parametrize(("edit", "errors"), FYNDIQ_REFUSALS,
                         ids=[str(r[1])[:60] for r in FYNDIQ_REFUSALS])
def test_fyndiq_refuses_each_rule_with_cerberus_errors(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client, edit: Callable[[dict[str, Any]], None],
        errors: dict[str, Any]) -> None:
    response = fyndiq_http.post("/articles", json=edited(fyndiq_article(), edit))
    assert response.status_code == 400
    assert response.json() == {"description": "Invalid payload", "errors": errors}
    assert fyndiq.articles == {}


def test_fyndiq_original_price_and_amount_including_vat_are_accepted(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    article = fyndiq_article(
        "A", price=[{"market": "SE", "value": {"amount_including_vat": 79, "currency": "SEK"}}],
        original_price=[{"market": "SE", "value": {"amount": 99, "currency": "SEK"}}])
    create_fyndiq(fyndiq_http, article)
    assert fyndiq.articles["A"] == article


# ---------------------------------------------------------------- Fyndiq limits


def test_fyndiq_bulk_create_takes_100_and_refuses_101(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    too_many = [fyndiq_article(f"S{i}") for i in range(101)]
    response = fyndiq_http.post("/articles/bulk", json=too_many)
    assert response.status_code == 400
    assert response.json() == {"description": "Invalid payload",
                               "errors": {"bulk_payload": ["max length is 100"]}}
    assert fyndiq.articles == {}
    response = fyndiq_http.post("/articles/bulk", json=too_many[:100])
    assert response.status_code == 202 and len(fyndiq.articles) == 100


def test_fyndiq_bulk_create_must_be_a_list_of_objects(fyndiq_http: httpx.Client) -> None:
    response = fyndiq_http.post("/articles/bulk", json={"articles": [fyndiq_article()]})
    assert response.json()["errors"] == {"bulk_payload": ["must be of list type"]}
    response = fyndiq_http.post("/articles/bulk", json=[fyndiq_article(), "SKU-2"])
    assert response.status_code == 400
    assert response.json()["errors"] == {"bulk_payload": [{"1": ["must be of dict type"]}]}


def test_fyndiq_bulk_update_takes_200_and_refuses_201(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    ids = fyndiq.preload(fyndiq_article(f"S{i}") for i in range(201))
    actions = [{"action": "update_article_quantity", "id": i, "body": {"quantity": 7}}
               for i in ids]
    response = fyndiq_http.put("/articles/bulk", json=actions)
    assert response.status_code == 400
    assert response.json()["errors"] == {"bulk_payload": ["max length is 200"]}
    assert fyndiq.articles["S0"]["quantity"] == 5
    response = fyndiq_http.put("/articles/bulk", json=actions[:200])
    assert response.status_code == 202
    assert sum(a["quantity"] == 7 for a in fyndiq.articles.values()) == 200


def test_fyndiq_bulk_update_refuses_the_same_action_twice_for_one_article(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    (article_id,) = fyndiq.preload([fyndiq_article("A")])
    actions = [
        {"action": "update_article_quantity", "id": article_id, "body": {"quantity": 1}},
        {"action": "update_article_price", "id": article_id, "body": {"price": [
            {"market": "SE", "value": {"amount": 50, "currency": "SEK"}}]}},
        {"action": "update_article_quantity", "id": article_id, "body": {"quantity": 2}},
    ]
    response = fyndiq_http.put("/articles/bulk", json=actions)
    assert response.status_code == 400
    assert response.json()["errors"] == {"bulk_payload": [
        {"2": [{"action": ["the same action twice for one article"]}]}]}
    assert fyndiq.articles["A"]["quantity"] == 5
    assert fyndiq_http.put("/articles/bulk", json=actions[:2]).status_code == 202


def test_fyndiq_bulk_update_needs_a_body_for_every_action(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    (article_id,) = fyndiq.preload([fyndiq_article("A")])
    actions = [{"action": "update_article_quantity", "id": article_id, "body": {"quantity": 1}},
               {"action": "delete_article", "id": article_id}]
    response = fyndiq_http.put("/articles/bulk", json=actions)
    assert response.status_code == 400
    assert response.json()["errors"] == {"bulk_payload": [{"1": [{"body": ["required field"]}]}]}
    assert "A" in fyndiq.articles


# ---------------------------------------------------------------- Fyndiq updates


def test_fyndiq_single_updates_answer_204_and_change_the_state(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    article_id = create_fyndiq(fyndiq_http, fyndiq_article("A"))
    quantity = fyndiq_http.put(f"/articles/{article_id}/quantity", json={"quantity": 12})
    assert (quantity.status_code, quantity.content) == (204, b"")
    price = fyndiq_http.put(f"/articles/{article_id}/price", json={
        "price": [{"market": "SE", "value": {"amount": 60, "currency": "SEK"}}],
        "original_price": [{"market": "SE", "value": {"amount": 100, "currency": "SEK"}}]})
    assert price.status_code == 204
    text = fyndiq_update_body(fyndiq_article("A", status="paused"))
    assert fyndiq_http.put(f"/articles/{article_id}", json=text).status_code == 204
    assert fyndiq.articles["A"] == {
        **text, "quantity": 12,
        "price": [{"market": "SE", "value": {"amount": 60, "currency": "SEK"}}],
        "original_price": [{"market": "SE", "value": {"amount": 100, "currency": "SEK"}}]}
    deleted = fyndiq_http.delete(f"/articles/{article_id}")
    assert deleted.status_code == 204
    assert fyndiq.articles == {} and fyndiq_http.get(f"/articles/{article_id}").status_code == 403
    again = fyndiq_http.delete(f"/articles/{article_id}")
    assert again.status_code == 403
    assert again.json() == {"description": "Permission denied",
                            "errors": {"response_status_code": 403}}


def test_fyndiq_single_update_refusals(fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    article_id = create_fyndiq(fyndiq_http, fyndiq_article("A"))
    text_quantity = fyndiq_http.put(f"/articles/{article_id}/quantity", json={"quantity": "299"})
    assert text_quantity.status_code == 400
    assert text_quantity.json() == {"description": "Invalid payload",
                                    "errors": {"quantity": ["must be of integer type"]}}
    with_price = fyndiq_http.put(f"/articles/{article_id}",
                                 json={**fyndiq_update_body(fyndiq_article("A")),
                                       "price": [], "quantity": 5})
    assert with_price.status_code == 400
    assert with_price.json()["errors"] == {"quantity": ["unknown field"],
                                           "price": ["unknown field"]}
    partial = fyndiq_http.put(f"/articles/{article_id}", json={"sku": "A", "status": "paused"})
    assert partial.json()["errors"] == {
        name: ["required field"] for name in
        ("parent_sku", "categories", "properties", "variational_properties", "brand", "gtin",
         "main_image", "images", "markets", "title", "description", "shipping_time")}
    no_brand = {k: v for k, v in fyndiq_update_body(fyndiq_article("A")).items()
                if k != "brand"}                    # "We do not support partial updates"
    refused = fyndiq_http.put(f"/articles/{article_id}", json=no_brand)
    assert refused.status_code == 400
    assert refused.json() == {"description": "Invalid payload",
                              "errors": {"brand": ["required field"]}}
    price_only = fyndiq_http.put(f"/articles/{article_id}/price", json={
        "price": [{"market": "SE", "value": {"amount": 60, "currency": "SEK"}}]})
    assert price_only.status_code == 400                   # original_price is required too
    assert price_only.json() == {"description": "Invalid payload",
                                 "errors": {"original_price": ["required field"]}}
    assert fyndiq.articles["A"] == fyndiq_article("A")


def test_fyndiq_denied_article_answers_no_permission(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    (a_id,) = fyndiq.preload([fyndiq_article("A")])
    fyndiq.deny("A")
    answer = fyndiq_http.put("/articles/bulk", json=[
        {"action": "update_article_quantity", "id": a_id, "body": {"quantity": 1}}]).json()
    assert answer["responses"] == [{"description": "No permission to edit article",
                                    "status_code": 403}]
    single = fyndiq_http.put(f"/articles/{a_id}/quantity", json={"quantity": 1})
    assert single.status_code == 403 and fyndiq.articles["A"]["quantity"] == 5


def test_fyndiq_bulk_update_answers_each_action_in_order(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    a_id, b_id = fyndiq.preload([fyndiq_article("A"), fyndiq_article("B")])
    actions = [
        {"action": "update_article", "id": a_id,
         "body": fyndiq_update_body(fyndiq_article("A", status="paused"))},
        {"action": "update_article_quantity", "id": "not-an-article", "body": {"quantity": 1}},
        {"action": "update_article_quantity", "id": a_id, "body": {"quantity": "25"}},
        {"action": "update_article_quantity", "id": b_id, "body": {"quantity": 25}},
        {"action": "delete_article", "id": b_id, "body": {}},
    ]
    response = fyndiq_http.put("/articles/bulk", json=actions)
    assert response.status_code == 202
    assert response.json() == {"description": "Accepted", "responses": [
        {"description": "Accepted", "status_code": 202},
        {"description": "No permission to edit article", "status_code": 403},
        {"description": "Invalid payload", "errors": {"quantity": ["must be of integer type"]},
         "status_code": 400},
        {"description": "Accepted", "status_code": 202},
        {"description": "Accepted", "status_code": 202},
    ]}
    assert fyndiq.articles["A"]["status"] == "paused"
    assert fyndiq.articles["A"]["quantity"] == 5
    assert "B" not in fyndiq.articles and fyndiq.article_by_id(b_id) is None


# ---------------------------------------------------------------- faults


def test_429_with_retry_after_then_recovery(cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    cdon.fail("POST /v2/articles/bulk", 429, times=2, headers={"Retry-After": "1"})
    answers = [cdon_http.post("/v2/articles/bulk", json={"articles": [cdon_article("A")]})
               for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 202]
    assert answers[0].headers["Retry-After"] == "1"
    assert answers[0].json() == {"message": "Too Many Requests"}
    assert [r.fault for r in cdon.requests] == ["fail", "fail", None]
    assert list(cdon.articles) == ["A"] and len(cdon.batches) == 1


def test_fault_matches_method_and_path_pattern(fyndiq: FakeFyndiq,
                                               fyndiq_http: httpx.Client) -> None:
    article_id = create_fyndiq(fyndiq_http, fyndiq_article("A"))
    fyndiq.fail("PUT /articles/*/quantity", 500)
    assert fyndiq_http.get(f"/articles/{article_id}").status_code == 200
    price = {name: [{"market": "SE", "value": {"amount": 60, "currency": "SEK"}}]
             for name in ("price", "original_price")}
    assert fyndiq_http.put(f"/articles/{article_id}/price", json=price).status_code == 204
    failed = fyndiq_http.put(f"/articles/{article_id}/quantity", json={"quantity": 3})
    assert failed.status_code == 500
    assert failed.json() == {"description": "Internal Server Error"}
    assert fyndiq.articles["A"]["quantity"] == 5  # not applied
    assert fyndiq_http.put(f"/articles/{article_id}/quantity",
                           json={"quantity": 3}).status_code == 204
    assert fyndiq.articles["A"]["quantity"] == 3


def test_applied_but_answer_lost_then_retry_does_not_create_twice(
        cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    cdon.ok_after_polls = 0
    cdon.fail("POST /v2/articles/bulk", 500, after_apply=True)
    lost = cdon_http.post("/v2/articles/bulk", json={"articles": [cdon_article("A")]})
    assert lost.status_code == 500
    assert cdon.articles == {"A": cdon_article("A")}
    first_id = cdon.article_id("A")
    retry = create_cdon(cdon_http, cdon_article("A"))
    assert list(cdon.articles) == ["A"] and cdon.article_id("A") == first_id
    status = cdon_http.post("/v1/statuses/batch", json={"batch_ids": [retry["batch_id"]]}
                            ).json()["batches"][0]["statuses"][0]
    assert status["markets"][0]["error_code"] == "sku_already_exists"
    assert [r.fault for r in cdon.requests][:2] == ["fail-after-apply", None]


def test_dropped_connection_before_apply_changes_nothing(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    fyndiq.drop_connection("POST /articles/bulk")
    with pytest.raises(httpx.RemoteProtocolError):
        fyndiq_http.post("/articles/bulk", json=[fyndiq_article("A")])
    assert fyndiq.articles == {}
    assert [(r.status, r.fault, r.items) for r in fyndiq.requests] == [(None, "drop", 1)]
    assert fyndiq_http.post("/articles/bulk", json=[fyndiq_article("A")]).status_code == 202


def test_dropped_connection_after_apply_keeps_the_change(
        fyndiq: FakeFyndiq, fyndiq_http: httpx.Client) -> None:
    fyndiq.drop_connection("/articles/bulk", after_apply=True)
    with pytest.raises(httpx.RemoteProtocolError):
        fyndiq_http.post("/articles/bulk", json=[fyndiq_article("A")])
    assert list(fyndiq.articles) == ["A"]
    retry = fyndiq_http.post("/articles/bulk", json=[fyndiq_article("A")]).json()
    assert retry["responses"][0]["status_code"] == 409
    found = fyndiq_http.get("/articles/sku/A").json()["content"]["article"]
    assert found["id"] == fyndiq.article_id("A")
    assert [(r.status, r.fault) for r in fyndiq.requests] == [
        (None, "drop-after-apply"), (202, None), (200, None)]


def test_fault_forever_until_cleared(cdon: FakeCdon, cdon_http: httpx.Client) -> None:
    cdon.fail("*", 503, times=None)
    assert [cdon_http.post("/v1/statuses/sku", json={"skus": []}).status_code
            for _ in range(3)] == [503, 503, 503]
    cdon.clear_faults()
    assert cdon_http.post("/v1/statuses/sku", json={"skus": []}).status_code == 200
