"""The bulk import path: the whole file validated first, then written in batches.

It must leave every contact exactly as contact_upsert would, row by row, report the same
errors, and cost a fixed number of queries per batch, not per row.
"""

import pytest
import tablib
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django_tasks_db.models import DBTaskResult
from import_export.formats.base_formats import CSV

from crm import import_plan, import_run
from crm.import_columns import row_write
from crm.import_run import contact_import_run
from crm.importing import contact_import_create
from crm.models import Contact, ContactImport, CustomField, Tag
from crm.resources import ContactResource
from crm.selectors import contact_find_duplicate
from crm.services import contact_upsert
from crm.signals import contact_changed, contacts_changed
from integrations.models import Connection, RemoteLink

pytestmark = pytest.mark.django_db

HEADER = "first_name,last_name,email,company,country,stage,phones,tags,cf_industry,cf_seats\n"


@pytest.fixture
def fields(db):
    CustomField.objects.create(key="industry", label="Industry")
    CustomField.objects.create(key="seats", label="Seats", type=CustomField.Type.NUMBER)
    CustomField.objects.create(key="renews", label="Renews on", type=CustomField.Type.DATE)
    CustomField.objects.create(key="paying", label="Paying", type=CustomField.Type.BOOLEAN)


@pytest.fixture
def auto_push(db):
    connection = Connection(
        name="crm", provider="getraze", base_url="http://127.0.0.1:9", auto_push=True
    )
    connection.api_key = "k"
    connection.save()
    return connection


def dataset(text: str) -> tablib.Dataset:
    return CSV().create_dataset(text)


def import_file(text: str, *, user=None) -> ContactImport:
    """Queue the file as the admin's confirmation does and run the worker's task here."""
    row = contact_import_create(
        user=user, file_name="contacts.csv", format="csv", content=text.encode()
    )
    contact_import_run(import_id=row.pk)
    row.refresh_from_db()
    return row


def snapshot() -> list[tuple]:
    """Everything an import writes, per contact, in a comparable form (ids left out)."""
    rows = []
    for c in Contact.objects.order_by("last_name").prefetch_related("tags", "phone_numbers"):
        rows.append(
            (
                c.first_name,
                c.last_name,
                c.email,
                c.company,
                str(c.country),
                c.stage,
                c.status,
                c.source,
                [
                    (p.number.as_e164, p.type, p.is_primary, p.do_not_call)
                    for p in sorted(c.phone_numbers.all(), key=lambda p: p.pk)
                ],
                sorted(t.name for t in c.tags.all()),
                c.custom_fields,
            )
        )
    return rows


def upsert_row_by_row(text: str) -> None:
    """The old import: each row through contact_upsert, as ContactResource.save_instance did."""
    data = dataset(text)
    resource = ContactResource()
    resource.before_import(data)
    for values in data:
        row = dict(zip(data.headers, values, strict=True))
        contact = contact_find_duplicate(email=row.get("email") or "")
        write = row_write(row, contact, resource.definitions)
        contact_upsert(
            contact=contact,
            data=write.data,
            phone_numbers=write.phones,
            tags=write.tags,
            custom_fields=write.custom_fields,
        )


def existing_contacts() -> None:
    Tag.objects.create(name="VIP")
    contact_upsert(
        data={"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com"},
        phone_numbers=[
            {"number": "+14155550100", "type": "work"},
            {"number": "+14155550101", "type": "fax", "do_not_call": True},
        ],
        tags=["vip", "old"],
        custom_fields={"industry": "Retail", "renews": "2026-01-31", "seats": 3},
    )
    contact_upsert(
        data={"first_name": "Kim", "last_name": "Ko", "email": "kim@example.com"},
        phone_numbers=[{"number": "+14155550102"}],
        tags=["keep"],
        custom_fields={"paying": True},
    )


