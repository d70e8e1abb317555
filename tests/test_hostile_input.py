"""Hostile input through the API: stored exactly as sent, or refused with a 4xx; never a 500, and
shown escaped wherever staff read it. (Malformed and oversized bodies, invalid UTF-8 and unclosed
nesting: tests/test_api_contacts.py. CSV formula injection: tests/test_import_export.py.)
"""

import html
import json

import pytest

from crm.models import Contact, CustomField
from tests.api_helpers import CONTACTS_URL, detail_url, error_codes

# Free-text fields: whatever a person may type there is kept as typed.
TEXT_FIELDS = [
    "first_name",
    "last_name",
    "company",
    "title",
    "address",
    "city",
    "state",
    "zip_code",
    "description",
]
PAYLOADS = {
    "html": '<script>alert("x")</script><img src=x onerror=alert(1)>',
    "sql": "Robert'); DROP TABLE crm_contact;-- \" OR 1=1 --",
    "control": "tab\there\x01\x07\x1b[31m\u202eevil\u200b",
    "template": "{{ request.user }} {% debug %} ${7*7} %s %(x)s",
    "formula": '=HYPERLINK("http://evil.example","click")',
}


def post_raw(client, body: bytes):
    return client.post(CONTACTS_URL, body, content_type="application/json")


@pytest.mark.parametrize("kind", PAYLOADS)
def test_hostile_text_is_stored_verbatim_and_shown_escaped_in_the_admin(
    kind, api_client, admin_client
):
    payload = PAYLOADS[kind]
    CustomField.objects.create(key="notes", label="Notes", type=CustomField.Type.TEXT)
    values = {field: payload[:50] if field == "zip_code" else payload for field in TEXT_FIELDS}
    # The model caps some lengths; what fits is what a client may send.
    values = {
        field: value[: Contact._meta.get_field(field).max_length or None]
        for field, value in values.items()
    }
    body = {**values, "tags": [payload[:64]], "custom_fields": {"notes": payload}}

    created = api_client.post(CONTACTS_URL, body, format="json")

    assert created.status_code == 201, created.json()
    contact = Contact.objects.get()
    for field, value in values.items():
        assert getattr(contact, field) == value, field
    assert [t.name for t in contact.tags.all()] == [" ".join(payload[:64].split())]
    assert contact.custom_fields == {"notes": payload}
    assert api_client.get(detail_url(contact.pk)).json()["description"] == payload

    for url in (
        "/admin/crm/contact/",
        f"/admin/crm/contact/{contact.pk}/change/",
        "/admin/crm/contact/?q=" + payload[:20],
    ):
        page = admin_client.get(url).content.decode()
        assert "<script>alert(" not in page, url
        assert "<img src=x" not in page, url
    change_page = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert html.escape(values["company"]) in change_page  # shown, as text


@pytest.mark.parametrize("depth", [100, 5_000, 100_000])
def test_deeply_nested_json_is_refused_without_a_server_error(api_client, depth):
    nested = "[" * depth + "]" * depth
    response = post_raw(
        api_client, f'{{"first_name": "A", "custom_fields": {{"k": {nested}}}}}'.encode()
    )
    assert response.status_code == 400
    assert Contact.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"first_name": "A\\u0000B"}', "null_characters_not_allowed"),
        (b'{"first_name": "A\\ud800B"}', "surrogate_characters_not_allowed"),
    ],
)
def test_nul_and_lone_surrogates_are_refused_with_their_codes(api_client, raw, code):
    response = post_raw(api_client, raw)
    assert response.status_code == 400
    assert error_codes(response) == {"first_name": [code]}


def test_invalid_utf8_inside_a_string_is_invalid_json(api_client):
    response = post_raw(api_client, b'{"first_name": "caf\xe9"}')
    assert response.status_code == 400
    assert error_codes(response) == {None: ["invalid_json"]}


@pytest.mark.parametrize(
    "query",
    [
        "search=' OR 1=1 --",
        "search=%00",
        "tag=%27%3B DROP TABLE crm_tag;--",
        "ordering=-id;DROP TABLE crm_contact",
        "company=<script>",
        "page=99999999999999999999",
        "page_size=-1",
        "updated_since=2026-13-45",
    ],
)
def test_hostile_query_parameters_never_cause_a_server_error(reader, query):
    response = reader.get(f"{CONTACTS_URL}?{query}")
    assert response.status_code in (200, 400, 404), response.content
    json.loads(response.content)  # always the JSON envelope
