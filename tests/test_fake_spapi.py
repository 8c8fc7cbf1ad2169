"""The fake SP-API (tests/fakes/spapi.py), driven over loopback with httpx."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.spapi import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_SELLER_ID,
    SWEDEN,
    FakeSpApi,
)

JSON_TYPE = "application/json; charset=UTF-8"
DOCS = "/feeds/2021-06-30/documents"
FEEDS = "/feeds/2021-06-30/feeds"
SCHEMA_TEXT = ("The provided message did not meet the schema validation requirements for a "
               "feed message.")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Amazon:
    """A few raw calls against a running fake (not the project's client)."""

    def __init__(self, fake: FakeSpApi) -> None:
        self.fake = fake
        self.http = httpx.Client(base_url=fake.url, timeout=30)
        self.token = self.exchange().json()["access_token"]

    def exchange(self, **changes: str) -> httpx.Response:
        form = {"grant_type": "refresh_token", "refresh_token": DEFAULT_REFRESH_TOKEN,
                "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
        return self.http.post("/auth/o2/token", data={**form, **changes})

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"x-amz-access-token": self.token, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def upload(self, body: bytes, content_type: str = JSON_TYPE) -> str:
        answer = self.call("POST", DOCS, json={"contentType": content_type})
        assert answer.status_code == 201
        put = self.http.put(answer.json()["url"], content=body,
                            headers={"Content-Type": content_type})
        assert put.status_code == 200
        return answer.json()["feedDocumentId"]

    def create(self, doc_id: str, feed_type: str = "JSON_LISTINGS_FEED") -> httpx.Response:
        return self.call("POST", FEEDS, json={"feedType": feed_type, "marketplaceIds": [SWEDEN],
                                              "inputFeedDocumentId": doc_id})

    def submit(self, document: Any) -> str:
        answer = self.create(self.upload(json.dumps(document).encode("utf-8")))
        assert answer.status_code == 202
        return answer.json()["feedId"]

    def poll(self, feed_id: str, times: int) -> list[dict[str, Any]]:
        return [self.call("GET", f"{FEEDS}/{feed_id}").json() for _ in range(times)]

    def report(self, feed: dict[str, Any]) -> tuple[dict[str, Any], httpx.Response]:
        meta = self.call("GET", f"{DOCS}/{feed['resultFeedDocumentId']}").json()
        download = self.http.get(meta["url"])
        assert download.status_code == 200
        return meta, download

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def fake() -> Iterator[FakeSpApi]:
    with FakeSpApi() as server:
        yield server


@pytest.fixture
def amazon(fake: FakeSpApi) -> Iterator[Amazon]:
    client = Amazon(fake)
    yield client
    client.close()


def envelope(*messages: dict[str, Any], seller: str = DEFAULT_SELLER_ID) -> dict[str, Any]:
    return {"header": {"sellerId": seller, "version": "2.0", "issueLocale": "sv_SE"},
            "messages": list(messages)}


def update(message_id: int, sku: str, **attributes: Any) -> dict[str, Any]:
    return {"messageId": message_id, "sku": sku, "operationType": "UPDATE",
            "productType": "PRODUCT", "requirements": "LISTING_OFFER_ONLY",
            "attributes": attributes}


ITEM_NAME = [{"value": "Röd väska – 20 €", "language_tag": "sv_SE", "marketplace_id": SWEDEN}]
STOCK = [{"fulfillment_channel_code": "DEFAULT", "quantity": 5}]


# ---------------------------------------------------------------- LWA


def test_token_exchange_gives_a_fresh_bearer_token(amazon: Amazon) -> None:
    first, second = amazon.exchange(), amazon.exchange()
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].startswith("Atza|")
    assert body["access_token"] != second.json()["access_token"]
    assert first.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("changes", "status", "error"), [
    ({"client_secret": "wrong"}, 401, "invalid_client"),
    ({"client_id": "amzn1.application-oa2-client.other"}, 401, "invalid_client"),
    ({"refresh_token": "Atzr|revoked"}, 400, "invalid_grant"),
    ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
    ({"refresh_token": ""}, 400, "invalid_request"),
])
def test_token_exchange_rejects_bad_credentials(amazon: Amazon, changes: dict[str, str],
                                                status: int, error: str) -> None:
    answer = amazon.exchange(**changes)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert amazon.fake.requests[-1].authorized is False


