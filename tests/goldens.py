"""Golden files: whole outputs compared byte for byte; `UPDATE_GOLDEN=1` rewrites them.

A rewritten golden file must be read by a person before it is committed: that
review is what lets the comparison fail for the right reasons.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


def assert_golden(relative: str, actual: str) -> None:
    path = GOLDEN / relative
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.is_file(), f"{path} is missing; run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{relative} differs from its golden file"