FILE = HEADER + (
    # New: two phones (national and international), tags in mixed case, typed custom fields.
    'Ann,Lee,ann@example.com,Acme,gb,Customer,"(415) 555-0110 (work); +1 415 555 0111 '
    '(mobile, do not call)","Vip, partner, new tag",Software,12\n'
    # Updates by email in another case: the primary moves to a kept number, one number is
    # dropped and one added; a tag is kept, one removed, one added; custom fields not in
    # the file (renews) keep their values.
    'Jane,Doe,JANE@Example.com,Doe Inc,US,lead,"+1 415 555 0101 (mobile); +1 415 555 0120",'
    '"VIP, partner",Finance,\n'
    # Only the name changes: phones and tags emptied, custom fields in the file cleared.
    "Kim,Ko,kim@example.com,,,prospect,,,,\n"
    # No email: always new.
    "Noemail,Zed,,,,,,,,\n"
)


def test_new_and_updated_contacts_are_written_as_contact_upsert_writes_them(fields):
    existing_contacts()
    row = import_file(FILE)
    assert (row.status, row.error) == ("done", "")
    assert (row.new, row.updated, row.skipped, row.invalid) == (2, 2, 0, 0)
    bulk = snapshot()

    Contact.objects.all().delete()
    Tag.objects.all().delete()
    existing_contacts()
    upsert_row_by_row(FILE)
    assert bulk == snapshot()
    jane = next(c for c in bulk if c[0] == "Jane")
    assert jane[8] == [
        ("+14155550101", "mobile", True, False),
        ("+14155550120", "mobile", False, False),
    ]
    assert jane[9] == ["VIP", "partner"]
    assert jane[10] == {"industry": "Finance", "renews": "2026-01-31"}


def test_updated_contacts_keep_their_stored_phone_rows_and_get_a_new_updated_at(fields):
    existing_contacts()
    jane = Contact.objects.get(email="jane@example.com")
    kept = jane.phone_numbers.get(number="+14155550101").pk
    before = jane.updated_at
    import_file(FILE)
    jane.refresh_from_db()
    assert jane.phone_numbers.get(number="+14155550101").pk == kept
    assert jane.updated_at > before


def test_every_invalid_row_is_reported_by_line_and_column_and_nothing_is_written(fields):
    existing_contacts()
    text = HEADER + (
        "Ann,,ann@example.com,,,lead,,,,\n"
        ",,nofirst@example.com,,,lead,,,,\n"
        "Bob,,bob@example.com,,,sideways,,,,\n"
        "Cat,,cat@example.com,,,lead,12 (cell),,,\n"
        "Dan,,dan@example.com,,,lead,,,,many\n"
        "Eve,,not-an-email,,,lead,+1 555,,,\n"
        "Jane,,jane@example.com,Changed,,lead,,,,\n"
    )
    before = snapshot()
    row = import_file(text)
    assert row.status == "failed"
    lines = row.error.splitlines()
    assert lines[0] == "Line 3: first_name: This field cannot be blank."
    assert any(line.startswith("Line 4: stage: “sideways” is not one of") for line in lines)
    assert any(line.startswith("Line 5: phones: “cell” is not a phone type") for line in lines)
    assert "Line 6: cf_seats: Seats: enter a number." in lines or any(
        line.startswith("Line 6: cf_seats:") for line in lines
    )
    assert any(line.startswith("Line 7: email:") for line in lines)
    assert any(line.startswith("Line 7: phones:") for line in lines)
    assert (row.processed, row.invalid, row.new, row.updated) == (7, 5, 1, 1)
    assert snapshot() == before
    assert not Tag.objects.filter(name__in=["sideways"]).exists()


def test_an_email_repeated_in_the_file_is_refused_naming_its_first_line(fields):
    text = HEADER + (
        "Ann,,ann@example.com,,,lead,,,,\nBob,,bob@example.com,,,lead,,,,\n"
        "Ann again,,ANN@example.com ,,,lead,,,,\n"
    )
    result = ContactResource().import_data(dataset(text), dry_run=True)
    assert result.duplicates == [4]
    [invalid] = result.invalid_rows
    assert invalid.number == 3
    assert invalid.error_dict == {
        "email": ["ann@example.com is also on line 2; list each contact once per file."]
    }
    row = import_file(text)
    assert row.status == "failed"
    assert "Line 4: email: ann@example.com is also on line 2" in row.error
    assert not Contact.objects.exists()


