"""Plain text from Vendre's HTML fields, safe for XML and short enough for a channel."""

from __future__ import annotations

import html
import re

__all__ = ["clean_text", "html_to_text", "strip_xml_illegal", "truncate"]

# Script and style bodies are code, not text; comments are not text either.
_DROP = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>|<!--.*?-->", re.I | re.S)
# A tag starts with a letter (or /letter): "<20 mm>" in a product name is text, not a tag.
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
# Where a block ends, the text gets a line break; list items become "- " lines.
_BREAK = re.compile(r"<br\s*/?>|</(p|div|h[1-6]|ul|ol|tr|table|blockquote)\s*>", re.I)
_LIST_ITEM = re.compile(r"<li\b[^>]*>", re.I)
# XML 1.0 allows TAB, LF, CR and everything from U+0020 except surrogates and U+FFFE/U+FFFF.
# Pasted descriptions carry U+000B, U+001A and the like, which make a whole feed unparseable.
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def strip_xml_illegal(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (supplementary planes are kept)."""
    return _XML_ILLEGAL.sub("", text)


def clean_text(text: str | None) -> str:
    """One line of plain text: tags removed, entities decoded, XML-illegal characters and
    whitespace runs -> one space (for titles, brands and category names)."""
    if not text:
        return ""
    if "<" in text:
        text = _TAG.sub(" ", _DROP.sub(" ", text))
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
        fragment = " ".join(_DROP.sub(" ", fragment).split())
        fragment = _BREAK.sub("\n", fragment)
        if "<li" in fragment or "<LI" in fragment:
            fragment = _LIST_ITEM.sub("\n- ", fragment)
        fragment = _TAG.sub(" ", fragment)
    if "&" in fragment:
        fragment = html.unescape(fragment)
    lines = (" ".join(line.split()) for line in _XML_ILLEGAL.sub(" ", fragment).split("\n"))
    return "\n".join(line for line in lines if line)


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a word boundary where one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 0.8:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"
