"""The contact list's representation, built from `values()` rows rather than model instances.

A page of 100 contacts rendered by ContactSerializer cost about 60 ms of Python: 100 model
instances, their prefetched phones, tags and links as more instances, then DRF's nested
serializers field by field. The list reads plain rows instead and assembles the same dicts in
Python, in about a millisecond. On PostgreSQL the page's one statement also reads each
contact's phone numbers, tag ids and extension data (remote links) through correlated
subqueries, and one small query names the page's tags; elsewhere one query each follows for
the page's ids.

The create and update responses are read the same way (contact_representation). The
serializer stays the one definition of the representation: the detail and the OpenAPI schema
use it, the keys and their order here are read from it, and tests/test_api_list_fast.py
checks that a list item, a create and an update response equal the detail body of the same
contact, so they cannot drift apart unnoticed.
"""

import datetime
import functools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from django.contrib.postgres.fields import ArrayField
from django.db import connection, connections
from django.db.models import (
    CharField,
    DateTimeField,
    F,
    IntegerField,
    Lookup,
    Q,
    QuerySet,
    TextField,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Lower
from django.utils import timezone
from rest_framework import serializers
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import ISO_8601, api_settings

from crm.models import Contact, PhoneNumber, Tag

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
    # The driver gives UTC datetimes; shown in UTC (the default TIME_ZONE) they need no
    # conversion. A zone that is only sometimes at +00:00 (Europe/London) is not UTC.
    utc_shown = tz is datetime.UTC or getattr(tz, "key", None) in ("UTC", "Etc/UTC")

    def represent(value: datetime.datetime | None) -> str | None:
        if not value:
            return None
        if utc_shown and value.tzinfo is datetime.UTC:
            return value.isoformat()[:-6] + "Z"
        if timezone.is_naive(value):
            return _drf_datetime.to_representation(value)
        text = value.astimezone(tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return represent


def json_loads(text: str) -> Any:
    """JSON that this module's SQL builds (ids, texts, booleans), read by orjson: several
    times faster than the json module on a page's values.

    Not for stored documents such as custom_fields: orjson reads an integer beyond 64 bits
    as a float, where the json module (and so the detail endpoint) keeps it exact.
    """
    return orjson.loads(text)


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
# Row keys of what the PostgreSQL statement reads besides the columns (see
# contact_list_rows); not names of model fields.
_PHONES, _TAG_IDS, _CUSTOM_FIELDS = "list_phone_numbers", "list_tag_ids", "list_custom_fields"
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
_FIELD_ORDER = tuple(ContactSerializer.Meta.fields)
# (key, row column) of the fields shown as read: `owner` is the owner_id column.
_PLAIN = tuple(
    (name, Contact._meta.get_field(name).attname)
    for name in _FIELD_ORDER
    if name not in _RELATED and name not in _DATETIMES
)
_DATETIME_FIELDS = tuple(name for name in _FIELD_ORDER if name in _DATETIMES)


def contact_list_rows(queryset: QuerySet[Contact]) -> QuerySet:
    """The (filtered, ordered) contacts as rows for contact_list_representation.

    On PostgreSQL each row also carries its phone numbers (as JSON text) and tag ids (an
    array), read by correlated subqueries in the same statement: a query fewer for a page,
    which cost more in Django and the driver than in the database. The custom fields are
    read as the JSON text PostgreSQL stores, and go into the response as they are.
    """
    if connections[queryset.db].vendor != "postgresql":
        return queryset.values(*LIST_COLUMNS)
    phones, tag_ids, custom_fields = _postgresql_expressions()
    extensions = {
        _extension_key(extension): extension.row_expression()
        for extension in contact_field_extensions()
        if _reads_from_row(extension)
    }
    return queryset.values(
        *(column for column in LIST_COLUMNS if column != "custom_fields"),
        **{_PHONES: phones, _TAG_IDS: tag_ids, _CUSTOM_FIELDS: custom_fields},
        **extensions,
    )


def _reads_from_row(extension: ContactFieldExtension) -> bool:
    return extension.row_expression is not None and extension.from_row is not None


def _extension_key(extension: ContactFieldExtension) -> str:
    return f"list_extension_{extension.name}"


@functools.cache
def _postgresql_expressions() -> tuple[RawSQL, RawSQL, RawSQL]:
    """The phone and tag id subqueries and the custom fields' text, as SQL written once from
    the models' names.

    Written out rather than built with the ORM (Subquery, OuterRef, an ordered json_agg):
    compiling those took 3.5 ms of CPU on every request, more than the rest of the page.
    They refer to the outer contact by its table name, which Django uses as the alias of
    the queried table. Phones are json (not jsonb, which would sort the keys) in the
    serializer's key order and the model's order; the number is the stored E.164 text.

    Tags are read as ids, named afterwards by one query for the whole page
    (_tag_names_by_id): joining the tag table in each contact's subquery cost PostgreSQL
    four times as much, 2 ms a page against 0.4 ms.
    """
    qn = connection.ops.quote_name
    table = qn(Contact._meta.db_table)
    contact = f"{table}.{qn(Contact._meta.pk.column)}"
    phone = PhoneNumber._meta
    pairs = ", ".join(f"'{key}', p.{qn(phone.get_field(key).column)}" for key in PHONE_FIELDS)
    order = ", ".join(
        f"p.{qn(phone.get_field(term.lstrip('-')).column)}"
        + (" DESC" if term.startswith("-") else "")
        for term in phone.ordering
    )
    # Only the models' own table and column names, quoted, go into this SQL: no input.
    phones = RawSQL(  # noqa: S611
        f"SELECT json_agg(json_build_object({pairs}) ORDER BY {order})::text"  # noqa: S608
        f" FROM {qn(phone.db_table)} p"
        f" WHERE p.{qn(phone.get_field('contact').column)} = {contact}",
        (),
        output_field=TextField(),
    )
    through = Contact.tags.through._meta
    tag_ids = RawSQL(  # noqa: S611
        f"ARRAY(SELECT ct.{qn('tag_id')} FROM {qn(through.db_table)} ct"  # noqa: S608
        f" WHERE ct.{qn('contact_id')} = {contact})",
        (),
        output_field=ArrayField(IntegerField()),
    )
    custom_fields = RawSQL(  # noqa: S611
        f"{table}.{qn(Contact._meta.get_field('custom_fields').column)}::text",
        (),
        output_field=TextField(),
    )
    return phones, tag_ids, custom_fields


def contact_representation(contact_id: int) -> dict[str, Any] | None:
    """One contact as ContactSerializer shows it, read as the list reads it: the create and
    update responses, in two queries on PostgreSQL where the serializer's prefetches take
    four. None if the contact no longer exists.

    The custom fields are plain dicts here (not JSON text), so the body can be stored, as
    the idempotency record does.
    """
    rows = list(contact_list_rows(Contact.objects.filter(pk=contact_id)))
    items = contact_list_representation(rows, custom_fields_as_text=False)
    return items[0] if items else None


def contact_list_representation(
    rows: Sequence[dict[str, Any]], *, custom_fields_as_text: bool = True
) -> list[dict[str, Any]]:
    """Contacts as ContactSerializer shows them, from contact_list_rows().

    Queries: one per extension, and one for the page's tag names on PostgreSQL, or for its
    phone numbers and one for its tags elsewhere, whatever the number of rows.

    On PostgreSQL the custom fields are `orjson.Fragment`s of the stored JSON text, which
    FastJSONRenderer writes as they are, unless `custom_fields_as_text` is False.
    """
    ids = [row["id"] for row in rows]
    if not ids:
        return []
    if _PHONES in rows[0]:
        phones = {row["id"]: json_loads(row[_PHONES] or "[]") for row in rows}
        names = _tag_names_by_id({pk for row in rows for pk in row[_TAG_IDS]})
        tags = {
            # Sorted as the Tag model orders them; a tag deleted meanwhile has no name.
            row["id"]: [
                name for _, name in sorted(names[pk] for pk in row[_TAG_IDS] if pk in names)
            ]
            for row in rows
        }
    else:
        phones = _phone_numbers_by_contact(ids)
        tags = _tag_names_by_contact(ids)
    extensions = [
        (extension.name, _extension_values(extension, ids, rows))
        for extension in contact_field_extensions()
    ]
    represent_datetime = datetime_formatter()
    custom_fields_from_text = _CUSTOM_FIELDS in rows[0]
    plain = [(name, column) for name, column in _PLAIN if column in rows[0]]
    items = []
    for row in rows:
        pk = row["id"]
        # Keys in the serializer's order first, then filled: assigning to an existing key
        # keeps its place, and one loop over plain columns beats a branch per field.
        item = dict.fromkeys(_FIELD_ORDER)
        for name, column in plain:
            item[name] = row[column]
        for name in _DATETIME_FIELDS:
            item[name] = represent_datetime(row[name])
        item["full_name"] = " ".join(p for p in (row["first_name"], row["last_name"]) if p)
        if custom_fields_from_text:
            # PostgreSQL's text of the stored JSON, written into the response as it is:
            # reading it into dicts only for orjson to write them again cost 1.5 ms a page.
            # Read, it goes through the json module, as the JSONField reads it (orjson
            # would turn an integer beyond 64 bits into a float).
            text = row[_CUSTOM_FIELDS]
            if text is not None:
                text = orjson.Fragment(text) if custom_fields_as_text else json.loads(text)
            item["custom_fields"] = text
        item["phone_numbers"] = phones.get(pk) or []
        item["tags"] = tags.get(pk) or []
        for name, values in extensions:
            # .get: a contact deleted between the page's query and this one has no entry.
            item[name] = values.get(pk)
        items.append(item)
    return items


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


def _tag_names_by_id(ids: set[int]) -> dict[int, tuple[int, str]]:
    """{tag id: (rank, name)}, the rank in the Tag model's order (case-insensitive name).

    PostgreSQL only. A fixed statement through the cursor: the ORM's compilation of this
    query cost more than PostgreSQL's answer to it.
    """
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_tag_names_sql(), [list(ids)])
        return {pk: (rank, name) for rank, (pk, name) in enumerate(cursor.fetchall())}


@functools.cache
def _tag_names_sql() -> str:
    qn = connection.ops.quote_name
    tag = Tag._meta
    name = qn(tag.get_field("name").column)
    # The Tag model's order, Lower("name"), which the detail's prefetch follows.
    return (
        f"SELECT {qn(tag.pk.column)}, {name} FROM {qn(tag.db_table)}"  # noqa: S608
        f" WHERE {qn(tag.pk.column)} = ANY(%s) ORDER BY LOWER({name})"
    )


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


def _extension_values(
    extension: ContactFieldExtension, ids: list[int], rows: Sequence[dict[str, Any]]
) -> dict[int, Any]:
    key = _extension_key(extension)
    if key in rows[0]:
        return {row["id"]: extension.from_row(row[key]) for row in rows}
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
