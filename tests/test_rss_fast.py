"""The hand-compiled RSS template (feeds/formats/rss_fast.py) writes what Jinja writes.

Byte for byte, for arbitrary items (hypothesis: every optional field present or
not, truthy or not, text with markup characters and any Unicode, lists and
label mappings of any length) and for the real feed metadata; the golden files
of the build tests prove it again on whole feeds. It applies only to the
built-in template: a shop's own template, or a changed built-in one, renders
through Jinja.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.channels.google import CHANNEL as GOOGLE
from feeds.errors import BuildError
from feeds.formats import handler, rss_fast
from feeds.formats.templates import make_env, templates_root

ENV = make_env()
TEMPLATES = ("feeds/google.xml", "feeds/meta.xml", "feeds/criteo.xml", "feeds/_rss.xml")


def jinja(items, meta, name="feeds/google.xml"):
    template = ENV.get_template(name)
    from feeds.formats.rss_xml import FeedItem
    return "".join(template.generate(feed=meta, items=map(FeedItem, items)))


def fast(items, meta):
    return rss_fast.head(meta) + rss_fast.render_items(items) + rss_fast.TAIL


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12) | \
    st.sampled_from(["", "a&b", "<b>", "x > y", "it's", 'say "hi"', "&amp;", "ÅÄÖ – ü", "0"])
# Mostly text, as the channels make them; sometimes what Jinja would print with str().
VALUE = TEXT | st.none() | st.integers(-5, 5) | st.booleans()
OPTIONAL = ("description", "availability_date", "sale_price", "sale_price_effective_date",
            *rss_fast._OPTIONAL)
NAME = st.sampled_from(["custom_label_0", "custom_label_4", "shipping", "a&b", "ü"])

ITEM = st.fixed_dictionaries({
    "id": TEXT, "title": TEXT, "link": TEXT, "image_link": TEXT, "availability": TEXT,
    "price": TEXT, "condition": TEXT,
    "additional_image_links": st.lists(TEXT, max_size=3),
    "custom_labels": st.dictionaries(NAME, VALUE, max_size=3),
    "extra": st.dictionaries(NAME, VALUE, max_size=3),
    **{name: VALUE for name in OPTIONAL},
})
META_EXAMPLE = {"title": "Shop & co", "link": "https://shop.example", "description": "<all>"}
META = st.fixed_dictionaries({"title": TEXT, "link": TEXT, "description": TEXT})


@settings(max_examples=300, deadline=None)
@given(items=st.lists(ITEM, max_size=4), meta=META)
def test_the_fast_path_writes_what_jinja_writes(items, meta):
    assert fast(items, meta) == jinja(items, meta)


@pytest.mark.parametrize("value", ["", "plain", "&<>'\"", "a&&b<<", "&amp;", "\u00e5\u2013"])
def test_escape_is_markupsafe_escape(value):
    import markupsafe

    assert rss_fast.escape(value) == str(markupsafe.escape(value))
    assert rss_fast._escape_text(value) == str(markupsafe.escape(value))


def test_the_built_in_templates_take_the_fast_path():
    """Fails when templates/feeds/_rss.xml changes: update rss_fast to the new template
    (the property test above then proves it) and its TEMPLATE_SHA256."""
    source = (templates_root() / rss_fast.BASE_TEMPLATE).read_bytes()
    assert hashlib.sha256(source).hexdigest() == rss_fast.TEMPLATE_SHA256
    for name in TEMPLATES:
        assert rss_fast.renders_builtin(ENV, name), name
    assert handler(GOOGLE.format, ENV).pieces(META_EXAMPLE) is not None


def test_a_shops_own_template_renders_with_jinja(tmp_path: Path):
    own = tmp_path / "feeds"
    own.mkdir()
    (own / "google.xml").write_text('{% extends "feeds/_rss.xml" %}{% block x %}{% endblock %}'
                                    "<!-- mine -->", encoding="utf-8")
    env = make_env(tmp_path)
    assert not rss_fast.renders_builtin(env, "feeds/google.xml")
    assert handler(GOOGLE.format, env).pieces(META_EXAMPLE) is None
    assert rss_fast.renders_builtin(env, "feeds/meta.xml")  # not overridden


def test_an_overridden_base_template_renders_with_jinja(tmp_path: Path):
    (tmp_path / "feeds").mkdir()
    base = (templates_root() / rss_fast.BASE_TEMPLATE).read_text(encoding="utf-8")
    (tmp_path / rss_fast.BASE_TEMPLATE).write_text(base.replace("<g:condition>", "<g:cond>"),
                                                   encoding="utf-8")
    env = make_env(tmp_path)
    assert not any(rss_fast.renders_builtin(env, name) for name in TEMPLATES)
    (tmp_path / rss_fast.BASE_TEMPLATE).write_text(base, encoding="utf-8")  # an exact copy
    assert rss_fast.renders_builtin(make_env(tmp_path), "feeds/google.xml")


def test_an_item_without_a_field_is_a_build_error():
    with pytest.raises(BuildError, match="no field 'price'"):
        rss_fast.render_items([{"id": "1", "title": "t", "description": "", "link": "l",
                                "image_link": "", "additional_image_links": [],
                                "availability": "in_stock", "availability_date": ""}])
