import pytest
from django import forms
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Contact, CustomField, PhoneNumber, Tag
from crm.signals import contact_changed

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:crm_contact_changelist")
ADD = reverse("admin:crm_contact_add")


def contact_form(**overrides):
    """POST data for the contact add/change page, with an empty phone inline."""
    data = {
        "first_name": "Jane",
        "last_name": "Smith",
        "email": "jane@company.com",
        "company": "Tech Corp",
        "title": "CTO",
        "source": "other",
        "status": "not_contacted",
        "stage": "lead",
        "phone_numbers-TOTAL_FORMS": "0",
        "phone_numbers-INITIAL_FORMS": "0",
        "phone_numbers-MIN_NUM_FORMS": "0",
        "phone_numbers-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def with_phones(data, *phones, initial=0):
    data["phone_numbers-TOTAL_FORMS"] = str(len(phones))
    data["phone_numbers-INITIAL_FORMS"] = str(initial)
    for i, phone in enumerate(phones):
        for key, value in phone.items():
            data[f"phone_numbers-{i}-{key}"] = value
    return data


def test_changelist_shows_contacts_with_primary_phone_and_tags(staff_client, contact_factory):
    contact = contact_factory(first_name="Jane", last_name="Smith", company="Tech Corp")
    contact.phone_numbers.create(number="+14155550100", is_primary=True)
    contact.tags.add(Tag.objects.create(name="vip"))
    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Jane Smith" in html
    assert "+1 415-555-0100" in html
    assert "vip" in html


def test_the_list_shows_the_primary_phone_and_the_tags_in_name_order(staff_client, contact_factory):
    contact = contact_factory(first_name="Order")
    contact.phone_numbers.create(number="+14155550100", is_primary=False)
    contact.phone_numbers.create(number="+442071838750", is_primary=True)
    contact.tags.add(*(Tag.objects.create(name=name) for name in ["beta", "Alpha", "gamma"]))
    bare = contact_factory(first_name="Bare")

    response = staff_client.get(CHANGELIST)

    admin_view = response.context["cl"].model_admin
    rows = {obj.pk: obj for obj in response.context["cl"].result_list}
    assert admin_view.primary_phone(rows[contact.pk]) == "+44 20 7183 8750"
    assert admin_view.tag_names(rows[contact.pk]) == "Alpha, beta, gamma"
    assert admin_view.primary_phone(rows[bare.pk]) == ""
    assert admin_view.tag_names(rows[bare.pk]) == ""


def test_the_row_checkbox_is_the_markup_django_renders(contact_factory):
    # ContactAdmin writes the selection checkbox itself (Django's widget rendering was a third
    # of the page): the actions' JavaScript and "select all" need exactly Django's markup.
    from django.contrib import admin
    from django.contrib.admin import ModelAdmin

    contact = contact_factory(first_name='Ana "<b>"', last_name="O'Neil & Co")
    contact_admin = admin.site.get_model_admin(Contact)
    assert contact_admin.action_checkbox(contact) == ModelAdmin.action_checkbox(
        contact_admin, contact
    )


def test_the_primary_phone_column_formats_stored_and_typed_numbers():
    from crm.forms import format_phone

    stored = PhoneNumber(number="+442071838750").number  # parsed, as read from the database
    assert format_phone(stored) == "+44 20 7183 8750"
    assert format_phone("+14155550100") == "+1 415-555-0100"
    assert format_phone("not a number") == "not a number"


@pytest.mark.parametrize(
    "term", ["+1 415 555 0100", "(415) 555-0100", "4155550100", "555-0100", "Smith", "TECH corp"]
)
def test_search_finds_contacts_by_phone_in_any_format_name_and_company(
    staff_client, contact_factory, term
):
    jane = contact_factory(first_name="Jane", last_name="Smith", company="Tech Corp")
    jane.phone_numbers.create(number="+14155550100")
    contact_factory(first_name="Other", last_name="Person", company="Elsewhere")
    response = staff_client.get(CHANGELIST, {"q": term})
    assert list(response.context["cl"].result_list) == [jane]


def test_search_by_full_name_and_email(staff_client, contact_factory):
    jane = contact_factory(first_name="Jane", last_name="Smith", email="jane@company.com")
    contact_factory(first_name="Jane", last_name="Doe", email="jd@else.com")
    for term in ("Jane Smith", "jane@company"):
        response = staff_client.get(CHANGELIST, {"q": term})
        assert list(response.context["cl"].result_list) == [jane]


def test_a_contact_with_two_matching_phones_is_listed_once(staff_client, contact_factory):
    jane = contact_factory()
    jane.phone_numbers.create(number="+14155550100")
    jane.phone_numbers.create(number="+14155550101")
    response = staff_client.get(CHANGELIST, {"q": "415555"})
    assert list(response.context["cl"].result_list) == [jane]


@pytest.mark.parametrize(
    "params",
    [
        {"stage__exact": "customer"},
        {"status__exact": "active"},
        {"source__exact": "referral"},
        {"country": "BR"},
        {"tags__id__exact": "TAG"},
        {"created_at__gte": "2000-01-01 00:00:00+00:00"},
    ],
)
def test_filters_narrow_the_list(staff_client, contact_factory, params):
    tag = Tag.objects.create(name="vip")
    match = contact_factory(stage="customer", status="active", source="referral", country="BR")
    match.tags.add(tag)
    contact_factory(stage="lead", status="contacted", source="other", country="US")
    params = {k: str(tag.pk) if v == "TAG" else v for k, v in params.items()}
    response = staff_client.get(CHANGELIST, params)
    assert response.status_code == 200
    result = list(response.context["cl"].result_list)
    assert match in result
    if "created_at__gte" not in params:
        assert result == [match]


def test_changelist_page_of_100_costs_a_fixed_number_of_queries(
    staff_client, contact_factory, phone_factory, django_assert_max_num_queries
):
    tags = [Tag.objects.create(name=f"t{i}") for i in range(3)]
    for contact in contact_factory.create_batch(100):
        contact.tags.set(tags)
        phone_factory(contact=contact, is_primary=True)
        phone_factory(contact=contact)
    with django_assert_max_num_queries(10):
        response = staff_client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 100


def test_changelist_pages_hold_the_rows_of_the_ordering(staff_client, contact_factory):
    # The admin finds a page's ids first, then reads those rows: every page must still hold
    # exactly its slice of the list's ordering, the last one included.
    contact_factory.create_batch(230)
    expected = list(Contact.objects.order_by("-updated_at", "-id").values_list("pk", flat=True))
    seen = []
    for page in (1, 2, 3):
        response = staff_client.get(CHANGELIST, {"p": page})
        seen += [contact.pk for contact in response.context["cl"].result_list]
    assert seen == expected
    assert staff_client.get(CHANGELIST, {"p": 4}).status_code == 302  # past the end, as Django


def test_add_contact_with_phones_tags_and_custom_fields(staff_client):
    CustomField.objects.create(key="deal_size", label="Deal size", type="number")
    CustomField.objects.create(
        key="industry", label="Industry", type="choice", choices=["Software", "Retail"]
    )
    tag = Tag.objects.create(name="hot-lead")
    data = with_phones(
        contact_form(tags=[tag.pk], cf_deal_size="1500", cf_industry="Software"),
        {"number": "(415) 555-0100", "type": "work"},
        {"number": "+55 11 98888-8888", "type": "mobile", "do_not_call": "on"},
    )
    response = staff_client.post(ADD, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    contact = Contact.objects.get()
    assert contact.custom_fields == {"deal_size": 1500, "industry": "Software"}
    assert list(contact.tags.all()) == [tag]
    phones = [
        (str(p.number), p.type, p.is_primary, p.do_not_call)
        for p in contact.phone_numbers.order_by("pk")
    ]
    assert phones == [
        ("+14155550100", "work", True, False),
        ("+5511988888888", "mobile", False, True),
    ]
    assert contact.owner == staff_client.user or contact.owner is None


def test_add_page_shows_custom_fields_as_real_form_fields(staff_client):
    CustomField.objects.create(key="last_meeting", label="Last meeting", type="date")
    CustomField.objects.create(key="newsletter", label="Newsletter", type="boolean")
    html = staff_client.get(ADD).content.decode()
    assert 'name="cf_last_meeting"' in html
    assert "vDateField" in html
    assert '<select name="cf_newsletter"' in html
    assert "Custom fields" in html


def test_invalid_phone_shows_a_field_error_naming_the_value(staff_client):
    data = with_phones(contact_form(), {"number": "12345", "type": "mobile"})
    response = staff_client.post(ADD, data)
    assert response.status_code == 200
    assert "“12345” is not a valid phone number." in response.content.decode()
    assert Contact.objects.count() == 0


def test_duplicate_email_shows_a_field_error_linking_the_existing_contact(
    staff_client, contact_factory
):
    existing = contact_factory(email="jane@company.com")
    response = staff_client.post(ADD, contact_form(email="JANE@company.com"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "already exists" in errors["email"][0]
    assert reverse("admin:crm_contact_change", args=[existing.pk]) in response.content.decode()
    assert Contact.objects.count() == 1


def test_wrong_custom_field_value_and_missing_required_field_are_field_errors(staff_client):
    CustomField.objects.create(key="deal_size", label="Deal size", type="number")
    CustomField.objects.create(key="industry", label="Industry", required=True)
    response = staff_client.post(ADD, contact_form(cf_deal_size="lots"))
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"cf_deal_size", "cf_industry"}


def test_two_primary_phones_are_refused(staff_client):
    data = with_phones(
        contact_form(),
        {"number": "+14155550100", "type": "mobile", "is_primary": "on"},
        {"number": "+14155550101", "type": "mobile", "is_primary": "on"},
    )
    response = staff_client.post(ADD, data)
    assert response.status_code == 200
    assert "Only one phone number can be primary." in response.content.decode()


def test_the_same_number_twice_in_two_formats_is_refused(staff_client):
    data = with_phones(
        contact_form(),
        {"number": "+14155550100", "type": "mobile"},
        {"number": "(415) 555-0100", "type": "work"},
    )
    response = staff_client.post(ADD, data)
    assert response.status_code == 200
    assert PhoneNumber.objects.count() == 0


def test_change_moves_the_primary_flag_to_another_phone(staff_client, contact_factory):
    contact = contact_factory(email="jane@company.com")
    old = contact.phone_numbers.create(number="+14155550100", is_primary=True)
    new = contact.phone_numbers.create(number="+14155550101")
    # The newly flagged row comes first, so it is saved before the old primary is cleared.
    data = with_phones(
        contact_form(email="jane@company.com", first_name=contact.first_name),
        {
            "id": new.pk,
            "contact": contact.pk,
            "number": "+14155550101",
            "type": "mobile",
            "is_primary": "on",
        },
        {"id": old.pk, "contact": contact.pk, "number": "+14155550100", "type": "mobile"},
        initial=2,
    )
    url = reverse("admin:crm_contact_change", args=[contact.pk])
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["errors"]
    assert list(contact.phone_numbers.filter(is_primary=True)) == [new]


def test_change_page_keeps_values_of_deleted_custom_field_definitions(
    staff_client, contact_factory
):
    contact = contact_factory(custom_fields={"retired": "kept"})
    url = reverse("admin:crm_contact_change", args=[contact.pk])
    data = contact_form(email=contact.email, title="New title")
    assert staff_client.post(url, data).status_code == 302
    contact.refresh_from_db()
    assert contact.custom_fields == {"retired": "kept"}
    assert contact.title == "New title"


def test_primary_is_given_to_the_first_phone_when_none_is_flagged(staff_client):
    data = with_phones(
        contact_form(),
        {"number": "+14155550100", "type": "mobile"},
        {"number": "+14155550101", "type": "mobile"},
    )
    assert staff_client.post(ADD, data).status_code == 302
    assert str(PhoneNumber.objects.get(is_primary=True).number) == "+14155550100"


@pytest.mark.parametrize("model", ["contact", "tag", "customfield"])
def test_every_admin_page_renders(staff_client, contact_factory, model):
    contact = contact_factory()
    tag = Tag.objects.create(name="vip")
    field = CustomField.objects.create(key="industry", label="Industry")
    obj = {"contact": contact, "tag": tag, "customfield": field}[model]
    for url, params in [
        (reverse(f"admin:crm_{model}_changelist"), {}),
        (reverse(f"admin:crm_{model}_changelist"), {"q": "vip"}),
        (reverse(f"admin:crm_{model}_add"), {}),
        (reverse(f"admin:crm_{model}_change", args=[obj.pk]), {}),
    ]:
        assert staff_client.get(url, params).status_code == 200, url


def test_tag_autocomplete_answers(staff_client):
    Tag.objects.create(name="hot-lead")
    response = staff_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "crm", "model_name": "contact", "field_name": "tags", "term": "hot"},
    )
    assert [r["text"] for r in response.json()["results"]] == ["hot-lead"]


def test_custom_field_choices_are_entered_one_per_line(staff_client):
    response = staff_client.post(
        reverse("admin:crm_customfield_add"),
        {
            "key": "industry",
            "label": "Industry",
            "type": "choice",
            "choices": "Software\n  Retail \n\n",
            "position": "0",
        },
    )
    assert response.status_code == 302
    assert CustomField.objects.get().choices == ["Software", "Retail"]


def test_custom_field_key_must_be_an_identifier(staff_client):
    response = staff_client.post(
        reverse("admin:crm_customfield_add"),
        {"key": "Deal Size", "label": "Deal size", "type": "number", "position": "0"},
    )
    assert response.status_code == 200
    assert "lowercase letters" in response.content.decode()


def test_admin_requires_staff(client, contact_factory):
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def resubmission(response) -> dict:
    """The POST data of the change page as it was rendered: the form sent back untouched."""
    data = {}
    rendered = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update(
            {management[name].html_name: management[name].value() for name in management.fields}
        )
        rendered += formset.forms
    for form in rendered:
        for field in form:
            value = field.value()
            if isinstance(field.field, forms.NullBooleanField):
                value = {True: "true", False: "false"}.get(value, "unknown")
            elif value is None or value is False:
                continue  # an empty input, an unticked checkbox: not sent
            elif value is True:
                value = "on"
            data[field.html_name] = (
                [str(v) for v in value] if isinstance(value, list) else str(value)
            )
    return data


def test_saving_a_change_page_untouched_writes_nothing_and_pushes_nothing(
    staff_client, contact_factory, custom_field_factory, django_capture_on_commit_callbacks
):
    custom_field_factory(key="renewal", label="Renewal", type="date")
    custom_field_factory(key="seats", label="Seats", type="number")
    custom_field_factory(key="churned", label="Churned", type="boolean")
    contact = contact_factory(
        first_name="Zoë",
        email="zoe@example.com",
        custom_fields={"renewal": "2026-03-01", "seats": 12.5, "churned": False},
    )
    contact.phone_numbers.create(number="+14155550100", is_primary=True, do_not_call=True)
    contact.tags.set([Tag.objects.create(name="VIP")])
    url = reverse("admin:crm_contact_change", args=[contact.pk])
    data = resubmission(staff_client.get(url))
    before = Contact.objects.values().get(pk=contact.pk)
    changed = []
    contact_changed.connect(receiver := lambda **kwargs: changed.append(kwargs), weak=False)
    try:
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.post(url, data)
    finally:
        contact_changed.disconnect(receiver)

    assert response.status_code == 302, response.context["errors"]
    assert Contact.objects.values().get(pk=contact.pk) == before  # updated_at included
    assert changed == []  # so no push either
    writes = [q["sql"] for q in queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert not [sql for sql in writes if "crm_" in sql or "integrations_" in sql], writes

    # A change to an inline alone is a change of the contact: written, its updated_at moved.
    data["phone_numbers-0-type"] = "work"
    assert staff_client.post(url, data).status_code == 302
    contact.refresh_from_db()
    assert contact.updated_at > before["updated_at"]
    assert contact.phone_numbers.get().type == "work"
