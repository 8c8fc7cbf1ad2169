"""Afound: a preset of the Mirakl kind (`feeds.channels.mirakl`).

Afound runs on Mirakl and now operates as part of Secret Sales: a seller gets
a Mirakl API key and shop id, sends offers on products matched by EAN, in SEK,
with consumer prices (VAT included); the shop's prices must be in SEK (`currency`).
Spec:
https://help.channelengine.com/article/256-afound-marketplace-guide (an
integrator's guide; Afound publishes none of its own). `[channels.afound]`
needs no `kind`; `kind = "mirakl"` gives the same file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from feeds.channels import mirakl
from feeds.core.settings import setting

__all__ = ["CHANNEL", "AfoundSettings"]


@dataclass(frozen=True)
class AfoundSettings(mirakl.MiraklSettings):
    currency: str = setting("SEK", "The operator's currency, in which it reads every price "
                                   "of the file: [shop] currency must be it (Afound: SEK)")


CHANNEL = dataclasses.replace(
    mirakl.CHANNEL,
    code="afound",
    title="Afound",
    spec_url="https://help.channelengine.com/article/256-afound-marketplace-guide",
    settings=AfoundSettings,
    default_instance=True,
)