@pytest.mark.parametrize("headers", [{}, {"x-amz-access-token": "Atza|made-up"}])
def test_spapi_calls_need_a_live_token(fake: FakeSpApi, headers: dict[str, str]) -> None:
    answer = httpx.post(f"{fake.url}{DOCS}", json={"contentType": JSON_TYPE}, headers=headers)
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["code"] == "Unauthorized"


def test_an_expired_token_gets_403_until_a_new_one_is_fetched() -> None:
    clock = Clock()
    with FakeSpApi(token_ttl=60, clock=clock) as fake:
        amazon = Amazon(fake)
        assert amazon.exchange().json()["expires_in"] == 60
        assert amazon.call("POST", DOCS, json={"contentType": JSON_TYPE}).status_code == 201
        clock.now += 60
        expired = amazon.call("POST", DOCS, json={"contentType": JSON_TYPE})
        assert expired.status_code == 403
        assert expired.json() == {"errors": [{
            "code": "Unauthorized", "message": "Access to requested resource is denied.",
            "details": "The access token you provided has expired."}]}
        amazon.token = amazon.exchange().json()["access_token"]
        assert amazon.call("POST", DOCS, json={"contentType": JSON_TYPE}).status_code == 201
        fake.expire_tokens()
        assert amazon.call("POST", DOCS, json={"contentType": JSON_TYPE}).status_code == 403
        amazon.close()


# ---------------------------------------------------------------- the feed flow


def test_full_feed_flow_with_a_rejected_sku_and_a_scalar_attribute(
        fake: FakeSpApi, amazon: Amazon) -> None:
    fake.add_listing("SKU-OLD", "PRODUCT", {"item_name": ITEM_NAME})
    fake.reject_sku("SKU-2", code="90220", message="'[brand]' is required but not supplied.",
                    attribute="brand")
    document = envelope(
        update(1, "SKU-1", item_name=ITEM_NAME, fulfillment_availability=STOCK),
        update(2, "SKU-2", item_name=ITEM_NAME),
        update(3, "SKU-3", item_name="Röd väska"),
        {"messageId": 4, "sku": "SKU-OLD", "operationType": "DELETE"},
    )
    feed_id = amazon.submit(document)
    polls = amazon.poll(feed_id, 4)
    assert [p["processingStatus"] for p in polls] == ["IN_QUEUE", "IN_PROGRESS", "DONE", "DONE"]
    assert "processingStartTime" not in polls[0]
    assert "processingEndTime" not in polls[1] and "resultFeedDocumentId" not in polls[1]
    done = polls[2]
    assert done["feedType"] == "JSON_LISTINGS_FEED"
    assert done["marketplaceIds"] == [SWEDEN]
    assert done["createdTime"].endswith("Z")
    assert done["processingStartTime"] <= done["processingEndTime"]
    assert polls[3]["resultFeedDocumentId"] == done["resultFeedDocumentId"]

    meta, download = amazon.report(done)
    assert "compressionAlgorithm" not in meta
    assert download.json() == {
        "header": {"sellerId": DEFAULT_SELLER_ID, "version": "2.0", "feedId": feed_id},
        "issues": [
            {"messageId": 2, "sku": "SKU-2", "code": "90220", "severity": "ERROR",
             "message": "'[brand]' is required but not supplied.", "attributeName": "brand"},
            {"messageId": 3, "sku": "SKU-3", "code": "4000001", "severity": "ERROR",
             "message": "The provided value for 'item_name' is invalid. An attribute value "
                        "must be an array of objects.",
             "attributeName": "item_name"},
        ],
        "summary": {"errors": 2, "warnings": 0, "messagesProcessed": 4,
                    "messagesAccepted": 2, "messagesInvalid": 2},
    }
    assert set(fake.listings) == {"SKU-1"}
    listing = fake.listings["SKU-1"]
    assert listing.attributes == {"item_name": ITEM_NAME, "fulfillment_availability": STOCK}
    assert (listing.product_type, listing.requirements, listing.feed_id) == (
        "PRODUCT", "LISTING_OFFER_ONLY", feed_id)
    [feed] = fake.feeds
    assert (feed.message_count, feed.utf8, feed.content_type) == (4, True, JSON_TYPE)
    assert feed.document == document
    assert fake.create_feed_calls == 1


