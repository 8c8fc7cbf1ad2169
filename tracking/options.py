"""The settings tracking reads: service ids and a few switches.

`TrackingOptions` mirrors the names of `[tracking]` in the feeds config, so
`TrackingOptions.from_settings(config.tracking)` needs no import of feeds.
An empty id means that service is off; ids are checked against their
service's pattern when the services are loaded (`enabled_services`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from tracking.errors import TrackingConfigError

__all__ = ["SITE_TYPES", "TrackingOptions"]

SITE_TYPES = ("d", "m", "t")
_TEXT = ("gtm_id", "ga4_id", "meta_pixel_id", "criteo_account", "criteo_site_type")


@dataclass(frozen=True)
class TrackingOptions:
    """Ids (empty = off) and switches. Defaults are those of the feeds config."""

    gtm_id: str = ""
    ga4_id: str = ""
    meta_pixel_id: str = ""
    criteo_account: str = ""
    consent_mode: bool = True
    prices_include_vat: bool = True
    meta_group_ids: bool = False
    criteo_site_type: str = "d"

    def __post_init__(self) -> None:
        for name in _TEXT:
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TrackingConfigError(f"tracking.{name}: a string expected, got {value!r}")
        if self.criteo_site_type not in SITE_TYPES:
            raise TrackingConfigError('tracking.criteo_site_type: "d", "m" or "t" expected, '
                                      f"got {self.criteo_site_type!r}")

    @classmethod
    def from_settings(cls, settings: Any) -> TrackingOptions:
        """Options read from the same-named attributes of any object (e.g. feeds'
        `TrackingSettings`); an attribute the object lacks keeps its default."""
        names = [f.name for f in fields(cls)]
        return cls(**{n: getattr(settings, n) for n in names if hasattr(settings, n)})
