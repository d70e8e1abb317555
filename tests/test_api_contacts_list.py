"""The contacts list: pagination, filters, search, ordering and its query count."""

import datetime

import pytest
from django.utils import timezone

from crm.models import Contact
from tests.api_helpers import CONTACTS_URL, error_codes
from tests.factories import ContactFactory, PhoneNumberFactory, TagFactory


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def listed(client, **params) -> set[int]:
    return set(ids(client.get(CONTACTS_URL, params)))


# --- pagination ----------------------------------------------------------------------------


def test_it_paginates_by_page_number_with_a_count(reader):
    ContactFactory.create_batch(5)

    response = reader.get(CONTACTS_URL, {"page_size": 2, "page": 2})

    body = response.json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert "page=3" in body["next"]
    assert body["previous"]


def test_it_refuses_a_page_size_over_100(reader):
    Contact.objects.bulk_create(Contact(first_name=f"C{i}") for i in range(105))

    assert len(reader.get(CONTACTS_URL, {"page_size": 100}).json()["results"]) == 100
    response = reader.get(CONTACTS_URL, {"page_size": 1000})

    assert response.status_code == 400
    assert error_codes(response) == {"page_size": ["max_value"]}


def test_it_answers_a_page_past_the_end_with_404_not_found(reader):
    response = reader.get(CONTACTS_URL, {"page": 3})

    assert response.status_code == 404
    assert error_codes(response) == {None: ["not_found"]}


def test_it_lists_newest_changes_first_by_default(reader):
    first, second = ContactFactory(), ContactFactory()
    first.save()  # now the most recently updated

    assert ids(reader.get(CONTACTS_URL)) == [first.pk, second.pk]


def test_a_page_of_100_costs_the_same_fixed_number_of_queries_as_a_page_of_10(
    reader, django_assert_max_num_queries
):
    # key lookup, contacts, tags, phone numbers, remote links (PostgreSQL reads the last
    # three in the contacts' statement). No count: see tests/test_api_list_fast.py for the
    # cursor.
    bound = 5

    def make(count):
        tags = [TagFactory(), TagFactory()]
        for contact in ContactFactory.create_batch(count, tags=tags):
            PhoneNumberFactory(contact=contact)
            PhoneNumberFactory(contact=contact)

    make(10)
    with django_assert_max_num_queries(bound) as page_of_10:
        assert len(ids(reader.get(CONTACTS_URL, {"page_size": 100}))) == 10
    make(90)
    with django_assert_max_num_queries(bound) as page_of_100:
        assert len(ids(reader.get(CONTACTS_URL, {"page_size": 100}))) == 100

    assert len(page_of_100) == len(page_of_10)


# --- filters -------------------------------------------------------------------------------


def test_it_filters_by_tag_in_any_case_and_by_several_tags_together(reader):
    vip, tech = TagFactory(name="vip"), TagFactory(name="tech")
    both = ContactFactory(tags=[vip, tech])
    only_vip = ContactFactory(tags=[vip])
    ContactFactory()

    assert listed(reader, tag="VIP") == {both.pk, only_vip.pk}
    assert listed(reader, tag=["vip", "tech"]) == {both.pk}
    assert listed(reader, tag="nobody-has-this") == set()


@pytest.mark.parametrize("field", ["stage", "status", "source"])
def test_it_filters_by_one_or_several_choices(reader, field):
    values = {
        "stage": ("lead", "customer", "lost"),
        "status": ("contacted", "active", "unresponsive"),
        "source": ("website", "referral", "event"),
    }[field]
    a, b, c = (ContactFactory(**{field: value}) for value in values)

    assert listed(reader, **{field: values[0]}) == {a.pk}
    assert listed(reader, **{field: [values[0], values[1]]}) == {a.pk, b.pk}
    assert c.pk not in listed(reader, **{field: values[1]})


