"""The feed server: published feeds at secret URLs, a status page, /health and the schedule."""

from __future__ import annotations

from feeds.server.app import create_app

__all__ = ["create_app"]
