"""Output formats: render items to a sink, parse the output back, read it for `diff`.

Import rule: formats import `feeds.core` and `feeds.errors` (and jinja2, lxml,
json, csv); never the pipeline, storage, config or the server.
"""