@pytest.mark.parametrize(
    ("params", "attr"),
    [
        ({"stage": "won"}, "stage"),
        ({"status": "x"}, "status"),
        ({"source": "x"}, "source"),
        ({"country": "zz"}, "country"),
        ({"created_since": "yesterday"}, "created_since"),
        ({"updated_since": "2026-13-45"}, "updated_since"),
        ({"has_phone": "maybe"}, "has_phone"),
        ({"owner": "me"}, "owner"),
        ({"owner": "99999999999999999999999"}, "owner"),
        ({"search": "x" * 201}, "search"),
        ({"tag": "x" * 65}, "tag"),
    ],
)
def test_it_answers_an_invalid_filter_value_with_a_validation_error(reader, params, attr):
    response = reader.get(CONTACTS_URL, params)

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert list(error_codes(response)) == [attr]


def test_it_filters_by_company_and_email_exactly_in_any_case(reader):
    acme = ContactFactory(company="Acme Inc", email="ann@acme.com")
    ContactFactory(company="Acme Incorporated", email="bob@acme.com")

    assert listed(reader, company="acme inc") == {acme.pk}
    assert listed(reader, email="ANN@acme.com") == {acme.pk}


def test_it_filters_by_country_code_in_any_case(reader):
    brazilian = ContactFactory(country="BR")
    ContactFactory(country="US")

    assert listed(reader, country="br") == {brazilian.pk}


def test_it_filters_by_owner(reader, django_user_model):
    owner = django_user_model.objects.create_user("owner")
    owned = ContactFactory(owner=owner)
    ContactFactory()

    assert listed(reader, owner=owner.pk) == {owned.pk}


def test_it_filters_by_created_and_updated_since(reader):
    old, new = ContactFactory(), ContactFactory()
    long_ago = timezone.now() - datetime.timedelta(days=30)
    Contact.objects.filter(pk=old.pk).update(created_at=long_ago, updated_at=long_ago)
    since = (timezone.now() - datetime.timedelta(days=1)).isoformat()

    assert listed(reader, created_since=since) == {new.pk}
    assert listed(reader, updated_since=since) == {new.pk}


def test_it_filters_by_having_a_phone_number(reader):
    with_phone, without = ContactFactory(), ContactFactory()
    PhoneNumberFactory(contact=with_phone)
    PhoneNumberFactory(contact=with_phone)

    assert ids(reader.get(CONTACTS_URL, {"has_phone": "true"})) == [with_phone.pk]
    assert listed(reader, has_phone="false") == {without.pk}


# --- search --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term",
    [
        "jane",
        "SMITH",
        "jane smith",
        "jane@company",
        "tech corp",
        "+5511988888888",
        "11 98888-8888",
        "(11) 98888 8888",
        "988888888",
    ],
)
def test_it_searches_by_name_email_company_and_phone_in_any_format(reader, term):
    jane = ContactFactory(
        first_name="Jane", last_name="Smith", email="jane@company.com", company="Tech Corp"
    )
    PhoneNumberFactory(contact=jane, number="+5511988888888")
    ContactFactory(first_name="Bob", last_name="Brown", email="bob@x.com", company="Other")

    assert ids(reader.get(CONTACTS_URL, {"search": term})) == [jane.pk]


def test_search_combines_with_filters(reader):
    vip = TagFactory(name="vip")
    jane_vip = ContactFactory(first_name="Jane", tags=[vip])
    ContactFactory(first_name="Jane")

    assert listed(reader, search="jane", tag="vip") == {jane_vip.pk}


# --- ordering ------------------------------------------------------------------------------


def test_it_orders_by_an_allowed_field_either_way(reader):
    b, a, c = (ContactFactory(last_name=name) for name in ("B", "A", "C"))

    assert ids(reader.get(CONTACTS_URL, {"ordering": "last_name"})) == [a.pk, b.pk, c.pk]
    assert ids(reader.get(CONTACTS_URL, {"ordering": "-last_name"})) == [c.pk, b.pk, a.pk]


def test_ties_are_broken_by_id_so_pages_never_overlap(reader):
    contacts = ContactFactory.create_batch(6, company="Same")

    pages = [
        ids(reader.get(CONTACTS_URL, {"ordering": "company", "page_size": 2, "page": page}))
        for page in (1, 2, 3)
    ]

    assert [pk for page in pages for pk in page] == sorted(c.pk for c in contacts)
