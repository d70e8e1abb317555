"""The contacts endpoints. Thin: the serializer checks input, crm.services writes."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import renderers, status, viewsets
from rest_framework.response import Response

from apikeys.idempotency import HEADER as IDEMPOTENCY_HEADER
from apikeys.idempotency import idempotent
from apikeys.models import Scope
from crm.models import Contact

from ..pagination import ContactPagination
from ..query_params import strict_query_parameters
from ..renderers import FastJSONRenderer
from ..schema import ErrorResponse409, ErrorResponse422
from .filters import ContactFilter, ContactFilterBackend, OrderingFilter
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
            "`existing_id`."
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: ContactSerializer, 409: ErrorResponse409, 422: ErrorResponse422},
    ),
    retrieve=extend_schema(summary="Get a contact"),
    update=extend_schema(
        summary="Replace a contact",
        description=(
            "Validates the whole contact: `first_name` is required. Fields left out keep their "
            "values; `phone_numbers`, `tags` and `custom_fields`, when sent, replace the "
            "contact's complete set."
        ),
        responses={200: ContactSerializer, 409: ErrorResponse409},
    ),
    partial_update=extend_schema(
        summary="Update some fields of a contact",
        description=(
            "Only the fields sent change. `phone_numbers` and `tags` replace the contact's "
            "set; `custom_fields` is merged into the stored values, and a key set to null "
            "removes that value."
        ),
        responses={200: ContactSerializer, 409: ErrorResponse409},
    ),
    destroy=extend_schema(summary="Delete a contact"),
)
# Codes raised by crm.services (and the strict-fields check), for the schema's error lists.
# An unknown key is named in `attr` (api.errors.Formatter): any name or path (a phone
# number's `phone_numbers.0.primary` too), hence the one placeholder for all of them.
@extend_validation_errors(["unknown_field"], field_name="KEY", methods=WRITE_METHODS)
@extend_validation_errors(["required"], field_name="first_name", methods=["patch"])
@extend_validation_errors(
    ["invalid_phone", "duplicate_phone"],
    field_name="phone_numbers.INDEX.number",
    methods=WRITE_METHODS,
)
@extend_validation_errors(["null"], field_name="phone_numbers.INDEX", methods=WRITE_METHODS)
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
# Raised by api.contacts.filters.TagNamesField, which the schema's filter introspection can't see.
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

    def create(self, request, *args, **kwargs):
        return idempotent(request, lambda: self.create_contact(request))

    def create_contact(self, request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = self.stored_representation(serializer)
        return Response(
            data, status=status.HTTP_201_CREATED, headers=self.get_success_headers(data)
        )

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return Response(self.stored_representation(serializer))

    def stored_representation(self, serializer) -> dict:
        # The response shows the contact as stored, read as the list reads it (fewer queries
        # than a refetch with the serializer's prefetches).
        contact = serializer.save()
        data = contact_representation(contact.pk)
        return serializer.data if data is None else data

    def get_success_headers(self, data) -> dict[str, str]:
        return {
            "Location": self.request.build_absolute_uri(
                reverse("contact-detail", args=[data["id"]])
            )
        }
