"""Case-insensitive means Unicode case on every database, SQLite (the default) included."""

import pytest

from crm.models import Contact, Tag
from tests.api_helpers import CONTACTS_URL

pytestmark = pytest.mark.django_db


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("name", ["ÉLITE", "Ωmega", "ÆRØ"])
def test_a_new_tag_with_a_non_ascii_capital_is_created(api_client, name):
    response = api_client.post(CONTACTS_URL, {"first_name": "T", "tags": [name]}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["tags"] == [name]


def test_tag_names_are_unique_in_any_unicode_case(api_client):
    api_client.post(CONTACTS_URL, {"first_name": "A", "tags": ["ÉLITE"]}, format="json")
    response = api_client.post(CONTACTS_URL, {"first_name": "B", "tags": ["élite"]}, format="json")

    assert response.status_code == 201, response.content
    assert Tag.objects.count() == 1
    assert response.json()["tags"] == ["ÉLITE"]


def test_emails_are_unique_in_any_unicode_case(api_client):
    first = api_client.post(
        CONTACTS_URL, {"first_name": "A", "email": "a@école.example"}, format="json"
    )
    second = api_client.post(
        CONTACTS_URL, {"first_name": "B", "email": "A@ÉCOLE.example"}, format="json"
    )

    assert first.status_code == 201
    assert second.status_code == 409, second.content
    assert Contact.objects.count() == 1


def test_filters_and_search_match_any_unicode_case(api_client, contact_factory, tag_factory):
    elite = tag_factory(name="élite")
    dane = contact_factory(first_name="Åse", last_name="Ærøskøbing", company="Ünïcödé GmbH")
    dane.tags.add(elite)
    contact_factory(first_name="Other", last_name="Person", company="Acme")

    assert ids(api_client.get(CONTACTS_URL, {"tag": "ÉLITE"})) == {dane.pk}
    assert ids(api_client.get(CONTACTS_URL, {"search": "ærøskøbing"})) == {dane.pk}
    assert ids(api_client.get(CONTACTS_URL, {"search": "ÅSE"})) == {dane.pk}
    assert ids(api_client.get(CONTACTS_URL, {"company": "ünïcödé gmbh"})) == {dane.pk}


def test_the_admin_search_matches_any_unicode_case(staff_client, contact_factory):
    contact_factory(first_name="Ørjan", last_name="Ærøskøbing")

    response = staff_client.get("/admin/crm/contact/", {"q": "ørjan"})

    assert response.status_code == 200
    assert [c.last_name for c in response.context["cl"].result_list] == ["Ærøskøbing"]


@pytest.mark.parametrize(
    "pattern, value, expected",
    [
        ("%rø%", "ÆRØSKØBING", True),
        ("a\\%b", "A%B", True),
        ("a\\%b", "axb", False),
        ("a_c", "ÅBC", False),
        ("_bc", "ÅBC", True),
        ("line%", "LINE\nbreak", True),
    ],
)
def test_like_folds_unicode_and_honours_wildcards_and_escapes(pattern, value, expected):
    from crm.sqlite_unicode import like

    assert like(pattern, value, "\\") is expected
