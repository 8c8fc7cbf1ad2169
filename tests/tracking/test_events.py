"""Event dataclasses: what they accept, what they refuse, and the goods' value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.tracking import support as s
from tracking.events import EVENT_TYPES, AddToCart, EventItem, Purchase, ViewItem, ViewItemList


def test_event_names_are_the_cli_names() -> None:
    assert list(EVENT_TYPES) == ["view_item", "view_item_list", "add_to_cart", "view_cart",
                                 "begin_checkout", "purchase", "page_view", "view_home"]
    assert all(cls.name == name for name, cls in EVENT_TYPES.items())


@pytest.mark.parametrize(("change", "error"), [
    ({"price": 549.0}, TypeError),
    ({"net_price": Decimal("NaN")}, TypeError),
    ({"currency": "sek"}, ValueError),
    ({"quantity": 0}, ValueError),
    ({"quantity": True}, ValueError),
    ({"id": ""}, ValueError),
])
def test_item_refuses_what_would_be_wrong(change: dict, error: type) -> None:
    with pytest.raises(error):
        s.item(**change)


def test_item_keeps_categories_as_a_tuple() -> None:
    assert s.item(categories=["A", "B"]).categories == ("A", "B")


def test_item_events_need_items_of_one_currency() -> None:
    with pytest.raises(ValueError, match="at least one item"):
        AddToCart(())
    with pytest.raises(ValueError, match="one currency"):
        ViewItemList((s.item(), s.mat(currency="NOK")))
    assert isinstance(AddToCart([s.item()]).items, tuple)


@pytest.mark.parametrize("transaction_id", ["", "   "])
def test_purchase_refuses_an_empty_transaction_id(transaction_id: str) -> None:
    with pytest.raises(ValueError, match="Purchase.transaction_id: must not be empty"):
        Purchase(transaction_id, (s.item(),), "SEK", Decimal("549.00"), Decimal(0), Decimal(0))


def test_purchase_refuses_float_money_and_a_foreign_currency() -> None:
    with pytest.raises(TypeError, match="Purchase.tax"):
        Purchase("1", (s.item(),), "SEK", Decimal("549.00"), 109.8, Decimal(0))
    with pytest.raises(ValueError, match="Purchase.currency"):
        Purchase("1", (s.item(),), "EUR", Decimal("549.00"), Decimal(0), Decimal(0))


def test_goods_value_with_and_without_vat() -> None:
    assert ViewItem(s.item(quantity=3)).goods_value(True) == Decimal("1647.00")
    assert AddToCart((s.item(), s.mat())).goods_value(False) == Decimal("598.40")
    order = s.events()["purchase"]
    assert order.goods_value(True) == Decimal("1297.00")
    assert order.goods_value(False) == Decimal("1037.60")


def test_purchase_net_value_follows_an_order_discount() -> None:
    # 10 % off the goods: the net value is scaled the same way.
    lines = (s.item(quantity=2), s.mat())
    order = Purchase("1", lines, "SEK", Decimal("1167.30"), Decimal("233.46"), Decimal(0))
    assert order.goods_value(False) == Decimal("933.84")


def test_events_are_frozen() -> None:
    with pytest.raises(AttributeError):
        s.item().price = Decimal(1)  # type: ignore[misc]
    assert isinstance(hash(EventItem("1", "x", Decimal(1), Decimal(1), "SEK")), int)
