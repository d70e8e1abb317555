"""List filters for contacts: `?tag=vip&stage=lead&updated_since=2026-01-01T00:00:00Z&search=…`,
and `?sync=failed` for the state of their pushes."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field
from rest_framework import filters as rest_filters
from rest_framework.exceptions import ErrorDetail, ValidationError

from crm.filters import TAG_MAX_LENGTH, CountryFilter, IdFilter, TagFilter
from integrations.filters import ContactFilter, SyncStateFilter
from integrations.models import RemoteLink

from ..query_params import query_parameters_check
from ..schema_params import SPACE
from .countries import country_code_pattern

__all__ = ["ContactFilter", "ContactFilterBackend", "OrderingFilter"]

# The filters live where the connections' audiences use them too (one filter language); the
# schema's description of each is the API's own.
extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "maxLength": TAG_MAX_LENGTH},
        "description": "Tag name, any case. Repeat (`?tag=vip&tag=tech`) for contacts with all.",
    }
)(TagFilter)
extend_schema_field(
    {
        "type": "string",
        # Upper or lower case (any case is read; the pattern lists the two usual ones).
        "pattern": country_code_pattern(),
        "description": "ISO 3166-1 alpha-2 code, any case.",
    }
)(CountryFilter)
extend_schema_field({"type": "integer", "minimum": 1, "maximum": 2**63 - 1})(IdFilter)
extend_schema_field(
    {
        "type": "string",
        "maxLength": 150,
        # The state last, after the start or a colon (surrounding spaces are ignored).
        "pattern": f"(^{SPACE}*|:)({'|'.join(RemoteLink.State.values)}){SPACE}*$",
        "description": (
            "Contacts whose push is in this state: `failed`, or for one connection "
            "`GetRaze:failed`. States: " + ", ".join(RemoteLink.State.values) + "."
        ),
    }
)(SyncStateFilter)


class ContactFilterBackend(filters.DjangoFilterBackend):
    """DjangoFilterBackend that refuses unknown or empty query parameters (api.query_params)
    and builds no filter form when the request names no filter.

    The unfiltered list (a client syncing every contact, page by page) is the most common
    request, and an empty form would only be validated to change nothing. Any filter
    parameter, valid or not, goes through the FilterSet as before.
    """

    def filter_queryset(self, request, queryset, view):
        if request.query_params:
            query_parameters_check(request, view)
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and not (
            request.query_params.keys() & filterset_class.base_filters.keys()
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)


class OrderingFilter(rest_filters.OrderingFilter):
    """`?ordering=-created_at`, with id appended so pages never overlap on ties."""

    ordering_description = (
        "Sort by created_at, updated_at, first_name, last_name, company or email; prefix "
        "with - for descending, separate several with commas. Default: -updated_at."
    )

    def remove_invalid_fields(self, queryset, fields, view, request) -> list[str]:
        # DRF drops the terms it does not know and orders by the default: `ordering=foo`
        # would be answered as if it had not been sent.
        valid = [
            name for name, _label in self.get_valid_fields(queryset, view, {"request": request})
        ]
        names = [term.removeprefix("-") for term in fields]
        unknown = [term for term, name in zip(fields, names, strict=True) if name not in valid]
        if unknown or len(set(names)) != len(names):
            detail = f"Unknown ordering “{unknown[0][:64]}”." if unknown else "A field is repeated."
            raise ValidationError(
                {
                    self.ordering_param: [
                        ErrorDetail(
                            f"{detail} Order by {', '.join(valid)}, each at most once, with "
                            "- for descending, separated by commas.",
                            code="invalid",
                        )
                    ]
                }
            )
        return fields

    def get_ordering(self, request, queryset, view) -> list[str]:
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if ordering and not any(field.lstrip("-") in ("id", "pk") for field in ordering):
            ordering.append("-id" if ordering[-1].startswith("-") else "id")
        return ordering
