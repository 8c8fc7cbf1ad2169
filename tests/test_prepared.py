"""Products derived at sync and loaded by the build (`feeds.vendre.prepared`).

What must hold: a stored form loads back as exactly the product `parse_product`
derives from the stored JSON, at whatever time the build runs; a build that uses
the forms writes the same bytes as one that derives every product from its JSON;
a form made under other settings, categories or parser code is never used.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.core.ids import IdField
from feeds.core.model import Category
from feeds.errors import StoreError
from feeds.pipeline.plan import feed_specs, shared_inputs
from feeds.pipeline.run import build_feeds, pass_job
from feeds.storage.layout import Layout
from feeds.storage.store import Store, _dumps, decode
from feeds.vendre import prepared
from feeds.vendre.parse import derive_window, not_sellable_because, parse_product
from feeds.vendre.prepared import Preparer, context_key, load, micros_now, product
from tests.conftest import NOW
from tests.feedkit import demo_cfg, fill
from tests.test_parse_total import ANY_JSON, FIELDS, FUZZ, FUZZ_EACH, HANDMADE, ctx, with_field

WHEN = st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2200, 1, 1),
                    timezones=st.just(UTC))
# Out of stock with a release date (to come, or passed days ago), a backorder, a sale
# with a window (long, or around the sync's time): each reads the clock.
DAY = 86_400
TIMED = [{"quantity": 0, "date_available": "2099-01-01"},
         {"quantity": 0, "date_available": int(NOW.timestamp()) - 5 * DAY},
         {"quantity": 0, "stock_allow_checkout": True},
         {"price_special": 300, "price_special_date_range": {"from": 1, "to": 4102444800}},
         {"price_special": 300, "price_special_date_range": {
             "from": int(NOW.timestamp()) - 10 * DAY, "to": int(NOW.timestamp()) + 10 * DAY}}]


def stored(raw: Any) -> Any:
    """`raw` as a build reads it back from the store."""
    return decode(_dumps(raw)) if isinstance(raw, dict) else raw


def assert_prepared_right(raw: Any, parent: Any = None, *, contexts: Any = None,
                          when: datetime = NOW) -> int:
    """Every form of `raw` equals parse_product at the sync's time and, when `when` is
    within the form's validity, at `when`; gives the mask."""
    raw, parent = stored(raw), stored(parent)
    contexts = contexts or [ctx(), ctx(language="en", id_field=IdField.ARTICLE_NUMBER)]
    preparer = Preparer(contexts)
    form, mask, since, until = preparer.prepare(raw, parent)
    found = load(form)
    assert found[0] == not_sellable_because(raw, parent)
    if found[0]:
        assert len(found) == 1 and mask == (1 << len(preparer.keys)) - 1
        return mask
    moments = [NOW]
    if valid(since, until, when):
        moments.append(when)
    if mask:
        assert valid(since, until, NOW)  # the sync's own time is within
    for n, context in enumerate(contexts):
        entry = found[1 + n]
        assert (entry is not None) == bool(mask & 1 << n)
        if entry is not None:
            for moment in moments:
                later = dataclasses.replace(context, now=moment)
                loaded, derived = product(entry), parse_product(raw, later, parent)
                assert loaded == derived, moment
                assert times(loaded) == times(derived)  # the same offsets, too
            assert product(entry) == product(entry)  # the entry is not used up
    return mask


def times(found: Any) -> list[str]:
    return [m.isoformat() if m else "" for m in
            (found.availability_date, found.sale_start, found.sale_end)]


def valid(since: int | None, until: int | None, when: datetime) -> bool:
    now = micros_now(when)
    return (since is None or since <= now) and (until is None or now < until)


# ---------------------------------------------------------------- forms


def test_an_ordinary_product_is_prepared_for_every_target():
    assert assert_prepared_right(HANDMADE) == 0b11


@pytest.mark.parametrize("change", TIMED)
def test_a_product_that_reads_the_clock_is_kept_for_as_long_as_it_stays_the_same(change):
    raw = stored(HANDMADE | change)
    found = derive_window(raw, ctx())
    assert found is not None and found[1] != (None, None)
    since, until = found[1]
    assert (since is None or since <= NOW) and (until is None or NOW < until)
    assert assert_prepared_right(raw) == 0b11
    # Just inside and just outside the stretch: the same product, then another one.
    inside = [m for m in (since, until and until - timedelta(microseconds=1)) if m]
    for moment in inside:
        assert parse_product(raw, ctx(now=moment)) == found[0]
    outside = [m for m in (since and since - timedelta(microseconds=1), until) if m]
    assert outside and all(parse_product(raw, ctx(now=m)) != found[0] for m in outside)


