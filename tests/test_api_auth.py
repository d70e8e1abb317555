"""API keys: authentication, scopes, rate limits, the create_api_key command and the admin."""

import datetime
import io
import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from apikeys.models import ScopedAPIKey
from apikeys.permissions import HasScope
from apikeys.services import api_key_create
from crm.models import Contact
from tests.api_helpers import CONTACTS_URL, PUSH, READ, WRITE, detail_url, error_codes
from tests.factories import ContactFactory

NEW_CONTACT = {"first_name": "Jane"}


def call(client, method: str, contact: int):
    """One request per endpoint and method, each valid but for authorisation."""
    if method == "list":
        return client.get(CONTACTS_URL)
    if method == "retrieve":
        return client.get(detail_url(contact))
    if method == "create":
        return client.post(CONTACTS_URL, NEW_CONTACT, format="json")
    if method == "update":
        return client.put(detail_url(contact), NEW_CONTACT, format="json")
    if method == "partial_update":
        return client.patch(detail_url(contact), NEW_CONTACT, format="json")
    return client.delete(detail_url(contact))


READS = ["list", "retrieve"]
WRITES = ["create", "update", "partial_update", "destroy"]
SUCCESS = {"list": 200, "retrieve": 200, "create": 201, "update": 200, "partial_update": 200}


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("method", READS + WRITES)
def test_it_answers_a_request_without_credentials_with_401_authentication_required(db, method):
    contact = ContactFactory()

    response = call(APIClient(), method, contact.pk)

    assert response.status_code == 401
    assert response.json()["type"] == "client_error"
    assert error_codes(response) == {None: ["authentication_required"]}
    assert "X-API-Key" in response["WWW-Authenticate"]


@pytest.mark.parametrize(
    "secret", ["nope", "abc.def", "", "x" * 5000, "a.b.c", "\u00e9\u00e9.\u00e9"]
)
def test_it_answers_an_unknown_key_with_401_invalid_key(db, secret):
    client = APIClient(HTTP_X_API_KEY=secret)

    response = client.get(CONTACTS_URL)

    assert response.status_code == 401
    assert error_codes(response) == {None: ["invalid_key"]}


def test_it_refuses_a_key_whose_secret_part_is_wrong(make_client):
    client = make_client(READ)
    prefix = client.api_key.prefix

    response = APIClient(HTTP_X_API_KEY=f"{prefix}.wrongsecretwrongsecretwrongsecr").get(
        CONTACTS_URL
    )

    assert response.status_code == 401
    assert error_codes(response) == {None: ["invalid_key"]}


def test_it_refuses_a_revoked_key(make_client):
    client = make_client(READ)
    client.api_key.revoked = True
    client.api_key.save()

    response = client.get(CONTACTS_URL)

    assert response.status_code == 401
    assert error_codes(response) == {None: ["invalid_key"]}
    assert "revoked" in response.json()["errors"][0]["detail"]


def test_it_refuses_an_expired_key_and_accepts_one_not_yet_expired(make_client):
    now = timezone.now()
    expired = make_client(READ, expiry_date=now - datetime.timedelta(seconds=1))
    valid = make_client(READ, expiry_date=now + datetime.timedelta(days=1))

    response = expired.get(CONTACTS_URL)

    assert response.status_code == 401
    assert error_codes(response) == {None: ["invalid_key"]}
    assert "expired" in response.json()["errors"][0]["detail"]
    assert valid.get(CONTACTS_URL).status_code == 200


def test_keys_are_stored_hashed_and_the_secret_is_never_in_the_database(make_client):
    client = make_client(READ)
    stored = ScopedAPIKey.objects.values().get(pk=client.api_key.pk)

    secret_part = client.secret.partition(".")[2]
    assert all(secret_part not in str(value) for value in stored.values())
    assert stored["hashed_key"].startswith("sha512$$")


