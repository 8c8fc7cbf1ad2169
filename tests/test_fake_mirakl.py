"""The fake Mirakl seller API (tests/fakes/mirakl.py), driven over loopback with httpx."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.fakes.mirakl import DEFAULT_API_KEY, DEFAULT_SHOP_ID, FakeMirakl

COLUMNS = ["sku", "product-id", "product-id-type", "description", "price", "quantity", "state",
           "discount-price", "discount-start-date", "discount-end-date", "leadtime-to-ship",
           "update-delete"]
AUTH = {"Authorization": DEFAULT_API_KEY}
IMPORTS = "/api/offers/imports"
# EAN-13s checked by hand (and with python-stdnum): the last digit makes the weighted sum
# (1, 3, 1, 3, … from the left) a multiple of ten
EAN_OK = "4006381333931"
EAN_BAD = "4006381333932"
EAN_OTHER = "5901234123457"
EAN_UNKNOWN = "7350053850019"


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def row(sku: str, product_id: str = EAN_OK, **cells: str) -> dict[str, str]:
    base = {"sku": sku, "product-id": product_id, "product-id-type": "EAN",
            "description": "", "price": "199.00", "quantity": "5", "state": "11",
            "discount-price": "", "discount-start-date": "", "discount-end-date": "",
            "leadtime-to-ship": "2", "update-delete": ""}
    base.update({key.replace("_", "-"): value for key, value in cells.items()})
    return base


def offers_csv(*rows: dict[str, str], columns: list[str] = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, delimiter=";", lineterminator="\r\n",
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def of01(client: httpx.Client, data: bytes, mode: str = "NORMAL", name: str = "offers.csv",
         params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
         ) -> httpx.Response:
    return client.post(IMPORTS, files={"file": (name, data, "text/csv")},
                       data={"import_mode": mode}, params=params,
                       headers=AUTH if headers is None else headers)


def poll(client: httpx.Client, import_id: int, times: int) -> list[dict[str, Any]]:
    return [client.get(f"{IMPORTS}/{import_id}", headers=AUTH).json() for _ in range(times)]


@pytest.fixture
def fake() -> Iterator[FakeMirakl]:
    with FakeMirakl(min_poll_interval=0) as server:   # polls as fast as a test likes
        yield server


@pytest.fixture
def client(fake: FakeMirakl) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, timeout=10) as http:
        yield http


# ---------------------------------------------------------------- auth and shops


@pytest.mark.parametrize("headers", [{}, {"Authorization": f"Bearer {DEFAULT_API_KEY}"},
                                     {"Authorization": "another-key"}])
def test_a_wrong_or_missing_key_gets_401(fake: FakeMirakl, client: httpx.Client,
                                         headers: dict[str, str]) -> None:
    answer = of01(client, offers_csv(row("SKU-1")), headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"status": 401, "message": "Unauthorized"}
    assert client.get(f"{IMPORTS}/1001", headers=headers).status_code == 401
    assert fake.imports == []
    assert DEFAULT_API_KEY not in repr(fake.requests)


def test_several_shops_need_a_shop_id() -> None:
    with FakeMirakl(shop_ids=(11, 12)) as fake, httpx.Client(base_url=fake.url) as client:
        data = offers_csv(row("SKU-1"))
        missing = of01(client, data)
        assert missing.status_code == 400
        assert of01(client, data, params={"shop_id": 13}).status_code == 403
        created = of01(client, data, params={"shop_id": 12})
        assert created.status_code == 201
        import_id = created.json()["import_id"]
        assert client.get(f"{IMPORTS}/{import_id}", headers=AUTH,
                          params={"shop_id": 11}).status_code == 404
        assert client.get(f"{IMPORTS}/{import_id}", headers=AUTH,
                          params={"shop_id": 12}).json()["status"] == "WAITING"
        fake.finish()
        assert set(fake.offers(12)) == {"SKU-1"} and fake.offers(11) == {}
        assert [r.shop_id for r in fake.requests] == [None, "13", "12", "11", "12"]


# ---------------------------------------------------------------- OF01 -> OF02 -> OF03


def test_import_with_good_and_bad_rows(fake: FakeMirakl, client: httpx.Client) -> None:
    fake.unknown_product(EAN_UNKNOWN)
    data = offers_csv(
        row("SKU-1", discount_price="149.00", discount_start_date="2026-12-01",
            discount_end_date="2026-12-24T23:59:59Z", description="Röd väska; 20 €"),
        row("SKU-2", price="199,00"),
        row("SKU-3", EAN_BAD),
        row("SKU-4", EAN_UNKNOWN),
        row("SKU-5", EAN_OTHER, description='=HYPERLINK("x")\nrad två "citat"'),
        row("SKU-6", EAN_OTHER, discount_price="199.00", quantity="-1"),
    )
    created = of01(client, data)
    assert created.status_code == 201
    import_id = created.json()["import_id"]
    assert isinstance(import_id, int)
    assert client.get(f"{IMPORTS}/{import_id}/error_report", headers=AUTH).status_code == 404

    polls = poll(client, import_id, 4)
    assert [p["status"] for p in polls] == ["WAITING", "RUNNING", "COMPLETE", "COMPLETE"]
    assert (polls[0]["lines_read"], polls[0]["has_error_report"]) == (0, False)
    done = polls[2]
    assert done["date_created"].endswith("Z")
    assert {k: v for k, v in done.items() if k != "date_created"} == {
        "import_id": import_id, "status": "COMPLETE", "mode": "NORMAL", "lines_read": 6,
        "lines_in_success": 2, "lines_in_error": 4, "lines_in_pending": 0,
        "offer_inserted": 2, "offer_updated": 0, "offer_deleted": 0,
        "has_error_report": True, "reason_status": None, "type": "MIRAKL",
    }

    report = client.get(f"{IMPORTS}/{import_id}/error_report", headers=AUTH)
    assert report.status_code == 200
    assert report.headers["Content-Type"] == "text/csv; charset=UTF-8"
    header = ";".join(COLUMNS)
    assert report.content.decode("utf-8") == (
        f"{header};error-line;error-message\n"
        f"SKU-2;{EAN_OK};EAN;;199,00;5;11;;;;2;;3;The price '199,00' is not a positive number "
        "with a dot as decimal separator\n"
        f"SKU-3;{EAN_BAD};EAN;;199.00;5;11;;;;2;;4;The EAN '{EAN_BAD}' is not valid (check "
        "digit or length)\n"
        f"SKU-4;{EAN_UNKNOWN};EAN;;199.00;5;11;;;;2;;5;The product does not exist\n"
        f"SKU-6;{EAN_OTHER};EAN;;199.00;-1;11;199.00;;;2;;8;The quantity '-1' is not a "
        "non-negative integer | The discount-price 199.00 must be lower than the price 199.00\n"
    )

    offers = fake.offers()
    assert set(offers) == {"SKU-1", "SKU-5"}
    first = offers["SKU-1"]
    assert (first.price, first.discount_price, first.quantity, first.leadtime_to_ship) == (
        Decimal("199.00"), Decimal("149.00"), 5, 2)
    assert first.description == "Röd väska; 20 €"
    assert offers["SKU-5"].description == '=HYPERLINK("x")\nrad två "citat"'
    [job] = fake.imports
    assert (job.mode, job.lines_read, job.size, job.utf8, job.bom) == (
        "NORMAL", 6, len(data), True, False)
    assert job.lines == [2, 3, 4, 5, 6, 8]  # SKU-5's description spans two lines
    assert job.suspicious_cells == [(6, "description"), (8, "quantity")]
    assert job.has_formula_like_cells
    assert job.rows[1]["price"] == "199,00"


def test_delete_rows_and_replace_mode(fake: FakeMirakl, client: httpx.Client) -> None:
    for sku in ("OLD-1", "OLD-2", "KEEP"):
        fake.add_offer(sku, product_id=EAN_OK)
    first = of01(client, offers_csv(row("OLD-1", update_delete="delete"),
                                    row("NOPE", update_delete="delete"),
                                    row("KEEP", quantity="7", update_delete="update"),
                                    row("SKU-X", update_delete="remove"),
                                    row("OLD-2", "", update_delete="delete", price=""),
                                    row("OLD-2", EAN_OTHER, update_delete="delete")))
    fake.finish()
    job = fake.get_import(first.json()["import_id"])
    assert (job.lines_in_success, job.offer_deleted, job.offer_updated) == (2, 1, 1)
    assert job.errors == [
        (3, "The offer to delete does not exist"),
        (5, "update-delete must be empty, 'update' or 'delete', not 'remove'"),
        (6, "The product-id is missing"),     # a delete row names the product, as an update
        (7, "The offer appears more than once in the file | The product EAN "
            f"{EAN_OTHER} is not the product of this offer"),
    ]
    assert set(fake.offers()) == {"OLD-2", "KEEP"}
    assert fake.offers()["KEEP"].quantity == 7

    replace = of01(client, offers_csv(row("KEEP", quantity="8"), row("NEW")), mode="REPLACE")
    final = poll(client, replace.json()["import_id"], 3)[-1]
    assert (final["mode"], final["offer_inserted"], final["offer_updated"],
            final["offer_deleted"], final["has_error_report"]) == ("REPLACE", 1, 1, 1, False)
    assert set(fake.offers()) == {"KEEP", "NEW"}
    assert client.get(f"{IMPORTS}/{final['import_id']}/error_report",
                      headers=AUTH).status_code == 404


def test_rejected_sku_and_known_products() -> None:
    with FakeMirakl(known_products={EAN_OK}, polls_to_complete=0, min_poll_interval=0) as fake, \
            httpx.Client(base_url=fake.url) as client:
        fake.reject_sku("SKU-1", "Offer blocked by the operator")
        created = of01(client, offers_csv(row("SKU-1"), row("SKU-2", EAN_OTHER),
                                          row("SKU-3"), row("SKU-3")))
        [done] = poll(client, created.json()["import_id"], 1)
        assert done["status"] == "COMPLETE"
        assert fake.get_import(done["import_id"]).errors == [
            (2, "Offer blocked by the operator"),
            (3, "The product does not exist"),
            (5, "The offer appears more than once in the file"),
        ]
        assert set(fake.offers()) == {"SKU-3"}


@pytest.mark.parametrize(("cells", "message"), [
    ({"product_id_type": "ISBN"}, "The product-id-type 'ISBN' is not one of EAN, SKU, UPC"),
    ({"state": "1"}, "The state '1' is not one of 11"),
    ({"price": "0"}, "The price '0' is not a positive number with a dot as decimal separator"),
    ({"quantity": "2.5"}, "The quantity '2.5' is not a non-negative integer"),
    ({"leadtime_to_ship": "two"}, "The leadtime-to-ship 'two' is not a non-negative integer"),
    ({"discount_price": "99", "discount_start_date": "01/12/2026"},
     "The discount-start-date '01/12/2026' is not an ISO 8601 date"),
    ({"discount_price": "99", "discount_start_date": "2026-12-24",
      "discount_end_date": "2026-12-01"},
     "The discount-start-date is after the discount-end-date"),
])
def test_row_checks(fake: FakeMirakl, client: httpx.Client, cells: dict[str, str],
                    message: str) -> None:
    of01(client, offers_csv(row("SKU-1", **cells)))
    fake.finish()
    assert fake.imports[0].errors == [(2, message)]


def test_sku_product_ids_and_upc() -> None:
    with FakeMirakl(polls_to_complete=0, min_poll_interval=0) as fake, \
            httpx.Client(base_url=fake.url) as client:
        of01(client, offers_csv(row("A", "my-own-id", product_id_type="SKU"),
                                row("B", "036000291452", product_id_type="UPC"),
                                row("C", "036000291453", product_id_type="UPC")))
        fake.finish()
        assert set(fake.offers()) == {"A", "B"}
        assert fake.imports[0].errors == [
            (4, "The UPC '036000291453' is not valid (check digit or length)")]


# ---------------------------------------------------------------- failed files


@pytest.mark.parametrize(("data", "reason", "utf8"), [
    (offers_csv(row("SKU-1"), columns=[c for c in COLUMNS if c != "price"]),
     "Missing column(s) in the header: price", True),
    ("sku;product-id;product-id-type;price;quantity;state\nSKU-1;X;SKU;1.00;1;11\n"
     .encode("latin-1") + "Väska;X;SKU;1.00;1;11\n".encode("latin-1"),
     # 52 + 22 bytes of header and first row, then "V": the Latin-1 "ä" is byte 75
     "The file is not valid UTF-8 (invalid continuation byte at byte 75)", False),
    (b"", "The file is empty or has no header line", True),
    (b'sku;product-id;product-id-type;price;quantity;state\n"SKU-1"x;X;SKU;1.00;1;11\n',
     "The file is not valid CSV at line 2: ';' expected after '\"'", True),
])
def test_an_unreadable_file_fails_the_import(fake: FakeMirakl, client: httpx.Client,
                                             data: bytes, reason: str, utf8: bool) -> None:
    import_id = of01(client, data).json()["import_id"]
    final = poll(client, import_id, 3)[-1]
    assert (final["status"], final["reason_status"], final["has_error_report"]) == (
        "FAILED", reason, False)
    assert fake.get_import(import_id).utf8 is utf8
    assert client.get(f"{IMPORTS}/{import_id}/error_report", headers=AUTH).status_code == 404
    assert fake.offers() == {}


def test_a_bom_is_skipped_and_noted(fake: FakeMirakl, client: httpx.Client) -> None:
    of01(client, b"\xef\xbb\xbf" + offers_csv(row("SKU-1")))
    fake.finish()
    assert fake.imports[0].bom is True
    assert set(fake.offers()) == {"SKU-1"}


def test_fail_next_import(fake: FakeMirakl, client: httpx.Client) -> None:
    fake.fail_next_import("Internal error")
    import_id = of01(client, offers_csv(row("SKU-1"))).json()["import_id"]
    assert poll(client, import_id, 3)[-1]["reason_status"] == "Internal error"
    assert fake.offers() == {}


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"mode": "PARTIAL_UPDATE"}, "import_mode"),
    ({"name": "offers.xlsx"}, "Unsupported file format"),
])
def test_of01_checks_its_parts(fake: FakeMirakl, client: httpx.Client,
                               kwargs: dict[str, str], fragment: str) -> None:
    answer = of01(client, offers_csv(row("SKU-1")), **kwargs)
    assert answer.status_code == 400 and fragment in answer.json()["message"]
    no_file = client.post(IMPORTS, data={"import_mode": "NORMAL"}, headers=AUTH)
    assert no_file.status_code == 400
    assert fake.imports == []


# ---------------------------------------------------------------- pacing and faults


def test_imports_closer_than_the_minimum_interval_get_429() -> None:
    clock = Clock()
    with FakeMirakl(min_import_interval=60, clock=clock) as fake, \
            httpx.Client(base_url=fake.url) as client:
        data = offers_csv(row("SKU-1"))
        assert of01(client, data).status_code == 201
        too_soon = of01(client, data)
        assert (too_soon.status_code, too_soon.headers["Retry-After"]) == (429, "60")
        clock.now += 30.5
        assert of01(client, data).headers["Retry-After"] == "30"
        clock.now += 29.5
        assert of01(client, data).status_code == 201
        assert fake.calls("OF01") == 4 and len(fake.imports) == 2


def test_of02_and_of03_answer_once_a_minute() -> None:
    clock = Clock()
    with FakeMirakl(polls_to_complete=0, clock=clock) as fake, \
            httpx.Client(base_url=fake.url) as client:
        fake.reject_sku("SKU-1")
        import_id = of01(client, offers_csv(row("SKU-1"))).json()["import_id"]
        status, report = f"{IMPORTS}/{import_id}", f"{IMPORTS}/{import_id}/error_report"
        assert client.get(status, headers=AUTH).json()["status"] == "COMPLETE"
        assert client.get(report, headers=AUTH).status_code == 200   # its own minute
        too_soon = client.get(status, headers=AUTH)
        assert (too_soon.status_code, too_soon.headers["Retry-After"]) == (429, "60")
        assert client.get(report, headers=AUTH).status_code == 429
        clock.now += 59.5
        assert client.get(status, headers=AUTH).headers["Retry-After"] == "1"
        clock.now += 0.5
        assert client.get(status, headers=AUTH).status_code == 200
        assert client.get(report, headers=AUTH).status_code == 200
        assert [r.status for r in fake.requests if r.endpoint == "OF02"] == [200, 429, 429, 200]


def test_fail_next_answers_errors_then_recovers(fake: FakeMirakl, client: httpx.Client) -> None:
    fake.fail_next("OF01", 429, times=2, retry_after=5)
    fake.fail_next("OF02", 500)
    data = offers_csv(row("SKU-1"))
    throttled = [of01(client, data) for _ in range(2)]
    assert [(r.status_code, r.headers["Retry-After"]) for r in throttled] == [
        (429, "5"), (429, "5")]
    import_id = of01(client, data).json()["import_id"]
    assert client.get(f"{IMPORTS}/{import_id}", headers=AUTH).status_code == 500
    assert poll(client, import_id, 1)[0]["status"] == "WAITING"
    assert [(r.endpoint, r.status) for r in fake.requests] == [
        ("OF01", 429), ("OF01", 429), ("OF01", 201), ("OF02", 500), ("OF02", 200)]
    assert len(fake.imports) == 1


def test_unknown_import_is_404(client: httpx.Client) -> None:
    assert client.get(f"{IMPORTS}/999", headers=AUTH).status_code == 404
    assert client.get(f"{IMPORTS}/999/error_report", headers=AUTH).status_code == 404
    assert client.get("/api/offers", headers=AUTH).status_code == 404


def test_default_shop_and_add_offer() -> None:
    fake = FakeMirakl()
    fake.add_offer("SKU-1", price="10.50", quantity=3)
    offer = fake.offers(DEFAULT_SHOP_ID)["SKU-1"]
    assert (offer.price, offer.quantity, offer.product_id, offer.import_id) == (
        Decimal("10.50"), 3, "SKU-1", None)
