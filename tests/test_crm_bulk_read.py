"""crm.bulk_read, the dry run's and the batch triage's way of reading contacts in bulk: every
adapter's payload (and what its mapping leaves out) is the same as from contacts read the
simple way, with their tags and phone numbers prefetched as model instances; in three
queries whatever the count."""

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from crm.bulk_read import contacts_in_bulk
from crm.models import Contact, CustomField, PhoneNumber, Tag
from integrations.adapters import payload_hash
from integrations.providers import adapter_class

CLOSE_FIELDS = [
    {
        "id": "cf_tags",
        "name": "Tags",
        "type": "choices",
        "choices": ["vip", "Ünïcode"],
        "accepts_multiple_values": True,
    },
    {"id": "cf_industry", "name": "Industry", "type": "text"},
    {"id": "cf_seats", "name": "Seats", "type": "number"},
    {"id": "cf_phone", "name": "Phone", "type": "text"},
]
CLOSE_MAP = [
    {"target": "custom.cf_tags", "source": "field:tags"},
    {"target": "custom.cf_industry", "source": "cf:industry"},
    {"target": "custom.cf_seats", "source": "cf:seats"},
    {"target": "custom.cf_phone", "source": "field:phone"},
]
# (provider, options, field_map, provider_fields): every provider, with and without a mapping.
ADAPTERS = [
    ("getraze", {}, [], None),
    ("getraze", {}, [{"target": "custom_fields.tags", "source": "field:tags"}], None),
    ("contactship", {}, [], None),
    ("klen", {"team_id": 7}, [], None),
    ("close", {}, [], None),
    ("close", {}, CLOSE_MAP, CLOSE_FIELDS),
    ("webhook", {}, [], None),
]


@pytest.fixture
def contacts(db) -> list[int]:
    CustomField.objects.create(key="industry", label="Industry")
    CustomField.objects.create(key="seats", label="Seats", type="number")
    tags = {name: Tag.objects.create(name=name) for name in ("vip", "Ünïcode", "alpha", "Zeta")}
    plain = Contact.objects.create(first_name="Plain", email="plain@example.com")
    full = Contact.objects.create(
        first_name="Zoë",
        last_name="Ñúñez",
        email="zoe@example.com",
        company="Café Ltd",
        title="Directrice",
        country="ES",
        custom_fields={"industry": "Télécom", "seats": 12},
        linkedin_url="https://linkedin.com/in/zoe",
    )
    full.tags.set(tags.values())
    # The primary one is not the first by id: the order the payloads read must still match.
    PhoneNumber.objects.create(contact=full, number="+34612345678", type="work")
    PhoneNumber.objects.create(contact=full, number="+14155550123", is_primary=True)
    PhoneNumber.objects.create(contact=full, number="+442071838750", type="fax", do_not_call=True)
    phones_only = Contact.objects.create(first_name="Phones", custom_fields={"seats": 3})
    PhoneNumber.objects.create(contact=phones_only, number="+14155550124", type="home")
    PhoneNumber.objects.create(contact=phones_only, number="+14155550125")
    tags_only = Contact.objects.create(first_name="日本", email="tags@example.com")
    tags_only.tags.set([tags["Zeta"], tags["alpha"]])
    # Stored as typed, not E.164 (an invalid number is kept raw): read as the field reads it.
    odd = Contact.objects.create(first_name="Odd", email="odd@example.com")
    PhoneNumber.objects.bulk_create([PhoneNumber(contact=odd, number="12345")])
    return [plain.pk, full.pk, phones_only.pk, tags_only.pk, odd.pk]


def simple(ids):
    return Contact.objects.prefetch_related("tags", "phone_numbers").in_bulk(ids)


@pytest.mark.parametrize(("provider", "options", "field_map", "provider_fields"), ADAPTERS)
def test_payloads_are_those_of_contacts_read_the_simple_way(
    contacts, provider, options, field_map, provider_fields
):
    adapter = adapter_class(provider)(
        base_url="https://receiver.example/hook",
        api_key="whsec_" + "a" * 32 if provider == "webhook" else "",
        options=options,
        field_map=field_map,
        provider_fields=provider_fields,
    )

    def payloads(by_pk):
        built = {}
        for pk in contacts:
            payload = adapter.build_payload(by_pk[pk])
            built[pk] = (payload, payload_hash(payload), list(adapter.payload_warnings))
        return built

    expected, fast = payloads(simple(contacts)), payloads(contacts_in_bulk(ids=contacts))
    assert fast == expected
    full = expected[contacts[1]][0]
    if provider in ("getraze", "klen"):  # the data reached the payload at all
        assert full["tags"] == ["alpha", "vip", "Zeta", "Ünïcode"]
    if provider == "close" and field_map:
        assert full["custom.cf_tags"] == ["vip", "Ünïcode"]
        assert full["custom.cf_phone"] == "+14155550123"
        assert fast[contacts[1]][2]  # the tags Close's choices leave out are warned of


def test_contacts_read_in_bulk_read_like_the_simple_way(contacts):
    expected, fast = simple(contacts), contacts_in_bulk(ids=[*contacts, 10**9])
    assert list(fast) == list(expected)  # the same contacts, in the same order
    for pk, contact in fast.items():
        assert contact.tag_names() == expected[pk].tag_names()
        read = [
            (p.pk, p.number.as_e164, p.type, p.is_primary, p.do_not_call) for p in contact.phones()
        ]
        want = [
            (p.pk, p.number.as_e164, p.type, p.is_primary, p.do_not_call)
            for p in expected[pk].phones()
        ]
        assert read == want
        primary = contact.primary_phone()
        assert (primary and primary.pk) == (
            expected[pk].primary_phone() and expected[pk].primary_phone().pk
        )
    assert fast[contacts[4]].phones()[0].number.raw_input == "12345"
    assert contacts_in_bulk(ids=[]) == {}


def test_three_queries_whatever_the_count(contacts, django_assert_num_queries):
    with django_assert_num_queries(3):  # the contacts, their tag names, their phone numbers
        by_pk = contacts_in_bulk(ids=contacts)
    with CaptureQueriesContext(db_connection) as reading:
        for contact in by_pk.values():
            contact.tag_names(), contact.phones(), contact.primary_phone()
    assert len(reading) == 0
    with django_assert_num_queries(3):
        contacts_in_bulk(ids=contacts[:1])


def test_a_contact_not_read_in_bulk_reads_its_related_rows(contacts):
    contact = Contact.objects.get(pk=contacts[1])
    assert contact.tag_names() == ["alpha", "vip", "Zeta", "Ünïcode"]
    assert str(contact.phones()[0].number) == "+14155550123"
    assert isinstance(contact.primary_phone(), PhoneNumber)