def test_a_gzipped_report_is_served_raw_for_the_client_to_gunzip() -> None:
    with FakeSpApi(gzip_reports=True, polls_to_done=0) as fake:
        amazon = Amazon(fake)
        feed_id = amazon.submit(envelope(update(1, "SKU-1", item_name=ITEM_NAME)))
        [done] = amazon.poll(feed_id, 1)
        assert done["processingStatus"] == "DONE"
        meta, download = amazon.report(done)
        assert meta["compressionAlgorithm"] == "GZIP"
        assert "content-encoding" not in download.headers
        assert download.content[:2] == b"\x1f\x8b"
        report = json.loads(gzip.decompress(download.content))
        assert report["summary"] == {"errors": 0, "warnings": 0, "messagesProcessed": 1,
                                     "messagesAccepted": 1, "messagesInvalid": 0}
        assert report == fake.feed(feed_id).report
        amazon.close()


def test_a_warning_keeps_the_message_accepted(fake: FakeSpApi, amazon: Amazon) -> None:
    fake.reject_sku("SKU-1", code="18448", severity="WARNING", message="Add item_weight.")
    fake.finish(amazon.submit(envelope(update(1, "SKU-1", item_name=ITEM_NAME))))
    [feed] = fake.feeds
    assert feed.report is not None
    assert feed.report["summary"] == {"errors": 0, "warnings": 1, "messagesProcessed": 1,
                                      "messagesAccepted": 1, "messagesInvalid": 0}
    assert "SKU-1" in fake.listings


def test_schema_violations_are_per_message_errors(fake: FakeSpApi, amazon: Amazon) -> None:
    document = envelope(
        {"messageId": 1, "sku": "A", "operationType": "UPDATE", "attributes": {"x": [{}]}},
        {"messageId": 2, "sku": "B", "operationType": "DELETE", "productType": "PRODUCT"},
        {"messageId": 3, "sku": "C", "operationType": "PATCH", "productType": "PRODUCT",
         "patches": [{"op": "replace", "path": "/item_name", "value": [{}]}]},
        {"messageId": 3, "sku": "D", "operationType": "DELETE"},
        {"messageId": 5, "sku": "", "operationType": "UPSERT"},
    )
    fake.finish(amazon.submit(document))
    report = fake.feeds[0].report
    assert report is not None
    assert [(i.get("messageId"), i.get("sku"), i["code"], i["message"])
            for i in report["issues"]] == [
        (1, "A", "4002008", f"{SCHEMA_TEXT} 'productType' is required for UPDATE."),
        (2, "B", "4002008", f"{SCHEMA_TEXT} 'productType' is not allowed for DELETE."),
        (3, "C", "4002008", f"{SCHEMA_TEXT} 'patches[0].path' must be '/attributes/<name>'."),
        (3, "D", "4002008", f"{SCHEMA_TEXT} 'messageId' 3 is used by an earlier message."),
        (5, None, "4002008", f"{SCHEMA_TEXT} 'sku' must be a non-empty string."),
        (5, None, "4002008", f"{SCHEMA_TEXT} 'operationType' must be one of UPDATE, "
                             "PARTIAL_UPDATE, PATCH, DELETE."),
    ]
    assert report["summary"] == {"errors": 6, "warnings": 0, "messagesProcessed": 5,
                                 "messagesAccepted": 0, "messagesInvalid": 5}


