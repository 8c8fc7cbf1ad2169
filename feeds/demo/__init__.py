"""The bundled demo shop "Demobutiken", for `vendre-feeds demo` (no shop, key or network).

A Swedish shop selling board games, dice, books and some clothing, in `sv`
(default), `en` and `nb`. `catalog` builds its products, categories and orders
in Vendre's `/API/1` shape, with dates relative to a given `now`; `transport`
serves them as `https://demo.vendre-feeds.test/API/1` through an
`httpx.MockTransport`.

Products worth knowing by id (tests rely on them):

- 1001 bestseller, in stock, 3 images, brand, weight, specs; 1026 second best (a book)
- 1002 special price, no date range; 1003 special price, range spanning now;
  1004 special price whose range has expired
- 1005 pre-order (quantity 0, `date_available` ~30 days ahead, "Release ...")
- 1006 out of stock (negative warehouse); 1007 backorder (`stock_allow_checkout`)
- 1008 English name in the `sv` slot, empty `nb` translation
- 1009 title over 150 characters; 1010 hidden (`show: false`); 1011 price 0
- 1012 no images; 1013 unknown tax class 9
- 1014 UPC-A; 1015 EAN-8; 1016 EAN-13 with a wrong check digit;
  1017 no EAN but an MPN; 1018 neither EAN, MPN nor brand
- 1019 name with quotes, `<`, `>` and `&`, image file name with a space and "ä"
- 1020 tax class 4 (12 %); 1024 description with U+000B; 1025 empty `<p> </p>` description
- variant sets: 1021 (colour) -> 1022, 1023; 1030 (size) -> 1031, 1032, 1033 (out of stock)
- books (tax class 3): 1026-1029; 1027 sits in two categories; 1029 is new
"""

from feeds.demo.catalog import (
    API_URL,
    BASE_URL,
    DEFAULT_LANGUAGE,
    LANGUAGES,
    TAX_RATES,
    demo_categories,
    demo_orders,
    demo_products,
)
from feeds.demo.transport import MAX_PAGE_SIZE, demo_transport

__all__ = [
    "API_URL",
    "BASE_URL",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "MAX_PAGE_SIZE",
    "TAX_RATES",
    "demo_categories",
    "demo_orders",
    "demo_products",
    "demo_transport",
]
