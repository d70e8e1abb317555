"""The contact list's representation, built from `values()` rows rather than model instances.

Rendering a page through ContactSerializer builds model instances, their prefetched phones,
tags and links as more instances, then runs DRF's nested serializers field by field. The
list reads plain rows instead and assembles the same dicts, following the read plan that
api.contacts.read_plan derives from the serializer's fields. On PostgreSQL the page's one
statement also reads each contact's nested fields through correlated subqueries; elsewhere
one query per nested field follows for the page's ids.

The create and update responses are read the same way (contact_representation), and
tests/test_api_list_fast.py checks that a list item, a create and an update response equal
the detail body of the same contact.
"""

import json
from collections.abc import Sequence
from typing import Any

import orjson
from django.db import connection, connections
from django.db.models import QuerySet, TextField
from django.db.models.expressions import RawSQL

from crm.models import Contact

from .formats import datetime_formatter
from .read_plan import RowAttributes, contact_read_plan


def _row_key(key: str) -> str:
    # What the PostgreSQL statement reads besides the columns: not names of model fields.
    return f"list_{key}"


def contact_list_rows(queryset: QuerySet[Contact]) -> QuerySet:
    """The (filtered, ordered) contacts as rows for contact_list_representation.

    On PostgreSQL each row also carries its nested fields, read by correlated subqueries in
    the same statement, and its JSON columns as the text PostgreSQL stores, which goes into
    the response as it is.
    """
    plan = contact_read_plan()
    if connections[queryset.db].vendor != "postgresql":
        return queryset.values(*plan.columns)
    json_columns = {column for _, column in plan.json_columns}
    return queryset.values(
        *(column for column in plan.columns if column not in json_columns),
        **{_row_key(key): _json_text(column) for key, column in plan.json_columns},
        **{_row_key(key): reader.expression() for key, reader in plan.related},
    )


def _json_text(column: str) -> RawSQL:
    table = Contact._meta.db_table
    return RawSQL(  # noqa: S611  (the model's own names, quoted)
        f"{_quote(table)}.{_quote(Contact._meta.get_field(column).column)}::text",
        (),
        output_field=TextField(),
    )


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def contact_representation(contact_id: int) -> dict[str, Any] | None:
    """One contact as ContactSerializer shows it, read as the list reads it: the create and
    update responses. None if the contact no longer exists.

    The JSON columns are plain dicts here (not JSON text), so the body can be stored, as
    the idempotency record does.
    """
    rows = list(contact_list_rows(Contact.objects.filter(pk=contact_id)))
    items = contact_list_representation(rows, json_as_text=False)
    return items[0] if items else None


def contact_list_representation(
    rows: Sequence[dict[str, Any]], *, json_as_text: bool = True
) -> list[dict[str, Any]]:
    """Contacts as ContactSerializer shows them, from contact_list_rows().

    Queries: a fixed number whatever the number of rows (see api.contacts.related).

    On PostgreSQL the JSON columns are `orjson.Fragment`s of the stored JSON text, which
    FastJSONRenderer writes as they are, unless `json_as_text` is False.
    """
    if not rows:
        return []
    plan = contact_read_plan()
    ids = [row["id"] for row in rows]
    statement_keys = [_row_key(key) for key, _ in (*plan.json_columns, *plan.related)]
    from_statement = bool(statement_keys) and statement_keys[0] in rows[0]
    related = [
        (key, reader.from_rows(rows, _row_key(key)) if from_statement else reader.by_contact(ids))
        for key, reader in plan.related
    ]
    represent_datetime = datetime_formatter()
    items = []
    for row in rows:
        pk = row["id"]
        # Keys in the serializer's order first, then filled: assigning to an existing key
        # keeps its place.
        item = dict.fromkeys(plan.keys)
        for key, column in plan.plain:
            item[key] = row[column]
        for key, column in plan.datetimes:
            item[key] = represent_datetime(row[column])
        for key, attribute in plan.properties:
            item[key] = attribute.fget(RowAttributes(row))
        for key, column in plan.json_columns:
            item[key] = _json_value(row, key, column, from_statement, json_as_text)
        for key, values in related:
            # .get: a contact deleted between the page's query and this one has no entry.
            item[key] = values.get(pk) or []
        items.append(item)
    return items


def _json_value(row, key: str, column: str, from_statement: bool, as_text: bool) -> Any:
    if not from_statement:
        return row[column]
    # PostgreSQL's text of the stored JSON, written into the response as it is. Read, it
    # goes through the json module, as the JSONField reads it (orjson would turn an integer
    # beyond 64 bits into a float).
    text = row[_row_key(key)]
    if text is None:
        return None
    return orjson.Fragment(text) if as_text else json.loads(text)