@FUZZ
@given(change=st.sampled_from(TIMED), when=WHEN, days=st.integers(-400, 400),
       seconds=st.integers(0, 86_400))
def test_a_timed_form_is_right_wherever_it_is_valid(change, when, days, seconds):
    assert_prepared_right(HANDMADE | change, when=when)
    # Near the sync's time too, where the stretches end (a day, a date a year ahead).
    near = NOW + timedelta(days=days, seconds=seconds)
    assert_prepared_right(HANDMADE | change, when=near)


def test_not_for_sale_is_one_reason_for_every_target():
    raw = HANDMADE | {"show": False}
    form, mask, since, until = Preparer([ctx(), ctx(language="en")]).prepare(stored(raw))
    assert load(form) == ["hidden (show false)"] and mask == 0b11
    assert since is None and until is None


def test_the_real_products_are_prepared(real_products):
    masks = [assert_prepared_right(p) for p in real_products]
    assert masks.count(0b11) >= len(real_products) - 3


@pytest.mark.parametrize("key", FIELDS)
@FUZZ_EACH
@given(value=ANY_JSON, when=WHEN)
def test_any_value_in_any_field(key, value, when):
    assert_prepared_right(with_field(HANDMADE, key, value), when=when)
    assert_prepared_right(with_field(HANDMADE | TIMED[0], key, value), when=when)
    assert_prepared_right(with_field(HANDMADE | TIMED[4], key, value), when=when)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(FIELDS), ANY_JSON, min_size=2, max_size=8),
       parent_changes=st.dictionaries(st.sampled_from(FIELDS), ANY_JSON, max_size=4),
       when=WHEN)
def test_a_variant_and_its_parent(changes, parent_changes, when):
    parent = {**copy.deepcopy(HANDMADE), "id": 20000, "is_parent": True, **parent_changes}
    child = {**copy.deepcopy(HANDMADE), "parent": 20000, "name": {"sv": ""}, "images": [],
             **changes}
    assert_prepared_right(child, parent, when=when)


@FUZZ
@given(raw=ANY_JSON)
def test_a_product_that_is_not_an_object(raw):
    assert_prepared_right(raw)


def test_a_value_json_cannot_carry_is_left_to_the_build():
    raw = HANDMADE | {"is_parent": True, "variants": {"a": 2**70}}  # kept in raw_variant
    raw["show"] = True
    assert not_sellable_because(raw)  # a parent: one reason, nothing derived
    child = HANDMADE | {"parent": 20000, "variants": {"a": 2**70}}
    form, mask, _, _ = Preparer([ctx()]).prepare(child, {"id": 20000, "status": True,
                                                         "show": True})
    assert mask == 0 and load(form) == ["", None]
    nan = HANDMADE | {"parent": 20000, "variants": {"a": float("nan")}}
    assert Preparer([ctx()]).prepare(nan, None)[1] == 0  # stored as null: not equal


# ---------------------------------------------------------------- keys


def test_every_setting_but_the_clock_changes_the_key():
    base = ctx()
    assert context_key(base) == context_key(dataclasses.replace(base, now=NOW + timedelta(9)))
    for change in ({"language": "en"}, {"base_url": "https://other.se"},
                   {"id_field": IdField.ARTICLE_NUMBER}, {"default_brand": "X"},
                   {"backorder_days": 3}, {"variant_axes": {"färg": "color"}},
                   {"pricing": dataclasses.replace(base.pricing, tax_classes={2: Decimal(24)})},
                   {"categories": {1: Category(1, None, {"sv": "A"}, {}, None)}}):
        assert context_key(dataclasses.replace(base, **change)) != context_key(base), change


def test_a_change_to_the_parser_changes_every_key(monkeypatch):
    before = context_key(ctx())
    prepared.parser_version.cache_clear()
    real = prepared.importlib.util.find_spec

    def edited(name: str) -> Any:
        spec = real(name)
        if name == "feeds.vendre.parse":
            loader = copy.copy(spec.loader)
            source = loader.get_source(name)
            loader.get_source = lambda _name: source + "\n# edited\n"
            spec = copy.copy(spec)
            spec.loader = loader
        return spec

    monkeypatch.setattr(prepared.importlib.util, "find_spec", edited)
    try:
        assert context_key(ctx()) != before
    finally:
        prepared.parser_version.cache_clear()
    monkeypatch.undo()
    assert context_key(ctx()) == before


