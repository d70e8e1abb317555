"""The list's readers for the contact fields that are not columns of its row.

Each reader reads one field for a whole page in a fixed number of queries, and gives the
field's representation exactly as ContactSerializer shows it (the list-equals-detail tests
hold them to it). On PostgreSQL its `expression()` reads the field in the page's own
statement, as JSON text or an array, and `from_rows` turns those values into the
representation; elsewhere `by_contact` reads the page's ids in one query.

The SQL is written once from the models' own table and column names, quoted; no input goes
into it. It refers to the outer contact by its table name, which Django uses as the alias of
the queried table.
"""

import datetime
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import CharField, Expression, IntegerField, Prefetch, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Lower
from rest_framework import serializers

from crm.models import Contact, PhoneNumber, Tag
from integrations.models import Connection, RemoteLink

from .formats import datetime_formatter, json_loads
from .queries import ids_filter

Rows = Sequence[dict[str, Any]]
# RemoteLink.last_error: a property over two columns, null when both are empty.
LAST_ERROR = "last_error"


class RelatedReader(Protocol):
    def prefetch(self) -> Prefetch: ...

    def expression(self) -> Expression: ...

    def from_rows(self, rows: Rows, key: str) -> dict[int, Any]: ...

    def by_contact(self, ids: Sequence[int]) -> dict[int, Any]: ...


def _contact_column() -> str:
    qn = connection.ops.quote_name
    return f"{qn(Contact._meta.db_table)}.{qn(Contact._meta.pk.column)}"


class PhoneNumbersReader:
    """The contact's phone numbers, with the keys of the nested serializer's fields.

    The number is read as stored text: contact_upsert stores it in E.164 (settings'
    PHONENUMBER_DB_FORMAT), which is what the serializer shows.
    """

    def __init__(self, *, keys: Sequence[str]):
        self.keys = tuple(keys)

    def prefetch(self) -> Prefetch:
        ordering = PhoneNumber._meta.ordering
        return Prefetch("phone_numbers", queryset=PhoneNumber.objects.order_by(*ordering))

    def expression(self) -> Expression:
        return _phones_sql(self.keys)

    def from_rows(self, rows: Rows, key: str) -> dict[int, Any]:
        return {row["id"]: json_loads(row[key] or "[]") for row in rows}

    def by_contact(self, ids: Sequence[int]) -> dict[int, Any]:
        rows = (
            PhoneNumber.objects.filter(ids_filter("contact_id", ids))
            .order_by(*PhoneNumber._meta.ordering)
            .values_list(
                "contact_id",
                *(Cast("number", CharField()) if key == "number" else key for key in self.keys),
            )
        )
        phones: dict[int, list[dict[str, Any]]] = {}
        for contact_id, *values in rows:
            phones.setdefault(contact_id, []).append(dict(zip(self.keys, values, strict=True)))
        return phones


@functools.cache
def _phones_sql(keys: tuple[str, ...]) -> RawSQL:
    # json, not jsonb (which would sort the keys): the serializer's key order.
    qn = connection.ops.quote_name
    phone = PhoneNumber._meta
    pairs = ", ".join(f"'{key}', p.{qn(phone.get_field(key).column)}" for key in keys)
    order = ", ".join(
        f"p.{qn(phone.get_field(term.lstrip('-')).column)}"
        + (" DESC" if term.startswith("-") else "")
        for term in phone.ordering
    )
    return RawSQL(  # noqa: S611
        f"SELECT json_agg(json_build_object({pairs}) ORDER BY {order})::text"  # noqa: S608
        f" FROM {qn(phone.db_table)} p"
        f" WHERE p.{qn(phone.get_field('contact').column)} = {_contact_column()}",
        (),
        output_field=TextField(),
    )


class TagNamesReader:
    """The contact's tag names, in the Tag model's order (case-insensitive name).

    On PostgreSQL the row carries tag ids, named by one query for the whole page: cheaper
    than joining the tag table in each contact's subquery.
    """

    def prefetch(self) -> Prefetch:
        return Prefetch("tags")

    def expression(self) -> Expression:
        through = Contact.tags.through._meta
        qn = connection.ops.quote_name
        return RawSQL(  # noqa: S611
            f"ARRAY(SELECT ct.{qn('tag_id')} FROM {qn(through.db_table)} ct"  # noqa: S608
            f" WHERE ct.{qn('contact_id')} = {_contact_column()})",
            (),
            output_field=ArrayField(IntegerField()),
        )

    def from_rows(self, rows: Rows, key: str) -> dict[int, Any]:
        names = _tag_names_by_id({pk for row in rows for pk in row[key]})
        return {
            # Sorted as the Tag model orders them; a tag deleted meanwhile has no name.
            row["id"]: [name for _, name in sorted(names[pk] for pk in row[key] if pk in names)]
            for row in rows
        }

    def by_contact(self, ids: Sequence[int]) -> dict[int, Any]:
        rows = (
            Contact.tags.through.objects.filter(ids_filter("contact_id", ids))
            .order_by(Lower("tag__name"))
            .values_list("contact_id", "tag__name")
        )
        tags: dict[int, list[str]] = {}
        for contact_id, name in rows:
            tags.setdefault(contact_id, []).append(name)
        return tags


