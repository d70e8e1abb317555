"""The contacts endpoints: create, read, update, delete, validation codes and idempotency."""

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from apikeys.idempotency import REPLAYED_HEADER
from apikeys.models import IdempotencyRecord
from crm.models import Contact, CustomField, Tag
from tests.api_helpers import CONTACTS_URL, READ, WRITE, detail_url, error_codes
from tests.factories import ContactFactory, CustomFieldFactory, PhoneNumberFactory, TagFactory

SEED_PAYLOAD = {
    "first_name": "Jane",
    "last_name": "Smith",
    "email": "jane@company.com",
    "phone_numbers": [{"number": "+5511988888888"}],
    "company": "Tech Corp",
    "title": "CTO",
    "tags": ["hot-lead", "tech"],
}

REPRESENTATION_KEYS = {
    "id",
    "first_name",
    "last_name",
    "full_name",
    "email",
    "company",
    "title",
    "linkedin_url",
    "website",
    "address",
    "city",
    "state",
    "zip_code",
    "country",
    "source",
    "status",
    "stage",
    "description",
    "owner",
    "phone_numbers",
    "tags",
    "custom_fields",
    "created_at",
    "updated_at",
    "remote_links",
}


def post(client, data, **extra):
    return client.post(CONTACTS_URL, data, format="json", **extra)


def post_raw(client, body: bytes | str, content_type="application/json"):
    return client.generic("POST", CONTACTS_URL, body, content_type=content_type)


# --- create --------------------------------------------------------------------------------


def test_it_creates_the_seed_payload_then_answers_409_already_exists_with_the_existing_id(
    api_client,
):
    created = post(api_client, SEED_PAYLOAD)

    assert created.status_code == 201, created.json()
    body = created.json()
    assert set(body) == REPRESENTATION_KEYS
    assert body["full_name"] == "Jane Smith"
    assert body["phone_numbers"] == [
        {
            "id": body["phone_numbers"][0]["id"],
            "number": "+5511988888888",
            "type": "mobile",
            "is_primary": True,
            "do_not_call": False,
        }
    ]
    assert body["tags"] == ["hot-lead", "tech"]
    assert created["Location"].endswith(detail_url(body["id"]))

    again = post(api_client, SEED_PAYLOAD)

    assert again.status_code == 409
    assert again.json() == {
        "type": "client_error",
        "errors": [
            {
                "code": "already_exists",
                "detail": "A contact with the email jane@company.com already exists "
                f"(#{body['id']}).",
                "attr": "email",
            }
        ],
        "existing_id": body["id"],
    }
    assert Contact.objects.count() == 1


def test_it_treats_emails_case_insensitively_when_finding_duplicates(api_client):
    existing = ContactFactory(email="jane@company.com")

    response = post(api_client, {"first_name": "J", "email": "  JANE@Company.COM "})

    assert response.status_code == 409
    assert response.json()["existing_id"] == existing.pk


def test_it_writes_through_the_service_so_phones_are_normalised_and_the_first_is_primary(
    api_client,
):
    response = post(
        api_client,
        {
            "first_name": "Ann",
            "phone_numbers": [
                {"number": "(415) 555-0100", "type": "work"},
                {"number": "+44 20 7946 0958", "do_not_call": True},
            ],
        },
    )

    assert response.status_code == 201, response.json()
    phones = response.json()["phone_numbers"]
    assert [(p["number"], p["type"], p["is_primary"], p["do_not_call"]) for p in phones] == [
        ("+14155550100", "work", True, False),
        ("+442079460958", "mobile", False, True),
    ]


def test_it_creates_tags_on_first_use_and_reuses_existing_ones_in_any_case(api_client):
    TagFactory(name="VIP")

    response = post(api_client, {"first_name": "Ann", "tags": ["vip", "  new   tag ", "VIP"]})

    assert response.status_code == 201, response.json()
    assert response.json()["tags"] == ["new tag", "VIP"]
    assert set(Tag.objects.values_list("name", flat=True)) == {"new tag", "VIP"}


