import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from crm.models import Contact, Tag
from crm.services import WriteOutcome, contact_upsert, contact_write, tags_get_or_create
from crm.signals import contact_changed
from crm.validation import ContactAlreadyExists, phone_parse, phones_clean

pytestmark = pytest.mark.django_db

SEED = {
    "first_name": "Jane",
    "last_name": "Smith",
    "email": "jane@company.com",
    "company": "Tech Corp",
    "title": "CTO",
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+5511988888888", "+5511988888888"),
        ("+55 (11) 98888-8888", "+5511988888888"),
        ("(415) 555-0100", "+14155550100"),
        ("415.555.0100", "+14155550100"),
        ("1-415-555-0100", "+14155550100"),
        ("+44 20 7946 0958", "+442079460958"),
        ("011 44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_parse_accepts_any_format_and_returns_e164(raw, expected):
    assert phone_parse(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "12", "not a phone", "+1 000 000 0000", "9" * 80, None])
def test_phone_parse_rejects_invalid_numbers_naming_the_value(raw):
    with pytest.raises(ValidationError) as exc:
        phone_parse(raw)
    assert exc.value.code == "invalid_phone"
    assert "is not a valid phone number" in exc.value.messages[0]


def test_phone_error_names_the_value():
    with pytest.raises(ValidationError, match="“12345” is not a valid phone number"):
        phone_parse("12345")


@override_settings(PHONE_DEFAULT_REGION="GB")
def test_national_numbers_are_read_in_the_configured_region():
    assert phone_parse("020 7946 0958") == "+442079460958"


def test_first_phone_becomes_primary_when_none_is_flagged():
    rows = phones_clean([{"number": "+14155550100"}, {"number": "+14155550101"}])
    assert [row["is_primary"] for row in rows] == [True, False]


def test_phones_clean_reports_each_bad_row_with_its_index():
    with pytest.raises(ValidationError) as exc:
        phones_clean(
            [
                {"number": "+14155550100", "is_primary": True},
                {"number": "(415) 555-0100"},
                {"number": "nope"},
                {"number": "+14155550102", "type": "pager"},
                {"number": "+14155550103", "is_primary": True},
            ]
        )
    errors = exc.value.error_dict["phone_numbers"]
    assert [(e.code, (e.params or {}).get("index")) for e in errors] == [
        ("duplicate_phone", 1),
        ("invalid_phone", 2),
        ("invalid_choice", 3),
        ("multiple_primary", None),
    ]


def test_upsert_creates_a_contact_with_phones_tags_and_custom_fields(custom_field_factory):
    custom_field_factory(key="deal_size", label="Deal size", type="number")
    contact = contact_upsert(
        data=SEED,
        phone_numbers=[{"number": "+55 11 98888-8888"}],
        tags=["hot-lead", "tech"],
        custom_fields={"deal_size": "1200"},
    )
    contact.refresh_from_db()
    assert contact.full_name == "Jane Smith"
    assert [(str(p.number), p.is_primary) for p in contact.phone_numbers.all()] == [
        ("+5511988888888", True)
    ]
    assert sorted(contact.tags.values_list("name", flat=True)) == ["hot-lead", "tech"]
    assert contact.custom_fields == {"deal_size": 1200}


def test_upsert_rejects_a_duplicate_email_in_any_case_carrying_the_existing_contact():
    existing = contact_upsert(data=SEED)
    with pytest.raises(ContactAlreadyExists) as exc:
        contact_upsert(data={**SEED, "email": "JANE@Company.com"})
    assert exc.value.existing == existing
    assert exc.value.error_dict["email"][0].code == "already_exists"
    assert Contact.objects.count() == 1


def test_upsert_may_keep_its_own_email_on_update():
    contact = contact_upsert(data=SEED)
    contact_upsert(contact=contact, data={"email": "Jane@company.com", "title": "CEO"})
    contact.refresh_from_db()
    assert (contact.email, contact.title) == ("jane@company.com", "CEO")


def test_upsert_reports_every_field_error_at_once_and_writes_nothing(custom_field_factory):
    custom_field_factory(key="industry", label="Industry", type="choice", choices=["Retail"])
    with pytest.raises(ValidationError) as exc:
        contact_upsert(
            data={"first_name": "", "email": "jane@", "country": "XX", "stage": "nirvana"},
            phone_numbers=[{"number": "123"}],
            custom_fields={"industry": "Mining", "colour": "red"},
        )
    assert set(exc.value.error_dict) == {
        "first_name",
        "email",
        "country",
        "stage",
        "phone_numbers",
        "custom_fields",
    }
    assert Contact.objects.count() == 0


def test_upsert_replaces_the_phone_set_keeping_unchanged_rows():
    contact = contact_upsert(
        data=SEED, phone_numbers=[{"number": "+14155550100"}, {"number": "+14155550101"}]
    )
    kept = contact.phone_numbers.get(number="+14155550101")
    contact_upsert(
        contact=contact,
        phone_numbers=[
            {"number": "415-555-0101", "is_primary": True, "do_not_call": True},
            {"number": "+14155550102", "type": "work"},
        ],
    )
    phones = list(contact.phone_numbers.order_by("number"))
    assert [(str(p.number), p.is_primary, p.do_not_call, p.type) for p in phones] == [
        ("+14155550101", True, True, "mobile"),
        ("+14155550102", False, False, "work"),
    ]
    assert phones[0].pk == kept.pk


def test_upsert_leaves_phones_tags_and_custom_fields_alone_when_not_given():
    contact = contact_upsert(data=SEED, phone_numbers=[{"number": "+14155550100"}], tags=["vip"])
    contact_upsert(contact=contact, data={"title": "CEO"})
    assert contact.phone_numbers.count() == 1
    assert list(contact.tags.values_list("name", flat=True)) == ["vip"]


def test_tags_are_matched_case_insensitively_and_created_on_first_use():
    Tag.objects.create(name="VIP")
    tags = tags_get_or_create(names=["vip", " New   Tag ", "new tag", ""])
    assert [t.name for t in tags] == ["VIP", "New Tag"]
    assert Tag.objects.count() == 2


def test_contact_changed_is_sent_once_per_write_after_relations_are_saved():
    seen = []

    def listener(sender, contact, created, **kwargs):
        seen.append((created, contact.phone_numbers.count(), contact.tags.count()))

    contact_changed.connect(listener)
    try:
        contact = contact_upsert(data=SEED, phone_numbers=[{"number": "+14155550100"}], tags=["a"])
        contact_upsert(contact=contact, tags=["a", "b"])
    finally:
        contact_changed.disconnect(listener)
    assert seen == [(True, 1, 1), (False, 1, 2)]


def test_upsert_refuses_fields_it_does_not_know():
    with pytest.raises(TypeError, match="custom_fields"):
        contact_upsert(data={"first_name": "A", "custom_fields": {}})


@pytest.mark.django_db
def test_a_write_says_whether_it_created_updated_or_left_the_contact_unchanged():
    created = contact_write(data={"first_name": "Zoë", "email": "zoe@example.com"}, tags=["VIP"])
    assert created.outcome == WriteOutcome.CREATED
    contact = created.contact

    # The same values again, a tag in another case and the email in capitals: nothing to write.
    again = contact_write(contact=contact, data={"email": "ZOE@example.com"}, tags=["vip"])
    assert again.outcome == WriteOutcome.UNCHANGED

    changed = contact_write(contact=contact, data={"title": "CTO"})
    assert (changed.outcome, changed.contact.title) == (WriteOutcome.UPDATED, "CTO")
