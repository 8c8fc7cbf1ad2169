"""The one way a value reaches JavaScript: JSON that is also safe inside `<script>`.

`json.dumps` alone is not enough in HTML: a product named `</script>` would
end the script element, `<!--` can switch the parser into a state that
swallows the page, and U+2028/U+2029 are line terminators in older
JavaScript. Jinja's own `|tojson` escapes `<`, `>`, `&` and `'` but not
U+2028/U+2029, so every template uses this filter instead.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from markupsafe import Markup

__all__ = ["js_dumps", "js_value"]

_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "'": "\\u0027",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_TABLE = str.maketrans(_ESCAPES)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # JavaScript has only one number type. A 2-decimal amount below 1e13 survives
        # float conversion digit for digit (repr is the shortest round-trip form).
        return float(value)
    raise TypeError(f"{type(value).__name__} cannot be sent to JavaScript")


def js_dumps(value: Any) -> str:
    """`value` as JSON text safe to place inside an HTML `<script>` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_default,
                      allow_nan=False)
    return text.translate(_TABLE)


def js_value(value: Any) -> Markup:
    """Jinja filter `js`: the safe JSON, marked so autoescape leaves it alone."""
    return Markup(js_dumps(value))