def test_it_sets_source_to_api_unless_the_client_says_otherwise(api_client):
    assert post(api_client, {"first_name": "A"}).json()["source"] == "api"
    assert (
        post(api_client, {"first_name": "B", "source": "referral"}).json()["source"] == "referral"
    )


def test_it_validates_and_normalises_custom_fields_by_their_definitions(api_client):
    CustomFieldFactory(key="deal_size", type=CustomField.Type.NUMBER)
    CustomFieldFactory(key="industry", type=CustomField.Type.CHOICE, choices=["SaaS", "Retail"])

    response = post(
        api_client, {"first_name": "A", "custom_fields": {"deal_size": "1,200", "industry": "saas"}}
    )

    assert response.status_code == 201, response.json()
    assert response.json()["custom_fields"] == {"deal_size": 1200, "industry": "SaaS"}


def test_it_answers_unknown_and_invalid_custom_fields_with_their_keys(api_client):
    CustomFieldFactory(key="deal_size", type=CustomField.Type.NUMBER, label="Deal size")

    response = post(
        api_client, {"first_name": "A", "custom_fields": {"deal_size": "lots", "shoe_size": 42}}
    )

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert error_codes(response) == {
        "custom_fields.deal_size": ["invalid_custom_field"],
        "custom_fields.shoe_size": ["unknown_custom_field"],
    }


def test_it_enforces_required_custom_fields_on_create_even_when_none_are_sent(api_client):
    CustomFieldFactory(key="industry", label="Industry", required=True)

    response = post(api_client, {"first_name": "A"})

    assert response.status_code == 400
    assert error_codes(response) == {"custom_fields.industry": ["required"]}


def test_it_lets_a_staff_user_choose_an_owner(api_client, django_user_model):
    owner = django_user_model.objects.create_user("owner", is_staff=True)

    response = post(api_client, {"first_name": "A", "owner": owner.pk})

    assert response.status_code == 201
    assert response.json()["owner"] == owner.pk


# --- validation codes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, {"first_name": ["required"]}),
        ({"first_name": ""}, {"first_name": ["required"]}),
        ({"first_name": "   "}, {"first_name": ["required"]}),
        ({"first_name": "A", "email": "not-an-email"}, {"email": ["invalid_email"]}),
        ({"first_name": "A", "website": "nope"}, {"website": ["invalid_url"]}),
        ({"first_name": "A", "linkedin_url": "x"}, {"linkedin_url": ["invalid_url"]}),
        (
            {"first_name": "A", "phone_numbers": [{"number": "12"}]},
            {"phone_numbers.0.number": ["invalid_phone"]},
        ),
        (
            {
                "first_name": "A",
                "phone_numbers": [{"number": "+14155550100"}, {"number": "(415) 555-0100"}],
            },
            {"phone_numbers.1.number": ["duplicate_phone"]},
        ),
        (
            {
                "first_name": "A",
                "phone_numbers": [
                    {"number": "+14155550100", "is_primary": True},
                    {"number": "+14155550101", "is_primary": True},
                ],
            },
            {"phone_numbers.non_field_errors": ["multiple_primary"]},
        ),
        (
            {"first_name": "A", "phone_numbers": [{"number": "+14155550100", "type": "pager"}]},
            {"phone_numbers.0.type": ["invalid_choice"]},
        ),
        ({"first_name": "A", "stage": "won"}, {"stage": ["invalid_choice"]}),
        ({"first_name": "A", "country": "Atlantis"}, {"country": ["invalid_choice"]}),
        ({"first_name": "A", "owner": 999999}, {"owner": ["does_not_exist"]}),
        ({"first_name": "A", "owner": True}, {"owner": ["incorrect_type"]}),
    ],
)
def test_it_answers_each_invalid_field_with_a_stable_code(api_client, payload, expected):
    response = post(api_client, payload)

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert error_codes(response) == expected


def test_it_reports_several_phone_errors_at_once_each_at_its_index(api_client):
    response = post(
        api_client,
        {
            "first_name": "A",
            "phone_numbers": [{"number": "+14155550100"}, {"number": "x"}, {"number": "y"}],
        },
    )

    assert error_codes(response) == {
        "phone_numbers.1.number": ["invalid_phone"],
        "phone_numbers.2.number": ["invalid_phone"],
    }