def test_patch_and_partial_update_change_the_listing(fake: FakeSpApi, amazon: Amazon) -> None:
    images = [{"media_location": "https://img.example/1.jpg", "marketplace_id": SWEDEN}]
    fake.add_listing("SKU-P", "PRODUCT", {
        "item_name": ITEM_NAME, "main_product_image_locator": images,
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 5,
                                      "lead_time_to_ship_max_days": 3}],
        "bullet_point": [{"value": "a", "marketplace_id": SWEDEN},
                         {"value": "b", "marketplace_id": "A1PA6795UKMFR9"}],
    })
    new_name = [{"value": "Blå väska", "language_tag": "sv_SE", "marketplace_id": SWEDEN}]
    document = envelope(
        {"messageId": 1, "sku": "SKU-P", "operationType": "PATCH", "productType": "PRODUCT",
         "patches": [
             {"op": "replace", "path": "/attributes/item_name", "value": new_name},
             {"op": "merge", "path": "/attributes/fulfillment_availability",
              "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}]},
             {"op": "delete", "path": "/attributes/main_product_image_locator"},
             {"op": "delete", "path": "/attributes/bullet_point",
              "value": [{"marketplace_id": "A1PA6795UKMFR9"}]},
         ]},
        {"messageId": 2, "sku": "SKU-Q", "operationType": "PARTIAL_UPDATE",
         "productType": "PRODUCT", "attributes": {"fulfillment_availability": STOCK}},
    )
    fake.finish(amazon.submit(document))
    assert fake.listings["SKU-P"].attributes == {
        "item_name": new_name,
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0,
                                      "lead_time_to_ship_max_days": 3}],
        "bullet_point": [{"value": "a", "marketplace_id": SWEDEN}],
    }
    assert fake.listings["SKU-Q"].attributes == {"fulfillment_availability": STOCK}
    assert fake.feeds[0].document["messages"][0]["patches"][1]["value"] == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 0}]  # the input is not changed


def test_the_schema_example_feed_is_accepted(shared: Path) -> None:
    folder = shared / "schemas" / "amazon" / "listings-feed-v2"
    example = json.loads((folder / "listings-feed-schema-v2.example.json").read_text("utf-8"))
    schema = json.loads((folder / "listings-feed-processing-report-schema-v2.json")
                        .read_text("utf-8"))
    with FakeSpApi(seller_id="AXXXXXXXXXXXX", polls_to_done=0) as fake:
        amazon = Amazon(fake)
        amazon.call("GET", f"{FEEDS}/{amazon.submit(example)}")
        report = fake.feeds[0].report
        amazon.close()
    assert report is not None
    assert report["summary"]["messagesAccepted"] == 5
    assert set(fake.listings) == {"My-SKU-B", "My-SKU-C", "My-SKU-D", "My-SKU-E"}
    assert set(schema["required"]) <= set(report)
    assert set(schema["properties"]["header"]["required"]) <= set(report["header"])
    assert set(schema["properties"]["summary"]["required"]) <= set(report["summary"])
    # The example asks for every includedData: each accepted listing is under `items`.
    assert [i["sku"] for i in report["items"]] == ["My-SKU-B", "My-SKU-C", "My-SKU-D",
                                                   "My-SKU-E"]
    assert report["summary"]["itemSummary"] == {"items": 4, "errors": 0, "warnings": 0}


# ---------------------------------------------------------------- FATAL and CANCELLED


def test_fatal_next_feed_is_not_processed(fake: FakeSpApi, amazon: Amazon) -> None:
    fake.fatal_next_feed("Internal processing error.")
    feed_id = amazon.submit(envelope(update(1, "SKU-1", item_name=ITEM_NAME)))
    polls = amazon.poll(feed_id, 3)
    assert [p["processingStatus"] for p in polls] == ["IN_QUEUE", "IN_PROGRESS", "FATAL"]
    _, download = amazon.report(polls[2])
    assert download.json() == {
        "header": {"sellerId": DEFAULT_SELLER_ID, "version": "2.0", "feedId": feed_id},
        "issues": [{"code": "4002006", "severity": "ERROR",
                    "message": "Internal processing error."}],
        "summary": {"errors": 1, "warnings": 0, "messagesProcessed": 0,
                    "messagesAccepted": 0, "messagesInvalid": 0},
    }
    assert fake.listings == {}
    fake.fatal_next_feed(report=False)
    second = amazon.submit(envelope(update(1, "SKU-1", item_name=ITEM_NAME)))
    last = amazon.poll(second, 3)[-1]
    assert last["processingStatus"] == "FATAL" and "resultFeedDocumentId" not in last


