"""Fixtures of the tracking tests: the Jinja environment and golden files."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from jinja2 import Environment

from feeds.formats.templates import make_env
from tests.goldens import assert_golden


@pytest.fixture(scope="session")
def env() -> Environment:
    """The application's one Jinja environment (autoescape, StrictUndefined, `js`)."""
    return make_env()


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """Compare text with tests/golden/tracking/<name> (see tests/goldens.py)."""
    return lambda name, text: assert_golden(f"tracking/{name}", text)