# ---------------------------------------------------------------- the store and the build


def feeds_of(cfg: Any) -> dict[str, bytes]:
    folder = cfg.data_dir / "feeds"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def without_forms(cfg: Any) -> None:
    with sqlite3.connect(Store.in_dir(cfg.data_dir).path) as conn:
        conn.execute("DELETE FROM prepared_keys")


def test_a_build_from_forms_writes_the_same_bytes(tmp_path):
    cfg = demo_cfg(tmp_path)
    store = fill(cfg, NOW)
    job = pass_job(cfg, feed_specs(cfg), store, shared_inputs(cfg, store, NOW))
    assert len(job.prepared) == len(job.derive) == 4
    rows = list(store.iter_prepared_rows(job.prepared_keys, sum(1 << n for n in job.prepared),
                                         micros_now(NOW)))
    assert len(rows) == store.counts()["products"]
    assert all(row[0] is not None for row in rows)  # each valid at the sync's time
    later = list(store.iter_prepared_rows(job.prepared_keys, sum(1 << n for n in job.prepared),
                                          micros_now(NOW + timedelta(days=40))))
    assert 0 < sum(row[0] is None for row in later) < len(rows) // 4  # those that changed
    later = NOW + timedelta(days=40)  # past some of the demo's release and sale dates
    built = [r.published for r in build_feeds(cfg, now=later, force=True)]
    from_forms = feeds_of(cfg)
    reports = {p.name: p.read_bytes() for p in Layout(cfg.data_dir).reports.iterdir()}
    without_forms(cfg)
    assert pass_job(cfg, feed_specs(cfg), store, shared_inputs(cfg, store, NOW)).prepared == ()
    assert [r.published for r in build_feeds(cfg, now=later, force=True)] == built
    assert all(built) and feeds_of(cfg) == from_forms
    assert {p.name: p.read_bytes() for p in Layout(cfg.data_dir).reports.iterdir()} == reports


def test_the_real_products_build_the_same_bytes(tmp_path, real_products):
    cfg = demo_cfg(tmp_path, shop={"base_url": "https://dragonslair.se"})
    fill(cfg, NOW, products=real_products, categories=[], orders=[])
    build_feeds(cfg, now=NOW, force=True)
    from_forms = feeds_of(cfg)
    without_forms(cfg)
    build_feeds(cfg, now=NOW, force=True)
    assert feeds_of(cfg) == from_forms


def test_forms_made_under_other_settings_are_not_used(tmp_path):
    cfg = demo_cfg(tmp_path)
    store = fill(cfg, NOW)
    other = demo_cfg(tmp_path, shop={"default_brand": "Another brand"})
    assert pass_job(other, feed_specs(other), store,
                     shared_inputs(other, store, NOW)).prepared == ()
    build_feeds(other, now=NOW, force=True)
    from_json = feeds_of(other)
    shutil.rmtree(tmp_path / "data")
    fill(other, NOW)  # a sync under the new settings prepares for them
    build_feeds(other, now=NOW, force=True)
    assert feeds_of(other) == from_json


def test_variants_are_prepared_with_the_parent_that_stays(tmp_path):
    cfg = demo_cfg(tmp_path)
    parent = {**copy.deepcopy(HANDMADE), "id": 30000, "is_parent": True,
              "name": {"sv": "Första"}}
    child = {**copy.deepcopy(HANDMADE), "id": 30001, "parent": 30000, "name": {"sv": ""},
             "article_number": "C-1"}
    later_parent = parent | {"name": {"sv": "Andra"}}
    # The child comes first, its parent twice (the second copy replaces the first), and
    # an ordinary product is sent twice too.
    products = [child, HANDMADE | {"name": {"sv": "Gammal"}}, parent,
                *[HANDMADE | {"id": 20000 + n, "article_number": f"X-{n}"} for n in range(9)],
                later_parent, HANDMADE | {"name": {"sv": "Ny"}}]
    store = fill(cfg, NOW, products=products, categories=[], orders=[])
    keys = store.prepared_keys()
    assert keys
    rows = {decode(raw)["id"]: decode(raw) for raw, _ in store.iter_product_rows()}
    forms = list(store.iter_prepared_rows(keys, (1 << len(keys)) - 1, micros_now(NOW)))
    assert len(forms) == len(rows)
    by_id = dict(zip(sorted(rows), forms, strict=True))
    inputs = shared_inputs(cfg, store, NOW)
    job = pass_job(cfg, feed_specs(cfg), store, inputs)
    for vendre_id, (form, _, _) in by_id.items():
        assert form is not None
        parent_raw = rows.get(rows[vendre_id].get("parent"))
        found = load(form)
        for n, context in zip(job.prepared, job.derive, strict=True):
            derived = parse_product(rows[vendre_id], context, parent_raw)
            assert (found[0] or product(found[1 + n])) == \
                (derived.not_sellable_because or derived)
    assert product(load(by_id[30001][0])[1 + job.prepared[0]]).title.startswith("Andra")
    assert product(load(by_id[20001][0])[1 + job.prepared[0]]).title == "Ny"


