"""Contacts read in bulk for what is computed from many of them at once (the push's dry run,
the batch triage): each contact with its tag names and phone numbers read as plain values.

The simple way, `Contact.objects.prefetch_related("tags", "phone_numbers")`, makes a Tag
instance for every (contact, tag) row, though a few dozen tags exist, and a PhoneNumber
instance for every number, whose field parses it again on load: for 10,000 contacts, most of
a dry run's time (docs/benchmarks.md). Here the tags are one query of (contact, name) rows and
the phones one of their stored values; a phone's number is parsed only if it is read, as the
field itself parses it. The contacts read them through `Contact.tag_names()` and
`Contact.phones()`, which fall back to the related managers on a contact not read here, so a
payload is the same either way (tests/test_crm_bulk_read.py).

The values are read once: a contact read here is for reading, not for changing its tags or
phone numbers and reading them again.
"""

from collections.abc import Iterable
from functools import cached_property

from django.db.models import CharField
from django.db.models.functions import Cast
from phonenumber_field.phonenumber import to_python

from .models import Contact, PhoneNumber


class StoredPhone:
    """What is read of a PhoneNumber row (number, type, is_primary, do_not_call), without
    the model instance. `number` is the phonenumber_field value the model field would give."""

    def __init__(self, pk: int, stored: str, type: str, is_primary: bool, do_not_call: bool):
        self.pk = self.id = pk
        self.stored = stored  # the column's text (E.164 for a valid number)
        self.type = type
        self.is_primary = is_primary
        self.do_not_call = do_not_call

    @cached_property
    def number(self):
        # As the model field's from_db_value does; only when a payload reads it.
        return to_python(self.stored)

    def __str__(self) -> str:
        return str(self.number)


def contacts_in_bulk(*, ids: Iterable[int]) -> dict[int, Contact]:
    """{id: contact} of the existing ones of `ids`, as `Contact.objects.in_bulk(ids)`, each
    with its tag names and phone numbers loaded: three queries, whatever the count. The
    caller keeps `ids` within the database's parameter limit (integrations.links)."""
    ids = list(ids)
    contacts = Contact.objects.in_bulk(ids)
    if not contacts:
        return contacts
    for contact in contacts.values():
        contact.loaded_tag_names = []
        contact.loaded_phones = []
    through = Contact.tags.through.objects.filter(contact_id__in=ids).order_by()
    for contact_id, name in through.values_list("contact_id", "tag__name"):
        if contact_id in contacts:
            contacts[contact_id].loaded_tag_names.append(name)
    # The stored text, not the field's value: the field would parse each number on load.
    phones = PhoneNumber.objects.filter(contact_id__in=ids).values_list(
        "contact_id", "pk", Cast("number", CharField()), "type", "is_primary", "do_not_call"
    )
    # PhoneNumber's Meta.ordering (primary first, then by id), as the related manager reads.
    for contact_id, *values in phones.order_by("-is_primary", "pk"):
        if contact_id in contacts:
            contacts[contact_id].loaded_phones.append(StoredPhone(*values))
    return contacts
