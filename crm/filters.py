"""The contact filters, in the API's query syntax (`tag=vip&stage=customer`): the one filter
language of the API's contact list and of the connections' audiences. Pure django-filter;
the API adds its schema annotations and its strict parameter check."""

from django import forms
from django.db.models import Exists, OuterRef, QuerySet
from django_countries import countries
from django_filters import fields as filter_fields
from django_filters import rest_framework as filters

from .models import Contact, PhoneNumber
from .selectors import contact_search_filter

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


class CountryFilter(filters.ChoiceFilter):
    field_class = CountryCodeField


class IdField(forms.IntegerField):
    # A bound keeps an absurd id a validation error, not a database overflow (a 500).
    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=2**63 - 1, **kwargs)


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


class ContactFilterSet(filters.FilterSet):
    """The contact filters of the API's list (`GET /api/v1/contacts/`), shared with the
    connections' audiences: one filter language. The state of a contact's pushes (`sync`)
    belongs to integrations, which adds it (integrations.filters.ContactFilter)."""

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

    class Meta:
        model = Contact
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(contact_search_filter(value))

    def filter_has_phone(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        has_phone = Exists(PhoneNumber.objects.filter(contact=OuterRef("pk")))
        return queryset.filter(has_phone if value else ~has_phone)
