"""Contact import and export (CSV, XLSX) in the admin, through the write service's rules."""

import io

import openpyxl
import pytest
import tablib
from django.urls import reverse
from django_tasks_db.models import DBTaskResult
from import_export.formats.base_formats import CSV, XLSX

from crm.models import Contact, CustomField, Tag
from crm.resources import ContactResource
from crm.services import contact_upsert
from integrations.models import Connection, RemoteLink
from tests.integrations_helpers import drain

pytestmark = pytest.mark.django_db

IMPORT = reverse("admin:crm_contact_import")
PROCESS_IMPORT = reverse("admin:crm_contact_process_import")
EXPORT = reverse("admin:crm_contact_export")
HEADER = "first_name,last_name,email,company,stage,phones,tags,cf_industry,cf_seats\n"


@pytest.fixture
def fields(db):
    CustomField.objects.create(key="industry", label="Industry")
    CustomField.objects.create(key="seats", label="Seats", type=CustomField.Type.NUMBER)
    CustomField.objects.create(key="renews", label="Renews on", type=CustomField.Type.DATE)
    CustomField.objects.create(key="paying", label="Paying", type=CustomField.Type.BOOLEAN)


def dataset(text: str) -> tablib.Dataset:
    return CSV().create_dataset(text)


def run(text: str, *, dry_run: bool, **kwargs):
    return ContactResource().import_data(
        dataset(text), dry_run=dry_run, rollback_on_validation_errors=True, **kwargs
    )


def export_csv(queryset=None) -> str:
    return CSV().export_data(ContactResource().export(queryset))


def snapshot() -> list[tuple]:
    """Everything import and export deal with, per contact, in a comparable form."""
    rows = []
    for c in Contact.objects.order_by("email").prefetch_related("tags", "phone_numbers"):
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
                c.description,
                sorted(
                    (p.number.as_e164, p.type, p.is_primary, p.do_not_call)
                    for p in c.phone_numbers.all()
                ),
                sorted(t.name for t in c.tags.all()),
                c.custom_fields,
            )
        )
    return rows


def test_preview_counts_new_updated_unchanged_duplicate_and_invalid_rows_and_writes_nothing(
    fields, contact_factory
):
    contact_factory(first_name="Jane", email="jane@example.com", company="Old Co")
    same = contact_factory(first_name="Same", last_name="", email="same@example.com", company="")
    same.stage = "lead"
    same.save()
    text = HEADER + (
        "Ann,Lee,ann@example.com,Acme,lead,+1 415-555-0100 (mobile),vip,Retail,3\n"
        "Jane,,JANE@example.com,New Co,customer,,,,\n"
        "Same,,same@example.com,,lead,,,,\n"
        "Bob,,bob@example.com,,lead,not a phone,,,\n"
        "Ann again,,ann@example.com,,lead,,,,\n"
    )
    result = run(text, dry_run=True)
    assert (result.totals["new"], result.totals["update"], result.totals["skip"]) == (1, 1, 1)
    assert result.totals["invalid"] == 2
    assert result.duplicates == [6]
    assert Contact.objects.count() == 2
    assert not Contact.objects.filter(email="ann@example.com").exists()


def test_a_row_with_a_known_email_updates_that_contact_instead_of_adding_one(
    fields, contact_factory
):
    jane = contact_factory(first_name="Jane", email="jane@example.com", company="Old Co")
    result = run(HEADER + "Jane,Smith,Jane@Example.com,New Co,customer,,,,\n", dry_run=False)
    assert not result.has_validation_errors()
    assert Contact.objects.count() == 1
    jane.refresh_from_db()
    assert (jane.last_name, jane.company, jane.stage) == ("Smith", "New Co", "customer")


def test_phones_tags_and_custom_fields_are_written_by_the_service_rules(fields):
    text = HEADER + (
        "Ann,Lee,ann@example.com,Acme,Customer,"
        '"(415) 555-0100 (work); +1 415 555 0101 (mobile, do not call)","vip, Partner",'
        "Retail,1200\n"
    )
    result = run(text, dry_run=False)
    assert not result.has_validation_errors(), result.invalid_rows
    ann = Contact.objects.get()
    phones = [
        (p.number.as_e164, p.type, p.is_primary, p.do_not_call) for p in ann.phone_numbers.all()
    ]
    assert phones == [
        ("+14155550100", "work", True, False),
        ("+14155550101", "mobile", False, True),
    ]
    assert sorted(t.name for t in ann.tags.all()) == ["Partner", "vip"]
    assert ann.custom_fields == {"industry": "Retail", "seats": 1200}
    assert ann.stage == "customer"


