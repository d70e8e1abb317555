import pytest
from django.db import connection

from crm.models import Contact
from crm.selectors import contact_search_filter

pytestmark = pytest.mark.django_db


def search(term):
    return list(Contact.objects.filter(contact_search_filter(term)).order_by("pk"))


def test_a_phone_number_term_searches_phone_numbers_only(contact_factory):
    caller = contact_factory(first_name="Ann", company="Acme")
    caller.phone_numbers.create(number="+14155550100")
    # Digits in an email or company do not make it a match for a phone number search.
    contact_factory(email="4155550100@example.com", company="415-555-0100 Ltd")
    assert search("(415) 555-0100") == [caller]


def test_a_short_number_also_matches_text(contact_factory):
    caller = contact_factory(first_name="Ann", company="Acme")
    caller.phone_numbers.create(number="+14155552024")
    dated = contact_factory(email="class.of.2024@example.com")
    assert search("2024") == [caller, dated]


def test_a_term_without_digits_never_matches_every_phone(contact_factory):
    contact_factory(first_name="Zed").phone_numbers.create(number="+14155550100")
    assert search("()") == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL trigram indexes")
def test_postgres_has_trigram_indexes_for_every_searched_column():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE %s", ["%\\_trgm"])
        names = {row[0] for row in cursor.fetchall()}
    assert names >= {
        "crm_contact_first_name_trgm",
        "crm_contact_last_name_trgm",
        "crm_contact_email_trgm",
        "crm_contact_company_trgm",
        "crm_phonenumber_number_trgm",
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL query planner")
def test_postgres_can_use_the_trigram_index_for_a_name_search(contact_factory):
    contact_factory.create_batch(5)
    queryset = Contact.objects.filter(first_name__icontains="ada")
    # A handful of rows never makes an index worth it, so the planner is told to avoid the
    # alternatives: a sequential scan, and a full scan of another index with the condition
    # as a filter (which it picked at times on a fresh table). What is left is the trigram
    # index, if it can serve the condition at all.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_indexonlyscan = off")
        plan = queryset.explain()
    assert "crm_contact_first_name_trgm" in plan
