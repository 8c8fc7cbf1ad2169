"""The channels' rules as the build applies them (`validation.checker`): the same
violations, in the same order, as applying every rule one after the other."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.channels import all_channels
from feeds.core.validation import Rule, Severity, Violation, checker, max_length, required

FIELDS = ["id", "title", "brand", "gtin", "price", "a.b", "availability", "image_link"]
VALUES = st.one_of(st.none(), st.just(""), st.text(max_size=12), st.integers(-1, 3),
                   st.lists(st.text(max_size=3), max_size=2))


def one_by_one(rules: list[Rule], item_id: str, item: dict[str, Any]) -> list[Violation]:
    return [v for r in rules if (v := r.apply(item_id, item)) is not None]


def outcome(check: Any, *args: Any) -> Any:
    """What `check` gives, or that it raised (a rule given a value its channel never maps,
    e.g. the length of a number: which rule raises first may differ)."""
    try:
        return check(*args)
    except Exception:
        return Exception


def odd(value: Any, _item: Any) -> str | None:
    return "odd" if isinstance(value, int) and value % 2 else None


RULES = st.lists(st.one_of(
    st.builds(required, st.sampled_from(FIELDS), st.sampled_from(list(Severity))),
    st.builds(max_length, st.sampled_from(FIELDS), st.integers(0, 8)),
    st.builds(Rule, st.just("odd"), st.sampled_from(FIELDS), st.just(Severity.WARNING),
              st.just(odd))), max_size=10)


@settings(max_examples=300, deadline=None, database=None)
@given(rules=RULES, item=st.dictionaries(st.sampled_from([*FIELDS, "a"]), VALUES, max_size=8),
       nested=st.dictionaries(st.just("b"), VALUES, max_size=1))
def test_the_checker_finds_what_each_rule_finds(rules, item, nested):
    if "a" in item:
        item["a"] = nested
    assert outcome(checker(rules), "x", item) == outcome(one_by_one, rules, "x", item)


@settings(max_examples=100, deadline=None, database=None)
@given(data=st.data())
def test_every_channels_rules(data):
    channel = data.draw(st.sampled_from(all_channels()))
    rules = list(channel.all_rules)
    fields = sorted({r.field for r in rules})
    item = data.draw(st.dictionaries(st.sampled_from(fields), VALUES, max_size=len(fields)))
    assert outcome(checker(rules), "x", item) == outcome(one_by_one, rules, "x", item)