def test_every_invalid_row_is_reported_with_its_file_line_and_reason(fields):
    text = HEADER + (
        "Ann,,ann@example.com,,lead,,,,\n"
        ",,nofirst@example.com,,lead,,,,\n"
        "Bob,,bob@example.com,,sideways,,,,\n"
        "Cat,,cat@example.com,,lead,12 (cell),,,\n"
        "Dan,,dan@example.com,,lead,,,,many\n"
        "Eve,,not-an-email,,lead,,,,\n"
    )
    result = run(text, dry_run=True)
    errors = {row.number + 1: row.error_dict for row in result.invalid_rows}
    assert set(errors) == {3, 4, 5, 6, 7}
    assert "first_name" in errors[3]
    assert "sideways" in errors[4]["stage"][0]
    assert "cell" in errors[5]["phones"][0]
    assert "Seats" in errors[6]["cf_seats"][0]
    assert "email" in errors[7]


def test_nothing_is_written_when_any_row_is_invalid(fields, contact_factory):
    contact_factory(first_name="Jane", email="jane@example.com", company="Old Co")
    text = HEADER + (
        "Ann,,ann@example.com,,lead,,,,\n"
        "Jane,,jane@example.com,Changed,lead,,,,\n"
        "Bob,,bob@example.com,,lead,+1 555,,,\n"
    )
    result = run(text, dry_run=False)
    assert result.has_validation_errors()
    assert list(Contact.objects.values_list("email", "company")) == [("jane@example.com", "Old Co")]


def test_unknown_columns_are_refused_naming_them(fields):
    result = run("first_name,email,favourite_colour\nAnn,ann@example.com,blue\n", dry_run=True)
    assert result.has_errors()
    assert "favourite_colour" in str(result.base_errors[0].error)
    assert not Contact.objects.exists()


