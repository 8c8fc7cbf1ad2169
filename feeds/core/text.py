"""Plain text from Vendre's HTML fields, safe for XML and short enough for a channel."""

from __future__ import annotations

import html
import re

__all__ = ["clean_text", "html_to_text", "strip_xml_illegal", "truncate"]

# Script and style bodies are code, not text; comments are not text either. Each is
# matched only up to its last closer (`_drop_code`): an opener with no closer after it
# would otherwise make the regex scan to the end from every opener, quadratic in a
# pasted description of thousands of `<script>` (80 kB took 13 s).
_CODE = ((re.compile(r"<script\b[^>]*>.*?</script\s*>", re.I | re.S), "</script"),
         (re.compile(r"<style\b[^>]*>.*?</style\s*>", re.I | re.S), "</style"),
         (re.compile(r"<!--.*?-->", re.S), "-->"))
# A tag starts with a letter (or /letter): "<20 mm>" in a product name is text, not a tag.
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
# Where a block ends, the text gets a line break; list items become "- " lines.
_BREAK = re.compile(r"<br\s*/?>|</(p|div|h[1-6]|ul|ol|tr|table|blockquote)\s*>", re.I)
_LIST_ITEM = re.compile(r"<li\b[^>]*>", re.I)
# XML 1.0 allows TAB, LF, CR and everything from U+0020 except surrogates and U+FFFE/U+FFFF.
# Pasted descriptions carry U+000B, U+001A and the like, which make a whole feed unparseable.
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _drop_code(text: str) -> str:
    """`text` with script and style elements and comments replaced by a space."""
    # Without a closer there is nothing to drop (only "S" lower-cases to one of the
    # closers' characters), and most descriptions have none: skip lower-casing them.
    if "-->" not in text and "</s" not in text and "</S" not in text:
        return text
    lower = text.lower()
    for pattern, closer in _CODE:
        last = lower.rfind(closer)
        if last < 0:
            continue
        end = text.find(">", last) + 1 or len(text)
        text = pattern.sub(" ", text[:end]) + text[end:]
        lower = text.lower()
    return text


def _tags(pattern: re.Pattern[str], replacement: str, text: str) -> str:
    """`pattern` (an element that ends with `>`) replaced only up to the last `>`: a
    `<a` with no `>` after it is text, and must not make the regex rescan the rest."""
    end = text.rfind(">") + 1
    return pattern.sub(replacement, text[:end]) + text[end:] if end else text


def strip_xml_illegal(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (supplementary planes are kept)."""
    return _XML_ILLEGAL.sub("", text)


def clean_text(text: str | None) -> str:
    """One line of plain text: tags removed, entities decoded, XML-illegal characters and
    whitespace runs -> one space (for titles, brands and category names)."""
    if not text:
        return ""
    if text.isprintable() and "<" not in text and "&" not in text:
        # Most titles and brands: no tag, no entity, and no character XML forbids (those
        # are not printable), with only plain spaces (every other whitespace is not).
        return " ".join(text.split()) if "  " in text else text.strip(" ")
    if "<" in text:
        text = _tags(_TAG, " ", _drop_code(text))
    text = html.unescape(text) if "&" in text else text
    # str.split() knows Unicode whitespace (U+00A0 included) and is much faster than \s+.
    return " ".join(_XML_ILLEGAL.sub(" ", text).split())


def html_to_text(fragment: str | None) -> str:
    """Plain text of an HTML fragment; empty placeholders such as `<p> </p>` give ''.

    Paragraphs and line breaks become single line breaks and list items "- "
    lines; other tags become spaces. Entities are decoded after the tags are gone
    (so `&lt;b&gt;` stays visible text); runs of spaces (U+00A0 included)
    collapse to one and blank lines disappear.
    """
    if not fragment:
        return ""
    if "<" in fragment:
        # In HTML, line breaks in the source are just spaces; only tags break lines.
        fragment = " ".join(_drop_code(fragment).split())
        fragment = _BREAK.sub("\n", fragment)
        if "<li" in fragment or "<LI" in fragment:
            fragment = _tags(_LIST_ITEM, "\n- ", fragment)
        fragment = _tags(_TAG, " ", fragment)
    if "&" in fragment:
        fragment = html.unescape(fragment)
    lines = [" ".join(line.split()) for line in _XML_ILLEGAL.sub(" ", fragment).split("\n")]
    return "\n".join(filter(None, lines))


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a word boundary where one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 0.8:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"