@pytest.mark.parametrize(
    ("payload", "attr", "name"),
    [
        ({"first_name": "A", "nickname": "x"}, "nickname", "nickname"),
        (
            {"first_name": "A", "phone_numbers": [{"number": "+14155550100", "primary": True}]},
            "phone_numbers.0.primary",
            "primary",
        ),
    ],
)
def test_it_rejects_unknown_fields_instead_of_ignoring_them(api_client, payload, attr, name):
    response = post(api_client, payload)

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "unknown_field", "detail": f"Unknown field “{name}”.", "attr": attr}
    ]
    assert Contact.objects.count() == 0


def test_it_names_at_most_20_unknown_fields_and_counts_the_rest(api_client):
    response = post(api_client, {"first_name": "A", **{f"junk{i:04}": 1 for i in range(1000)}})

    errors = response.json()["errors"]
    assert len(errors) == 21
    assert errors[-1]["detail"] == "…and 980 more unknown fields."
    assert {e["code"] for e in errors} == {"unknown_field"}


def test_it_refuses_more_than_100_custom_field_keys(api_client):
    response = post(
        api_client, {"first_name": "A", "custom_fields": {f"k{i}": 1 for i in range(101)}}
    )

    assert error_codes(response) == {"custom_fields": ["max_length"]}


def test_it_reports_unknown_fields_together_with_other_field_errors(api_client):
    response = post(api_client, {"first_name": "", "email": "x", "nickname": "y"})

    assert error_codes(response) == {
        "email": ["invalid_email"],
        "nickname": ["unknown_field"],
    }


def test_it_accepts_read_only_fields_so_a_fetched_contact_can_be_sent_back(api_client):
    contact = ContactFactory()
    body = api_client.get(detail_url(contact.pk)).json()

    response = api_client.put(detail_url(contact.pk), body, format="json")

    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"first_name": None}, {"first_name": ["null"]}),
        ({"first_name": "A", "email": None}, {"email": ["null"]}),
        ({"first_name": "A", "phone_numbers": None}, {"phone_numbers": ["null"]}),
        ({"first_name": "A", "phone_numbers": [None]}, {"phone_numbers.0": ["null"]}),
        (
            {"first_name": "A", "phone_numbers": [{"number": None}]},
            {"phone_numbers.0.number": ["null"]},
        ),
        ({"first_name": "A", "tags": None}, {"tags": ["null"]}),
        ({"first_name": "A", "tags": [None]}, {"tags.0": ["null"]}),
        ({"first_name": "A", "custom_fields": None}, {"custom_fields": ["null"]}),
    ],
)
def test_it_answers_nulls_with_the_null_code(api_client, payload, expected):
    response = post(api_client, payload)

    assert response.status_code == 400
    assert error_codes(response) == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"first_name": {"a": 1}}, {"first_name": ["invalid"]}),
        ({"first_name": ["A"]}, {"first_name": ["invalid"]}),
        (
            {"first_name": "A", "phone_numbers": "+14155550100"},
            {"phone_numbers.non_field_errors": ["not_a_list"]},
        ),
        (
            {"first_name": "A", "phone_numbers": ["+14155550100"]},
            {"phone_numbers.0.non_field_errors": ["invalid"]},
        ),
        (
            {
                "first_name": "A",
                "phone_numbers": [{"number": "+14155550100", "is_primary": "maybe"}],
            },
            {"phone_numbers.0.is_primary": ["invalid"]},
        ),
        ({"first_name": "A", "tags": "vip"}, {"tags": ["not_a_list"]}),
        ({"first_name": "A", "tags": [{"name": "vip"}]}, {"tags.0": ["invalid"]}),
        ({"first_name": "A", "custom_fields": ["x"]}, {"custom_fields": ["not_a_dict"]}),
        ({"first_name": "A", "owner": "me"}, {"owner": ["incorrect_type"]}),
    ],
)
def test_it_answers_wrong_types_with_a_code(api_client, payload, expected):
    response = post(api_client, payload)

    assert response.status_code == 400
    assert error_codes(response) == expected


