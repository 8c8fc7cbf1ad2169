"""The pure core: the catalogue model, money and pricing, ids, text, validation, bestsellers.

Import rule: nothing here does I/O. Modules import only the standard library's
pure parts, `python-stdnum`, `feeds.errors` and each other; never sqlite3, os,
httpx, flask, jinja2 or lxml (`tests/test_layout.py` checks this).
"""
