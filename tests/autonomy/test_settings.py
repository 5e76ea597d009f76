"""Production settings fail fast: with DEBUG=false the process refuses to start without
SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and REDIS_URL, and with them the deploy checks
pass with nothing silenced. Each case runs `manage.py` in a fresh process."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"
REQUIRED = ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"]


def production_env(**overrides) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="autonomy.example.com",
        DATABASE_URL="postgres://autonomy@127.0.0.1:5432/autonomy",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def setting(expression: str, env: dict[str, str]) -> str:
    """What `settings.<expression>` prints in a fresh process started with `env`."""
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        f"from django.conf import settings; print(settings.{expression})",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("missing", REQUIRED)
def test_it_refuses_to_start_without_a_required_variable(missing):
    result = manage("check", env=production_env(**{missing: None}))
    assert result.returncode != 0
    assert f"DEBUG=false requires these environment variables: {missing}" in result.stderr


def test_an_empty_variable_counts_as_missing():
    result = manage("check", env=production_env(SECRET_KEY="", REDIS_URL=""))
    assert result.returncode != 0
    assert "requires these environment variables: SECRET_KEY, REDIS_URL" in result.stderr


def test_it_names_every_missing_variable_at_once():
    result = manage("check", env=production_env(**dict.fromkeys(REQUIRED)))
    assert result.returncode != 0
    assert "requires these environment variables: " + ", ".join(REQUIRED) in result.stderr


def test_the_deploy_checks_pass_with_everything_set():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_development_needs_no_variables_at_all():
    env = production_env(**dict.fromkeys(REQUIRED), DEBUG=None)
    result = manage("check", env=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("redis_url", "prefix", "expected"),
    [
        ("redis://127.0.0.1:6379/3", None, "autonomy-db3"),
        ("redis://127.0.0.1:6379/11", None, "autonomy-db11"),
        ("redis://127.0.0.1:6379", None, "autonomy-db0"),
        ("redis://127.0.0.1:6379/3", "tenant-a", "tenant-a"),
    ],
)
def test_live_push_channels_are_named_per_redis_database(redis_url, prefix, expected):
    # Redis pub/sub ignores database numbers: deployments sharing a server must not hear
    # each other's pushes.
    env = production_env(REDIS_URL=redis_url, CHANNEL_PREFIX=prefix)
    assert setting("CHANNEL_LAYERS['default']['CONFIG']['prefix']", env) == expected


@pytest.mark.parametrize(
    ("database_url", "threshold", "expected"),
    [
        ("postgres://autonomy@127.0.0.1:5432/autonomy", None, "5"),
        ("postgres://autonomy@127.0.0.1:5432/autonomy", "none", "None"),
        ("postgres://autonomy@127.0.0.1:5432/autonomy", "0", "0"),
        ("sqlite:////tmp/autonomy-settings-test.sqlite3", "5", "absent"),
    ],
)
def test_statements_are_prepared_on_postgresql_unless_turned_off(database_url, threshold, expected):
    env = production_env(DATABASE_URL=database_url, DATABASE_PREPARE_THRESHOLD=threshold)
    options = "DATABASES['default']['OPTIONS'].get('prepare_threshold', 'absent')"
    assert setting(options, env) == expected


@pytest.mark.parametrize("threshold", ["five", "-1", "2.5"])
def test_a_prepare_threshold_that_is_not_a_count_stops_the_start_with_a_clear_error(threshold):
    result = manage("check", env=production_env(DATABASE_PREPARE_THRESHOLD=threshold))
    assert result.returncode != 0
    assert "DATABASE_PREPARE_THRESHOLD must be a whole number of uses or none" in result.stderr