def test_the_preview_writes_nothing_and_shows_the_changes(fields):
    existing_contacts()
    before = snapshot()
    tags = Tag.objects.count()
    result = ContactResource().import_data(dataset(FILE), dry_run=True)
    assert not result.has_errors() and not result.has_validation_errors()
    assert (result.totals["new"], result.totals["update"]) == (2, 2)
    assert snapshot() == before and Tag.objects.count() == tags
    assert not DBTaskResult.objects.exists()
    ann, jane = result.rows[0], result.rows[1]
    headers = result.diff_headers
    assert "Acme" in ann.diff[headers.index("company")]
    assert "+1 415-555-0110 (work)" in ann.diff[headers.index("phones")]
    # An update shows what goes (<del>) and what comes (<ins>).
    assert (
        "<del" in jane.diff[headers.index("tags")] and "partner" in jane.diff[headers.index("tags")]
    )
    assert [row.line for row in result.rows] == [2, 3, 4, 5]


def test_a_row_equal_to_its_contact_is_unchanged_and_not_written(fields, auto_push):
    existing_contacts()
    text = "first_name,last_name,email,cf_paying\nKim,Ko,KIM@example.com,true\n"
    kim = Contact.objects.get(email="kim@example.com")
    RemoteLink.objects.all().delete()
    row = import_file(text)
    assert (row.status, row.skipped, row.updated) == ("done", 1, 0)
    assert Contact.objects.get(pk=kim.pk).updated_at == kim.updated_at
    assert not RemoteLink.objects.exists()


def test_links_to_auto_push_connections_are_marked_pending_once_per_batch(
    fields, auto_push, monkeypatch, django_capture_on_commit_callbacks
):
    existing_contacts()
    RemoteLink.objects.all().delete()
    DBTaskResult.objects.all().delete()
    monkeypatch.setattr(import_plan, "IMPORT_BATCH_ROWS", 2)
    batches, singles = [], []

    def on_batch(sender, contact_ids, created_ids, **kwargs):
        batches.append((len(contact_ids), len(created_ids)))

    def on_single(sender, contact, **kwargs):
        singles.append(contact.pk)

    contacts_changed.connect(on_batch)
    contact_changed.connect(on_single)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            row = import_file(FILE)
    finally:
        contacts_changed.disconnect(on_batch)
        contact_changed.disconnect(on_single)
    assert row.status == "done"
    assert batches == [(2, 1), (2, 1)]  # 4 rows, 2 a batch: one signal each, no per-row one
    assert singles == []
    pending = RemoteLink.objects.filter(connection=auto_push, state="pending")
    assert pending.count() == 4
    assert set(pending.values_list("contact__email", flat=True)) == {
        "ann@example.com",
        "jane@example.com",
        "kim@example.com",
        "",
    }
    # Their pushes were queued as each batch committed (how many tasks carry them is the
    # push engine's business).
    assert DBTaskResult.objects.filter(task_path__startswith="integrations.tasks.push").exists()


def test_the_import_costs_a_fixed_number_of_queries_per_batch_not_per_row(
    fields, monkeypatch, django_assert_max_num_queries, staff_client
):
    for n in range(100):
        Contact.objects.create(first_name="Old", email=f"p{n}@example.com")
    lines = "".join(
        f'P{n},L{n},p{n}@example.com,Co,US,lead,"+1 415 555 {1000 + n} (work); '
        f'+1 628 555 {1000 + n}","t{n % 7}, all",Retail,{n}\n'
        for n in range(300)
    )
    content = (HEADER + lines).encode()
    row = contact_import_create(
        user=staff_client.user, file_name="c.csv", format="csv", content=content
    )
    monkeypatch.setattr(import_plan, "IMPORT_BATCH_ROWS", 100)
    # 300 rows (100 updates, 200 new, each with 2 phones, 2 tags and custom fields) in 3
    # batches: about 10 queries to read the file's contacts, then about 11 a batch; row by
    # row it would be about 10 queries a row.
    with django_assert_max_num_queries(50):
        contact_import_run(import_id=row.pk)
    row.refresh_from_db()
    assert (row.status, row.new, row.updated) == ("done", 200, 100)
    assert Contact.objects.get(email="p5@example.com").phone_numbers.count() == 2
    assert LogEntry.objects.count() == 300


