"""Deleting contacts at any selection size (the service), and what such a delete reaches.

A delete of contacts cascades to the rows that hang on them, in this app (phone numbers, tag
assignments) and in others (a provider link and its push attempts): `contact_cascade` finds
them through the models' relations, so crm names no other app.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import CASCADE, Model, QuerySet, signals

from .chunks import BULK_CHUNK
from .models import Contact
from .signals import contacts_deleting


@dataclass(frozen=True)
class Cascade:
    """The rows a contacts' delete reaches: every `model` row whose `path` is one of them."""

    models: list[tuple[type[Model], str]]  # (model, lookup to the contact), parents first
    plain: bool  # CASCADE only and no delete signal: rows may go by plain DELETE statements


def contact_cascade() -> Cascade:
    found: list[tuple[type[Model], str]] = [(Contact, "pk")]
    plain, parents = True, [(Contact, "")]
    while parents:
        model, path = parents.pop(0)
        prefix = f"{path}__" if path else ""
        for field in model._meta.many_to_many:
            through = field.remote_field.through
            if through._meta.auto_created:  # else a model of its own, among the relations
                found.append((through, f"{field.m2m_field_name()}__{prefix}pk"))
        for relation in model._meta.related_objects:
            if relation.many_to_many:
                continue
            if relation.on_delete is not CASCADE:
                plain = False  # SET_NULL, PROTECT...: Django's delete applies them
                continue
            child_path = f"{relation.field.name}__{prefix}pk"
            found.append((relation.related_model, child_path))
            parents.append((relation.related_model, child_path.removesuffix("__pk")))
        plain = plain and not any(
            hasattr(field, "bulk_related_objects") for field in model._meta.private_fields
        )
    listened = any(
        signal.has_listeners(model)
        for model, _path in found
        for signal in (signals.pre_delete, signals.post_delete)
    )
    return Cascade(models=found, plain=plain and not listened)


@transaction.atomic
def contacts_delete(
    *,
    contacts: QuerySet[Contact],
    before_chunk: Callable[[QuerySet[Contact]], object] | None = None,
) -> int:
    """Delete `contacts` and every row their delete cascades to, all or none, BULK_CHUNK
    contacts at a time; returns how many contacts were deleted.

    `contacts` stays a query (the admin's "select all" is the contact list's filters): each
    chunk's ids are read from it after the last chunk's highest id, so no statement binds more
    than a chunk's ids and no list of every id is held. While every relation cascades and no
    delete signal is listened to, a chunk goes by one DELETE a model, rows matched by a join
    to the chunk's contacts, none read into memory; otherwise as Django deletes any queryset,
    its signals and on_delete rules applied. Each chunk is announced first by
    crm.signals.contacts_deleting, in the same transaction (the integrations app keeps the
    provider links whose remote record must be deleted too).
    `before_chunk`, given each chunk's queryset before its delete, is the admin's history log.
    """
    cascade = contact_cascade()
    ids = contacts.order_by("pk").values_list("pk", flat=True)
    deleted, last = 0, None
    while True:
        chunk_ids = list((ids if last is None else ids.filter(pk__gt=last))[:BULK_CHUNK])
        if not chunk_ids:
            return deleted
        chunk = Contact.objects.filter(pk__in=chunk_ids)
        if before_chunk is not None:
            before_chunk(chunk)
        contacts_deleting.send(sender=Contact, contact_ids=chunk_ids)
        if cascade.plain:
            for model, path in reversed(cascade.models):  # the rows that point at others first
                rows_delete(model._meta.base_manager.filter(**{f"{path}__in": chunk_ids}))
        else:
            chunk.delete()
        deleted += len(chunk_ids)
        last = chunk_ids[-1]


def contact_delete(*, contact: Contact) -> None:
    """Delete one contact (the admin's delete page, the API's DELETE), as contacts_delete."""
    contacts_delete(contacts=Contact.objects.filter(pk=contact.pk))


def rows_delete(rows: QuerySet) -> None:
    """DELETE the rows of a query as one statement, whatever joins the query needs."""
    opts = rows.model._meta
    select, params = rows.order_by().values("pk").query.sql_with_params()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {quote(opts.db_table)} WHERE {quote(opts.pk.column)} IN ({select})",  # noqa: S608
            params,
        )
