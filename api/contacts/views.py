"""The contacts endpoints. Thin: the serializer checks input, crm.services writes."""

from django.db import transaction
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import renderers, status, viewsets
from rest_framework.response import Response

from apikeys.idempotency import HEADER as IDEMPOTENCY_HEADER
from apikeys.idempotency import idempotent
from apikeys.models import Scope
from apikeys.permissions import request_has_scope
from crm.deletion import contact_delete
from crm.models import Contact

from ..pagination import ContactPagination
from ..query_params import strict_query_parameters
from ..renderers import FastJSONRenderer
from ..schema import ErrorResponse409, ErrorResponse422
from .filters import ContactFilter, ContactFilterBackend, OrderingFilter
from .preconditions import (
    ETAG,
    IF_MATCH,
    IF_MATCH_PARAMETER,
    PRECONDITION_FAILED_RESPONSE,
    contact_etag,
    etag_parameter,
    if_match_check,
    write_answer_schema,
    write_receipt,
)
from .read_plan import contact_read_plan
from .representation import (
    contact_list_representation,
    contact_list_rows,
    contact_representation,
)
from .serializers import ContactSerializer

WRITE_METHODS = ["post", "put", "patch"]

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "Optional, up to 255 printable ASCII characters (a UUID is a good choice). A retry "
        "with the same key and body returns the first response (with `Idempotent-Replayed: "
        "true`) instead of creating another contact; the same key with another body is "
        "answered 422 `idempotency_key_reused`. Keys are kept 24 hours."
    ),
)

CREATED = OpenApiResponse(
    write_answer_schema(
        "The contact as stored; to a caller without `contacts:read`, only its id and updated_at."
    )
)
UPDATED = OpenApiResponse(
    write_answer_schema(
        "The contact as stored (unchanged, with the same ETag, when the write changed "
        "nothing); to a caller without `contacts:read`, only its id and updated_at."
    )
)


