"""ContactResource imports through django-import-export's own row loop and public hooks."""

import pytest
from import_export import resources
from import_export.formats.base_formats import CSV

from crm.import_columns import headers_problem
from crm.import_run import contact_import_run
from crm.importing import contact_import_create
from crm.models import Contact, ContactImport
from crm.resources import ContactResource

pytestmark = pytest.mark.django_db


def preview(text: str):
    return ContactResource().import_data(CSV().create_dataset(text), dry_run=True)


def test_the_library_drives_the_row_loop():
    # The resource customises hooks; the loop itself (import_data_inner, import_row) is the
    # library's, so an upgrade of django-import-export cannot leave a stale copy behind.
    for name in ("import_data", "import_data_inner", "import_row"):
        assert getattr(ContactResource, name) is getattr(resources.Resource, name), name


def test_unknown_and_repeated_columns_refuse_the_file_before_any_row_is_read():
    result = preview("First name,shoe size,email,E-mail\nAnn,42,a@example.com,b@example.com\n")
    [error] = result.base_errors
    assert str(error.error).startswith(
        "The file has unknown column(s): shoe_size; column(s) listed twice: email."
    )
    assert result.rows == [] and not result.invalid_rows
    assert result.duplicates == []


def test_a_refused_file_fails_its_background_import_with_nothing_counted():
    content = b"first_name,shoe size\nAnn,42\n"
    row = contact_import_create(user=None, file_name="c.csv", format="csv", content=content)
    assert contact_import_run(import_id=row.pk) == ContactImport.Status.FAILED
    row.refresh_from_db()
    assert row.error.startswith("The file has unknown column(s): shoe_size.")
    assert (row.total, row.processed, row.invalid) == (1, 0, 0)
    assert not Contact.objects.exists()


def test_a_file_without_an_email_column_only_adds_contacts(contact_factory):
    contact_factory(first_name="Ann", email="ann@example.com")
    result = preview("first_name,last_name\nAnn,Lee\nBob,Ray\n")
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.rows] == ["new", "new"]
    assert [row.line for row in result.rows] == [2, 3]


def test_headers_problem_names_nothing_for_known_columns():
    assert headers_problem(["first_name", "email", ""], known={"first_name", "email"}) == ""
