"""Every failure the tracking package raises.

The tree::

    TrackingConfigError(ValueError)   a set but malformed setting (an id, the site type)
    InvalidNonce(ValueError)          a CSP nonce that is not base64/base64url text
    UnknownService(LookupError)       no tracking service has that code

Messages are one line fit for a user and name the setting, e.g.
"tracking.ga4_id: 'UA-123' is not a GA4 measurement id (G-XXXX)". The feeds
side translates `TrackingConfigError` into its own `ConfigError`; tracking does
not import feeds.
"""

from __future__ import annotations

__all__ = ["InvalidNonce", "TrackingConfigError", "UnknownService"]


class TrackingConfigError(ValueError):
    """A tracking setting is set but malformed; the message names it."""


class InvalidNonce(ValueError):
    """A CSP nonce with characters outside base64/base64url."""


class UnknownService(LookupError):
    """No tracking service has the code asked for."""
