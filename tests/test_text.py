from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.core.text import (
    _TAG,
    _XML_ILLEGAL,
    _drop_code,
    _tags,
    clean_text,
    html_to_text,
    strip_xml_illegal,
    truncate,
)


@pytest.mark.parametrize(("html", "text"), [
    ("<p> </p>\r\n<p> </p>", ""),
    ("<p>\u00a0</p>", ""),
    ("<p>Fish &amp; chips</p>", "Fish & chips"),
    ("a<br>b", "a\nb"),
    ("<p>one</p>\r\n<p>two</p>", "one\ntwo"),
    ("Intro<ul><li>one</li><li>two</li></ul>", "Intro\n- one\n- two"),
    ("<p>x</p><script>alert(1)</script><style>p{}</style>", "x"),
    ("&lt;b&gt; stays visible", "<b> stays visible"),
    ("bad\x0bchar\x1a", "bad char"),
    ("<!-- hidden -->shown", "shown"),
    (None, ""),
    ("<strong>Bold</strong>\r\n\r\ntext", "Bold text"),
    ("plain\r\ntext without tags", "plain\ntext without tags"),
    ("<p>a  \u00a0 b</p><p> </p><p>c</p>", "a b\nc"),
])
def test_html_to_text(html, text):
    assert html_to_text(html) == text


def test_strip_xml_illegal_keeps_astral_and_whitespace():
    assert strip_xml_illegal("a\tb\nc\rd\x00e\ufffef😀") == "a\tb\nc\rdef😀"


def test_clean_text_decodes_entities_after_stripping():
    assert clean_text("a &#11; b") == "a b"


def test_truncate_at_word_boundary():
    text = "word " * 40
    cut = truncate(text.strip(), 150)
    assert len(cut) <= 150
    assert cut.endswith("…")
    assert not cut[:-1].endswith(" ")
    assert truncate("short", 150) == "short"


@pytest.mark.parametrize(("raw", "text"), [
    ("<b>Sale</b> Shoe", "Sale Shoe"),
    ('Tärning "Deluxe" <20 mm> & co', 'Tärning "Deluxe" <20 mm> & co'),
    ("Fish &amp; chips", "Fish & chips"),
    ("a\u00a0 b\x0b", "a b"),
])
def test_clean_text_for_titles(raw, text):
    assert clean_text(raw) == text


@pytest.mark.parametrize(("html", "text"), [
    ("<script>x" * 3 + "y", "x x xy"),   # no closer: not code, so only the tags go
    ("</script>" + "<script>x" * 3, "x x x"),
    ("a<!-- c -->b<!-- open", "a b<!-- open"),
    ("<a " * 3 + "z", "<a <a <a z"),                            # no `>`: not a tag
    ("<b>x</b><a y", "x <a y"),
    ("<ul><li>one<li x", "- one<li x"),
])
def test_unclosed_markup_stays_text(html, text):
    """Openers without a closer after them are text (and cost one scan, not one per
    opener: a description of 80 kB of `<script>` once took 13 s; bench-free check)."""
    assert html_to_text(html) == text


# ---------------------------------------------------------------- the shortcut
# clean_text takes a shortcut for printable text without tags or entities (most titles
# and brands). The reference is its general path, step by step, as it was before the
# shortcut; the property holds the shortcut to it.

def _reference_clean_text(text: str) -> str:
    if not text:
        return ""
    if "<" in text:
        text = _tags(_TAG, " ", _drop_code(text))
    text = html.unescape(text) if "&" in text else text
    return " ".join(_XML_ILLEGAL.sub(" ", text).split())


# Markup's pieces, whitespace of every kind and characters XML forbids, in any order.
_PIECES = st.sampled_from(["<p>", "</p>", "<br>", "<b>", "</b >", "<a ", ">", "<", "&amp;",
                           "&", "&#11;", "&nbsp;", " ", "  ", "\n", "\r\n", "\t", "\u00a0",
                           "\x0b", "\x1a", "\ufffe", "-", "x", "Tröja", "😀", "<!--", "-->"])
_MARKUP = st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=24).map("".join)
# Printable text with runs of spaces: what the shortcut takes.
_PRINTABLE = st.text(alphabet=st.sampled_from(" aÖ-.😀\u00e9"), max_size=30)


@settings(max_examples=600, deadline=None)
@given(st.one_of(_MARKUP, _PRINTABLE, st.text()))
def test_clean_text_equals_its_general_path(text):
    assert clean_text(text) == _reference_clean_text(text)


def test_the_shortcut_is_taken_by_common_titles():
    """The property above compares something: these take the shortcut."""
    assert clean_text("  Tröja  Drake ") == "Tröja Drake"
    assert clean_text("Tärning 20 mm") == "Tärning 20 mm"
