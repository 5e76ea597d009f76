"""Shared fixtures: the personas, API clients, and markers for real services."""

import os

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import make_world

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
HAS_REDIS = bool(os.environ.get("REDIS_URL"))

requires_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="needs PostgreSQL: set DATABASE_URL (CI always does)"
)
requires_redis = pytest.mark.skipif(
    not HAS_REDIS, reason="needs Redis: set REDIS_URL (make test starts an embedded one)"
)


def pytest_configure(config):
    # Fast hashing in tests: passwords here protect nothing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix, tmp_path_factory
) -> None:
    """On SQLite the test database is a file in WAL mode (settings.DATABASES' init_command),
    never Django's default shared-cache in-memory database: there, a live server's thread
    and the test's thread take table locks that fail at once ("database table is locked")
    instead of waiting, whereas a WAL file lets readers run beside the one writer and
    makes writers wait for each other (busy_timeout)."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        folder = tmp_path_factory.mktemp("sqlite")
        database.setdefault("TEST", {})["NAME"] = str(folder / "test.sqlite3")


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test starts with an empty shared cache (limit counters, epochs) and no compiled
    policies or cached API keys left over from another test's rolled-back data."""
    from django.core.cache import cache

    from agents import credentials
    from governance import policies
    from workflows import catalog

    cache.clear()
    policies.forget_compiled()
    credentials.forget()
    catalog.forget()
    yield


@pytest.fixture(scope="session")
def checkpoint_key_file(tmp_path_factory):
    """One checkpoint signing key for the run (created on first use), outside the checkout."""
    return str(tmp_path_factory.mktemp("ledger") / "checkpoint.key")


@pytest.fixture(autouse=True)
def ledger_checkpoints(settings, tmp_path, checkpoint_key_file):
    """Each test's ledger gets its own checkpoint file: the test database starts empty."""
    settings.AUTONOMY_LEDGER_CHECKPOINT_KEY = ""
    settings.AUTONOMY_LEDGER_CHECKPOINT_PUBLIC_KEY = ""
    settings.AUTONOMY_LEDGER_CHECKPOINT_KEY_FILE = checkpoint_key_file
    settings.AUTONOMY_LEDGER_CHECKPOINT_SINK = str(tmp_path / "ledger-checkpoints.jsonl")


@pytest.fixture
def world(db):
    """Business units A and B with COE, builder A, supervisors A and B, an auditor of A,
    and active agents A and B with one key each."""
    return make_world()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def as_user():
    """An API client signed in as a given user."""

    def client_for(user):
        client = APIClient()
        client.force_login(user)
        return client

    return client_for


@pytest.fixture
def as_agent():
    """An API client that presents an agent's key."""

    def client_for(secret: str):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return client_for
