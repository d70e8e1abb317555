"""POST /api/v1/contacts/batch/: up to 100 contacts created or updated, one result each."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from apikeys.idempotency import REPLAYED_HEADER
from crm.models import Contact, CustomField
from integrations.models import Connection, RemoteLink
from tests.api_helpers import READ, WRITE, detail_url, error_codes
from tests.factories import ContactFactory, PhoneNumberFactory, TagFactory

BATCH_URL = "/api/v1/contacts/batch/"


def post_batch(client, items, **extra):
    return client.post(BATCH_URL, items, format="json", **extra)


def results(response) -> list[tuple[int, str]]:
    return [(result["index"], result["status"]) for result in response.json()["results"]]


@pytest.fixture
def auto_push_connection(db) -> Connection:
    """An auto-push connection; nothing is sent, the tests only look at what is queued."""
    conn = Connection(name="batch-auto-push", provider="getraze", base_url="http://127.0.0.1:9")
    conn.api_key = "test-key"
    conn.save()
    return conn


def test_it_creates_updates_by_id_and_by_email_and_reports_each_item(writer):
    by_id = ContactFactory(first_name="Old", email="old@example.com")
    by_email = ContactFactory(first_name="Mail", email="mail@example.com", company="Before")

    response = post_batch(
        writer,
        [
            {"first_name": "New", "email": "new@example.com", "tags": ["vip"]},
            {"id": by_id.pk, "first_name": "Renamed"},
            {"email": "MAIL@example.com", "company": "After"},
        ],
    )

    assert response.status_code == 200, response.json()
    created = Contact.objects.get(email="new@example.com")
    assert response.json() == {
        "results": [
            {"index": 0, "status": "created", "id": created.pk, "errors": None},
            {"index": 1, "status": "updated", "id": by_id.pk, "errors": None},
            {"index": 2, "status": "updated", "id": by_email.pk, "errors": None},
        ]
    }
    assert created.source == Contact.Source.API
    assert list(created.tags.values_list("name", flat=True)) == ["vip"]
    by_id.refresh_from_db()
    by_email.refresh_from_db()
    # Updates are partial: fields left out keep their values.
    assert (by_id.first_name, by_id.email) == ("Renamed", "old@example.com")
    assert (by_email.first_name, by_email.company) == ("Mail", "After")


def test_a_bad_item_is_reported_in_the_single_write_envelope_and_the_others_are_written(writer):
    taken = ContactFactory(email="taken@example.com")
    other = ContactFactory(email="other@example.com")

    response = post_batch(
        writer,
        [
            {"first_name": "Good", "email": "good@example.com"},
            {"first_name": "Bad", "email": "bad@example.com", "phone_numbers": [{"number": "12"}]},
            {"id": other.pk, "email": "taken@example.com"},
            {"id": 999999, "first_name": "Ghost"},
            {"first_name": "Also good", "shoe_size": 42},
            "not an object",
            {"id": "7", "first_name": "X"},
            {"id": 2**70, "first_name": "X"},
        ],
    )

    assert response.status_code == 200
    body = response.json()["results"]
    assert [(r["index"], r["status"]) for r in body] == [
        (0, "created"),
        (1, "error"),
        (2, "error"),
        (3, "error"),
        (4, "error"),
        (5, "error"),
        (6, "error"),
        (7, "error"),
    ]
    assert body[1]["id"] is None
    assert body[1]["errors"]["type"] == "validation_error"
    assert [(e["attr"], e["code"]) for e in body[1]["errors"]["errors"]] == [
        ("phone_numbers.0.number", "invalid_phone")
    ]
    # The same 409 body a PATCH would have had, under the matched contact's id.
    assert body[2]["id"] == other.pk
    assert body[2]["errors"] == {
        "type": "client_error",
        "errors": [
            {
                "code": "already_exists",
                "detail": f"A contact with the email taken@example.com already exists "
                f"(#{taken.pk}).",
                "attr": "email",
            }
        ],
        "existing_id": taken.pk,
    }
    assert body[3]["errors"]["errors"] == [
        {"code": "not_found", "detail": "No contact has the id 999999.", "attr": "id"}
    ]
    assert body[4]["errors"]["errors"][0]["code"] == "unknown_field"
    assert body[5]["errors"]["errors"][0] == {
        "code": "invalid",
        "detail": "Expected a contact object.",
        "attr": "non_field_errors",
    }
    assert body[6]["errors"]["errors"][0]["attr"] == "id"
    assert body[7]["errors"]["errors"][0] == {
        "code": "invalid",
        "detail": "A contact id is a whole number from 1.",
        "attr": "id",
    }
    assert set(Contact.objects.values_list("email", flat=True)) == {
        "good@example.com",
        "taken@example.com",
        "other@example.com",
    }


def test_an_item_that_changes_nothing_is_unchanged_and_writes_nothing(writer):
    contact = ContactFactory(first_name="Ada", email="ada@example.com", custom_fields={})
    PhoneNumberFactory(
        contact=contact, number="+14155550100", type="mobile", is_primary=True, do_not_call=False
    )
    contact.tags.add(TagFactory(name="VIP"))
    before = Contact.objects.get(pk=contact.pk).updated_at

    response = post_batch(
        writer,
        [
            {
                "email": "ADA@example.com",
                "first_name": "Ada",
                "phone_numbers": [{"number": "+1 415 555 0100"}],
                "tags": ["vip"],
            },
            {"id": contact.pk},
        ],
    )

    assert results(response) == [(0, "unchanged"), (1, "unchanged")]
    assert response.json()["results"][0]["id"] == contact.pk
    assert Contact.objects.get(pk=contact.pk).updated_at == before


def test_items_apply_in_order_so_a_repeated_email_updates_the_contact_just_created(writer):
    response = post_batch(
        writer,
        [
            {"first_name": "Ada", "email": "ada@example.com"},
            {"email": "ada@example.com", "company": "Analytical"},
            {"email": "ada@example.com", "company": "Analytical"},
        ],
    )

    assert results(response) == [(0, "created"), (1, "updated"), (2, "unchanged")]
    contact = Contact.objects.get()
    assert contact.company == "Analytical"
    assert {r["id"] for r in response.json()["results"]} == {contact.pk}


def test_custom_fields_are_validated_and_merged_as_by_patch(writer):
    CustomField.objects.create(key="industry", label="Industry")
    CustomField.objects.create(key="seats", label="Seats", type=CustomField.Type.NUMBER)
    contact = ContactFactory(email="c@example.com", custom_fields={"industry": "SaaS"})

    response = post_batch(
        writer,
        [
            {"email": "c@example.com", "custom_fields": {"seats": "12"}},
            {"first_name": "B", "custom_fields": {"seats": "many"}},
        ],
    )

    assert results(response) == [(0, "updated"), (1, "error")]
    assert response.json()["results"][1]["errors"]["errors"][0]["attr"] == "custom_fields.seats"
    contact.refresh_from_db()
    assert contact.custom_fields == {"industry": "SaaS", "seats": 12}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"first_name": "Ada"}, "not_a_list"),
        ([], "empty"),
        ([{"first_name": f"C{i}"} for i in range(101)], "max_length"),
    ],
)
def test_a_body_that_is_not_a_list_of_1_to_100_items_is_a_400_and_writes_nothing(
    writer, body, code
):
    response = post_batch(writer, body)

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert error_codes(response) == {"non_field_errors": [code]}
    assert not Contact.objects.exists()


def test_the_batch_needs_the_write_scope(reader, make_client):
    assert post_batch(reader, [{"first_name": "Ada"}]).status_code == 403
    assert error_codes(post_batch(reader, [{"first_name": "Ada"}])) == {None: ["permission_denied"]}
    assert post_batch(make_client(WRITE), [{"first_name": "Ada"}]).status_code == 200
    assert make_client(READ, WRITE).get(BATCH_URL).status_code == 405


def test_an_idempotency_key_replays_the_first_answer(writer):
    items = [{"first_name": "Ada", "email": "ada@example.com"}, {"first_name": ""}]
    key = {"HTTP_IDEMPOTENCY_KEY": "batch-1"}

    first = post_batch(writer, items, **key)
    again = post_batch(writer, items, **key)
    other = post_batch(writer, [{"first_name": "Bob"}], **key)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers[REPLAYED_HEADER] == "true"
    assert Contact.objects.count() == 1
    assert other.status_code == 422
    assert error_codes(other) == {None: ["idempotency_key_reused"]}


def test_the_batch_counts_once_against_the_rate_limit(writer, settings):
    settings.API_KEY_RATE = "10/min"
    items = [{"first_name": f"C{i}"} for i in range(20)]

    first = post_batch(writer, items)
    second = post_batch(writer, items)

    assert first.status_code == second.status_code == 200
    assert first.headers["RateLimit-Remaining"] == "9"
    assert second.headers["RateLimit-Remaining"] == "8"


def test_written_items_are_pushed_as_single_writes_are_and_unchanged_ones_are_not(
    writer, auto_push_connection, django_capture_on_commit_callbacks
):
    kept = ContactFactory(first_name="Kept", email="kept@example.com")
    RemoteLink.objects.all().delete()
    DBTaskResult.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_batch(
            writer,
            [
                {"first_name": "New", "email": "new@example.com"},
                {"email": "kept@example.com", "first_name": "Kept"},
                {"first_name": ""},
            ],
        )

    assert results(response) == [(0, "created"), (1, "unchanged"), (2, "error")]
    assert response.json()["results"][1]["id"] == kept.pk
    new = Contact.objects.get(email="new@example.com")
    assert list(RemoteLink.objects.values_list("contact_id", "state")) == [(new.pk, "pending")]
    assert DBTaskResult.objects.count() == 1


def test_100_items_take_a_bounded_number_of_queries(
    writer, auto_push_connection, django_capture_on_commit_callbacks
):
    CustomField.objects.create(key="industry", label="Industry")
    existing = [ContactFactory(email=f"u{i}@example.com") for i in range(50)]
    items = [
        {
            "first_name": f"New {i}",
            "email": f"n{i}@example.com",
            "phone_numbers": [{"number": f"+1415555{i:04d}"}],
            "tags": ["batch", f"t{i % 5}"],
            "custom_fields": {"industry": "SaaS"},
        }
        for i in range(50)
    ] + [{"email": contact.email, "company": "Updated", "tags": ["batch"]} for contact in existing]

    with CaptureQueriesContext(db_connection) as queries:
        response = post_batch(writer, items)

    assert [status for _, status in results(response)] == ["created"] * 50 + ["updated"] * 50
    # Each item is a single write in its savepoint: at most 12 statements an item (its
    # duplicate check, custom field definitions, the row, phones, tags and their links, its
    # remote link and push task), plus a few for the batch (the key, matching, definitions).
    assert len(queries) <= 100 * 12 + 20, len(queries)
    assert Contact.objects.filter(company="Updated").count() == 50


def test_the_written_contact_reads_back_as_the_detail_shows_it(api_client):
    response = post_batch(
        api_client, [{"first_name": "Ada", "phone_numbers": [{"number": "+14155550100"}]}]
    )

    contact_id = response.json()["results"][0]["id"]
    detail = api_client.get(detail_url(contact_id)).json()
    assert detail["phone_numbers"][0]["number"] == "+14155550100"
    assert detail["source"] == "api"


def test_a_staff_session_needs_both_add_and_change_contact(django_user_model):
    user = django_user_model.objects.create_user("clerk", "c@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="add_contact"))
    client = APIClient()
    client.force_login(user)

    assert post_batch(client, [{"first_name": "Ada"}]).status_code == 403

    user.user_permissions.add(Permission.objects.get(codename="change_contact"))
    client.force_login(django_user_model.objects.get(pk=user.pk))  # fresh permission cache
    assert results(post_batch(client, [{"first_name": "Ada"}])) == [(0, "created")]


def test_a_nul_character_echoed_in_an_items_errors_is_replaced_so_the_answer_can_be_kept(
    writer,
):
    response = post_batch(
        writer,
        [{"first_name": "Ada", "custom_fields": {"a\x00b": 1}}],
        HTTP_IDEMPOTENCY_KEY="nul",
    )

    assert response.status_code == 200
    [error] = response.json()["results"][0]["errors"]["errors"]
    assert error["code"] == "unknown_custom_field"
    assert error["attr"] == "custom_fields.a\ufffdb"
    assert "\x00" not in error["detail"]
    assert (
        post_batch(
            writer,
            [{"first_name": "Ada", "custom_fields": {"a\x00b": 1}}],
            HTTP_IDEMPOTENCY_KEY="nul",
        ).json()
        == response.json()
    )
