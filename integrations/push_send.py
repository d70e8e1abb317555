"""A push's requests: the create of a new contact by its provider's create path, or the
update of its record, never making a second remote record (see integrations.push)."""

from django.utils import timezone

from .inventory import LOOK
from .models import Connection, RemoteLink
from .providers import Adapter, ProviderError


def create_requests(first: str | None, mode: str) -> int:
    """The requests a new contact's push books: a lookup first unless `first` says what the
    provider holds, then the create or the update of the record found (neither in the mode
    create only when one is found, nor in update only when none is)."""
    if first is LOOK:
        return 2
    if first:
        return 0 if mode == Connection.Mode.CREATE_ONLY else 1
    return 0 if mode == Connection.Mode.UPDATE_ONLY else 1


class NotAtProvider(Exception):
    """Update only: the provider's lookup finds no record of this contact."""


def not_at_provider_reason(label: str) -> str:
    """Why an update-only push of a contact the provider has no record of is skipped."""
    return f"Update only: {label} has no record of this contact, so none is created."


class CreateUnresolved(Exception):
    """A create is unresolved (see `create_unresolved`) and the lookup still misses."""


def create_unresolved(link: RemoteLink) -> bool:
    """Whether an earlier create's answer was lost and its record not found yet, with its
    retry still to come: until then a push may look the record up but never create it, so a
    change made meanwhile cannot make a second record at a provider whose search lags."""
    until = link.create_unresolved_until
    return not link.remote_id and until is not None and until > timezone.now()


def link_send(
    adapter: Adapter,
    remote_id: str,
    payload: dict,
    context: object,
    unresolved: bool = False,
    mode: str = Connection.Mode.UPSERT,
    first: str | None = LOOK,
) -> str:
    """Create or update the remote record; return its ID. With `unresolved`, a record the
    lookup doesn't find is not created (CreateUnresolved); nor in the mode update only
    (NotAtProvider). In the mode create only, a record found is linked and left as it is.
    `first` is a new contact's first step (integrations.inventory.create_first_step)."""
    if remote_id:
        try:
            adapter.update(remote_id, payload)
            return remote_id
        except ProviderError as error:
            # A 404 about the connection (Klen's team_not_found) is not a record gone.
            if error.status != 404 or error.misconfigured:
                raise
            # Deleted on the provider's side: create it again and record the new ID.
            unresolved, first = False, LOOK
    if mode == Connection.Mode.UPDATE_ONLY:
        found = adapter.lookup(payload) if first is LOOK else first
        if not found:
            raise NotAtProvider
        adapter.update(found, payload)
        return found
    update_found = mode != Connection.Mode.CREATE_ONLY
    return _create(adapter, payload, context, unresolved, update_found, first)


def _create(
    adapter: Adapter,
    payload: dict,
    context: object,
    unresolved: bool,
    update_found: bool,
    first: str | None = LOOK,
) -> str:
    # Look up first, unless the create path knows without asking: a provider may accept
    # duplicates silently instead of answering 409 (GetRaze has no unique index on email),
    # and an earlier try may have created it.
    found = adapter.lookup(payload) if first is LOOK else first or None
    if found is not None and first is not LOOK and update_found:
        try:
            adapter.update(found, payload)
            return found
        except ProviderError as error:
            # The inventory's record was deleted there since it was read: create it anew.
            if error.status != 404 or error.misconfigured:
                raise
            found = None
    if found is None:
        if unresolved:
            raise CreateUnresolved
        try:
            return adapter.create(payload, context=context)
        except ProviderError as error:
            # 409: someone has this contact. No answer or a 5xx: our create may have been
            # applied (GetRaze stores the contact before a tags error). Either way, look.
            if not (error.status == 409 or error.ambiguous):
                raise
            found = adapter.lookup(payload)
            if found is None:
                # Our create may still show up (a search index lagging behind it): no push
                # creates again before the retry has looked once more.
                error.create_unresolved = error.ambiguous
                raise
    # The found record may hold older data (a 409) or be the create whose answer was lost:
    # one update makes sure it holds ours. An extra call, accepted for certainty.
    if update_found:
        adapter.update(found, payload)
    return found
