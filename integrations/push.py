"""The push engine: bring one RemoteLink's remote record up to date with our contact.

Every step is idempotent, so the at-least-once worker may run a push twice or crash anywhere:
- the payload is rebuilt from the database each time, and one equal to the last accepted
  payload (compared by hash) is not sent;
- a create is preceded by what the provider's create path needs to know it holds no such
  record yet (integrations.inventory: a lookup on its duplicate key, the inventory of its
  records, or nothing where it refuses duplicates itself), and a create that got a 409 or no
  answer is followed by a lookup, so a remote record is never created twice;
- a link is claimed while pushed, so two workers never push the same link at once;
- a change that arrives during a push bumps the link's generation, and the push then leaves
  the link pending instead of marking it synced.
"""

import datetime
import uuid
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import Contact

from .adapters import payload_hash
from .audience import audience_includes
from .inventory import LOOK, create_first_step, inventory_forget, inventory_remember
from .models import Connection, RemoteLink
from .providers import Adapter, ProviderError
from .push_attempts import LinkGone, RequestBudget, link_adapter
from .push_outcomes import Result, link_failed, link_finish, link_requeue, retry_delay
from .push_send import (
    CreateUnresolved,
    NotAtProvider,
    create_requests,
    create_unresolved,
    link_send,
    not_at_provider_reason,
)
from .queue import queued_pushes_start, tasks_enqueue
from .remote_delete import link_leave_audience, link_remote_delete
from .throttle import (
    Throttled,
    backlog_spread,
    rate_reserve,
    schedule_wait,
    slot_acquire,
    slot_release,
)

__all__ = ["Result", "link_push", "retry_delay", "settled_without_request"]

# A link a push acts on: pending, or waiting for the delete of its contact's remote record.
DUE_STATES = (RemoteLink.State.PENDING, RemoteLink.State.DELETING)


def link_push(*, link_id: int) -> Result:
    """Push one link if it is pending; called by the worker's task."""
    queued_pushes_start(link_ids=[link_id])
    link = RemoteLink.objects.select_related("connection").filter(pk=link_id).first()
    if link is None:
        return Result.GONE
    connection = link.connection
    if not connection.is_active:
        return Result.INACTIVE
    if link.state not in DUE_STATES:
        return Result.NOT_PENDING
    held = schedule_wait(connection)
    if held > settings.INTEGRATIONS["MAX_INLINE_WAIT"]:
        # rate_reserve would refuse this push: queue it for later before any claim, read or
        # payload: while a provider's Retry-After holds the connection, every worker would
        # otherwise do all of that for each queued push, only to be refused.
        link_requeue(link, wait=held, spread=backlog_spread(connection=connection))
        return Result.THROTTLED
    holder = uuid.uuid4().hex
    if not _link_claim(link, holder):
        link_requeue(link, wait=1.0)
        return Result.BUSY
    try:
        link.refresh_from_db()
        if link.state not in DUE_STATES:
            return Result.NOT_PENDING
        if link.contact_id is None:  # the contact was deleted: delete its remote record
            return link_remote_delete(link=link, connection=connection, holder=holder)
        if connection.audience and not audience_includes(connection, [link.contact_id]):
            return link_leave_audience(link=link, connection=connection, holder=holder)
        prepared = _prepare(link, connection)
        if isinstance(prepared, Result):
            return prepared  # decided without a request: no slot or rate budget is spent
        if not slot_acquire(connection=connection, holder=holder):
            link_requeue(link, wait=1.0, spread=backlog_spread(connection=connection))
            return Result.BUSY
        try:
            return _deliver(link, connection, prepared)
        except LinkGone:
            # The contact, and its link with it, was deleted during the push: nothing is left
            # to record the result on, and the deletion decided what happens remotely.
            return Result.GONE
        except Throttled as throttled:
            link_requeue(link, wait=throttled.wait, spread=backlog_spread(connection=connection))
            return Result.THROTTLED
        finally:
            slot_release(connection=connection, holder=holder)
    finally:
        RemoteLink.objects.filter(pk=link.pk, claimed_by=holder).update(
            claimed_by="", claimed_until=None
        )


class Prepared(NamedTuple):
    """What a push will send, built before any request."""

    generation: int
    adapter: Adapter
    budget: "RequestBudget"
    payload: dict
    context: object  # what a create needs besides the payload (Close's lead)
    digest: str


def _prepare(link: RemoteLink, connection: Connection) -> "Prepared | Result":
    """Build the payload; settle a link that needs no request (skipped, unchanged) at once."""
    generation = link.generation
    contact = (
        Contact.objects.prefetch_related("tags", "phone_numbers").filter(pk=link.contact_id).first()
    )
    if contact is None:  # deleted since the task was queued; its link goes with it
        return Result.GONE
    prepared = link_adapter(link, connection)
    if prepared is None:
        return Result.PAUSED
    adapter, budget = prepared
    payload = adapter.build_payload(contact)
    digest = payload_hash(payload)
    settled = settled_without_request(link, adapter, payload, digest)
    if settled is not None:
        result, state, fields = settled
        link_finish(link, generation, state, **fields)
        return result
    context = adapter.build_context(contact)
    return Prepared(generation, adapter, budget, payload, context, digest)