@pytest.mark.parametrize(("body", "reason"), [
    (json.dumps({"header": {"sellerId": DEFAULT_SELLER_ID, "version": "1.0"},
                 "messages": [{"messageId": 1, "sku": "A", "operationType": "DELETE"}]}),
     "The attribute 'version' does not match the required value '2.0'."),
    (json.dumps(envelope({"messageId": 1, "sku": "A", "operationType": "DELETE"},
                         seller="AOTHERSELLER")),
     "The sellerId 'AOTHERSELLER' in the header is not the selling partner of this request."),
    (json.dumps(envelope()), "The feed document needs a non-empty 'messages' array."),
])
def test_a_broken_envelope_makes_the_feed_fatal(fake: FakeSpApi, amazon: Amazon, body: str,
                                                reason: str) -> None:
    feed_id = amazon.create(amazon.upload(body.encode())).json()["feedId"]
    final = amazon.poll(feed_id, 3)[-1]
    assert final["processingStatus"] == "FATAL"
    _, download = amazon.report(final)
    assert download.json()["issues"] == [{"code": "4002006", "severity": "ERROR",
                                          "message": reason}]


def test_more_messages_than_allowed_is_fatal() -> None:
    with FakeSpApi(max_messages=2, polls_to_done=0) as fake:
        amazon = Amazon(fake)
        messages = [{"messageId": n, "sku": f"S{n}", "operationType": "DELETE"}
                    for n in (1, 2, 3)]
        feed_id = amazon.submit(envelope(*messages))
        assert amazon.poll(feed_id, 1)[0]["processingStatus"] == "FATAL"
        assert fake.feed(feed_id).fatal_reason == (
            "The feed document has 3 messages; at most 2 are allowed.")
        amazon.close()


def test_an_xml_feed_type_ends_fatal_without_a_report(fake: FakeSpApi, amazon: Amazon) -> None:
    doc_id = amazon.upload(b"<AmazonEnvelope/>", "text/xml; charset=UTF-8")
    feed_id = amazon.create(doc_id, "POST_PRODUCT_DATA").json()["feedId"]
    final = amazon.poll(feed_id, 3)[-1]
    assert final["processingStatus"] == "FATAL"
    assert "resultFeedDocumentId" not in final


def test_a_document_that_is_not_utf8_is_recorded_and_fatal(fake: FakeSpApi,
                                                           amazon: Amazon) -> None:
    body = json.dumps(envelope(update(1, "S", item_name=[{"value": "väska"}])),
                      ensure_ascii=False).encode("latin-1")
    feed_id = amazon.create(amazon.upload(body)).json()["feedId"]
    assert amazon.poll(feed_id, 3)[-1]["processingStatus"] == "FATAL"
    feed = fake.feed(feed_id)
    assert feed.utf8 is False
    assert feed.fatal_reason is not None and "not valid UTF-8 JSON" in feed.fatal_reason


def test_cancel_next_feed_and_cancel_feed(fake: FakeSpApi, amazon: Amazon) -> None:
    fake.cancel_next_feed()
    first = amazon.submit(envelope(update(1, "SKU-1", item_name=ITEM_NAME)))
    polls = amazon.poll(first, 3)
    assert [p["processingStatus"] for p in polls] == ["IN_QUEUE", "IN_QUEUE", "CANCELLED"]
    assert "resultFeedDocumentId" not in polls[2]

    second = amazon.submit(envelope(update(1, "SKU-1", item_name=ITEM_NAME)))
    assert amazon.call("DELETE", f"{FEEDS}/{second}").status_code == 200
    assert amazon.poll(second, 1)[0]["processingStatus"] == "CANCELLED"
    third = amazon.submit(envelope(update(1, "SKU-1", item_name=ITEM_NAME)))
    amazon.poll(third, 2)  # now IN_PROGRESS
    late = amazon.call("DELETE", f"{FEEDS}/{third}")
    assert late.status_code == 400
    assert late.json()["errors"][0]["code"] == "InvalidInput"
    assert fake.listings == {}


# ---------------------------------------------------------------- rate limits and faults


def test_create_feed_allows_a_burst_of_15_then_429() -> None:
    clock = Clock()
    with FakeSpApi(clock=clock) as fake:
        amazon = Amazon(fake)
        doc_id = amazon.upload(json.dumps(envelope(update(1, "S", item_name=ITEM_NAME)))
                               .encode())
        statuses = [amazon.create(doc_id).status_code for _ in range(16)]
        assert statuses == [202] * 15 + [429]
        throttled = amazon.create(doc_id)
        assert throttled.status_code == 429
        assert throttled.headers["x-amzn-RateLimit-Limit"] == "0.008333"
        assert "Retry-After" not in throttled.headers
        assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"
        clock.now += 119
        assert amazon.create(doc_id).status_code == 429
        clock.now += 1  # 120 s: one call refilled
        assert [amazon.create(doc_id).status_code for _ in range(2)] == [202, 429]
        assert fake.create_feed_calls == 20
        assert fake.calls("createFeed", 202) == 16
        assert len(fake.feeds) == 16
        amazon.close()


