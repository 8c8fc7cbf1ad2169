"""Afound: a preset of the Mirakl kind (`feeds.channels.mirakl`).

Afound runs on Mirakl and now operates as part of Secret Sales: a seller gets
a Mirakl API key and shop id, sends offers on products matched by EAN, in SEK,
with consumer prices (VAT included). Spec:
https://help.channelengine.com/article/256-afound-marketplace-guide (an
integrator's guide; Afound publishes none of its own). `[channels.afound]`
needs no `kind`; `kind = "mirakl"` gives the same file.
"""

from __future__ import annotations

import dataclasses

from feeds.channels import mirakl

__all__ = ["CHANNEL"]

CHANNEL = dataclasses.replace(
    mirakl.CHANNEL,
    code="afound",
    title="Afound",
    spec_url="https://help.channelengine.com/article/256-afound-marketplace-guide",
    default_instance=True,
)
