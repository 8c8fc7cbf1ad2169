"""Server-side purchases (issue 18): every Vendre order sent once to GA4 (Measurement
Protocol) and Meta (Conversions API), joined to the browser that placed it.

- `payloads`: pure. The GA4 `purchase`/`refund` and Meta `Purchase` bodies, built from
  the same `tracking.events.Purchase` the browser events use (`feeds.events.source`),
  the platforms' windows, consent and the customer data's normalisation and hashing.
- `intake`: pure apart from the injected writer. A webhook or a beacon as
  (shop, headers, body) -> a `Reply` and one durable write; routes stay thin.
- `send`: the two HTTP clients, each on an injected `httpx.Client`.
- `run`: one run: orders from webhooks and the store, decided against the ledger,
  sent, recorded (`vendre-feeds send-purchases`, `refresh`, the poller).
- `status`: the counts the status page and `status` show.

Import rule: purchases import core, storage, config, vendre.parse, the pipeline's
HTTP helper, events and `tracking`; never jobs, the server or the CLI.
"""