def test_headers_as_people_type_them_are_understood(fields):
    text = "First name,Last Name,E-mail,Phone,Tags\nAnn,Lee,ann@example.com,+1 415-555-0100,vip\n"
    result = run(text, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    ann = Contact.objects.get()
    assert (ann.last_name, ann.email, ann.phone_numbers.get().number.as_e164) == (
        "Lee",
        "ann@example.com",
        "+14155550100",
    )


def populate():
    contact_upsert(
        data={
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@example.com",
            "company": '=HYPERLINK("http://evil")',
            "country": "GB",
            "stage": "customer",
            "description": "Line one\nline two, with a comma",
        },
        phone_numbers=[
            {"number": "+14155550100", "type": "work"},
            {"number": "+14155550101", "type": "fax", "do_not_call": True},
        ],
        tags=["vip", "Partner"],
        custom_fields={"industry": "-minus", "seats": 12, "renews": "2026-01-31", "paying": True},
    )
    contact_upsert(data={"first_name": "Bob", "email": "", "title": "@handle"})
    contact_upsert(data={"first_name": "Cat", "email": "cat@example.com"}, tags=["vip"])


def test_export_then_import_round_trips_unchanged(fields):
    populate()
    before = snapshot()
    text = export_csv()
    result = run(text, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    # Contacts with an email are recognised and unchanged; without one, a row is always new.
    assert (result.totals["skip"], result.totals["new"], result.totals["update"]) == (2, 1, 0)

    Contact.objects.all().delete()
    result = run(text, dry_run=False)
    assert result.totals["new"] == 3
    assert snapshot() == before
    assert export_csv() == text


def test_xlsx_export_then_import_round_trips_unchanged(fields):
    populate()
    before = snapshot()
    data = XLSX().export_data(ContactResource().export())
    Contact.objects.all().delete()
    result = ContactResource().import_data(XLSX().create_dataset(data), dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors(), result.invalid_rows
    assert snapshot() == before


def test_export_escapes_cells_a_spreadsheet_would_run_as_formulas(fields):
    populate()
    rows = {row["email"]: row for row in dataset(export_csv()).dict}
    ann = rows["ann@example.com"]
    assert ann["company"] == '\'=HYPERLINK("http://evil")'
    assert ann["phones"].startswith("'+1 415-555-0100 (work)")
    assert ann["cf_industry"] == "'-minus"
    assert rows[""]["title"] == "'@handle"
    workbook = openpyxl.load_workbook(io.BytesIO(XLSX().export_data(ContactResource().export())))
    values = [cell.value for row in workbook.active.iter_rows() for cell in row]
    assert '\'=HYPERLINK("http://evil")' in values
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)


# The worker closes old database connections between tasks; on PostgreSQL that would close
# the connection holding a test transaction, so this test commits for real.
@pytest.mark.django_db(transaction=True)
def test_admin_import_previews_then_confirms(staff_client, fields):
    upload = io.BytesIO(
        (HEADER + "Ann,Lee,ann@example.com,Acme,lead,+14155550100,vip,,\n").encode()
    )
    upload.name = "contacts.csv"
    response = staff_client.post(IMPORT, {"format": "0", "import_file": upload})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-count="new">1<' in html
    assert "Confirm import" in html
    assert not Contact.objects.exists()

    confirm = response.context["confirm_form"]
    response = staff_client.post(PROCESS_IMPORT, {**confirm.initial, "confirm": "1"})
    assert response.status_code == 302  # to the progress page; the worker imports it
    assert not Contact.objects.exists()
    drain()
    ann = Contact.objects.get()
    assert ann.owner == staff_client.user
    assert [t.name for t in ann.tags.all()] == ["vip"]


def test_admin_import_lists_invalid_lines_and_offers_no_confirmation(staff_client, fields):
    upload = io.BytesIO((HEADER + "Ann,,ann@example.com,,lead,,,,\nBob,,bob@,,lead,,,,\n").encode())
    upload.name = "contacts.csv"
    response = staff_client.post(IMPORT, {"format": "0", "import_file": upload})
    html = response.content.decode()
    assert "Confirm import" not in html
    assert "<td>3</td>" in html
    assert "email" in html


def test_admin_export_writes_the_filtered_list(staff_client, fields):
    populate()
    fields_selected = {
        f"contactresource_{name}": "on" for name in ("first_name", "email", "phones")
    }
    response = staff_client.post(
        EXPORT + "?stage__exact=customer", {"format": "0", "resource": "0", **fields_selected}
    )
    assert response.status_code == 200
    rows = dataset(response.content.decode()).dict
    assert [row["email"] for row in rows] == ["ann@example.com"]
    assert set(rows[0]) == {"first_name", "email", "phones"}


def test_importing_a_thousand_contacts_queues_their_pushes_in_bulk(
    fields, django_capture_on_commit_callbacks
):
    connection = Connection(name="crm", provider="getraze", base_url="http://127.0.0.1:9")
    connection.api_key = "k"
    connection.save()
    lines = "".join(f"P{i},,p{i}@example.com,,lead,,,,\n" for i in range(1000))
    with django_capture_on_commit_callbacks(execute=True):
        result = run(HEADER + lines, dry_run=False)
    assert result.totals["new"] == 1000
    pending = set(RemoteLink.objects.filter(state="pending").values_list("pk", flat=True))
    assert len(pending) == 1000
    # Every link's push is queued, by batches of links rather than a task per contact (how
    # many links a task takes is the push engine's choice).
    tasks = DBTaskResult.objects.filter(task_path__startswith="integrations.tasks.push")
    queued = set()
    for kwargs in (task.args_kwargs["kwargs"] for task in tasks):
        queued.update(kwargs.get("link_ids") or [kwargs["link_id"]])
    assert queued == pending
    assert tasks.count() < 100


def test_tags_are_matched_case_insensitively_on_import(fields):
    Tag.objects.create(name="VIP")
    run(HEADER + "Ann,,ann@example.com,,lead,,vip,,\n", dry_run=False)
    assert list(Contact.objects.get().tags.values_list("name", flat=True)) == ["VIP"]


def test_only_staff_who_may_add_and_change_contacts_can_import(client, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client.force_login(viewer)
    assert client.get(IMPORT).status_code == 403
    assert client.get(EXPORT).status_code == 200


def test_blank_rows_are_left_out_not_reported_as_invalid(fields):
    text = (
        HEADER
        + "Ann,,ann@example.com,,lead,,,,\n,,,,,,,,\n  ,,, ,,,,,\nBob,,bob@example.com,,,,,,\n"
    )
    result = run(text, dry_run=True)
    assert not result.has_validation_errors()
    assert (result.totals["new"], result.totals["invalid"], result.total_rows) == (2, 0, 2)
    assert [row.line for row in result.valid_rows()] == [2, 5]  # file lines, blank ones kept
    run(text, dry_run=False)
    assert sorted(Contact.objects.values_list("email", flat=True)) == [
        "ann@example.com",
        "bob@example.com",
    ]


def test_an_invalid_email_is_reported_with_its_value(fields):
    result = run(HEADER + "Eve,,not-an-email,,lead,,,,\n", dry_run=True)
    (row,) = result.invalid_rows
    assert "not-an-email" in row.error_dict["email"][0]


def test_the_import_preview_names_its_columns_as_people_read_them(staff_client, fields):
    upload = io.BytesIO((HEADER + "Ann,Lee,ann@example.com,Acme,lead,,vip,Retail,3\n").encode())
    upload.name = "contacts.csv"
    html = staff_client.post(IMPORT, {"format": "0", "import_file": upload}).content.decode()
    head = html[html.index('<table class="import-preview">') :]
    head = head[: head.index("</thead>")]
    for label in ("Line", "Action", "First name", "Job title", "LinkedIn URL", "Seats"):
        assert f">{label}</th>" in head, label
    assert "<th></th>" not in head and ">cf_seats<" not in head


def test_the_export_page_labels_fields_by_name_and_starts_at_csv(staff_client, fields):
    html = staff_client.get(EXPORT).content.decode()
    for label in ("LinkedIn URL", "ZIP / postal code", "Phone numbers", "Industry", "Seats"):
        assert f"{label}</label>" in html, label
    assert "Linkedin Url" not in html and "Cf Industry" not in html
    formats = html[html.index('name="format"') :]
    formats = formats[: formats.index("</select>")]
    assert "---" not in formats and 'value="0" selected' in formats
    assert "onchange" not in html  # "Select all" is wired by a script file (CSP)