def test_the_preview_costs_a_fixed_number_of_queries(fields, django_assert_max_num_queries):
    for n in range(100):
        Contact.objects.create(first_name="Old", email=f"p{n}@example.com")
    lines = "".join(
        f'P{n},,p{n}@example.com,,,lead,"+1 415 555 {1000 + n}","t{n % 7}",,{n}\n'
        for n in range(300)
    )
    # Four reads, and the dry run's savepoints: import_data's own, and the library's around
    # before_import, its bulk step and after_import (two statements each).
    with django_assert_max_num_queries(15):
        result = ContactResource().import_data(dataset(HEADER + lines), dry_run=True)
    assert (result.totals["new"], result.totals["update"]) == (200, 100)


def test_a_batch_refused_midway_keeps_the_earlier_batches_and_says_so(fields, monkeypatch):
    """Every row is valid when checked; then another writer takes an email of batch 2."""
    monkeypatch.setattr(import_plan, "IMPORT_BATCH_ROWS", 2)
    monkeypatch.setattr(import_run, "PROGRESS_EVERY_ROWS", 1)
    real_write = import_run.progress_write

    def write(import_id, counts):
        real_write(import_id, counts)
        if counts["processed"] == 2 and not Contact.objects.filter(email="c@example.com"):
            contact_upsert(data={"first_name": "Taken", "email": "c@example.com"})

    monkeypatch.setattr(import_run, "progress_write", write)
    text = "first_name,email\nA,a@example.com\nB,b@example.com\nC,c@example.com\nD,d@example.com\n"
    row = import_file(text)
    assert row.status == "failed"
    assert row.error.startswith("The import stopped at line 4:")
    assert "The lines before it were imported (2 contacts written)" in row.error
    assert (row.processed, row.new) == (2, 2)
    assert sorted(Contact.objects.values_list("first_name", flat=True)) == ["A", "B", "Taken"]
    assert db_connection.in_atomic_block  # the test's own transaction, still usable


def test_a_country_is_checked_against_the_country_codes_as_full_clean_checks_it(fields):
    text = "first_name,email,country\nAnn,ann@example.com,zz\nBob,bob@example.com,usa\n"
    row = import_file(text)
    assert row.status == "failed"
    assert row.error == "Line 2: country: Value 'ZZ' is not a valid choice."
    with pytest.raises(ValidationError) as raised:
        contact_upsert(data={"first_name": "Ann", "country": "ZZ", "website": "nope"})
    assert raised.value.message_dict == {
        "website": ["Enter a valid URL."],
        "country": ["Value 'ZZ' is not a valid choice."],
    }


def test_the_primary_phone_can_move_between_two_stored_numbers(fields):
    contact_upsert(
        data={"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"},
        phone_numbers=[{"number": "+14155550100"}, {"number": "+14155550101", "type": "work"}],
    )
    ann = Contact.objects.get()
    ids = {p.number.as_e164: p.pk for p in ann.phone_numbers.all()}
    row = import_file(
        'first_name,email,phones\nAnn,ann@example.com,"+1 415 555 0101 (work); +1 415 555 0100"\n'
    )
    assert row.status == "done", row.error
    phones = {(p.pk, p.number.as_e164, p.is_primary) for p in ann.phone_numbers.all()}
    assert phones == {
        (ids["+14155550101"], "+14155550101", True),
        (ids["+14155550100"], "+14155550100", False),
    }