def settled_without_request(
    link: RemoteLink, adapter: Adapter, payload: dict, digest: str
) -> tuple[Result, str, dict] | None:
    """What a push stores when it needs no request: (result, state, fields for _finish), or
    None when the payload must be sent. The rule for single pushes and batches alike."""
    reason = adapter.skip_reason(payload)
    if reason:
        errors = {"last_error_code": "skipped", "last_error_message": reason}
        return Result.SKIPPED, RemoteLink.State.SKIPPED, errors
    if link.remote_id and digest == link.payload_hash:
        cleared = {"attempts": 0, "last_error_code": "", "last_error_message": ""}
        cleared["warnings"] = "\n".join(adapter.payload_warnings)  # what the payload left out
        return Result.UNCHANGED, RemoteLink.State.SYNCED, cleared
    if link.remote_id and link.connection.mode == Connection.Mode.CREATE_ONLY:
        reason = f"Create only: changes are not sent to {link.connection.name}."
        errors = {"last_error_code": "create_only", "last_error_message": reason}
        return Result.SKIPPED, RemoteLink.State.SKIPPED, errors
    return None


def _deliver(link: RemoteLink, connection: Connection, prepared: Prepared) -> Result:
    unresolved = create_unresolved(link)
    first = LOOK
    if not link.remote_id and not unresolved:
        # May read the provider's inventory first (its pages booked as they go), or raise
        # Throttled while another worker reads it.
        first = create_first_step(
            connection=connection,
            adapter=prepared.adapter,
            budget=prepared.budget,
            payload=prepared.payload,
        )
    # Booked before the first request: a change is one update; a create, its lookup if it
    # needs one, then the create (or the update of the record found).
    requests = 1 if link.remote_id else create_requests(first, connection.mode)
    if requests:
        rate_reserve(connection=connection, requests=requests)
    prepared.budget.booked = requests
    try:
        remote_id = link_send(
            prepared.adapter,
            link.remote_id,
            prepared.payload,
            prepared.context,
            unresolved,
            connection.mode,
            first,
        )
    except ProviderError as error:
        return link_failed(link, connection, prepared.generation, error)
    except CreateUnresolved:
        return _wait_for_unresolved_create(link)
    except NotAtProvider:
        label = prepared.adapter.label
        reason = not_at_provider_reason(label)
        link_finish(
            link,
            prepared.generation,
            RemoteLink.State.SKIPPED,
            remote_id="",
            payload_hash="",
            attempts=0,
            next_attempt_at=None,
            last_error_code="not_at_provider",
            last_error_message=reason,
        )
        return Result.SKIPPED
    if remote_id != link.remote_id and link.remote_id:
        inventory_forget(connection=connection, remote_id=link.remote_id)  # a 404: gone
    inventory_remember(
        connection=connection,
        adapter=prepared.adapter,
        payload=prepared.payload,
        remote_id=remote_id,
    )
    link_finish(
        link,
        prepared.generation,
        RemoteLink.State.SYNCED,
        remote_id=remote_id,
        payload_hash=prepared.digest,
        last_pushed_at=timezone.now(),
        attempts=0,
        next_attempt_at=None,
        create_unresolved_until=None,
        last_error_code="",
        last_error_message="",
        # Values the provider can't take, left out of the payload: shown on the link.
        warnings="\n".join(prepared.adapter.payload_warnings),
    )
    return Result.SYNCED


def _wait_for_unresolved_create(link: RemoteLink) -> Result:
    """Leave the link pending until the unresolved create's retry, which looks again."""
    until = link.create_unresolved_until
    message = (
        "A create's answer was lost and the provider doesn't find the record yet: looked up "
        f"again at {until:%Y-%m-%d %H:%M:%S} UTC before any new create."
    )
    with transaction.atomic():
        RemoteLink.objects.filter(pk=link.pk).update(
            next_attempt_at=until,
            last_error_code="create_unresolved",
            last_error_message=message,
            updated_at=timezone.now(),
        )
        tasks_enqueue([(link.pk, until)])
    return Result.RETRY


def _link_claim(link: RemoteLink, holder: str) -> bool:
    now = timezone.now()
    lease = datetime.timedelta(seconds=settings.INTEGRATIONS["LEASE_SECONDS"])
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    return bool(
        RemoteLink.objects.filter(free, pk=link.pk).update(
            claimed_by=holder, claimed_until=now + lease
        )
    )
