"""The list's read plan, derived from ContactSerializer's fields.

The serializer is the one definition of the contact's representation: the detail, the
OpenAPI schema and the write responses use it. The list reads plain rows instead of model
instances, and this plan, built by walking the serializer's fields in order, says how each
field is read from them:

- a field on a column of the contact (`owner` is its owner_id column) is shown as read;
- a DateTimeField is shown as DRF shows datetimes;
- a JSON column (custom_fields) is the stored document, on PostgreSQL its JSON text;
- a field on a property of Contact (full_name) calls the property on the row;
- a nested field (phone_numbers, tags, remote_links) has a reader in
  api.contacts.related, which also gives the prefetch the detail reads it with.

A new column field therefore needs no edit here. A field of another kind needs a reader in
RELATED_READERS, and the plan refuses to build without one rather than drift from the
serializer; tests/test_api_list_fast.py checks the list against the detail body.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db.models import DateTimeField, JSONField, Prefetch
from rest_framework import serializers

from crm.models import Contact

from .related import PhoneNumbersReader, RelatedReader, RemoteLinksReader, TagNamesReader
from .serializers import ContactSerializer

# The reader of each nested field, made from the serializer's field.
RELATED_READERS: dict[str, Callable[[serializers.Field], RelatedReader]] = {
    "phone_numbers": lambda field: PhoneNumbersReader(keys=list(field.child.fields)),
    "tags": lambda field: TagNamesReader(),
    "remote_links": lambda field: RemoteLinksReader(fields=field.child.fields),
}


class RowAttributes:
    """A row read as the attributes of a Contact, for its properties (full_name)."""

    __slots__ = ("row",)

    def __init__(self, row: dict[str, Any]):
        self.row = row

    def __getattr__(self, name: str) -> Any:
        try:
            return self.row[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class ReadPlan:
    keys: tuple[str, ...]  # the representation's keys, in the serializer's order
    columns: tuple[str, ...]  # the contact columns the rows carry (attnames)
    plain: tuple[tuple[str, str], ...]  # (key, column) shown as read
    datetimes: tuple[tuple[str, str], ...]  # (key, column) shown as DRF shows datetimes
    json_columns: tuple[tuple[str, str], ...]  # (key, column) of stored JSON documents
    properties: tuple[tuple[str, property], ...]  # (key, Contact property)
    related: tuple[tuple[str, RelatedReader], ...]

    def prefetches(self) -> list[Prefetch]:
        """What the serializer needs prefetched to render instances in a fixed number of
        queries (the detail and the write responses)."""
        return [reader.prefetch() for _, reader in self.related]


@functools.cache
def contact_read_plan() -> ReadPlan:
    return read_plan(ContactSerializer())


def read_plan(serializer: serializers.Serializer) -> ReadPlan:
    """How to read each field of `serializer`, a serializer of Contact, from a row."""
    keys, plain, datetimes, json_columns, properties, related = [], [], [], [], [], []
    for key, field in serializer.fields.items():
        keys.append(key)
        if key in RELATED_READERS:
            related.append((key, RELATED_READERS[key](field)))
            continue
        if isinstance(field, serializers.BaseSerializer | serializers.SerializerMethodField):
            raise _no_reader(key)
        source = field.source
        attribute = getattr(Contact, source, None)
        if isinstance(attribute, property):
            properties.append((key, attribute))
            continue
        try:
            model_field = Contact._meta.get_field(source)
        except FieldDoesNotExist:
            raise _no_reader(key) from None
        if not model_field.concrete or model_field.many_to_many:
            raise _no_reader(key)
        column = model_field.attname
        if isinstance(model_field, JSONField):
            json_columns.append((key, column))
        elif isinstance(model_field, DateTimeField):
            datetimes.append((key, column))
        else:
            plain.append((key, column))
    columns = tuple(column for _, column in plain + datetimes + json_columns)
    return ReadPlan(
        keys=tuple(keys),
        columns=columns,
        plain=tuple(plain),
        datetimes=tuple(datetimes),
        json_columns=tuple(json_columns),
        properties=tuple(properties),
        related=tuple(related),
    )


def _no_reader(key: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"The contact field {key!r} is not a column or property of Contact: give the list a "
        "reader for it in api.contacts.read_plan.RELATED_READERS."
    )
