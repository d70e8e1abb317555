"""No value is silently changed: ambiguous input is refused with a reason, in the API, the
admin and the import alike (they share crm.validation and crm.custom_values)."""

import datetime
import decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from import_export.formats.base_formats import CSV

from crm.models import Contact, CustomField
from crm.resources import ContactResource
from crm.validation import phone_parse
from tests.api_helpers import CONTACTS_URL, error_codes

pytestmark = pytest.mark.django_db


def field(type_, **kwargs) -> CustomField:
    return CustomField(key="f", label="Field", type=type_, **kwargs)


def reason(type_, raw) -> str:
    with pytest.raises(ValidationError) as exc:
        field(type_).to_value(raw)
    assert exc.value.code == "invalid_custom_field"
    return exc.value.messages[0]


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["12,34", "1,2", "1,23", "1,2345", "1.234,5", "12,345,67", ",5"])
def test_a_comma_that_may_be_a_decimal_separator_is_refused(raw):
    assert "use a dot for decimals" in reason("number", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1,234", 1234), ("1,234,567", 1234567), ("-1,234.5", -1234.5), ("12.34", 12.34)],
)
def test_commas_between_groups_of_three_digits_are_thousands(raw, expected):
    assert field("number").to_value(raw) == expected


@pytest.mark.parametrize(
    "raw", ["NaN", "nan", "-Infinity", "inf", "sNaN", float("nan"), decimal.Decimal("Infinity")]
)
def test_nan_and_infinity_are_refused_as_not_finite_not_as_too_many_digits(raw):
    message = reason("number", raw)
    assert "finite" in message
    assert "digits" not in message


@pytest.mark.parametrize("raw", ["1e-400", "-1e-330", decimal.Decimal("1e-999999999")])
def test_a_number_that_would_be_stored_as_zero_is_refused(raw):
    assert "too close to zero" in reason("number", raw)


def test_a_number_with_more_digits_than_a_double_keeps_is_refused():
    assert "significant digits" in reason("number", "0.12345678901234567891")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0", 0), ("-0", 0), ("1e-5", 1e-05), (" 2.50 ", 2.5), ("1E3", 1000), (0.1, 0.1)],
)
def test_numbers_stored_exactly_are_accepted(raw, expected):
    assert field("number").to_value(raw) == expected


@pytest.mark.parametrize("raw", ["1_000", "١٢", "0x10", "12 34", "1.2.3", "+-1", "1e"])
def test_forms_a_decimal_parser_would_read_but_the_docs_do_not_allow_are_refused(raw):
    assert reason("number", raw) == "Field: enter a number."


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["2026-W01-1", "20260102", "2026-002", "2026-01-02T00:00", "2026-1-2", "2026-01"]
)
def test_a_date_is_only_yyyy_mm_dd(raw):
    assert reason("date", raw) == "Field: enter a date as YYYY-MM-DD."


def test_a_date_and_time_is_refused_unless_at_midnight():
    assert field("date").to_value(datetime.datetime(2026, 1, 2)) == "2026-01-02"
    assert "not a date and time" in reason("date", datetime.datetime(2026, 1, 2, 15, 30))


def test_a_well_formed_date_is_kept():
    assert field("date").to_value(" 2026-01-02 ") == "2026-01-02"


# --- phones -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "+1 415 555 0105 ext. 12",
        "+1 415 555 0105 x12",
        "+1 (415) 555-0105 #12",
        "+1 415 555 0105;ext=12",
        "+1 415 555 0105, 0106",
    ],
)
def test_a_phone_extension_is_refused_never_dropped(raw):
    with pytest.raises(ValidationError) as exc:
        phone_parse(raw)
    assert exc.value.code == "phone_extension_not_supported"
    assert "extension" in exc.value.messages[0]


def test_a_phone_without_an_extension_is_still_accepted():
    assert phone_parse("+1 (415) 555-0105") == "+14155550105"


# --- the same answers through the API, the admin and the import -------------------------------


@pytest.fixture
def number_field(db):
    return CustomField.objects.create(key="deal_size", label="Deal size", type="number")


@pytest.fixture
def date_field(db):
    return CustomField.objects.create(key="met_on", label="Met on", type="date")


@pytest.mark.parametrize(
    ("custom_fields", "attr"),
    [
        ({"deal_size": "12,34"}, "custom_fields.deal_size"),
        ({"deal_size": "1e-400"}, "custom_fields.deal_size"),
        ({"deal_size": "NaN"}, "custom_fields.deal_size"),
        ({"met_on": "2026-W01-1"}, "custom_fields.met_on"),
        ({"met_on": "20260102"}, "custom_fields.met_on"),
    ],
)
def test_the_api_refuses_ambiguous_custom_values(
    api_client, number_field, date_field, custom_fields, attr
):
    response = api_client.post(
        CONTACTS_URL, {"first_name": "A", "custom_fields": custom_fields}, format="json"
    )

    assert response.status_code == 400
    assert error_codes(response) == {attr: ["invalid_custom_field"]}
    assert not Contact.objects.exists()


def test_the_api_refuses_a_phone_extension_at_its_index(api_client):
    response = api_client.post(
        CONTACTS_URL,
        {
            "first_name": "A",
            "phone_numbers": [{"number": "+14155550100"}, {"number": "+1 415 555 0105 ext. 12"}],
        },
        format="json",
    )

    assert response.status_code == 400
    assert error_codes(response) == {"phone_numbers.1.number": ["phone_extension_not_supported"]}


def test_the_admin_refuses_a_phone_extension_and_a_tiny_number(staff_client, number_field):
    data = {
        "first_name": "Jane",
        "source": "other",
        "status": "not_contacted",
        "stage": "lead",
        "cf_deal_size": "1e-400",
        "phone_numbers-TOTAL_FORMS": "1",
        "phone_numbers-INITIAL_FORMS": "0",
        "phone_numbers-MIN_NUM_FORMS": "0",
        "phone_numbers-MAX_NUM_FORMS": "1000",
        "phone_numbers-0-number": "+1 415 555 0105 ext. 12",
        "phone_numbers-0-type": "mobile",
    }

    response = staff_client.post(reverse("admin:crm_contact_add"), data)

    assert response.status_code == 200
    html = response.content.decode()
    assert "has an extension (12)" in html
    assert "too close to zero" in html
    assert not Contact.objects.exists()


def test_the_import_refuses_the_same_values_row_by_row(number_field, date_field):
    text = (
        "first_name,phones,cf_deal_size,cf_met_on\n"
        'Ann,,"12,34",\n'
        "Bob,,NaN,\n"
        "Cat,,,20260102\n"
        "Dan,+1 415 555 0105 ext. 12,,\n"
        'Eve,+1 415 555 0106,"1,234.5",2026-01-02\n'
    )

    result = ContactResource().import_data(CSV().create_dataset(text), dry_run=True)

    errors = {row.number + 1: row.error_dict for row in result.invalid_rows}
    assert set(errors) == {2, 3, 4, 5}
    assert "use a dot for decimals" in errors[2]["cf_deal_size"][0]
    assert "finite" in errors[3]["cf_deal_size"][0]
    assert "YYYY-MM-DD" in errors[4]["cf_met_on"][0]
    assert "extension" in errors[5]["phones"][0]
