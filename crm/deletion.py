"""Deleting contacts at any selection size (the service), and what such a delete reaches.

A delete of contacts cascades to the rows that hang on them in this app (phone numbers, tag
assignments) and in others (provider links and their attempts): `contact_cascade` finds them
through the models' relations, so crm names no other app. What a delete does beyond that
(the integrations app keeps the links whose remote record must be deleted too, until it is)
other apps say through crm.signals: contacts_deleting, contacts_delete_summary.
"""

from collections.abc import Callable

from django.db import transaction
from django.db.models import CASCADE, Model, QuerySet

from .chunks import BULK_CHUNK
from .models import Contact
from .signals import contacts_deleting


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
    than a chunk's ids and no list of every id is held. Each chunk is announced first by
    crm.signals.contacts_deleting, in the same transaction (the integrations app keeps the
    provider links whose remote record must be deleted too), then deleted as Django deletes
    any queryset, every model's on_delete rule and the delete signals applied.
    `before_chunk`, given each chunk's queryset before its delete, is the admin's history log.
    """
    return contacts_delete_by_chunks(contacts=contacts, before_chunk=before_chunk)


def contacts_delete_by_chunks(
    *,
    contacts: QuerySet[Contact],
    before_chunk: Callable[[QuerySet[Contact]], object] | None = None,
    after_chunk: Callable[[int], object] | None = None,
) -> int:
    """contacts_delete with a transaction per chunk instead of one for all (the worker's
    delete, crm.bulk_delete_run): a delete of 100,000 contacts takes minutes, and one
    transaction would hold SQLite's single write lock (or PostgreSQL's row locks) all along.
    The price: a fault stops the delete with the chunks before it deleted. `after_chunk` is
    given the count deleted so far once each chunk has committed (or, inside contacts_delete's
    transaction, once its savepoint is released)."""
    ids = contacts.order_by("pk").values_list("pk", flat=True)
    deleted, last = 0, None
    while True:
        with transaction.atomic():
            chunk_ids = list((ids if last is None else ids.filter(pk__gt=last))[:BULK_CHUNK])
            if not chunk_ids:
                return deleted
            chunk = Contact.objects.filter(pk__in=chunk_ids)
            if before_chunk is not None:
                before_chunk(chunk)
            contacts_deleting.send(sender=Contact, contact_ids=chunk_ids)
            # What went, not what was read: a contact deleted meanwhile is not counted.
            deleted += chunk.delete()[1].get(Contact._meta.label, 0)
        last = chunk_ids[-1]
        if after_chunk is not None:
            after_chunk(deleted)


def contact_delete(*, contact: Contact) -> None:
    """Delete one contact (the admin's delete page, the API's DELETE), as contacts_delete."""
    contacts_delete(contacts=Contact.objects.filter(pk=contact.pk))
