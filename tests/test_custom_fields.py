import pytest
from django.core.exceptions import ValidationError

from crm.models import CustomField
from crm.validation import custom_fields_clean

pytestmark = pytest.mark.django_db


def field(type_, **kwargs):
    return CustomField(key="f", label="Field", type=type_, **kwargs)


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("text", "  hello ", "hello"),
        ("text", 42, "42"),
        ("number", "1,250", 1250),
        ("number", 3.0, 3),
        ("number", "2.5", 2.5),
        ("number", 7, 7),
        ("date", "2026-01-31", "2026-01-31"),
        ("boolean", "yes", True),
        ("boolean", "False", False),
        ("boolean", True, True),
        ("boolean", 0, False),
        ("url", "https://example.com/a", "https://example.com/a"),
        ("email", " Jane@Example.COM ", "jane@example.com"),
    ],
)
def test_values_are_normalised_by_type(type_, raw, expected):
    assert field(type_).to_value(raw) == expected


@pytest.mark.parametrize(
    ("type_", "raw"),
    [
        ("text", ["a list"]),
        ("text", "x" * 2001),
        ("number", "twelve"),
        ("number", "NaN"),
        ("number", "Infinity"),
        ("number", True),
        ("date", "31/01/2026"),
        ("date", 20260131),
        ("boolean", "maybe"),
        ("boolean", 2),
        ("url", "not a url"),
        ("email", "jane@"),
    ],
)
def test_wrong_values_are_rejected_naming_the_field(type_, raw):
    with pytest.raises(ValidationError) as exc:
        field(type_).to_value(raw)
    assert exc.value.code == "invalid_custom_field"
    assert exc.value.messages[0].startswith("Field: ")


def test_choice_matches_case_insensitively_and_returns_the_defined_spelling():
    industry = field("choice", choices=["Software", "Retail"])
    assert industry.to_value("software") == "Software"
    with pytest.raises(ValidationError, match="choose one of: Software, Retail"):
        industry.to_value("Mining")


def test_empty_values_mean_no_value():
    assert field("number").to_value("") is None
    assert field("text").to_value(None) is None


def test_definition_rules_for_choices():
    with pytest.raises(ValidationError, match="at least one choice"):
        field("choice", choices=[]).clean()
    with pytest.raises(ValidationError, match="Only choice fields"):
        field("text", choices=["a"]).clean()
    with pytest.raises(ValidationError, match="unique"):
        field("choice", choices=["A", "a"]).clean()


def test_clean_rejects_unknown_keys_and_requires_required(custom_field_factory):
    custom_field_factory(key="industry", label="Industry", required=True)
    custom_field_factory(key="deal_size", label="Deal size", type="number")
    with pytest.raises(ValidationError) as exc:
        custom_fields_clean({"colour": "blue", "deal_size": "lots"})
    errors = {(e.code, e.params["key"]) for e in exc.value.error_dict["custom_fields"]}
    assert errors == {
        ("unknown_custom_field", "colour"),
        ("invalid_custom_field", "deal_size"),
        ("required", "industry"),
    }


def test_clean_drops_empty_values_and_normalises(custom_field_factory):
    custom_field_factory(key="deal_size", label="Deal size", type="number")
    custom_field_factory(key="note", label="Note")
    assert custom_fields_clean({"deal_size": "10", "note": ""}) == {"deal_size": 10}


def test_clean_rejects_a_non_object():
    with pytest.raises(ValidationError) as exc:
        custom_fields_clean(["industry"])
    assert exc.value.error_dict["custom_fields"][0].code == "invalid"


@pytest.mark.parametrize("raw", ["1e5000", "1e999999", "9" * 4400, 10**20, "1e15"])
def test_numbers_too_large_to_store_are_rejected_quickly(raw):
    with pytest.raises(ValidationError) as exc:
        field("number").to_value(raw)
    assert exc.value.code == "invalid_custom_field"


def test_the_largest_number_accepted_has_fifteen_digits():
    assert field("number").to_value("999999999999999") == 999_999_999_999_999
