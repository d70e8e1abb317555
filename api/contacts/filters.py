"""List filters for contacts: `?tag=vip&stage=lead&updated_since=2026-01-01T00:00:00Z&search=…`,
and `?sync=failed` for the state of their pushes."""

from django import forms
from django.db.models import Exists, OuterRef, QuerySet
from django_countries import countries
from django_filters import fields as filter_fields
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field
from rest_framework import filters as rest_filters
from rest_framework.exceptions import ErrorDetail, ValidationError

from crm.models import Contact, PhoneNumber
from crm.selectors import contact_search_filter
from integrations.models import RemoteLink

from ..query_params import query_parameters_check
from .countries import country_code_pattern

SEARCH_MAX_LENGTH = 200
TAG_MAX_LENGTH = 64


class TagNamesField(forms.Field):
    widget = forms.MultipleHiddenInput  # reads every ?tag= value, not just the last

    def to_python(self, value) -> list[str]:
        names = [" ".join(str(item).split()) for item in value or []]
        return [name for name in names if name]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        if any(len(name) > TAG_MAX_LENGTH for name in value):
            raise forms.ValidationError(
                f"A tag name has at most {TAG_MAX_LENGTH} characters.", code="max_length"
            )


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "maxLength": TAG_MAX_LENGTH},
        "description": "Tag name, any case. Repeat (`?tag=vip&tag=tech`) for contacts with all.",
    }
)
class TagFilter(filters.Filter):
    field_class = TagNamesField

    def filter(self, qs: QuerySet, value: list[str]) -> QuerySet:
        # One Exists per tag (contacts with all of them): a join would repeat contacts.
        for name in value or []:
            qs = qs.filter(
                Exists(
                    Contact.tags.through.objects.filter(
                        contact=OuterRef("pk"), tag__name__iexact=name
                    )
                )
            )
        return qs


def country_choices() -> list[tuple[str, str]]:
    # A callable, not a list: django-filter deep-copies every filter, and Django every form
    # field, on each request; a callable is not copied (docs/benchmarks.md).
    return [(code, name) for code, name in countries]


class CountryCodeField(filter_fields.ChoiceField):
    def to_python(self, value) -> str:
        return super().to_python(value).strip().upper()


@extend_schema_field(
    {
        "type": "string",
        # Upper or lower case (any case is read; the pattern lists the two usual ones).
        "pattern": country_code_pattern(),
        "description": "ISO 3166-1 alpha-2 code, any case.",
    }
)
class CountryFilter(filters.ChoiceFilter):
    field_class = CountryCodeField


class IdField(forms.IntegerField):
    # A bound keeps an absurd id a validation error, not a database overflow (a 500).
    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=2**63 - 1, **kwargs)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": 2**63 - 1})
class IdFilter(filters.NumberFilter):
    field_class = IdField


class StrictBooleanField(forms.Field):
    """true/false (or 1/0, yes/no); anything else is an error rather than ignored."""

    widget = forms.TextInput
    TRUE = {"true", "1", "yes"}
    FALSE = {"false", "0", "no"}

    def to_python(self, value) -> bool | None:
        text = str(value or "").strip().lower()
        if not text:
            return None
        if text in self.TRUE | self.FALSE:
            return text in self.TRUE
        raise forms.ValidationError("Enter true or false.", code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        # django-filter's REST BooleanWidget turns unknown values into "no filter".
        kwargs["widget"] = forms.TextInput
        super().__init__(*args, **kwargs)


class SyncStateField(forms.CharField):
    """ "state" or "connection name:state"; the state comes last, so names may hold colons."""

    # Declared, not only raised, so the schema lists `invalid_choice` among the filter's codes.
    default_error_messages = {
        "invalid_choice": (
            "Use a state (%(states)s), optionally after a connection name and a colon."
        ),
    }

    def to_python(self, value) -> tuple[str, str] | None:
        text = super().to_python(value).strip()
        if not text:
            return None
        connection, _, state = text.rpartition(":")
        if state not in RemoteLink.State.values:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"states": ", ".join(RemoteLink.State.values)},
            )
        return connection.strip(), state


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 150,
        # The state last, after the start or a colon (surrounding spaces are ignored).
        "pattern": r"(^\s*|:)(" + "|".join(RemoteLink.State.values) + r")\s*$",
        "description": (
            "Contacts whose push is in this state: `failed`, or for one connection "
            "`GetRaze:failed`. States: " + ", ".join(RemoteLink.State.values) + "."
        ),
    }
)
class SyncStateFilter(filters.Filter):
    field_class = SyncStateField

    def __init__(self, **kwargs):
        super().__init__(max_length=150, **kwargs)

    def filter(self, queryset: QuerySet, value: tuple[str, str] | None) -> QuerySet:
        if not value:
            return queryset
        connection, state = value
        links = RemoteLink.objects.filter(contact=OuterRef("pk"), state=state)
        if connection:
            links = links.filter(connection__name=connection)
        return queryset.filter(Exists(links))


class ContactFilter(filters.FilterSet):
    search = filters.CharFilter(
        method="filter_search",
        max_length=SEARCH_MAX_LENGTH,
        help_text="Matches name, email, company, or a phone number typed in any format.",
    )
    tag = TagFilter()
    stage = filters.MultipleChoiceFilter(
        choices=Contact.Stage.choices, help_text="Repeat for contacts in any of several."
    )
    status = filters.MultipleChoiceFilter(
        choices=Contact.Status.choices, help_text="Repeat for contacts in any of several."
    )
    source = filters.MultipleChoiceFilter(
        choices=Contact.Source.choices, help_text="Repeat for contacts from any of several."
    )
    company = filters.CharFilter(
        field_name="company", lookup_expr="iexact", help_text="Exact company name, any case."
    )
    country = CountryFilter(field_name="country", choices=country_choices)
    email = filters.CharFilter(
        field_name="email", lookup_expr="iexact", help_text="Exact email, any case."
    )
    owner = IdFilter(field_name="owner_id", help_text="The owner's user id.")
    created_since = filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        help_text="Created at or after this ISO 8601 date and time.",
    )
    updated_since = filters.IsoDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="Changed at or after this ISO 8601 date and time.",
    )
    has_phone = StrictBooleanFilter(
        method="filter_has_phone", help_text="true: has a phone number; false: has none."
    )
    # `?sync=failed` or `?sync=<connection name>:failed`: the state of the contact's pushes.
    sync = SyncStateFilter()

    class Meta:
        model = Contact
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(contact_search_filter(value))

    def filter_has_phone(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        has_phone = Exists(PhoneNumber.objects.filter(contact=OuterRef("pk")))
        return queryset.filter(has_phone if value else ~has_phone)


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