@pytest.mark.parametrize("body", ["[]", '"jane"', "42", "null"])
def test_it_answers_a_body_that_is_not_an_object_with_a_validation_error(api_client, body):
    response = post_raw(api_client, body)

    assert response.status_code == 400
    assert list(error_codes(response)) == ["non_field_errors"]


def test_it_answers_huge_strings_with_length_codes_not_a_server_error(api_client):
    CustomFieldFactory(key="notes", type=CustomField.Type.TEXT)
    huge = "x" * 100_000

    response = post(
        api_client,
        {
            "first_name": huge,
            "description": huge,
            "tags": [huge],
            "phone_numbers": [{"number": "+1" + "5" * 10_000}],
        },
    )

    assert response.status_code == 400
    assert error_codes(response) == {
        "first_name": ["max_length"],
        "description": ["max_length"],
        "tags.0": ["max_length"],
    }
    # The service checks phones and custom fields once the shapes are right.
    response = post(
        api_client,
        {
            "first_name": "A",
            "phone_numbers": [{"number": "+1" + "5" * 10_000}],
            "custom_fields": {"notes": huge, huge: 1},
        },
    )
    assert response.status_code == 400
    codes = error_codes(response)
    assert codes.pop("phone_numbers.0.number") == ["invalid_phone"]
    assert codes.pop("custom_fields.notes") == ["invalid_custom_field"]
    ((attr, unknown),) = codes.items()
    assert attr.startswith("custom_fields.x") and unknown == ["unknown_custom_field"]
    assert len(json.dumps(response.json())) < 10_000  # huge values are not echoed back


@pytest.mark.parametrize("value", ["1e5000", "1e999999", "9" * 4400])
def test_a_number_custom_field_too_large_to_store_is_a_validation_error(api_client, value):
    CustomFieldFactory(key="deal_size", type=CustomField.Type.NUMBER)

    response = post(api_client, {"first_name": "A", "custom_fields": {"deal_size": value}})

    assert response.status_code == 400
    assert error_codes(response) == {"custom_fields.deal_size": ["invalid_custom_field"]}


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"first_name": "A",}', b'{"first_name": NaN}', b"\xff\xfe", b"[" * 50_000],
)
def test_it_answers_malformed_json_with_invalid_json(api_client, body):
    response = post_raw(api_client, body)

    assert response.status_code == 400
    assert response.json()["type"] == "client_error"
    assert error_codes(response) == {None: ["invalid_json"]}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("first_name=Jane", "application/x-www-form-urlencoded"),
        ("first_name: Jane", "text/plain"),
        ("<contact/>", "application/xml"),
    ],
)
def test_it_answers_non_json_bodies_with_415(api_client, body, content_type):
    response = post_raw(api_client, body, content_type=content_type)

    assert response.status_code == 415
    assert error_codes(response) == {None: ["unsupported_media_type"]}


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_it_answers_an_oversized_body_with_413(api_client):
    response = post(api_client, {"first_name": "A", "description": "x" * 2_000})

    assert response.status_code == 413
    assert response.json()["type"] == "client_error"
    assert error_codes(response) == {None: ["request_too_large"]}
    assert Contact.objects.count() == 0


# --- retrieve, update, delete --------------------------------------------------------------


def test_it_retrieves_a_contact_with_everything_attached(reader):
    owner_tag = TagFactory(name="vip")
    contact = ContactFactory(
        first_name="Ann", last_name="Lee", country="BR", tags=[owner_tag], custom_fields={}
    )
    PhoneNumberFactory(contact=contact, number="+14155550100", is_primary=True)

    response = reader.get(detail_url(contact.pk))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == REPRESENTATION_KEYS
    assert body["id"] == contact.pk
    assert body["full_name"] == "Ann Lee"
    assert body["country"] == "BR"
    assert body["tags"] == ["vip"]
    assert body["phone_numbers"][0]["number"] == "+14155550100"
    assert body["owner"] is None


@pytest.mark.parametrize("path", ["999999/", "99999999999999999999999999/", "abc/", "1/extra/"])
def test_it_answers_a_missing_contact_with_404_not_found(reader, path):
    response = reader.get(CONTACTS_URL + path)

    assert response.status_code == 404
    assert response.json()["type"] == "client_error"
    assert error_codes(response) == {None: ["not_found"]}