def _tag_names_by_id(ids: set[int]) -> dict[int, tuple[int, str]]:
    """{tag id: (rank, name)}, the rank in the Tag model's order. PostgreSQL only: a fixed
    statement through the cursor, which costs less than the ORM compiling this query."""
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
    return (
        f"SELECT {qn(tag.pk.column)}, {name} FROM {qn(tag.db_table)}"  # noqa: S608
        f" WHERE {qn(tag.pk.column)} = ANY(%s) ORDER BY LOWER({name})"
    )


class RemoteLinksReader:
    """The contact's links to provider records, as RemoteLinkSerializer shows them.

    The keys and what each reads come from the serializer's fields: a field on a column of
    the link or of its connection (`connection.name`) is read from it, a DateTimeField is
    shown as DRF shows datetimes, and `last_error` (RemoteLink.last_error) is null unless
    there is an error code or message.
    """

    def __init__(self, *, fields: Mapping[str, serializers.Field]):
        self.keys = tuple(fields)
        self.lookups = {
            key: field.source.replace(".", "__")
            for key, field in fields.items()
            if key != LAST_ERROR
        }
        self.datetimes = {
            key for key, field in fields.items() if isinstance(field, serializers.DateTimeField)
        }

    def prefetch(self) -> Prefetch:
        links = RemoteLink.objects.select_related("connection").order_by("connection__name")
        return Prefetch("remote_links", queryset=links)

    def expression(self) -> Expression:
        return _remote_links_sql(self.keys, tuple(self.lookups.items()))

    def from_rows(self, rows: Rows, key: str) -> dict[int, Any]:
        represent_datetime = datetime_formatter()
        links_by_contact = {}
        for row in rows:
            links = json_loads(row[key]) if row[key] else []
            for item in links:
                for name in self.datetimes:
                    # PostgreSQL's JSON has its own ISO 8601 form: parsed, then shown as DRF.
                    value = item[name]
                    item[name] = represent_datetime(
                        datetime.datetime.fromisoformat(value) if value else None
                    )
            links_by_contact[row["id"]] = links
        return links_by_contact

    def by_contact(self, ids: Sequence[int]) -> dict[int, Any]:
        error_lookups = ("last_error_code", "last_error_message")
        rows = (
            RemoteLink.objects.filter(ids_filter("contact_id", ids))
            .order_by("connection__name")
            .values("contact_id", *self.lookups.values(), *error_lookups)
        )
        represent_datetime = datetime_formatter()
        links: dict[int, list[dict[str, Any]]] = {pk: [] for pk in ids}
        for row in rows:
            item = dict.fromkeys(self.keys)
            for name, lookup in self.lookups.items():
                item[name] = row[lookup]
            for name in self.datetimes:
                item[name] = represent_datetime(item[name])
            if LAST_ERROR in item:
                code, message = (row[lookup] for lookup in error_lookups)
                item[LAST_ERROR] = {"code": code, "message": message} if code or message else None
            links[row["contact_id"]].append(item)
        return links


@functools.cache
def _remote_links_sql(keys: tuple[str, ...], lookups: tuple[tuple[str, str], ...]) -> RawSQL:
    # json, not jsonb (which would sort the keys): the serializer's key order.
    qn = connection.ops.quote_name
    link, conn = RemoteLink._meta, Connection._meta

    def col(lookup: str) -> str:
        if lookup.startswith("connection__"):
            return f"c.{qn(conn.get_field(lookup.removeprefix('connection__')).column)}"
        return f"l.{qn(link.get_field(lookup).column)}"

    code, message = col("last_error_code"), col("last_error_message")
    columns = dict(lookups)
    pairs = ", ".join(
        f"'{key}', CASE WHEN {code} <> '' OR {message} <> ''"
        f" THEN json_build_object('code', {code}, 'message', {message}) END"
        if key == LAST_ERROR
        else f"'{key}', {col(columns[key])}"
        for key in keys
    )
    return RawSQL(  # noqa: S611
        f"SELECT json_agg(json_build_object({pairs}) ORDER BY {col('connection__name')})::text"  # noqa: S608
        f" FROM {qn(link.db_table)} l JOIN {qn(conn.db_table)} c"
        f" ON c.{qn(conn.pk.column)} = {col('connection')}"
        f" WHERE {col('contact')} = {_contact_column()}",
        (),
        output_field=TextField(),
    )