def test_request_auth_is_the_key_and_request_user_is_anonymous(make_client):
    client = make_client(READ)
    seen = {}

    class Probe(APIView):
        required_scopes = {"read": READ}

        def get(self, request):
            seen["auth"], seen["user"] = request.auth, request.user
            return Response({})

    request = APIRequestFactory().get("/", HTTP_X_API_KEY=client.secret)
    assert Probe.as_view()(request).status_code == 200
    assert seen["auth"] == client.api_key
    assert isinstance(seen["user"], AnonymousUser)


# --- scopes --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", READS)
def test_a_read_key_can_read(make_client, method):
    contact = ContactFactory()

    assert call(make_client(READ), method, contact.pk).status_code == 200


@pytest.mark.parametrize("method", WRITES)
def test_it_rejects_write_without_contacts_write_scope(make_client, method):
    contact = ContactFactory()

    response = call(make_client(READ, PUSH), method, contact.pk)

    assert response.status_code == 403
    assert response.json()["type"] == "client_error"
    assert error_codes(response) == {None: ["permission_denied"]}
    assert "contacts:write" in response.json()["errors"][0]["detail"]
    assert Contact.objects.count() == 1


@pytest.mark.parametrize("method", WRITES)
def test_a_write_key_can_write(make_client, method):
    contact = ContactFactory()

    response = call(make_client(WRITE), method, contact.pk)

    assert response.status_code == SUCCESS.get(method, 204)


@pytest.mark.parametrize("method", READS)
def test_it_rejects_read_without_contacts_read_scope(make_client, method):
    contact = ContactFactory()

    response = call(make_client(WRITE, PUSH), method, contact.pk)

    assert response.status_code == 403
    assert "contacts:read" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize("method", READS + WRITES)
def test_a_key_with_no_scopes_can_do_nothing(make_client, method):
    contact = ContactFactory()

    assert call(make_client(), method, contact.pk).status_code == 403


def test_a_view_can_require_a_scope_for_one_action():
    class PushView(APIView):
        required_scopes = {"read": READ, "push": PUSH}
        action = "push"

    push_key = ScopedAPIKey(scopes=[PUSH])
    read_key = ScopedAPIKey(scopes=[READ])
    request = APIRequestFactory().post("/")

    def allowed(key):
        request.auth = key
        return HasScope().has_permission(request, PushView())

    assert allowed(push_key)
    assert not allowed(read_key)


def test_a_view_that_declares_no_scopes_is_refused_to_everyone():
    request = APIRequestFactory().get("/")
    request.auth = ScopedAPIKey(scopes=[READ, WRITE, PUSH])

    with pytest.raises(ImproperlyConfigured):
        HasScope().has_permission(request, APIView())


@pytest.mark.parametrize("method", READS + WRITES)
def test_a_staff_session_can_do_everything(admin_user, method):
    contact = ContactFactory()
    client = APIClient()
    client.force_login(admin_user)

    response = call(client, method, contact.pk)

    assert response.status_code == SUCCESS.get(method, 204)


def test_a_non_staff_session_is_refused(django_user_model):
    client = APIClient()
    client.force_login(django_user_model.objects.create_user("visitor"))

    response = client.get(CONTACTS_URL)

    assert response.status_code == 403
    assert error_codes(response) == {None: ["permission_denied"]}


def test_the_browsable_api_works_for_staff(admin_client):
    contact = ContactFactory()

    listing = admin_client.get(CONTACTS_URL, HTTP_ACCEPT="text/html")
    detail = admin_client.get(detail_url(contact.pk), HTTP_ACCEPT="text/html")

    assert listing.status_code == detail.status_code == 200
    assert b"Contact List" in listing.content
    assert contact.first_name.encode() in detail.content


# --- rate limit ----------------------------------------------------------------------------


