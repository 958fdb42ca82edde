"""Fixtures for end-to-end tests (the real bot process against the fake Bot API)."""

from __future__ import annotations

import pytest

from tests.e2e.harness import bot_process_factory, fake_api

__all__ = ["bot_process_factory", "fake_api"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under tests/e2e as e2e, so ``-m "not e2e"`` skips the slow ones."""
    for item in items:
        if "/tests/e2e/" in item.path.as_posix():
            item.add_marker(pytest.mark.e2e)
