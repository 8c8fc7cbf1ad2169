"""The channels' rules as the build applies them (`validation.checker`): the same
violations, in the same order, as applying every rule one after the other."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.channels import all_channels
from feeds.core.validation import (
    Rule,
    Severity,
    Violation,
    checker,
    max_length,
    one_of,
    required,
)
from feeds.storage.report import Counts, ReportWriter, violation_json

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


GUARDS = st.just("") | st.sampled_from(FIELDS) | \
    st.tuples(st.sampled_from(FIELDS), st.sampled_from(["", "x", 1, None]))
RULES = st.lists(st.one_of(
    st.builds(required, st.sampled_from(FIELDS), st.sampled_from(list(Severity))),
    st.builds(max_length, st.sampled_from(FIELDS), st.integers(0, 8),
              st.sampled_from(list(Severity)), cut=st.booleans()),
    st.builds(one_of, st.sampled_from(FIELDS), st.sets(st.sampled_from(["", "x", "in_stock"]))),
    st.builds(Rule, st.just("odd"), st.sampled_from(FIELDS), st.just(Severity.WARNING),
              st.just(odd), GUARDS)), max_size=10)


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


GUARDED = [(c, r) for c in all_channels() for r in c.rules if r.when]
# The values the guards and the guarded tests look for, besides arbitrary ones.
TELLING = st.sampled_from(["preorder", "backorder", "in_stock", True, False, "x",
                           "02000000000000", "7306307617358"])


@pytest.mark.parametrize(("channel", "rule"), GUARDED,
                         ids=[f"{c.code}-{r.name}" for c, r in GUARDED])
@settings(max_examples=100, deadline=None, database=None)
@given(data=st.data())
def test_a_channel_s_guard_never_skips_an_item_its_test_faults(channel, rule, data):
    """`Rule.when` only saves calls: where it keeps a rule's test from running, the test
    would have passed the item."""
    key = rule.when if isinstance(rule.when, str) else rule.when[0]
    names = sorted({rule.field, key, "availability", "availability_date", "item_group_id",
                    "color", "size", "material", "pattern", "_identifier_note", "gtin",
                    "_title_trimmed", "_image_refused", "image_link"})
    item = data.draw(st.dictionaries(st.sampled_from(names), TELLING | VALUES))
    if not rule.applies(item):
        assert outcome(rule.test, item.get(rule.field), item) is None


def test_a_guard_of_a_key_or_of_a_value():
    rule = Rule("r", "a", Severity.ERROR, lambda v, _: "bad", when="flag")
    assert rule.apply("x", {"a": 1}) is None
    assert rule.apply("x", {"a": 1, "flag": 1}) is not None
    rule = Rule("r", "a", Severity.ERROR, lambda v, _: "bad", when=("kind", "preorder"))
    assert rule.apply("x", {"a": 1, "kind": "in_stock"}) is None
    assert rule.apply("x", {"a": 1, "kind": "preorder"}) is not None
    assert checker([rule])("x", {"kind": "preorder"})[0].message == "bad"
    assert checker([rule])("x", {"kind": "backorder"}) == []


# -------------------------------------------------------------- report lines


@given(st.sampled_from(list(Severity)), st.text(), st.text(), st.text(), st.text())
@settings(max_examples=300, deadline=None)
def test_a_report_line_is_the_json_module_s_text(severity: Severity, item_id: str,
                                                  field: str, rule: str,
                                                  message: str) -> None:
    """The report's own line writer places the same text as json.dumps (any characters,
    an empty rule named by its field)."""
    v = Violation(severity, item_id, field, message, rule)
    assert violation_json(v) == json.dumps(v.as_dict(), ensure_ascii=False)
    assert json.loads(violation_json(v)) == v.as_dict()


def test_a_report_line_of_a_value_that_is_no_text_goes_the_long_way() -> None:
    v = Violation(Severity.ERROR, 12, "id", "x", "r")  # type: ignore[arg-type]
    assert violation_json(v) == json.dumps(v.as_dict(), ensure_ascii=False)


def test_the_report_holds_every_violation_added_in_order(tmp_path: Any) -> None:
    target = tmp_path / "r.json"
    writer = ReportWriter(target)
    counts = Counts()
    batches = [[Violation(Severity.WARNING, f"a{n}", "brand", 'say "hi"\n', "brand_required")
                for n in range(3)], [],
               (Violation(Severity.ERROR, "b", "id", "é", "") for _ in range(2))]
    for batch in batches:
        writer.add(batch, counts)
    writer.finish({"feed": "f"}, counts)
    data = json.loads(target.read_text("utf-8"))
    assert [v["item_id"] for v in data["violations"]] == ["a0", "a1", "a2", "b", "b"]
    assert data["violations"][3] == {"severity": "error", "item_id": "b", "field": "id",
                                     "rule": "id", "message": "é"}
    assert counts.warnings == {"brand_required": 3} and counts.errors == {"": 2}
