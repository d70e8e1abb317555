"""POST /api/v1/contacts/batch/: create or update up to 100 contacts in one request.

Each item is what a single write would send, checked by ContactSerializer and written by
crm.services.contact_upsert (through the serializer), so the rules, the error codes and the
pushes are those of single writes. An item is matched by `id`, else by `email`: a matched
contact is updated as by PATCH, any other item creates a contact as by POST. Each item is
written in its own savepoint, so a bad item leaves the others written; its result carries
the error envelope the single write would have answered with.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import generics
from rest_framework.exceptions import APIException, ErrorDetail, NotFound, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.settings import api_settings

from apikeys.idempotency import HEADER as IDEMPOTENCY_HEADER
from apikeys.idempotency import idempotent
from apikeys.models import Scope, ScopedAPIKey
from apikeys.permissions import HasScope
from crm.models import Contact, normalize_email
from crm.selectors import contacts_find_by_email
from crm.services import WriteOutcome

from ..errors import Formatter
from ..query_params import StrictQueryParametersMixin, strict_query_string
from ..renderers import FastJSONRenderer
from ..schema import ErrorResponse422
from .batch_serializers import (
    MAX_BATCH_ITEMS,
    ContactBatchItemSerializer,
    ContactBatchResultSerializer,
    ItemStatus,
)
from .serializers import ContactSerializer

# What the write service's "unchanged" check reads; contacts_find_by_email prefetches the same.
STORED_PREFETCH = ("phone_numbers", "tags")
ITEM_STATUS = {
    WriteOutcome.CREATED: ItemStatus.CREATED,
    WriteOutcome.UPDATED: ItemStatus.UPDATED,
    WriteOutcome.UNCHANGED: ItemStatus.UNCHANGED,
}
# Ids beyond a 64-bit integer are no contact's, and some databases refuse them in a query.
MAX_ID = 2**63 - 1


class ContactMatcher:
    """Finds the contact an item is about: by `id`, else by `email`.

    The contacts the batch names are read in bulk before the first item. A contact that an
    earlier item of the batch wrote is read again when a later item names it, so items apply
    in order, as the same single writes would.
    """

    def __init__(self, items: Sequence[Any]):
        ids = [item_id(item) for item in items]
        emails = [
            item["email"]
            for item in items
            if isinstance(item, Mapping) and isinstance(item.get("email"), str)
        ]
        by_email = contacts_find_by_email(emails=emails)
        self.contacts = {contact.pk: contact for contact in by_email.values()}
        wanted = {pk for pk in ids if valid_id(pk)} - set(self.contacts)
        self.contacts.update(Contact.objects.prefetch_related(*STORED_PREFETCH).in_bulk(wanted))
        self.ids_by_email = {email: contact.pk for email, contact in by_email.items()}
        self.written: set[int] = set()

    def by_id(self, pk: int) -> Contact | None:
        if pk in self.written:
            self.contacts[pk] = Contact.objects.prefetch_related(*STORED_PREFETCH).get(pk=pk)
            self.written.discard(pk)
        return self.contacts.get(pk)

    def by_email(self, email: str) -> Contact | None:
        pk = self.ids_by_email.get(normalize_email(email))
        return None if pk is None else self.by_id(pk)

    def wrote(self, *, contact: Contact, previous_email: str) -> None:
        if previous_email and self.ids_by_email.get(previous_email) == contact.pk:
            del self.ids_by_email[previous_email]
        if contact.email:
            self.ids_by_email[contact.email] = contact.pk
        self.written.add(contact.pk)


def valid_id(pk: Any) -> bool:
    return isinstance(pk, int) and not isinstance(pk, bool) and 1 <= pk <= MAX_ID


def item_id(item: Any) -> Any:
    """The item's `id`: an int, None when absent, or the invalid value sent."""
    if not isinstance(item, Mapping):
        return None
    return item.get("id")


def contacts_batch_upsert(*, items: Sequence[Any], context: dict[str, Any]) -> list[dict]:
    """Write each item in its own savepoint and return one result per item, in order."""
    matcher = ContactMatcher(items)
    results = []
    for index, item in enumerate(items):
        contact = None
        try:
            contact = item_match(item, matcher)
            status, contact = item_write(item, contact, matcher, context)
        except APIException as exc:
            results.append(item_result(index, ItemStatus.ERROR, contact, error_envelope(exc)))
        else:
            results.append(item_result(index, status, contact, None))
    return results


def item_result(index: int, status: str, contact: Contact | None, errors: dict | None) -> dict:
    return {"index": index, "status": status, "id": getattr(contact, "pk", None), "errors": errors}


def item_match(item: Any, matcher: ContactMatcher) -> Contact | None:
    if not isinstance(item, Mapping):
        raise field_error(
            api_settings.NON_FIELD_ERRORS_KEY, "Expected a contact object.", "invalid"
        )
    pk = item.get("id")
    if pk is not None:
        if not valid_id(pk):
            raise field_error("id", "A contact id is a whole number from 1.", "invalid")
        contact = matcher.by_id(pk)
        if contact is None:
            exc = NotFound(f"No contact has the id {pk}.")
            exc.attr = "id"  # api.errors.Formatter reads it for the error's attr
            raise exc
        return contact
    email = item.get("email")
    return matcher.by_email(email) if isinstance(email, str) else None


