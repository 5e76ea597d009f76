"""Fixtures shared by the governance tests (the compiled policy set is forgotten before
every test by tests/conftest.py's fresh_caches)."""

import uuid

import pytest


@pytest.fixture
def agent():
    """A fresh agent slug: limit counters of one test never meet another's."""
    return f"agent-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def unit():
    """A fresh business unit slug, for the same reason."""
    return f"unit-{uuid.uuid4().hex[:12]}"
