"""The admin's phone inline checks the model's constraints through public form API only."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.forms import inlineformset_factory

from crm.forms import PhoneNumberForm, PhoneNumberInlineFormSet, custom_field_formfield
from crm.models import Contact, CustomField, PhoneNumber

pytestmark = pytest.mark.django_db

PhoneFormSet = inlineformset_factory(
    Contact,
    PhoneNumber,
    form=PhoneNumberForm,
    formset=PhoneNumberInlineFormSet,
    fields=["number", "type", "is_primary", "do_not_call"],
    extra=0,
)


def posted(*rows: dict, initial: int = 0) -> dict:
    data = {
        "phone_numbers-TOTAL_FORMS": str(len(rows)),
        "phone_numbers-INITIAL_FORMS": str(initial),
    }
    for index, row in enumerate(rows):
        data.update({f"phone_numbers-{index}-{name}": value for name, value in row.items()})
    return data


def test_a_number_the_contact_already_has_is_refused_by_the_constraint(contact_factory):
    contact = contact_factory()
    contact.phone_numbers.create(number="+14155550100", is_primary=True)
    # A form for a new row only (a stored number not in the formset, as after a concurrent
    # save): the database constraint is what refuses it, as a form error.
    formset = PhoneFormSet(posted({"number": "(415) 555-0100", "type": "work"}), instance=contact)
    assert not formset.is_valid()
    assert formset.forms[0].non_field_errors() == ["This contact already has this phone number."]


def test_the_primary_flag_is_left_to_the_formset_check(contact_factory):
    contact = contact_factory()
    stored = contact.phone_numbers.create(number="+14155550100", is_primary=True)
    # Row by row, a second primary would break the one-primary constraint against the stored
    # state; the formset demotes the old primary on save, so the form does not check it.
    formset = PhoneFormSet(
        posted(
            {"id": str(stored.pk), "number": "+14155550100", "type": "mobile"},
            {"number": "+14155550101", "type": "work", "is_primary": "on"},
            initial=1,
        ),
        instance=contact,
    )
    assert formset.is_valid(), formset.errors
    formset.save()
    assert [(p.number.as_e164, p.is_primary) for p in contact.phone_numbers.order_by("pk")] == [
        ("+14155550100", False),
        ("+14155550101", True),
    ]


def test_a_field_that_failed_the_form_is_not_validated_again_by_the_model(contact_factory):
    contact = contact_factory()
    formset = PhoneFormSet(posted({"number": "not a number", "type": "work"}), instance=contact)
    assert not formset.is_valid()
    form = formset.forms[0]
    assert "number" in form.fields_not_validated()
    assert list(form.errors) == ["number"]


@pytest.mark.parametrize("typed", ["01/02/2026", "02.01.2026", "20260102", "2026-W01-5"])
def test_a_custom_date_in_the_admin_takes_only_the_iso_form(typed):
    field = custom_field_formfield(CustomField(key="met", label="Met", type=CustomField.Type.DATE))

    assert field.clean("2026-01-02") == datetime.date(2026, 1, 2)
    with pytest.raises(ValidationError):
        field.clean(typed)
