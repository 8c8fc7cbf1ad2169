"""Fixtures of the tracking tests: the Jinja environment and golden files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from jinja2 import Environment

from feeds.rendering import make_env

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden" / "tracking"


@pytest.fixture(scope="session")
def env() -> Environment:
    """The application's one Jinja environment (autoescape, StrictUndefined, `js`)."""
    return make_env()


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """Compare text with tests/golden/tracking/<name> byte for byte; with
    UPDATE_GOLDEN=1 in the environment, write it instead (then review the diff)."""

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if os.environ.get("UPDATE_GOLDEN") == "1":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            return
        assert path.is_file(), f"{path} is missing: run with UPDATE_GOLDEN=1 and review it"
        assert text == path.read_bytes().decode("utf-8"), f"output differs from {path}"

    return check