def test_the_refill_rate_is_configurable() -> None:
    clock = Clock()
    with FakeSpApi(create_feed_rate=2.0, create_feed_burst=1, clock=clock) as fake:
        amazon = Amazon(fake)
        doc_id = amazon.upload(b"{}")
        assert [amazon.create(doc_id).status_code for _ in range(2)] == [202, 429]
        clock.now += 0.5
        response = amazon.create(doc_id)
        assert response.status_code == 202
        assert response.headers["x-amzn-RateLimit-Limit"] == "2"
        amazon.close()


def test_fail_next_injects_errors_then_recovers(fake: FakeSpApi, amazon: Amazon) -> None:
    fake.fail_next("createFeed", status=429, times=2, headers={"x-amzn-RateLimit-Limit": "0.5"})
    fake.fail_next("getFeed", status=503)
    fake.fail_next("upload", status=500)
    doc = amazon.call("POST", DOCS, json={"contentType": JSON_TYPE}).json()
    failed_put = amazon.http.put(doc["url"], content=b"{}", headers={"Content-Type": JSON_TYPE})
    assert failed_put.status_code == 500 and b"<Code>InternalError</Code>" in failed_put.content
    amazon.http.put(doc["url"], content=b"{}", headers={"Content-Type": JSON_TYPE})
    first = amazon.create(doc["feedDocumentId"])
    assert (first.status_code, first.headers["x-amzn-RateLimit-Limit"]) == (429, "0.5")
    assert amazon.create(doc["feedDocumentId"]).status_code == 429
    feed_id = amazon.create(doc["feedDocumentId"]).json()["feedId"]
    unavailable = amazon.call("GET", f"{FEEDS}/{feed_id}")
    assert unavailable.status_code == 503
    assert unavailable.json()["errors"][0]["code"] == "ServiceUnavailable"
    assert amazon.call("GET", f"{FEEDS}/{feed_id}").json()["processingStatus"] == "IN_QUEUE"
    assert [r.status for r in fake.requests if r.operation == "createFeed"] == [429, 429, 202]


# ---------------------------------------------------------------- documents


