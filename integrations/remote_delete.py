"""Deleting a deleted contact's remote record, for connections whose `on_delete` is "delete".

Before contacts are deleted (crm.signals.contacts_deleting, sent by crm.deletion for the
admin, the API and bulk deletes), `remote_deletes_start` detaches such links from them, in the
delete's own transaction: contact-less and `deleting`, their push queued as for any change.
Each is then run by the worker like a push (`push.link_push` hands it here): claimed, under
the connection's concurrency and rate limit, one PushAttempt for the DELETE, retried with
backoff on retryable errors. A 404 means the record is already gone. A permission refusal
(403: the key may push but not delete, as a GetRaze key without `contacts:delete`) fails
that delete with the provider's message and leaves the connection's pushes alone; a refused
key (401) pauses the connection as for a push. A provider that documents no delete (Klen
AI) leaves the link `skipped` with the reason. A settled link is kept, `deleted`, with its
remote ID and attempts, until `push_contacts --prune` removes it with old attempts.
"""

from django.db import router
from django.db.models import F, Q
from django.utils import timezone

from .audience import OUTSIDE_AUDIENCE, outside_audience_fields, outside_audience_reason
from .inventory import inventory_forget
from .links import ids_per_statement
from .models import Connection, RemoteLink
from .providers import ADAPTERS, ProviderError
from .push_attempts import LinkGone, link_adapter
from .push_outcomes import Result, link_failed, link_finish, link_requeue
from .queue import link_pushes_queue
from .throttle import Throttled, backlog_spread, rate_reserve, slot_acquire, slot_release


def link_leave_audience(*, link: RemoteLink, connection: Connection, holder: str) -> Result:
    """A claimed link whose contact is outside the connection's audience: its remote record is
    deleted if the connection's `on_leave` says so, else the link stays, marked as outside."""
    if connection.on_leave == Connection.OnLeave.DELETE and link.remote_id:
        return link_remote_delete(link=link, connection=connection, holder=holder)
    fields = outside_audience_fields(connection)
    link_finish(link, link.generation, RemoteLink.State.SKIPPED, **fields)
    return Result.SKIPPED


def link_remote_delete(*, link: RemoteLink, connection: Connection, holder: str) -> Result:
    """Delete the remote record of a link the caller has claimed: a deleted contact's, or that
    of a contact that left the connection's audience (`on_leave` delete), whose link then
    forgets the remote ID, so that coming back into the audience creates a record again."""
    generation = link.generation
    leaving = link.contact_id is not None
    if not link.remote_id:
        # Never created there (or only by a create whose answer was lost and never found).
        link_finish(
            link,
            generation,
            RemoteLink.State.DELETED,
            next_attempt_at=None,
            last_error_code="",
            last_error_message="No remote record to delete: none was linked.",
        )
        return Result.DELETED
    prepared = link_adapter(link, connection)
    if prepared is None:
        return Result.PAUSED
    adapter, budget = prepared
    if adapter.delete_path is None:
        reason = f"{adapter.label} documents no delete endpoint: the record stays there."
        link_finish(
            link,
            generation,
            RemoteLink.State.SKIPPED,
            next_attempt_at=None,
            last_error_code="delete_not_supported",
            last_error_message=reason,
        )
        return Result.SKIPPED
    if not slot_acquire(connection=connection, holder=holder):
        link_requeue(link, wait=1.0, spread=backlog_spread(connection=connection))
        return Result.BUSY
    try:
        rate_reserve(connection=connection, requests=1)
        budget.booked = 1
        adapter.delete(link.remote_id)
    except Throttled as throttled:
        link_requeue(link, wait=throttled.wait, spread=backlog_spread(connection=connection))
        return Result.THROTTLED
    except LinkGone:
        return Result.GONE
    except ProviderError as error:
        if error.status == 403:
            # The key may not delete: this delete fails with the provider's words; pushes go on.
            errors = {"last_error_code": error.code[:100], "last_error_message": error.message}
            link_finish(link, generation, RemoteLink.State.FAILED, next_attempt_at=None, **errors)
            return Result.FAILED
        if error.status != 404 or error.misconfigured:
            return link_failed(link, connection, generation, error, RemoteLink.State.DELETING)
        # 404: already gone at the provider, which is what was asked.
    finally:
        slot_release(connection=connection, holder=holder)
    # No key finds it at the provider any more: a new contact with its email is created.
    inventory_forget(connection=connection, remote_id=link.remote_id)
    gone = {"remote_id": "", "payload_hash": ""} if leaving else {}
    reason = f"{outside_audience_reason(connection)}: its record there was deleted."
    link_finish(
        link,
        generation,
        RemoteLink.State.DELETED,
        last_pushed_at=timezone.now(),
        attempts=0,
        next_attempt_at=None,
        last_error_code=OUTSIDE_AUDIENCE if leaving else "",
        last_error_message=reason if leaving else "",
        **gone,
    )
    return Result.DELETED


def remote_deletes_start(*, contact_ids: list[int]) -> int:
    """These contacts are about to be deleted: keep their links to connections that delete
    remote records, contact-less and `deleting` with a new generation (so a push in flight
    cannot mark them synced), and queue their remote delete in the caller's transaction.
    Connections whose provider notifies deletes (webhooks) keep theirs whatever their
    `on_delete`. The others go with the contacts. Returns how many links were kept."""
    db = router.db_for_write(RemoteLink)
    now = timezone.now()
    # A provider whose delete is a notification (a webhook's contact.deleted) gets it
    # whatever the connection's on_delete says.
    notified = [adapter.provider for adapter in ADAPTERS if adapter.notifies_deletes]
    links = RemoteLink.objects.filter(
        Q(connection__on_delete=Connection.OnDelete.DELETE) | Q(connection__provider__in=notified),
        contact_id__in=contact_ids,
    )
    rows = list(links.values_list("pk", "connection_id"))
    size = ids_per_statement(using=db, reserved=len(RemoteLink._meta.concrete_fields))
    for start in range(0, len(rows), size):
        RemoteLink.objects.filter(pk__in=[pk for pk, _ in rows[start : start + size]]).update(
            contact=None,
            state=RemoteLink.State.DELETING,
            generation=F("generation") + 1,
            attempts=0,
            next_attempt_at=now,
            push_queued_at=now,
            last_error_code="",
            last_error_message="",
        )
    link_pushes_queue(links=rows)
    return len(rows)
