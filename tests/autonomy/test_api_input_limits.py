"""Input the database cannot hold is refused up front, in the JSON error shape, never a 500:
a page size or offset beyond a 64-bit integer on every paginated list, a cursor whose
position its ordering cannot hold, and a NUL character in a path or query string. Each was
a 500 on PostgreSQL (`bigint out of range`, `PostgreSQL text fields cannot contain NUL`);
CI runs these on PostgreSQL."""

from base64 import b64encode

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.pagination import CursorPagination

from tests.autonomy.test_access_matrix import MATRIX, client_for

HUGE = "9223372036854775808"  # 2**63: one past PostgreSQL's bigint


def _walk(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or ""
            joined = f"{namespace}:{inner}" if namespace and inner else inner or namespace
            yield from _walk(pattern.url_patterns, joined)
        elif isinstance(pattern, URLPattern):
            yield (f"{namespace}:{pattern.name}" if namespace else pattern.name or ""), pattern


def paginated_lists() -> list[tuple[str, type]]:
    """(route name, pagination class) of every API list that pages its answer."""
    found = []
    for name, pattern in _walk(get_resolver().url_patterns):
        view = getattr(pattern.callback, "cls", None)
        actions = getattr(pattern.callback, "actions", None) or {}
        if view is not None and actions.get("get") == "list" and view.pagination_class:
            found.append((name, view.pagination_class))
    return sorted(found, key=lambda item: item[0])


def request_list(world, name: str, query: str):
    """GET the list `name` (its access-matrix path) as a persona the matrix lets in."""
    entry = MATRIX[name]
    persona = (
        "coe"
        if entry.expect.get("coe") == 200
        else next(who for who, status in entry.expect.items() if status == 200)
    )
    path = entry.path(world)
    joiner = "&" if "?" in path else "?"
    return client_for(world, persona).get(f"{path}{joiner}{query}")


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"code", "message"}
    return error


def test_there_are_paginated_lists_to_check():
    names = [name for name, _ in paginated_lists()]
    assert "agents-api:agent-list" in names and "governance-api:auditentry-list" in names


@pytest.mark.parametrize(("name", "pagination"), paginated_lists())
def test_every_paginated_list_refuses_or_bounds_a_page_beyond_a_bigint(world, name, pagination):
    if issubclass(pagination, CursorPagination):
        response = request_list(world, name, f"page_size={HUGE}")
        assert response.status_code == 200, response.content
        cursor = b64encode(f"p={HUGE}0".encode()).decode()
        assert_error(request_list(world, name, f"cursor={cursor}"), 404)
        cursor = b64encode(b"p=abc").decode()
        assert_error(request_list(world, name, f"cursor={cursor}"), 404)
        return
    response = request_list(world, name, f"limit={HUGE}")
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) <= settings.AUTONOMY_API_MAX_LIMIT
    response = request_list(world, name, f"offset={HUGE}")
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []
    for query in (f"limit=-{HUGE}", "limit=0", "limit=ten", "offset=-1", "offset=1.5"):
        error = assert_error(request_list(world, name, query), 400)
        assert error["code"] == "invalid"
        assert set(error["fields"]) == {query.split("=")[0]}


def test_a_limit_above_the_maximum_is_taken_as_the_maximum(world, as_user, settings):
    settings.AUTONOMY_API_MAX_LIMIT = 1
    response = as_user(world.coe).get("/api/v1/agents/?limit=5")
    body = response.json()
    assert body["count"] == 2 and len(body["results"]) == 1
    assert "limit=1" in body["next"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/agents/%00/",
        "/api/v1/agents/a%00b/keys/",
        "/api/v1/roles/%00/",
        "/api/v1/policies/a%00b/versions/",
        "/api/v1/policies/%00/",
        "/api/v1/business-units/%00/",
        "/api/v1/escalations/%00/",
        "/api/v1/actions/%00/",
    ],
)
def test_a_nul_in_an_api_path_is_not_found(world, as_user, as_agent, path):
    for client in (as_user(world.coe), as_agent(world.key_a)):
        assert_error(client.get(path), 404)
        assert_error(client.post(path, {}, format="json"), 404)


def test_a_nul_in_a_page_path_is_the_not_found_page(world, as_user):
    response = as_user(world.coe).get("/agents/%00/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_nul_in_a_query_parameter_is_a_bad_request(world, as_user):
    client = as_user(world.coe)
    for path in ("/api/v1/agents/?slug=%00", "/api/v1/ledger/?action=a%00", "/api/v1/roles/?q=%00"):
        error = assert_error(client.get(path), 400)
        assert "NUL" in error["message"]
    assert client.get("/agents/?q=%00").status_code == 400
