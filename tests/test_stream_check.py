"""The parse-back check fed as the bytes are written (`rss_xml.StreamChecker`).

It must never accept what the full check (`FeedChecker`, a tree per item) refuses,
nor count other ids: wherever it gives a verdict, that verdict is the full
check's; where it is not sure it says so (None) and the build reads the file back.
And it must be sure of what the built-in renderer writes, or it saves nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.core.outputs import GOOGLE_NS
from feeds.errors import FeedInvalid
from feeds.formats import rss_xml
from feeds.formats.rss_xml import FeedChecker, StreamChecker
from tests.goldens import GOLDEN

OPTIONS = {"item_tag": "item", "id_tag": f"{{{GOOGLE_NS}}}id", "namespaces": {"g": GOOGLE_NS}}
HEAD = (b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        b'xmlns:g="http://base.google.com/ns/1.0">\n<channel>\n<title>T</title>\n')
TAIL = b"</channel>\n</rss>\n"


def item(item_id: bytes, rest: bytes = b"<title>A &amp; B</title>\n") -> bytes:
    return b"<item>\n<g:id>" + item_id + b"</g:id>\n" + rest + b"</item>\n"


ITEMS = [item(b"1"), item(b"2"), item(b"SKU-3", b"<g:price>9.00 SEK</g:price>\n"),
         item(b"A&amp;B"), item(b"4")]
# What a template could get wrong, or write in a form the pattern must not misread.
SNIPPETS = [
    b"<!-- <item><g:id>x</g:id></item> -->", b"<![CDATA[<item><g:id>y</g:id></item>]]>",
    b"<?pi <item><g:id>z</g:id></item>?>", b"<item><g:id>n</g:id></item>",
    b"<![CDATA[</item><item><g:id>c</g:id>]]>", b"<!--</item><item><g:id>m</g:id>-->",
    b"<?pi </item><item><g:id>p</g:id>?>",
    b"<item>", b"</item>", b"<item/>", b"<item a='1'>", b"<items>", b"<item >",
    b"<g:id>extra</g:id>", b"<g:id></g:id>", b"<g:id> </g:id>", b"<g:id/>",
    b'<x xmlns:g="urn:other">', b"</x>", b'<item xmlns:g="urn:other">', b'xmlns="urn:d"',
    b"<g:id>&#65;</g:id>", b"<g:id>&#x26;</g:id>", b"<g:id>a\r\nb</g:id>", b"&nbsp;",
    b"<g:id>&lt;5&gt;</g:id>", b"text", b" ", b"\n", b"<", b">", b"&", b"<!DOCTYPE rss>",
    b"<h:id xmlns:h='http://base.google.com/ns/1.0'>h</h:id>", b"</g:id>", b"<title>t",
    # Namespace errors: libxml2 reads them as well-formed unless it builds names.
    b"<h:x>t</h:x>", b"<atom:link href='x'/>", b"<x h:a='1'/>", b"<g:a:b/>", b" h:a='1'",
    b"<x g:a='1'/>", b"<x xml:lang='sv'/>", b"<g:>", b"<:x/>", b"<g:1x/>",
]


def verdict(checker_class: type, chunks: list[bytes]) -> object:
    checker = checker_class("feed.xml", **OPTIONS)
    try:
        for chunk in chunks:
            checker.feed(chunk)
        return checker.close()
    except FeedInvalid:
        return FeedInvalid


def assert_agrees(document: bytes, cuts: list[int]) -> object:
    points = sorted({min(c, len(document)) for c in cuts})
    chunks = [document[a:b] for a, b in zip([0, *points], [*points, len(document)],
                                            strict=True)]
    fast = verdict(StreamChecker, chunks)
    if fast is not None:
        assert fast == verdict(FeedChecker, chunks), document
    return fast


def test_the_plain_document_is_decided():
    document = HEAD + b"".join(ITEMS) + TAIL
    parsed = assert_agrees(document, [len(HEAD), 100, 200])
    assert parsed is not None and parsed.items == 5


def doc(*items: bytes, head: bytes = HEAD, tail: bytes = TAIL) -> bytes:
    return head + b"".join(items) + tail


OTHER_G = HEAD.replace(b"<channel>", b'<channel xmlns:g="urn:other">')
TWO_PREFIXES = HEAD.replace(b"<rss ", b'<rss xmlns:h="http://base.google.com/ns/1.0" ')
LATIN = HEAD.replace(b"UTF-8", b"ISO-8859-1")
ATOM = HEAD.replace(b"<rss ", b'<rss xmlns:atom="http://www.w3.org/2005/Atom" ') + (
    b'<atom:link href="https://shop.example/feed.xml" rel="self" type="application/rss+xml"/>\n')
TRICKY = {
    "CDATA hides an item's end": doc(item(b"1", b"<![CDATA[</item><item><g:id>2</g:id>]]>")),
    "a comment hides an item's end": doc(item(b"1", b"<!--</item><item><g:id>2</g:id>-->")),
    "a PI hides an item's end": doc(item(b"1", b"<?x </item><item><g:id>2</g:id>?>")),
    "a comment between items": doc(item(b"1"), b"<!--<item><g:id>2</g:id></item>-->"),
    "g rebound before the items": doc(item(b"1"), head=OTHER_G),
    "g rebound on an item": doc(b'<item xmlns:g="urn:o"><g:id>1</g:id></item>'),
    "g rebound inside an item": doc(item(b"1", b'<x xmlns:g="urn:o"><g:id>2</g:id></x>')),
    "g rebound around later items": doc(item(b"1"), tail=b'</channel>\n<channel xmlns:g="u">'
                                        + item(b"2") + b"</channel>\n</rss>\n"),
    "a default namespace on the root": doc(item(b"1"),
                                           head=HEAD.replace(b"<rss ", b'<rss xmlns="u" ')),
    "a default namespace": doc(item(b"1"), head=HEAD.replace(b"<channel>",
                                                              b'<channel xmlns="urn:d">')),
    "nested items": doc(b"<item><g:id>1</g:id>" + item(b"2") + b"</item>"),
    "an item with an attribute": doc(b'<item a="1"><g:id>1</g:id></item>'),
    "the id not first": doc(b"<item><title>t</title><g:id>1</g:id></item>"),
    "two ids": doc(item(b"1", b"<g:id>2</g:id>")),
    "a character reference": doc(item(b"&#65;&#x42;")),
    "a predefined entity": doc(item(b"&lt;A&amp;B&gt;&quot;&apos;")),
    "a CR in an id": doc(item(b"a\r\nb")),
    "an empty id": doc(item(b" ")),
    "an id element without text": doc(b"<item><g:id/></item>"),
    "another prefix for Google's namespace": doc(item(b"1"),
                                                 b"<item><h:id>2</h:id></item>",
                                                 head=TWO_PREFIXES),
    "another encoding": doc(item("å".encode("latin-1")), head=LATIN),
    "no namespace": doc(item(b"1"), head=HEAD.replace(b" xmlns:g=", b" xmlns:x=")),
    "an item outside the channel": doc(item(b"1"), tail=b"</channel>\n" + item(b"2")
                                       + b"</rss>\n"),
    "not well-formed": doc(item(b"1"), b"<item>"),
    # The root's declarations are read from its start tag alone (`_root_declarations`).
    "a '>' in a root attribute": doc(item(b"1"), head=HEAD.replace(b"<rss ", b'<rss a=">" ')),
    "a '>' in a root attribute, then g": doc(item(b"1"), head=HEAD.replace(
        b"<rss ", b'<rss a="x>" ').replace(b' xmlns:g=', b' b="" xmlns:g=')),
    "xmlns in a root attribute's value": doc(item(b"1"), head=HEAD.replace(
        b"<rss ", b'<rss a="xmlns:g=&quot;urn:o&quot;" ')),
    "g declared through a reference": doc(item(b"1"), head=HEAD.replace(b"http:", b"http&#58;")),
    "g declared twice on the root": doc(item(b"1"), head=HEAD.replace(
        b"<rss ", b'<rss xmlns:g="urn:o" ')),
    "a self-closed root": HEAD.replace(b">\n<channel>", b"/>\n<channel>").split(b"<channel>")[0],
    "the word xmlns in a title": doc(item(b"1", b"<title>xmlns:g</title>")),
    "a root with a prefix": doc(item(b"1"), head=HEAD.replace(b"<rss ", b'<x:rss xmlns:x="u" '),
                                tail=TAIL.replace(b"</rss>", b"</x:rss>")),
    # Namespace errors, which libxml2 reports only where it builds names (FeedChecker).
    "an undeclared prefix in the channel": doc(item(b"1"), head=HEAD + b'<atom:link href="x"/>'),
    "an undeclared prefix in an item": doc(item(b"1", b"<h:x>t</h:x>")),
    "an undeclared prefix after the items": doc(item(b"1"), b"<h:x/>"),
    "an undeclared prefix on an attribute in an item": doc(item(b"1", b'<a h:b="1">t</a>')),
    "an undeclared prefix on an attribute between items": doc(item(b"1"), b'<a h:b="1"/>',
                                                              item(b"2")),
    "an undeclared prefix on a root attribute": doc(item(b"1"), head=HEAD.replace(
        b"<rss ", b'<rss h:a="1" ')),
    "an empty namespace declared on the root": doc(item(b"1"), head=HEAD.replace(
        b"<rss ", b'<rss xmlns:h="" ')),
    "xml bound to another URI": doc(item(b"1"), head=HEAD.replace(
        b"<rss ", b'<rss xmlns:xml="urn:x" ')),
    "XMLNS:g on the root": doc(item(b"1"), head=HEAD.replace(b"<rss ", b'<rss XMLNS:g="u" ')),
    "a name with two colons": doc(item(b"1", b"<g:a:b>t</g:a:b>")),
    "a name that is only a prefix": doc(item(b"1", b"<g:>t</g:>")),
    "a local name that starts with a digit": doc(item(b"1", b"<g:1x>t</g:1x>")),
    "a local name that starts with a digit, in the channel": doc(item(b"1"),
                                                                 head=HEAD + b"<g:1x/>"),
    "one attribute twice through two prefixes": doc(item(b"1", b'<a g:b="1" h:b="2"/>'),
                                                    head=TWO_PREFIXES),
    "a declared prefix on an attribute": doc(item(b"1", b'<a g:b="1">t</a>')),
    "xml:lang in an item": doc(item(b"1", b'<title xml:lang="sv">t</title>')),
    "a declared atom link": doc(item(b"1"), head=ATOM),
    # Limits libxml2 enforces only while building a tree (2,048 levels with huge_tree).
    "elements nested 2,046 deep in an item": doc(item(b"1", b"<x>" * 2046 + b"</x>" * 2046)),
    "elements nested 2,046 deep around an item": doc(item(b"1"), b"<x>" * 2046 + item(b"2")
                                                     + b"</x>" * 2046),
    "elements nested 2,046 deep across items": doc(*[item(b"%d" % n) + b"<x>"
                                                      for n in range(2046)],
                                                    b"</x>" * 2046),
}


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_a_tricky_document_gets_the_full_checks_verdict_or_none(name):
    document = TRICKY[name]
    after_each_tag = [n + 1 for n, byte in enumerate(document) if byte == ord(">")]
    for cuts in ([], [len(HEAD)], [len(HEAD) + 20, len(document) - 10], after_each_tag):
        assert_agrees(document, cuts)


def test_fed_a_byte_at_a_time_the_document_is_decided(monkeypatch):
    # An `</item>` cut anywhere: found at the seam between what is held and what comes,
    # so what is held never grows past the head and an item.
    monkeypatch.setattr(rss_xml, "_LONGEST_STRETCH", len(HEAD) + max(map(len, ITEMS)) + 1)
    document = HEAD + b"".join(ITEMS) + TAIL
    parsed = assert_agrees(document, list(range(len(document))))
    assert parsed is not None and parsed.items == 5


def test_a_long_stretch_without_an_item_end_is_not_held(monkeypatch):
    monkeypatch.setattr(rss_xml, "_LONGEST_STRETCH", 200)
    short = doc(item(b"1"), item(b"2"))
    assert assert_agrees(short, [40, 90]) is not None
    long_item = doc(item(b"1", b"<title>" + b"t" * 300 + b"</title>"))
    assert assert_agrees(long_item, [100, 200, 300]) is None
    long_tail = doc(item(b"1"), tail=b"<x>" + b"t" * 300 + b"</x>" + TAIL)
    assert assert_agrees(long_tail, [100, 200, 300]) is None


def test_a_part_that_could_hold_too_long_a_text_is_not_read(monkeypatch):
    monkeypatch.setattr(rss_xml, "_LONGEST_TEXT", 100)
    document = doc(item(b"1", b"<title>" + b"t" * 150 + b"</title>"))
    assert assert_agrees(document, []) is None


def test_a_declared_prefix_in_the_channel_is_decided():
    # A self link in Atom's namespace is common in RSS feeds: no reason to read it twice.
    assert assert_agrees(TRICKY["a declared atom link"], [len(ATOM)]) is not None


@pytest.mark.parametrize("name", ["google.xml", "google-no.xml", "meta.xml", "criteo.xml"])
def test_what_the_builtin_renderer_writes_is_decided(name):
    document = (GOLDEN / "feeds" / name).read_bytes()
    assert assert_agrees(document, [len(document) // 3, len(document) // 2]) is not None


@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_changed_document_gets_the_full_checks_verdict_or_none(data):
    parts = [HEAD, *ITEMS, TAIL]
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.integers(0, len(parts)))
        snippet = data.draw(st.sampled_from(SNIPPETS))
        inside = data.draw(st.booleans())
        if inside and 0 < where < len(parts):  # inside a part, mostly between its tags
            text = parts[where]
            between = [n + 1 for n, byte in enumerate(text) if byte == ord(">")] or [0]
            at = data.draw(st.sampled_from(between) | st.integers(0, len(text)))
            parts[where] = text[:at] + snippet + text[at:]
        else:
            parts.insert(where, snippet)
    document = b"".join(parts)
    assert_agrees(document, data.draw(st.lists(st.integers(0, len(document)), max_size=6)))


def test_the_check_of_a_file_reads_it_back_where_the_stream_was_unsure(tmp_path: Path):
    from feeds.core.outputs import RssXml
    from feeds.formats.rss_xml import RssXmlHandler

    document = HEAD + ITEMS[0] + b"<!-- a comment -->" + ITEMS[1] + TAIL
    path = tmp_path / "feed.xml"
    path.write_bytes(document)
    handler = RssXmlHandler(RssXml(template="feeds/google.xml", namespaces={"g": GOOGLE_NS}),
                            None)
    checker = handler.checker("feed.xml")
    checker.feed(document)
    assert checker.close() is None
    assert handler.check(path).items == 2
