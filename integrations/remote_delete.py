"""Deleting a deleted contact's remote record, for connections whose `on_delete` is "delete".

A contact's delete leaves such links behind, contact-less and `deleting`, in the delete's own
transaction (models.link_contact_deleted); `remote_deletes_queue` queues them when it commits.
Each is then run by the worker like a push (`push.link_push` hands it here): claimed, under
the connection's concurrency and rate limit, one PushAttempt for the DELETE, retried with
backoff on retryable errors. A 404 means the record is already gone. A permission refusal
(403: the key may push but not delete, as a GetRaze key without `contacts:delete`) fails
that delete with the provider's message and leaves the connection's pushes alone; a refused
key (401) pauses the connection as for a push. A provider that documents no delete (Klen
AI) leaves the link `skipped` with the reason. A settled link is kept, `deleted`, with its
remote ID and attempts, until `push_contacts --prune` removes it with old attempts.
"""

import weakref

from django.db import router, transaction
from django.utils import timezone

from .adapters import adapter_for
from .connections import connection_pause
from .crypto import SecretUnreadable
from .links import ids_per_statement
from .models import Connection, RemoteLink
from .providers import ProviderError
from .push_attempts import AttemptRecorder, LinkGone, RequestBudget
from .push_outcomes import Result, link_failed, link_finish, link_requeue
from .queue import tasks_enqueue
from .throttle import Throttled, backlog_spread, rate_reserve, slot_acquire, slot_release


def link_remote_delete(*, link: RemoteLink, connection: Connection, holder: str) -> Result:
    """Delete the remote record of a contact-less link the caller has claimed."""
    generation = link.generation
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
    budget = RequestBudget(connection)
    try:
        adapter = adapter_for(connection, observer=AttemptRecorder(link), throttle=budget.spend)
    except SecretUnreadable as exc:
        connection_pause(connection=connection, reason=str(exc))
        return Result.PAUSED
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
    link_finish(
        link,
        generation,
        RemoteLink.State.DELETED,
        last_pushed_at=timezone.now(),
        attempts=0,
        next_attempt_at=None,
        last_error_code="",
        last_error_message="",
    )
    return Result.DELETED


def remote_deletes_queue(*, using: str) -> None:
    """Called for each contact deleted (post_delete): once per transaction, when it commits,
    queue the links its deletes left `deleting`. Nothing is queued if it rolls back."""
    connection = transaction.get_connection(using)
    found = _armed.get(connection)
    if found is not None and found() is not None and not found().ran:
        return
    callback = _QueueOnCommit()
    _armed[connection] = weakref.ref(callback)
    transaction.on_commit(callback, using=using)


class _QueueOnCommit:
    """The one on-commit callback of a transaction that deleted contacts. Held only by the
    transaction's callbacks, so a rollback drops it and the next transaction arms a new one."""

    ran = False

    def __call__(self) -> None:
        self.ran = True
        remote_deletes_enqueue()


_armed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def remote_deletes_enqueue() -> int:
    """Queue the push task of every `deleting` link not queued yet; returns how many.

    Queued once: the link's next attempt time marks it as queued (the contact's delete
    cleared it), so deletes committed in chunks never queue earlier links twice, and the
    sweep (links_enqueue_pending) finds a link whose task was lost.
    """
    now = timezone.now()
    db = router.db_for_write(RemoteLink)
    with transaction.atomic(using=db):
        waiting = RemoteLink.objects.filter(
            state=RemoteLink.State.DELETING, contact=None, next_attempt_at=None
        ).select_for_update(skip_locked=True)
        link_ids = list(waiting.values_list("pk", flat=True))
        size = ids_per_statement(using=db, reserved=1)
        for start in range(0, len(link_ids), size):
            chunk = link_ids[start : start + size]
            RemoteLink.objects.filter(pk__in=chunk).update(next_attempt_at=now)
        tasks_enqueue([(pk, None) for pk in link_ids])
    return len(link_ids)
