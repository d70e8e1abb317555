import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from crm.models import Contact, PhoneNumber, Tag

pytestmark = pytest.mark.django_db


def test_full_name_and_str_are_what_staff_recognise(contact_factory):
    contact = contact_factory(first_name="Jane", last_name="Smith", email="jane@company.com")
    assert contact.full_name == "Jane Smith"
    assert str(contact) == "Jane Smith <jane@company.com>"
    assert str(contact_factory(first_name="Cher", last_name="", email="")) == "Cher"


def test_new_contact_has_documented_defaults():
    contact = Contact.objects.create(first_name="Ada")
    assert (contact.source, contact.status, contact.stage) == ("other", "not_contacted", "lead")
    assert contact.custom_fields == {}


def test_email_is_stored_lowercased(contact_factory):
    contact = contact_factory(email="  Jane.Smith@Company.COM ")
    contact.refresh_from_db()
    assert contact.email == "jane.smith@company.com"


def test_database_rejects_same_email_in_another_case(contact_factory):
    contact_factory(email="jane@company.com")
    with pytest.raises(IntegrityError):
        Contact.objects.filter(pk=contact_factory(email="other@company.com").pk).update(
            email="JANE@company.com"
        )


def test_many_contacts_may_have_no_email(contact_factory):
    contact_factory(email="")
    contact_factory(email="")
    assert Contact.objects.filter(email="").count() == 2


def test_tag_names_are_unique_case_insensitively():
    Tag.objects.create(name="VIP")
    with pytest.raises(IntegrityError):
        Tag.objects.create(name="vip")


def test_tag_uniqueness_is_a_form_level_error_too():
    Tag.objects.create(name="VIP")
    with pytest.raises(ValidationError, match="already exists"):
        Tag(name="vip").full_clean()


def test_a_contact_has_at_most_one_primary_phone(contact_factory, phone_factory):
    contact = contact_factory()
    phone_factory(contact=contact, number="+14155550100", is_primary=True)
    with pytest.raises(IntegrityError):
        phone_factory(contact=contact, number="+14155550101", is_primary=True)


def test_a_number_appears_once_per_contact_but_may_be_shared(contact_factory, phone_factory):
    first, second = contact_factory(), contact_factory()
    phone_factory(contact=first, number="+14155550100")
    phone_factory(contact=second, number="+14155550100")
    with pytest.raises(IntegrityError):
        phone_factory(contact=first, number="+14155550100")


def test_phone_number_is_stored_in_e164(contact_factory):
    phone = PhoneNumber.objects.create(contact=contact_factory(), number="(415) 555-0100")
    phone.refresh_from_db()
    assert str(phone.number) == "+14155550100"


def test_primary_phone_prefers_the_flagged_one(contact_factory, phone_factory):
    contact = contact_factory()
    phone_factory(contact=contact, number="+14155550100")
    flagged = phone_factory(contact=contact, number="+14155550101", is_primary=True)
    assert contact.primary_phone() == flagged