def test_upload_must_use_the_declared_content_type(fake: FakeSpApi, amazon: Amazon) -> None:
    doc = amazon.call("POST", DOCS, json={"contentType": JSON_TYPE}).json()
    wrong = amazon.http.put(doc["url"], content=b"{}", headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in wrong.content
    assert fake.document(doc["feedDocumentId"]).body is None


def test_upload_url_is_checked(fake: FakeSpApi, amazon: Amazon) -> None:
    doc = amazon.call("POST", DOCS, json={"contentType": JSON_TYPE}).json()
    assert "X-Amz-Signature=" in doc["url"] and "/upload/" in doc["url"]
    tampered = doc["url"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert amazon.http.put(tampered, content=b"{}",
                           headers={"Content-Type": JSON_TYPE}).status_code == 403
    chunked = amazon.http.put(doc["url"], content=iter([b"{", b"}"]),
                              headers={"Content-Type": JSON_TYPE})
    assert chunked.status_code == 411
    assert amazon.http.put(doc["url"], content=b"{}",
                           headers={"Content-Type": JSON_TYPE}).status_code == 200
    stored = fake.document(doc["feedDocumentId"])
    assert (stored.body, stored.utf8, stored.uploads) == (b"{}", True, 1)


def test_an_upload_url_expires() -> None:
    clock = Clock()
    with FakeSpApi(clock=clock, url_ttl=300) as fake:
        amazon = Amazon(fake)
        doc = amazon.call("POST", DOCS, json={"contentType": JSON_TYPE}).json()
        clock.now += 300
        late = amazon.http.put(doc["url"], content=b"{}", headers={"Content-Type": JSON_TYPE})
        assert late.status_code == 403 and b"Request has expired" in late.content
        amazon.close()


def test_create_feed_checks_its_body(fake: FakeSpApi, amazon: Amazon) -> None:
    doc_id = amazon.upload(b"{}")
    bad = [
        {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [SWEDEN]},
        {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [SWEDEN],
         "inputFeedDocumentId": "amzn1.tortuga.4.eu.nope"},
        {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [],
         "inputFeedDocumentId": doc_id},
        {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": ["ATVPDKIKX0DER"],
         "inputFeedDocumentId": doc_id},
    ]
    for body in bad:
        answer = amazon.call("POST", FEEDS, json=body)
        assert answer.status_code == 400, body
        assert answer.json()["errors"][0]["code"] == "InvalidInput"
    assert fake.feeds == []
    assert amazon.call("GET", f"{FEEDS}/123").status_code == 404


# ---------------------------------------------------------------- log and size


def test_the_request_log_holds_no_secrets(fake: FakeSpApi, amazon: Amazon) -> None:
    amazon.exchange(client_secret="wrong-secret-value")
    feed_id = amazon.submit(envelope(update(1, "SKU-1", item_name=ITEM_NAME)))
    amazon.poll(feed_id, 3)
    logged = repr(fake.requests)
    for secret in (amazon.token, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN,
                   "wrong-secret-value", "X-Amz-Signature", "Signature="):
        assert secret not in logged
    assert [(r.method, r.operation, r.status) for r in fake.requests] == [
        ("POST", "token", 200), ("POST", "token", 401), ("POST", "createFeedDocument", 201),
        ("PUT", "upload", 200), ("POST", "createFeed", 202), ("GET", "getFeed", 200),
        ("GET", "getFeed", 200), ("GET", "getFeed", 200),
    ]


@pytest.mark.slow
def test_a_feed_of_100000_messages() -> None:
    messages = [update(n, f"SKU-{n}", item_name=[{"value": f"Produkt {n}"}],
                       fulfillment_availability=[{"fulfillment_channel_code": "DEFAULT",
                                                  "quantity": n % 7}])
                for n in range(1, 100_001)]
    messages[41]["attributes"]["item_name"] = "scalar"
    with FakeSpApi(max_messages=100_000, polls_to_done=0, keep_documents=False) as fake:
        amazon = Amazon(fake)
        feed_id = amazon.submit(envelope(*messages))
        assert amazon.poll(feed_id, 1)[0]["processingStatus"] == "DONE"
        feed = fake.feed(feed_id)
        assert feed.message_count == 100_000
        assert feed.document is None
        assert feed.report is not None
        assert feed.report["summary"] == {"errors": 1, "warnings": 0,
                                          "messagesProcessed": 100_000,
                                          "messagesAccepted": 99_999, "messagesInvalid": 1}
        assert len(fake.listings) == 99_999
        assert fake.listings["SKU-100000"].attributes["fulfillment_availability"][0][
            "quantity"] == 100_000 % 7
        amazon.close()


# ---------------------------------------------------------------- issue 15: what Amazon does


OFFER = {"marketplace_id": SWEDEN, "currency": "SEK",
         "our_price": [{"schedule": [{"value_with_tax": 100}]}]}
SALE = [{"schedule": [{"value_with_tax": 80, "start_at": "2026-11-01T00:00:00Z",
                       "end_at": "2026-12-01T00:00:00Z"}]}]


def offer_patch(message_id: int, sku: str, *offers: dict[str, Any]) -> dict[str, Any]:
    return {"messageId": message_id, "sku": sku, "operationType": "PATCH",
            "productType": "PRODUCT", "patches": [
                {"op": "replace", "path": "/attributes/purchasable_offer", "value": list(offers)}]}


def test_a_replace_matches_an_offer_only_by_its_audience(fake: FakeSpApi,
                                                         amazon: Amazon) -> None:
    fake.add_listing("A", "PRODUCT", {"purchasable_offer": [{**OFFER, "discounted_price": SALE}]})
    fake.add_listing("B", "PRODUCT", {"purchasable_offer": [{**OFFER, "discounted_price": SALE}]})
    assert fake.listings["A"].attributes["purchasable_offer"][0]["audience"] == "ALL"
    fake.finish(amazon.submit(envelope(offer_patch(1, "A", OFFER),       # no audience
                                       offer_patch(2, "B", {**OFFER, "audience": "ALL"}))))
    stale = fake.listings["A"].attributes["purchasable_offer"]
    assert len(stale) == 2 and stale[0]["discounted_price"] == SALE      # the sale stays
    assert fake.listings["B"].attributes["purchasable_offer"] == [{**OFFER, "audience": "ALL"}]


def test_a_sale_price_needs_its_start_and_end(fake: FakeSpApi, amazon: Amazon) -> None:
    open_ended = [{"schedule": [{"value_with_tax": 80}]}]
    feed_id = amazon.submit(envelope(
        update(1, "A", purchasable_offer=[{**OFFER, "discounted_price": open_ended}]),
        update(2, "B", purchasable_offer=[{**OFFER, "discounted_price": SALE}])))
    fake.finish(feed_id)
    issues = fake.feed(feed_id).report["issues"]
    assert [(i["sku"], i["code"], i["attributeName"]) for i in issues] == [
        ("A", "90220", "purchasable_offer"), ("A", "90220", "purchasable_offer")]
    assert "schedule.end_at]' is required" in issues[0]["message"]
    assert set(fake.listings) == {"B"}


def test_issues_found_after_acceptance_are_reported_under_items(fake: FakeSpApi,
                                                                amazon: Amazon) -> None:
    fake.listing_issue("A", code="18027", message="The main image has text on it.",
                       attributes=["main_product_image_locator"])
    document = envelope(update(1, "A", fulfillment_availability=STOCK),
                        update(2, "B", fulfillment_availability=STOCK),
                        {"messageId": 3, "sku": "C", "operationType": "DELETE"})
    document["header"]["report"] = {"includedData": ["issues"], "apiVersion": "2021-08-01"}
    feed_id = amazon.submit(document)
    fake.finish(feed_id)
    report = fake.feed(feed_id).report
    assert report["issues"] == [] and report["summary"]["messagesAccepted"] == 3
    assert report["items"] == [
        {"sku": "A", "issues": [{"code": "18027", "message": "The main image has text on it.",
                                 "severity": "ERROR",
                                 "attributeNames": ["main_product_image_locator"],
                                 "categories": ["INVALID_ATTRIBUTE"]}]},
        {"sku": "B", "issues": []}]
    assert report["summary"]["itemSummary"] == {"items": 2, "errors": 1, "warnings": 0}
    without = amazon.submit(envelope(update(1, "A", fulfillment_availability=STOCK)))
    fake.finish(without)
    assert "items" not in fake.feed(without).report         # not asked for: not given


def test_get_listings_item_finds_a_listing_by_sku(fake: FakeSpApi, amazon: Amazon) -> None:
    fake.add_listing("OLD/1", "LUGGAGE", {"item_name": ITEM_NAME})
    path = f"/listings/2021-08-01/items/{DEFAULT_SELLER_ID}"
    found = amazon.call("GET", f"{path}/OLD%2F1", params={"marketplaceIds": SWEDEN})
    assert found.status_code == 200
    (summary,) = found.json()["summaries"]
    assert found.json()["sku"] == "OLD/1" and summary["productType"] == "LUGGAGE"
    assert summary["asin"].startswith("B0") and summary["itemName"] == ITEM_NAME[0]["value"]
    assert found.headers["x-amzn-RateLimit-Limit"] == "5"
    missing = amazon.call("GET", f"{path}/NEW-1", params={"marketplaceIds": SWEDEN})
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NOT_FOUND"
    assert amazon.call("GET", f"{path}/NEW-1").status_code == 400         # no marketplace
    other = amazon.call("GET", "/listings/2021-08-01/items/AOTHER/OLD%2F1",
                        params={"marketplaceIds": SWEDEN})
    assert other.status_code == 403


def test_get_listings_item_allows_5_a_second_after_a_burst_of_10() -> None:
    clock = Clock()
    with FakeSpApi(clock=clock) as fake:
        amazon = Amazon(fake)
        path = f"/listings/2021-08-01/items/{DEFAULT_SELLER_ID}/X"
        statuses = [amazon.call("GET", path, params={"marketplaceIds": SWEDEN}).status_code
                    for _ in range(11)]
        assert statuses == [404] * 10 + [429]
        clock.now += 0.2                                   # one call refilled
        assert amazon.call("GET", path, params={"marketplaceIds": SWEDEN}).status_code == 404
        amazon.close()