# Outermost, so it sees (and keeps) the codes the decorators below declare for the list.
@strict_query_parameters
@extend_schema(tags=["contacts"])
@extend_schema_view(
    list=extend_schema(
        summary="List, filter and search contacts",
        description=(
            "Newest change first, `page_size` (up to 100) contacts a page. Follow `next` and "
            "`previous` for the other pages: they carry an opaque `cursor` made for the "
            "request's `ordering`, refused with another (400 `invalid_cursor`). The "
            "deprecated `page` parameter still pages by number and adds `count`."
        ),
    ),
    create=extend_schema(
        summary="Create a contact",
        description=(
            "Creates a contact with its phone numbers, tags and custom field values. An email "
            "that another contact already has is answered 409 `already_exists` with "
            "`existing_id`. A key without `contacts:read` is answered only the new contact's "
            "`id` and `updated_at`."
        ),
        parameters=[IDEMPOTENCY_PARAMETER, etag_parameter(201)],
        responses={201: CREATED, 409: ErrorResponse409, 422: ErrorResponse422},
    ),
    retrieve=extend_schema(
        summary="Get a contact",
        parameters=[etag_parameter(200)],
        responses={200: ContactSerializer},
    ),
    update=extend_schema(
        summary="Replace a contact",
        description=(
            "Validates the whole contact: `first_name` is required. Fields left out keep their "
            "values; `phone_numbers`, `tags` and `custom_fields`, when sent, replace the "
            "contact's complete set. A write that changes nothing writes nothing (`updated_at` "
            "stays, no push). With `If-Match`, only if the contact is unchanged since."
        ),
        parameters=[IF_MATCH_PARAMETER, etag_parameter(200)],
        responses={200: UPDATED, 409: ErrorResponse409, 412: PRECONDITION_FAILED_RESPONSE},
    ),
    partial_update=extend_schema(
        summary="Update some fields of a contact",
        description=(
            "Only the fields sent change. `phone_numbers` and `tags` replace the contact's "
            "set; `custom_fields` is merged into the stored values, and a key set to null "
            "removes that value. A write that changes nothing (an empty body, the stored "
            "values) writes nothing: `updated_at` stays and nothing is pushed. With "
            "`If-Match`, only if the contact is unchanged since."
        ),
        parameters=[IF_MATCH_PARAMETER, etag_parameter(200)],
        responses={200: UPDATED, 409: ErrorResponse409, 412: PRECONDITION_FAILED_RESPONSE},
    ),
    destroy=extend_schema(
        summary="Delete a contact",
        description="With `If-Match`, only if the contact is unchanged since.",
        parameters=[IF_MATCH_PARAMETER],
        responses={204: None, 412: PRECONDITION_FAILED_RESPONSE},
    ),
)
# Codes raised by crm.services (and the strict-fields check), for the schema's error lists.
# An unknown key is named in `attr` (api.errors.Formatter): any name or path (a phone
# number's `phone_numbers.0.primary` too), hence the one placeholder for all of them.
@extend_validation_errors(["unknown_field"], field_name="KEY", methods=WRITE_METHODS)
@extend_validation_errors(["required"], field_name="first_name", methods=["patch"])
@extend_validation_errors(
    ["invalid_phone", "duplicate_phone", "phone_extension_not_supported"],
    field_name="phone_numbers.INDEX.number",
    methods=WRITE_METHODS,
)
@extend_validation_errors(["null"], field_name="phone_numbers.INDEX", methods=WRITE_METHODS)
@extend_validation_errors(["null"], field_name="phone_numbers", methods=WRITE_METHODS)
@extend_validation_errors(
    ["multiple_primary", "max_length"],
    field_name="phone_numbers.non_field_errors",
    methods=WRITE_METHODS,
)
@extend_validation_errors(
    ["unknown_custom_field", "invalid_custom_field", "required"],
    field_name="custom_fields.KEY",
    methods=WRITE_METHODS,
)
@extend_validation_errors(["max_length"], field_name="custom_fields", methods=WRITE_METHODS)
@extend_validation_errors(["invalid"], field_name=IDEMPOTENCY_HEADER, actions=["create"])
# Raised by crm.filters.TagNamesField, which the schema's filter introspection can't see.
@extend_validation_errors(["max_length"], field_name="tag", actions=["list"])
@extend_validation_errors(["invalid"], field_name="has_phone", actions=["list"])
# Raised by api.pagination.ContactPagination.
@extend_validation_errors(["invalid_cursor"], field_name="cursor", actions=["list"])
@extend_validation_errors(["invalid"], field_name="page", actions=["list"])
class ContactViewSet(viewsets.ModelViewSet):
    serializer_class = ContactSerializer
    filter_backends = [ContactFilterBackend, OrderingFilter]
    filterset_class = ContactFilter
    ordering_fields = ["created_at", "updated_at", "first_name", "last_name", "company", "email"]
    ordering = ["-updated_at", "-id"]
    pagination_class = ContactPagination
    renderer_classes = [FastJSONRenderer, renderers.BrowsableAPIRenderer]
    lookup_value_regex = r"\d+"
    required_scopes = {"read": Scope.CONTACTS_READ, "write": Scope.CONTACTS_WRITE}

    def get_queryset(self):
        # Instances for the serializer (the detail), with its nested fields prefetched.
        return Contact.objects.prefetch_related(*contact_read_plan().prefetches())

    def list(self, request, *args, **kwargs):
        # Rows, not model instances: api.contacts.representation gives the serializer's JSON.
        rows = self.paginate_queryset(
            contact_list_rows(self.filter_queryset(Contact.objects.all()))
        )
        return self.get_paginated_response(contact_list_representation(rows))

    def retrieve(self, request, *args, **kwargs):
        data = self.get_serializer(self.get_object()).data
        return Response(data, headers={ETAG: contact_etag(data)})

    def create(self, request, *args, **kwargs):
        return idempotent(request, lambda: self.create_contact(request))

    def create_contact(self, request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.write_answer(serializer, status_code=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        with transaction.atomic():
            contact = self.get_object_to_write()
            serializer = self.get_serializer(contact, data=request.data, partial=partial)
            serializer.is_valid(raise_exception=True)
            return self.write_answer(serializer, status_code=status.HTTP_200_OK)

    def destroy(self, request, *args, **kwargs):
        with transaction.atomic():
            contact_delete(contact=self.get_object_to_write())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def get_object_to_write(self) -> Contact:
        """The contact, once its If-Match (if any) is checked. The row is locked first, so
        the contact cannot change between the check and the write (the caller's
        transaction)."""
        if self.request.headers.get(IF_MATCH) is not None:
            list(Contact.objects.select_for_update().filter(pk=self.kwargs["pk"]).values("pk"))
        contact = self.get_object()
        if_match_check(self.request, lambda: contact_representation(contact.pk) or {})
        return contact

    def write_answer(self, serializer, *, status_code: int) -> Response:
        # The response shows the contact as stored, read as the list reads it (fewer queries
        # than a refetch with the serializer's prefetches).
        contact = serializer.save()
        data = contact_representation(contact.pk)
        data = serializer.data if data is None else data
        headers = {ETAG: contact_etag(data)}
        if status_code == status.HTTP_201_CREATED:
            headers.update(self.get_success_headers(data))
        # A write answer shows no more than the caller may read (a key with only
        # contacts:write gets the receipt, not the contact's data).
        if not request_has_scope(request=self.request, scope=Scope.CONTACTS_READ, method="GET"):
            data = write_receipt(data)
        return Response(data, status=status_code, headers=headers)

    def get_success_headers(self, data) -> dict[str, str]:
        return {
            "Location": self.request.build_absolute_uri(
                reverse("contact-detail", args=[data["id"]])
            )
        }
