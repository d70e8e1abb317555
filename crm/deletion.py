"""Deleting contacts at any selection size (the service), and what such a delete reaches.

A delete of contacts cascades to the rows that hang on them in this app (phone numbers, tag
assignments) and in others: `contact_cascade` finds the cascading ones through the models'
relations, so crm names no other app. A relation with a rule of its own (another app's
on_delete function, such as the provider links, which a connection may keep to delete the
remote record) is left to its app, which describes it through crm.signals.
"""

from collections.abc import Callable

from django.db import transaction
from django.db.models import CASCADE, Model, QuerySet

from .chunks import BULK_CHUNK
from .models import Contact


def contact_cascade() -> list[tuple[type[Model], str]]:
    """Each model a delete of contacts removes rows of by CASCADE, with the lookup from it to
    the contact's primary key; the contacts themselves first, parents before children."""
    found: list[tuple[type[Model], str]] = [(Contact, "pk")]
    parents = [(Contact, "")]
    while parents:
        model, path = parents.pop(0)
        prefix = f"{path}__" if path else ""
        for field in model._meta.many_to_many:
            through = field.remote_field.through
            if through._meta.auto_created:  # else a model of its own, among the relations
                found.append((through, f"{field.m2m_field_name()}__{prefix}pk"))
        for relation in model._meta.related_objects:
            if relation.many_to_many or relation.on_delete is not CASCADE:
                continue
            child_path = f"{relation.field.name}__{prefix}pk"
            found.append((relation.related_model, child_path))
            parents.append((relation.related_model, child_path.removesuffix("__pk")))
    return found


@transaction.atomic
def contacts_delete(
    *,
    contacts: QuerySet[Contact],
    before_chunk: Callable[[QuerySet[Contact]], object] | None = None,
) -> int:
    """Delete `contacts`, all or none, BULK_CHUNK contacts at a time; returns how many.

    `contacts` stays a query (the admin's "select all" is the contact list's filters): each
    chunk's ids are read from it after the last chunk's highest id, so no statement binds more
    than a chunk's ids and no list of every id is held. Each chunk is deleted as Django
    deletes any queryset, so every model's on_delete rule and the delete signals apply as for
    one contact deleted (the provider links' rules among them).
    `before_chunk`, given each chunk's queryset before its delete, is the admin's history log.
    """
    ids = contacts.order_by("pk").values_list("pk", flat=True)
    deleted, last = 0, None
    while True:
        chunk_ids = list((ids if last is None else ids.filter(pk__gt=last))[:BULK_CHUNK])
        if not chunk_ids:
            return deleted
        chunk = Contact.objects.filter(pk__in=chunk_ids)
        if before_chunk is not None:
            before_chunk(chunk)
        chunk.delete()
        deleted += len(chunk_ids)
        last = chunk_ids[-1]
