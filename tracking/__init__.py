"""Tracking snippets (GTM, GA4, Meta Pixel, Criteo OneTag). Pure: no I/O, no server imports."""