def test_put_requires_first_name_and_replaces_only_the_sets_it_is_sent(api_client):
    contact = ContactFactory(first_name="Old", company="Acme")
    PhoneNumberFactory(contact=contact, number="+14155550100")
    contact.tags.set([TagFactory(name="keep")])

    missing = api_client.put(detail_url(contact.pk), {"company": "New"}, format="json")
    assert missing.status_code == 400
    assert error_codes(missing) == {"first_name": ["required"]}

    response = api_client.put(
        detail_url(contact.pk),
        {"first_name": "New", "phone_numbers": [{"number": "+14155550199"}]},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["first_name"] == "New"
    assert body["company"] == "Acme"  # left out: unchanged
    assert [p["number"] for p in body["phone_numbers"]] == ["+14155550199"]
    assert body["tags"] == ["keep"]  # not sent: unchanged


def test_patch_changes_only_what_is_sent(api_client):
    contact = ContactFactory(first_name="Ann", company="Acme", stage="lead")
    contact.tags.set([TagFactory(name="a"), TagFactory(name="b")])

    response = api_client.patch(
        detail_url(contact.pk), {"stage": "customer", "tags": ["c"]}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["first_name"], body["company"], body["stage"]) == ("Ann", "Acme", "customer")
    assert body["tags"] == ["c"]


def test_patch_refuses_blanking_the_first_name_with_required(api_client):
    contact = ContactFactory()

    response = api_client.patch(detail_url(contact.pk), {"first_name": ""}, format="json")

    assert error_codes(response) == {"first_name": ["required"]}


def test_patch_keeps_the_row_of_a_phone_number_that_stays(api_client):
    contact = ContactFactory()
    phone = PhoneNumberFactory(contact=contact, number="+14155550100", type="work")

    response = api_client.patch(
        detail_url(contact.pk),
        {"phone_numbers": [{"number": "415-555-0100", "type": "home", "do_not_call": True}]},
        format="json",
    )

    assert response.json()["phone_numbers"] == [
        {
            "id": phone.pk,
            "number": "+14155550100",
            "type": "home",
            "is_primary": True,
            "do_not_call": True,
        }
    ]


def test_patch_merges_custom_fields_and_null_removes_a_value(api_client):
    CustomFieldFactory(key="industry")
    CustomFieldFactory(key="region")
    CustomFieldFactory(key="size", type=CustomField.Type.NUMBER)
    contact = ContactFactory(
        custom_fields={"industry": "SaaS", "region": "EU", "retired_field": "x"}
    )

    response = api_client.patch(
        detail_url(contact.pk),
        {"custom_fields": {"region": None, "size": 12}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    # Values of a deleted definition are dropped, not reported as unknown.
    assert response.json()["custom_fields"] == {"industry": "SaaS", "size": 12}


def test_put_replaces_all_custom_fields(api_client):
    CustomFieldFactory(key="industry")
    CustomFieldFactory(key="region")
    contact = ContactFactory(custom_fields={"industry": "SaaS", "region": "EU"})

    response = api_client.put(
        detail_url(contact.pk),
        {"first_name": "A", "custom_fields": {"region": "US"}},
        format="json",
    )

    assert response.json()["custom_fields"] == {"region": "US"}


def test_changing_the_email_to_another_contacts_answers_409(api_client):
    existing = ContactFactory(email="taken@example.com")
    contact = ContactFactory()

    response = api_client.patch(
        detail_url(contact.pk), {"email": "Taken@example.com"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["existing_id"] == existing.pk


def test_it_deletes_a_contact(api_client):
    contact = ContactFactory()

    response = api_client.delete(detail_url(contact.pk))

    assert response.status_code == 204
    assert api_client.get(detail_url(contact.pk)).status_code == 404


def test_it_answers_a_wrong_method_with_405(api_client):
    response = api_client.delete(CONTACTS_URL)

    assert response.status_code == 405
    assert error_codes(response) == {None: ["method_not_allowed"]}


def test_it_answers_json_even_to_an_accept_header_without_json(api_client):
    # A key request always gets JSON (api/negotiation.py): no 406, no HTML page.
    response = api_client.get(CONTACTS_URL, HTTP_ACCEPT="application/xml")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


# --- idempotency ---------------------------------------------------------------------------


def test_a_retried_create_with_the_same_idempotency_key_returns_the_first_result(api_client):
    first = post(api_client, SEED_PAYLOAD, HTTP_IDEMPOTENCY_KEY="abc-123")
    retry = post(api_client, SEED_PAYLOAD, HTTP_IDEMPOTENCY_KEY="abc-123")

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry[REPLAYED_HEADER] == "true"
    assert retry["Location"] == first["Location"]
    assert REPLAYED_HEADER not in first
    assert Contact.objects.count() == 1


def test_a_contact_without_email_is_not_created_twice_by_a_retry(api_client):
    first = post(api_client, {"first_name": "A"}, HTTP_IDEMPOTENCY_KEY="k")
    retry = post(api_client, {"first_name": "A"}, HTTP_IDEMPOTENCY_KEY="k")

    assert retry.json()["id"] == first.json()["id"]
    assert Contact.objects.count() == 1


def test_a_retry_that_loses_a_race_to_the_first_request_replays_it_and_keeps_nothing(
    api_client, monkeypatch
):
    first = post(api_client, {"first_name": "A"}, HTTP_IDEMPOTENCY_KEY="k")
    records = IdempotencyRecord.objects
    real_filter = records.filter
    lookups = []

    def filter_too_early(*args, **kwargs):
        # The first request has not committed when the retry looks: the retry creates its
        # contact, then the unique constraint stops it.
        lookups.append(kwargs)
        return records.none() if len(lookups) == 1 else real_filter(*args, **kwargs)

    monkeypatch.setattr(records, "filter", filter_too_early)
    retry = post(api_client, {"first_name": "A"}, HTTP_IDEMPOTENCY_KEY="k")

    assert len(lookups) == 2  # found nothing, lost the race, then found the first one
    assert retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert Contact.objects.count() == 1


def test_the_same_idempotency_key_with_another_body_answers_422(api_client):
    post(api_client, {"first_name": "A"}, HTTP_IDEMPOTENCY_KEY="k")

    response = post(api_client, {"first_name": "B"}, HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 422
    assert error_codes(response) == {None: ["idempotency_key_reused"]}
    assert Contact.objects.count() == 1


def test_idempotency_keys_belong_to_one_api_key(api_client, make_client):
    other = make_client(READ, WRITE)

    post(api_client, {"first_name": "A"}, HTTP_IDEMPOTENCY_KEY="k")
    response = post(other, {"first_name": "A"}, HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 201
    assert REPLAYED_HEADER not in response
    assert Contact.objects.count() == 2


def test_a_failed_create_is_not_remembered_so_a_corrected_retry_can_use_the_key(api_client):
    failed = post(api_client, {"first_name": ""}, HTTP_IDEMPOTENCY_KEY="k")
    fixed = post(api_client, {"first_name": "A"}, HTTP_IDEMPOTENCY_KEY="k")

    assert failed.status_code == 400
    assert fixed.status_code == 201
    assert IdempotencyRecord.objects.count() == 1


def test_an_idempotency_key_is_forgotten_after_its_retention(api_client, settings):
    post(api_client, {"first_name": "A"}, HTTP_IDEMPOTENCY_KEY="k")
    IdempotencyRecord.objects.update(created_at=timezone.now() - datetime.timedelta(hours=25))

    response = post(api_client, {"first_name": "B"}, HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 201
    assert Contact.objects.count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "clé"])
def test_an_invalid_idempotency_key_is_a_validation_error_on_the_header(api_client, key):
    response = post(api_client, {"first_name": "A"}, HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert error_codes(response) == {"Idempotency-Key": ["invalid"]}


def test_prune_idempotency_records_deletes_only_expired_ones(api_client):
    post(api_client, {"first_name": "A"}, HTTP_IDEMPOTENCY_KEY="old")
    post(api_client, {"first_name": "B"}, HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - datetime.timedelta(days=2)
    )

    call_command("prune_idempotency_records", stdout=io.StringIO())

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
