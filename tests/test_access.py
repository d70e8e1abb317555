"""Access to every API operation, to the admin, and where provider keys must never appear.

The API operations are read from the OpenAPI schema, and the schema is checked against the URL
resolver, so a route added later is covered here without editing this file.
"""

import datetime
import logging
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apikeys.models import Scope, ScopedAPIKey
from apikeys.services import api_key_create
from crm.models import Contact
from crm.services import contact_upsert
from integrations.models import Connection, PushAttempt, RemoteLink
from integrations.push import link_push

API_PREFIX = "/api/v1/"


def api_operations() -> list[tuple[str, str, str]]:
    """(method, path template, required scope) of every operation in the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method.upper(), path, operation["x-required-scope"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    ]


OPERATIONS = api_operations()
OPERATION_IDS = [f"{method} {path}" for method, path, _ in OPERATIONS]


def resolver_routes(resolver=None, prefix="/") -> set[str]:
    """Every URL pattern, as a schema-style path (`<int:pk>` becomes `{id}`)."""
    routes = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes |= resolver_routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            routes.add(route)
    return routes


def schema_style(route: str) -> str:
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "{id}", route)  # a router's regex
    route = re.sub(r"<(?:\w+:)?\w+>", "{id}", route)  # a path converter
    return route.replace("^", "").replace("$", "")


def test_every_api_route_is_in_the_schema_and_so_in_these_tests():
    api_routes = {
        schema_style(route)
        for route in resolver_routes()
        # Format suffixes (`.json`) reach the same views as their route.
        if route.startswith(API_PREFIX) and "<format>" not in route
    }
    assert api_routes == {path for _, path, _ in OPERATIONS}


@pytest.fixture
def contact(db) -> Contact:
    return contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})


def call(client: APIClient, method: str, path: str, contact: Contact):
    url = path.replace("{id}", str(contact.pk))
    return getattr(client, method.lower())(url, {}, format="json")


def key_client(*scopes: str, **fields) -> APIClient:
    _, secret = api_key_create(name="access test", scopes=list(scopes), **fields)
    client = APIClient(HTTP_X_API_KEY=secret)
    client.raise_request_exception = False
    return client


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


@pytest.fixture(autouse=True)
def fresh_rate_counts():
    cache.clear()  # counts live in the cache, which outlives each test's transaction
    yield
    cache.clear()


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "scope"), OPERATIONS, ids=OPERATION_IDS)
def test_every_operation_refuses_a_request_without_a_key(method, path, scope, contact):
    client = APIClient()
    client.raise_request_exception = False
    response = call(client, method, path, contact)
    assert (response.status_code, codes(response)) == (401, ["authentication_required"])


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "scope"), OPERATIONS, ids=OPERATION_IDS)
@pytest.mark.parametrize("which", ["revoked", "expired", "unknown"])
def test_every_operation_refuses_a_revoked_expired_or_unknown_key(
    method, path, scope, which, contact
):
    if which == "unknown":
        client = APIClient(HTTP_X_API_KEY="AbCdEfGh.not-a-key-we-ever-issued")
        client.raise_request_exception = False
    elif which == "revoked":
        client = key_client(*Scope.values)
        ScopedAPIKey.objects.update(revoked=True)
    else:
        past = timezone.now() - datetime.timedelta(minutes=1)
        client = key_client(*Scope.values, expiry_date=past)
    response = call(client, method, path, contact)
    assert (response.status_code, codes(response)) == (401, ["invalid_key"])
    assert Contact.objects.filter(pk=contact.pk, first_name="Ada").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "scope"), OPERATIONS, ids=OPERATION_IDS)
def test_every_operation_refuses_a_key_without_its_scope(method, path, scope, contact):
    client = key_client(*(s for s in Scope.values if s != scope))
    response = call(client, method, path, contact)
    assert (response.status_code, codes(response)) == (403, ["permission_denied"])
    assert scope in response.json()["errors"][0]["detail"]
    assert Contact.objects.filter(pk=contact.pk, first_name="Ada").exists()


@pytest.mark.django_db
@override_settings(API_KEY_RATE="1/min")
@pytest.mark.parametrize(("method", "path", "scope"), OPERATIONS, ids=OPERATION_IDS)
def test_every_operation_is_rate_limited_per_key_with_retry_after(method, path, scope, contact):
    client = key_client(scope)
    call(client, method, path, contact)  # whatever its answer, it counts

    response = call(client, method, path, contact)

    assert (response.status_code, codes(response)) == (429, ["rate_limited"])
    assert 1 <= int(response["Retry-After"]) <= 60


# --- the admin ----------------------------------------------------------------------------------


def staff_with(django_user_model, *codenames: str):
    user = django_user_model.objects.create_user("clerk", "clerk@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.mark.django_db
def test_the_admin_is_for_staff_only(client, django_user_model):
    user = django_user_model.objects.create_user("visitor", "v@example.com", "pw")
    user.user_permissions.set(Permission.objects.all())  # permissions without is_staff
    client.force_login(user)
    response = client.get("/admin/crm/contact/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_a_staff_user_without_change_contact_can_neither_edit_nor_push(
    client, django_user_model, getraze_connection, contact
):
    client.force_login(staff_with(django_user_model, "view_contact", "view_remotelink"))
    RemoteLink.objects.filter(contact=contact).update(state="synced")

    assert client.get(f"/admin/crm/contact/{contact.pk}/change/").status_code == 200  # read-only
    edit = client.post(f"/admin/crm/contact/{contact.pk}/change/", {"first_name": "Mallory"})
    assert edit.status_code == 403
    changelist = client.get("/admin/crm/contact/")
    assert b"push_to_provider" not in changelist.content
    pushed = client.post(
        "/admin/crm/contact/",
        {
            "action": "push_to_provider",
            "_selected_action": [contact.pk],
            "apply": "1",
            "connections": [getraze_connection.pk],
        },
    )
    assert pushed.status_code in (200, 302)
    retried = client.post(
        "/admin/integrations/remotelink/",
        {"action": "retry", "_selected_action": list(RemoteLink.objects.values_list("pk", flat=1))},
    )
    assert retried.status_code in (200, 302)
    contact.refresh_from_db()
    assert contact.first_name == "Ada"
    assert set(RemoteLink.objects.values_list("state", flat=True)) == {"synced"}  # none queued


@pytest.mark.django_db
def test_a_staff_user_with_change_contact_can_push(
    client, django_user_model, getraze_connection, contact
):
    client.force_login(staff_with(django_user_model, "view_contact", "change_contact"))
    RemoteLink.objects.filter(contact=contact).update(state="synced")
    response = client.post(
        "/admin/crm/contact/",
        {
            "action": "push_to_provider",
            "_selected_action": [contact.pk],
            "apply": "1",
            "connections": [getraze_connection.pk],
        },
    )
    assert response.status_code == 302
    assert set(RemoteLink.objects.values_list("state", flat=True)) == {"pending"}


@pytest.mark.django_db
def test_connection_actions_need_change_connection(client, django_user_model, getraze_connection):
    Connection.objects.filter(pk=getraze_connection.pk).update(paused_at=timezone.now())
    client.force_login(staff_with(django_user_model, "view_connection"))
    client.post(
        "/admin/integrations/connection/",
        {"action": "resume", "_selected_action": [getraze_connection.pk]},
    )
    getraze_connection.refresh_from_db()
    assert getraze_connection.is_paused


# --- provider keys never leak -------------------------------------------------------------------

SECRET = "prov-key-7Qx9ZetaSecretDoNotLeak"


@pytest.mark.django_db
def test_a_provider_key_appears_in_no_log_row_response_or_admin_page(sandbox, admin_client, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.add_key(SECRET, ["contacts:read", "contacts:write"])
    connection = Connection(
        name="leak-check", provider="getraze", base_url=sandbox.base_url, rate_limit=0
    )
    connection.api_key = SECRET
    connection.save()
    ok = contact_upsert(data={"first_name": "Ok", "email": "ok@example.com"})
    invalid = contact_upsert(data={"first_name": "Bad", "email": "bad@localhost"})
    flaky = contact_upsert(data={"first_name": "Flaky", "email": "flaky@example.com"})
    link = RemoteLink.objects.get(contact=ok)
    assert link_push(link_id=link.pk) == "synced"
    assert link_push(link_id=RemoteLink.objects.get(contact=invalid).pk) == "failed"  # 400
    sandbox.faults(fail_next=1)
    assert link_push(link_id=RemoteLink.objects.get(contact=flaky).pk) == "retry"  # 500
    sandbox.add_key(SECRET, [])  # 403: the connection is paused
    contact_upsert(contact=ok, data={"company": "Changed"})
    assert link_push(link_id=link.pk) == "paused"
    connection.refresh_from_db()
    assert connection.is_paused

    api_client = key_client(*Scope.values)
    pages = {
        "api contact": api_client.get(f"/api/v1/contacts/{ok.pk}/"),
        "api list": api_client.get("/api/v1/contacts/"),
        "api push": api_client.post(f"/api/v1/contacts/{ok.pk}/push/", {}, format="json"),
        "connection list": admin_client.get("/admin/integrations/connection/"),
        "connection page": admin_client.get(
            f"/admin/integrations/connection/{connection.pk}/change/"
        ),
        "links": admin_client.get("/admin/integrations/remotelink/"),
        "link page": admin_client.get(f"/admin/integrations/remotelink/{link.pk}/change/"),
        "attempts": admin_client.get("/admin/integrations/pushattempt/"),
        "contact page": admin_client.get(f"/admin/crm/contact/{ok.pk}/change/"),
    }
    for name, response in pages.items():
        assert response.status_code in (200, 202), name
        assert SECRET not in response.content.decode(), name
    rows = [
        str(row)
        for model in (PushAttempt, RemoteLink, Connection)
        for row in model.objects.values()
    ]
    assert PushAttempt.objects.count() >= 5
    assert not [row for row in rows if SECRET in row]
    assert SECRET not in caplog.text
    assert "leak-check" in caplog.text  # the pause was logged, without the key


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "needs"),
    [
        ("GET", "/api/v1/contacts/{id}/", "view_contact"),
        ("POST", "/api/v1/contacts/", "add_contact"),
        ("PATCH", "/api/v1/contacts/{id}/", "change_contact"),
        ("DELETE", "/api/v1/contacts/{id}/", "delete_contact"),
        ("POST", "/api/v1/contacts/{id}/push/", "change_contact"),
    ],
)
def test_a_staff_session_on_the_api_needs_the_model_permission(
    method, path, needs, django_user_model, contact
):
    client = APIClient()
    client.raise_request_exception = False
    user = staff_with(django_user_model)
    client.force_login(user)
    assert call(client, method, path, contact).status_code == 403

    user.user_permissions.set(Permission.objects.filter(codename=needs))
    client.force_login(django_user_model.objects.get(pk=user.pk))  # fresh permission cache
    assert call(client, method, path, contact).status_code not in (401, 403)