def test_forms_filed_under_other_keys_since_the_plan_are_not_used(tmp_path):
    # A sync between the build's plan and its pass files the forms under other keys:
    # the bits the plan chose would name other derivations, so the pass reads the JSON.
    cfg = demo_cfg(tmp_path)
    store = fill(cfg, NOW)
    job = pass_job(cfg, feed_specs(cfg), store, shared_inputs(cfg, store, NOW))
    need = sum(1 << n for n in job.prepared)
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE prepared_keys SET key = key || '-other' WHERE n = 0")
    rows = list(store.iter_prepared_rows(job.prepared_keys, need, micros_now(NOW)))
    assert len(rows) == store.counts()["products"]
    assert all(form is None and raw is not None for form, raw, _ in rows)


def test_a_store_with_a_form_missing_is_read_from_the_json(tmp_path):
    cfg = demo_cfg(tmp_path)
    store = fill(cfg, NOW)
    with sqlite3.connect(store.path) as conn:
        conn.execute("DELETE FROM prepared WHERE id = (SELECT min(id) FROM prepared)")
    assert store.prepared_keys() == ()


def count_prepared(monkeypatch: Any) -> list[int]:
    """The ids of the products prepared from now on, in order."""
    prepared: list[int] = []
    real = Preparer.prepare

    def counted(self: Preparer, raw: Any, parent: Any = None) -> Any:
        prepared.append(raw["id"])
        return real(self, raw, parent)

    monkeypatch.setattr(Preparer, "prepare", counted)
    return prepared


def test_a_second_sync_keeps_the_forms_of_what_did_not_change(tmp_path, monkeypatch):
    cfg = demo_cfg(tmp_path)
    parent = {**copy.deepcopy(HANDMADE), "id": 30000, "is_parent": True}
    children = [{**copy.deepcopy(HANDMADE), "id": 30000 + n, "parent": 30000,
                 "article_number": f"C-{n}", "name": {"sv": ""}} for n in (1, 2)]
    plain = [HANDMADE | {"id": 20000 + n, "article_number": f"X-{n}"} for n in range(6)]
    store = fill(cfg, NOW, products=[*plain, parent, *children], categories=[], orders=[])
    keys = store.prepared_keys()
    first = list(store.iter_prepared_rows(keys, 1, micros_now(NOW)))
    prepared = count_prepared(monkeypatch)
    fill(cfg, NOW, products=[*plain[:5], plain[5] | {"price": 55},
                             parent | {"name": {"sv": "Ny förälder"}}, *children],
         categories=[], orders=[])
    assert sorted(prepared) == [20005, 30000, 30001, 30002]  # changed, and the variants
    assert store.prepared_keys() == keys
    again = list(store.iter_prepared_rows(keys, 1, micros_now(NOW)))
    assert [again[n] for n in range(5)] == [first[n] for n in range(5)]
    assert again[5] != first[5] and again[7] != first[7]
    prepared.clear()
    fill(cfg, NOW, products=[*plain, parent, *children], categories=[{"id": 1, "name": {}}],
         orders=[])  # other categories: other keys, every form made again
    assert sorted(prepared) == sorted(p["id"] for p in [*plain, parent, *children])
    build_feeds(cfg, now=NOW, force=True)
    from_forms = feeds_of(cfg)
    without_forms(cfg)
    build_feeds(cfg, now=NOW, force=True)
    assert feeds_of(cfg) == from_forms