@override_settings(API_KEY_RATE="2/min")
def test_it_answers_429_rate_limited_with_retry_after_once_a_key_exceeds_its_rate(make_client):
    client, other = make_client(READ), make_client(READ)

    responses = [client.get(CONTACTS_URL) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert error_codes(responses[2]) == {None: ["rate_limited"]}
    assert 1 <= int(responses[2]["Retry-After"]) <= 60
    assert other.get(CONTACTS_URL).status_code == 200  # counted per key


@override_settings(API_KEY_RATE="1/min")
def test_staff_sessions_are_not_rate_limited(admin_client):
    assert [admin_client.get(CONTACTS_URL).status_code for _ in range(3)] == [200, 200, 200]


# --- create_api_key ------------------------------------------------------------------------


def test_create_api_key_prints_the_key_alone_on_the_last_line(db):
    out = io.StringIO()

    call_command(
        "create_api_key", "website", "--scopes", "contacts:read,contacts:write", stdout=out
    )

    secret = out.getvalue().strip().splitlines()[-1]
    api_key = ScopedAPIKey.objects.get()
    assert api_key.name == "website"
    assert api_key.scopes == [READ, WRITE]
    assert api_key.expiry_date is None
    assert secret.startswith(api_key.prefix + ".")
    assert APIClient(HTTP_X_API_KEY=secret).get(CONTACTS_URL).status_code == 200
    assert APIClient(HTTP_X_API_KEY=secret).post(CONTACTS_URL, NEW_CONTACT).status_code == 201


def test_create_api_key_sets_an_expiry(db):
    call_command(
        "create_api_key", "x", "--scopes", "push", "--expires-in-days", "30", stdout=io.StringIO()
    )

    expiry = ScopedAPIKey.objects.get().expiry_date
    assert timezone.now() + datetime.timedelta(days=29) < expiry
    assert expiry < timezone.now() + datetime.timedelta(days=31)


@pytest.mark.parametrize(
    "args",
    [
        ["--scopes", "contacts:admin"],
        ["--scopes", ","],
        ["--scopes", "push", "--expires-in-days", "0"],
        ["--scopes", "push", "--expires-at", "2001-01-01"],
        ["--scopes", "push", "--expires-at", "soon"],
    ],
)
def test_create_api_key_refuses_bad_arguments(db, args):
    with pytest.raises(CommandError):
        call_command("create_api_key", "x", *args, stdout=io.StringIO())
    assert not ScopedAPIKey.objects.exists()


def test_api_key_create_validates_scopes(db):
    with pytest.raises(ValidationError):
        api_key_create(name="x", scopes=["contacts:read", "contacts:read"])


# --- admin ---------------------------------------------------------------------------------


def test_the_admin_creates_a_key_shows_it_once_and_stores_its_scopes(admin_client):
    response = admin_client.post(
        "/admin/apikeys/scopedapikey/add/",
        {"name": "crm sync", "scopes": [READ, PUSH], "expiry_date_0": "", "expiry_date_1": ""},
        follow=True,
    )

    assert response.status_code == 200
    api_key = ScopedAPIKey.objects.get()
    assert api_key.scopes == [READ, PUSH]
    messages = " ".join(str(m) for m in response.context["messages"])
    secret = re.search(rf"is: ({api_key.prefix}\.\w+)", messages).group(1)
    assert APIClient(HTTP_X_API_KEY=secret).get(CONTACTS_URL).status_code == 200
    # Shown once: no later page has it.
    again = admin_client.get("/admin/apikeys/scopedapikey/")
    assert secret not in again.content.decode()


def test_the_admin_lists_and_revokes_keys(admin_client, make_client):
    client = make_client(READ)

    assert admin_client.get("/admin/apikeys/scopedapikey/").status_code == 200
    assert (
        admin_client.get(f"/admin/apikeys/scopedapikey/{client.api_key.pk}/change/").status_code
        == 200
    )
    admin_client.post(
        "/admin/apikeys/scopedapikey/",
        {"action": "revoke_selected", "_selected_action": [client.api_key.pk]},
    )

    client.api_key.refresh_from_db()
    assert client.api_key.revoked
    assert client.get(CONTACTS_URL).status_code == 401
    assert (
        admin_client.get(f"/admin/apikeys/scopedapikey/{client.api_key.pk}/change/").status_code
        == 200
    )


def test_the_librarys_unscoped_key_model_is_not_in_the_admin(admin_client):
    assert admin_client.get("/admin/rest_framework_api_key/apikey/").status_code == 404
