"""The contact list's representation, built from `values()` rows rather than model instances.

A page of 100 contacts rendered by ContactSerializer costs about 60 ms of Python: 100 model
instances, their prefetched phones, tags and links as more instances, then DRF's nested
serializers field by field. The list reads plain rows instead (the contacts, then one query
each for the page's phone numbers, tags and each extension's data) and assembles the same
dicts in Python, in a few milliseconds.

The serializer stays the one definition of the representation: the detail, write responses
and the OpenAPI schema use it, the keys and their order here are read from it, and
tests/test_api_list_representation.py checks that a list item and the detail body of the same
contact are identical JSON, so the two cannot drift apart unnoticed.
"""

import datetime
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection, connections
from django.db.models import (
    Aggregate,
    CharField,
    DateTimeField,
    F,
    Func,
    JSONField,
    Lookup,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Lower
from django.utils import timezone
from rest_framework import serializers
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import ISO_8601, api_settings

from crm.models import Contact, PhoneNumber

from .extensions import ContactFieldExtension, contact_field_extensions
from .serializers import ContactSerializer, PhoneNumberSerializer

_drf_datetime = serializers.DateTimeField()


def datetime_formatter() -> Callable[[datetime.datetime | None], str | None]:
    """A function that shows a datetime as DRF's DateTimeField does, for one response.

    The same steps as DateTimeField.to_representation (the current time zone, ISO 8601,
    "Z" for UTC), inlined for the usual settings (ISO 8601, USE_TZ): DRF's reads its
    settings and the time zone on every call, a third of the list's Python time for the 200
    datetimes of a page. Made per response, so the time zone is the request's.
    """
    output_format = api_settings.DATETIME_FORMAT
    if not (isinstance(output_format, str) and output_format.lower() == ISO_8601):
        return _drf_datetime.to_representation
    tz = timezone.get_current_timezone()

    def represent(value: datetime.datetime | None) -> str | None:
        if not value:
            return None
        if timezone.is_naive(value):
            return _drf_datetime.to_representation(value)
        text = value.astimezone(tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return represent


class AnyOf(Lookup):
    """`column = ANY(%s)`: a page's ids as one array parameter, on PostgreSQL.

    Django compiles `contact_id__in=ids` with one parameter per id, each prepared and quoted
    in Python: about 1.5 ms for 100 ids, as much as running the query.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, list(self.rhs))


def ids_filter(column: str, ids: Sequence[int]) -> Q | AnyOf:
    """`column IN ids`, as one array parameter where the database has arrays."""
    if connection.vendor == "postgresql":
        return AnyOf(F(column), list(ids))
    return Q(**{f"{column}__in": ids})


PHONE_FIELDS = tuple(PhoneNumberSerializer.Meta.fields)
# Row keys of the PostgreSQL arrays (see contact_list_rows); not names of model fields.
_PHONES, _TAGS = "list_phone_numbers", "list_tag_names"
# Serializer fields that are not a column of the contact row.
_RELATED = {"full_name", "phone_numbers", "tags"}
_DATETIMES = {
    field.name for field in Contact._meta.concrete_fields if isinstance(field, DateTimeField)
}
# The contact columns the list reads: every field the serializer shows, by its column name.
LIST_COLUMNS: tuple[str, ...] = tuple(
    Contact._meta.get_field(name).attname
    for name in ContactSerializer.Meta.fields
    if name not in _RELATED
)


def contact_list_rows(queryset: QuerySet[Contact]) -> QuerySet:
    """The (filtered, ordered) contacts as rows for contact_list_representation.

    On PostgreSQL each row also carries its phone numbers and tag names, as arrays made by
    correlated subqueries in the same statement: two queries fewer for a page, each of which
    cost more in Django and the driver than in the database.
    """
    if connections[queryset.db].vendor != "postgresql":
        return queryset.values(*LIST_COLUMNS)
    phones = PhoneNumber.objects.filter(contact_id=OuterRef("id"))
    tags = Contact.tags.through.objects.filter(contact_id=OuterRef("id")).order_by(
        Lower("tag__name")
    )
    return queryset.values(
        *LIST_COLUMNS,
        **{
            _PHONES: Subquery(
                phones.order_by()
                .values("contact_id")
                .values(
                    # As text, decoded below: drivers decode `json` values themselves, which
                    # a JSONField output (made for jsonb) would then decode again.
                    json=Cast(
                        _JSONAgg(_PhoneObject(), order_by=PhoneNumber._meta.ordering),
                        TextField(),
                    )
                )
            ),
            _TAGS: ArraySubquery(tags.values("tag__name")),
        },
    )


def contact_list_representation(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Contacts as ContactSerializer shows them, from contact_list_rows().

    Queries: one per extension, and on databases other than PostgreSQL one for the page's
    phone numbers and one for its tags, whatever the number of rows.
    """
    ids = [row["id"] for row in rows]
    if not ids:
        return []
    if _PHONES in rows[0]:
        phones = {row["id"]: json.loads(row[_PHONES] or "[]") for row in rows}
        tags = {row["id"]: row[_TAGS] for row in rows}
    else:
        phones = _phone_numbers_by_contact(ids)
        tags = _tag_names_by_contact(ids)
    extensions = [
        (extension.name, _extension_values(extension, ids))
        for extension in contact_field_extensions()
    ]
    represent_datetime = datetime_formatter()
    items = []
    for row in rows:
        pk = row["id"]
        item: dict[str, Any] = {}
        for name in ContactSerializer.Meta.fields:
            if name == "full_name":
                item[name] = " ".join(p for p in (row["first_name"], row["last_name"]) if p)
            elif name == "phone_numbers":
                item[name] = phones.get(pk) or []
            elif name == "tags":
                item[name] = tags.get(pk) or []
            elif name == "owner":
                item[name] = row["owner_id"]
            elif name in _DATETIMES:
                item[name] = represent_datetime(row[name])
            else:
                item[name] = row[name]
        for name, values in extensions:
            # .get: a contact deleted between the page's query and this one has no entry.
            item[name] = values.get(pk)
        items.append(item)
    return items


class _JSONAgg(Aggregate):
    # json, not jsonb (django.contrib.postgres's JSONBAgg): jsonb would sort the keys.
    function = "json_agg"
    allow_order_by = True
    output_field = JSONField()


class _PhoneObject(Func):
    """json_build_object(…) of a phone number: keys in the serializer's order (JSONObject
    builds jsonb, which sorts them), the number as stored text (see below)."""

    function = "json_build_object"
    output_field = JSONField()

    def __init__(self):
        super().__init__(
            *(
                arg
                for key in PHONE_FIELDS
                for arg in (Value(key), Cast("number", CharField()) if key == "number" else F(key))
            )
        )


def _phone_numbers_by_contact(ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    # The number is read as stored text: contact_upsert stores it in E.164 (settings'
    # PHONENUMBER_DB_FORMAT), which is what the serializer shows, so parsing it back into a
    # PhoneNumber object (a few hundred microseconds a page) would only format it again.
    rows = (
        PhoneNumber.objects.filter(ids_filter("contact_id", ids))
        .order_by(*PhoneNumber._meta.ordering)
        .values_list(
            "contact_id",
            *(Cast("number", CharField()) if key == "number" else key for key in PHONE_FIELDS),
        )
    )
    phones: dict[int, list[dict[str, Any]]] = {}
    for contact_id, *values in rows:
        phones.setdefault(contact_id, []).append(dict(zip(PHONE_FIELDS, values, strict=True)))
    return phones


def _tag_names_by_contact(ids: Iterable[int]) -> dict[int, list[str]]:
    # In the Tag model's order (case-insensitive name), as the detail's prefetch gives them.
    rows = (
        Contact.tags.through.objects.filter(ids_filter("contact_id", ids))
        .order_by(Lower("tag__name"))
        .values_list("contact_id", "tag__name")
    )
    tags: dict[int, list[str]] = {}
    for contact_id, name in rows:
        tags.setdefault(contact_id, []).append(name)
    return tags


def _extension_values(extension: ContactFieldExtension, ids: list[int]) -> dict[int, Any]:
    if extension.values is not None:
        return dict(extension.values(ids))
    # An extension without `values`: its field renders instances, read with its prefetch.
    queryset = Contact.objects.filter(pk__in=ids)
    if extension.prefetch is not None:
        queryset = extension.prefetch(queryset)
    field = extension.field()
    field.bind(extension.name, ContactSerializer())
    values = {}
    for contact in queryset:
        # As Serializer.to_representation does for each field.
        attribute = field.get_attribute(contact)
        check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
        values[contact.pk] = None if check is None else field.to_representation(attribute)
    return values