def forms_of(store: Store) -> list[Any]:
    keys = store.prepared_keys()
    assert keys  # a form for every product
    return list(store.iter_prepared_rows(keys, (1 << len(keys)) - 1, micros_now(NOW)))


def test_forms_kept_in_place_equal_those_of_a_sync_from_scratch(tmp_path):
    # The second sync brings the live forms up to date in place: a product gone, one
    # changed, one new, a plain product turned variant, a variant whose parent changed,
    # one sent twice (its last copy counts) must end as a first sync would make them.
    cfg = demo_cfg(tmp_path)
    parent = {**copy.deepcopy(HANDMADE), "id": 30000, "is_parent": True}
    children = [{**copy.deepcopy(HANDMADE), "id": 30000 + n, "parent": 30000,
                 "article_number": f"C-{n}", "name": {"sv": ""}} for n in (1, 2)]
    plain = [HANDMADE | {"id": 20000 + n, "article_number": f"X-{n}"} for n in range(8)]
    fill(cfg, NOW, products=[*plain, parent, *children], categories=[], orders=[])
    second = [plain[1] | {"price": 55}, *plain[2:6], plain[6] | {"parent": 30000},
              plain[7] | {"price": 77}, plain[7],
              HANDMADE | {"id": 20100, "article_number": "NEW"},
              parent | {"name": {"sv": "Ny förälder"}}, *children,
              plain[5] | {"price": 99}]  # kept on the first page, changed on the last
    store = fill(cfg, NOW, products=second, categories=[], orders=[])
    fresh = demo_cfg(tmp_path / "fresh")
    assert forms_of(store) == forms_of(fill(fresh, NOW, products=second, categories=[],
                                            orders=[]))
    with sqlite3.connect(store.path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    assert not {t for t in tables if t.startswith("new_")}


def test_a_sync_that_fails_at_commit_leaves_the_forms_as_they_were(tmp_path, monkeypatch):
    cfg = demo_cfg(tmp_path)
    plain = [HANDMADE | {"id": 20000 + n, "article_number": f"X-{n}"} for n in range(4)]
    store = fill(cfg, NOW, products=plain, categories=[], orders=[])
    before = forms_of(store)

    record = Store._insert_record
    calls: list[bool] = []

    def fail_once(conn, r):  # the commit's record fails; recording the failure works
        calls.append(r.ok)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        record(conn, r)

    monkeypatch.setattr(Store, "_insert_record", staticmethod(fail_once))
    with pytest.raises(StoreError, match="disk I/O error"):
        fill(cfg, NOW, products=[plain[0] | {"price": 1}, plain[1]], categories=[], orders=[])
    monkeypatch.undo()
    assert calls == [True, False]  # the in-place update had run when the commit failed
    assert forms_of(store) == before and store.counts()["products"] == 4
    assert not store.syncs(limit=1)[0].ok


def test_a_later_sync_makes_again_the_forms_whose_time_has_passed(tmp_path, monkeypatch):
    # A backorder's estimated date moves on every day and a sale ends: kept as they were,
    # their forms would no longer be valid at any build after them, and every build would
    # derive those products from the JSON.
    cfg = demo_cfg(tmp_path)
    plain = [HANDMADE | {"id": 20000 + n, "article_number": f"X-{n}"} for n in range(4)]
    timed = [HANDMADE | change | {"id": 21000 + n, "article_number": f"T-{n}"}
             for n, change in enumerate((TIMED[2], TIMED[4]))]
    parent = {**copy.deepcopy(HANDMADE), "id": 30000, "is_parent": True}
    timed += [parent, {**copy.deepcopy(HANDMADE), **TIMED[2], "id": 30001, "parent": 30000,
                       "article_number": "C-1", "name": {"sv": ""}}]
    store = fill(cfg, NOW, products=[*plain, *timed], categories=[], orders=[])
    keys = store.prepared_keys()
    later = NOW + timedelta(days=40)
    stale = list(store.iter_prepared_rows(keys, 1, micros_now(later)))
    assert [form is None for form, _, _ in stale] == [False] * 4 + [True] * 2 + [False, True]
    prepared_ids = count_prepared(monkeypatch)
    fill(cfg, later, products=[*plain, *timed], categories=[], orders=[])
    assert sorted(prepared_ids) == [21000, 21001, 30001]
    assert store.prepared_keys() == keys
    assert all(form is not None for form, _, _ in
               store.iter_prepared_rows(keys, 1, micros_now(later)))