def item_write(
    item: Mapping[str, Any],
    contact: Contact | None,
    matcher: ContactMatcher,
    context: dict[str, Any],
) -> tuple[str, Contact]:
    serializer = ContactSerializer(contact, data=item, partial=contact is not None, context=context)
    serializer.is_valid(raise_exception=True)
    previous_email = contact.email if contact is not None else ""
    # contact_upsert is atomic: in the batch's transaction, each item's write is a savepoint
    # of its own, rolled back alone when the item fails.
    written = serializer.save()
    if serializer.write_outcome != WriteOutcome.UNCHANGED:
        matcher.wrote(contact=written, previous_email=previous_email)
    return ITEM_STATUS[serializer.write_outcome], written


def field_error(attr: str, message: str, code: str) -> ValidationError:
    return ValidationError({attr: [ErrorDetail(message, code=code)]})


def error_envelope(exc: APIException) -> dict:
    """The body a single write would have answered `exc` with (api.errors).

    A NUL character the client sent, echoed in a detail or in an attr (an unknown custom
    field's key), becomes U+FFFD: the answer is kept for the Idempotency-Key in a JSON column,
    which PostgreSQL's jsonb refuses NUL in.
    """
    envelope = Formatter(exc, {}, exc).run()
    for error in envelope["errors"]:
        for name in ("detail", "attr"):
            if isinstance(error[name], str):
                error[name] = error[name].replace("\x00", "\ufffd")
    return envelope


def batch_items(data: Any) -> list:
    """The request's items, or the 400 for a body that is not a list of 1 to 100 of them."""
    if not isinstance(data, list):
        raise batch_error("Expected a list of contacts.", "not_a_list")
    if not data:
        raise batch_error("Send at least one contact.", "empty")
    if len(data) > MAX_BATCH_ITEMS:
        raise batch_error(
            f"Send at most {MAX_BATCH_ITEMS} contacts a request; this one has {len(data)}.",
            "max_length",
        )
    return data


def batch_error(message: str, code: str) -> ValidationError:
    return field_error(api_settings.NON_FIELD_ERRORS_KEY, message, code)


class SessionMayChange(BasePermission):
    """A batch updates as well as creates: a staff session, which HasScope asks for
    add_contact on a POST, also needs change_contact. An API key's scope covers both."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ScopedAPIKey):
            return True
        return request.user.has_perm("crm.change_contact")


BATCH_IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "Optional, up to 255 printable ASCII characters (a UUID is a good choice). A retry "
        "with the same key and body returns the first answer, item results included (with "
        "`Idempotent-Replayed: true`), instead of writing the batch again; the same key with "
        "another body is answered 422 `idempotency_key_reused`. Keys are kept 24 hours."
    ),
)


# Outermost, so it sees (and keeps) the codes the decorators below declare.
@strict_query_string
@extend_schema(
    tags=["contacts"],
    summary="Create or update up to 100 contacts",
    description=(
        "A list of 1 to 100 contact bodies. Each is matched by `id`, else by `email` (any "
        "case): a matched contact is updated as by PATCH (only the fields sent change), any "
        "other item creates a contact as by POST. Items are written in order, each on its "
        "own: an invalid item is reported in its result and the others are still written. "
        "Every result has the item's `index`, its `status`, the contact's `id` and, for an "
        "error, the error envelope a single write would have answered with. Writes are "
        "validated and pushed to providers as single writes are; the request counts once "
        "against the rate limit."
    ),
    request=ContactBatchItemSerializer(many=True),
    parameters=[BATCH_IDEMPOTENCY_PARAMETER],
    responses={200: ContactBatchResultSerializer, 422: ErrorResponse422},
)
@extend_validation_errors(
    ["not_a_list", "empty", "max_length"], field_name="non_field_errors", methods=["post"]
)
@extend_validation_errors(["invalid"], field_name=IDEMPOTENCY_HEADER, methods=["post"])
class ContactBatchView(StrictQueryParametersMixin, generics.GenericAPIView):
    serializer_class = ContactBatchItemSerializer
    renderer_classes = [FastJSONRenderer]
    permission_classes = [HasScope, SessionMayChange]
    required_scopes = {"read": Scope.CONTACTS_WRITE, "write": Scope.CONTACTS_WRITE}
    http_method_names = ["post", "options"]
    # The list's bounds (batch_items), for the schema (api.schema.AutoSchema).
    request_body_items = (1, MAX_BATCH_ITEMS)

    def post(self, request, *args, **kwargs):
        return idempotent(request, lambda: self.write_batch(request))

    def write_batch(self, request) -> Response:
        items = batch_items(request.data)
        with transaction.atomic():
            results = contacts_batch_upsert(items=items, context=self.get_serializer_context())
        return Response({"results": results})
