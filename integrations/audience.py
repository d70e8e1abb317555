"""A connection's audience: which contacts it receives, written in the API's own query syntax
(`tag=vip&stage=customer`) and read by the API's filter set (integrations.filters), so the
API, the admin and the audiences share one filter language. Empty: every contact."""

from django.db.models import QuerySet
from django.http import QueryDict

from crm.models import Contact

from .filters import ContactFilter
from .models import Connection

OUTSIDE_AUDIENCE = "outside_audience"  # the error code of a link outside its audience


class AudienceInvalid(ValueError):
    """An audience the filter set refuses; `errors` are staff-readable sentences."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def audience_normalize(query: str) -> str:
    """The stored form: no leading "?" or surrounding spaces."""
    return (query or "").strip().lstrip("?").strip()


def audience_filterset(query: str) -> ContactFilter:
    """The bound filter set of `query`; raises AudienceInvalid with every problem."""
    data = QueryDict(audience_normalize(query))
    known = ContactFilter.base_filters
    errors = [
        f"Unknown filter “{name[:64]}”: use the filters of the contact list "
        f"(GET /api/v1/contacts/): {', '.join(known)}."
        for name in data
        if name not in known
    ]
    errors += [
        f"{name}: give it a value or leave it out."
        for name, values in data.lists()
        if name in known and not all(value.strip() for value in values)
    ]
    filterset = ContactFilter(data=data, queryset=Contact.objects.all())
    if not errors and not filterset.is_valid():
        for name, messages in filterset.errors.items():
            errors += [f"{name}: {message}" for message in messages]
    if errors:
        raise AudienceInvalid(errors)
    return filterset


def audience_validate(query: str) -> str:
    """The normalized audience, or AudienceInvalid."""
    query = audience_normalize(query)
    if query:
        audience_filterset(query)
    return query


def audience_contacts(connection: Connection) -> QuerySet[Contact]:
    """The contacts in the connection's audience. An audience stored invalid (validation is
    bypassed only by writing the row directly) matches nobody rather than everybody."""
    if not connection.audience:
        return Contact.objects.all()
    try:
        return audience_filterset(connection.audience).qs.order_by()
    except AudienceInvalid:
        return Contact.objects.none()


def audience_includes(connection: Connection, contact_ids) -> set[int]:
    """Which of `contact_ids` are in the connection's audience (all of them without one)."""
    ids = list(contact_ids)
    if not connection.audience:
        return set(ids)
    return set(audience_contacts(connection).filter(pk__in=ids).values_list("pk", flat=True))


def outside_audience_reason(connection: Connection) -> str:
    return f"Outside the audience of {connection.name}"


def outside_audience_fields(connection: Connection) -> dict:
    """What a link outside its connection's audience stores, settled without a request."""
    return {
        "attempts": 0,
        "next_attempt_at": None,
        "last_error_code": OUTSIDE_AUDIENCE,
        "last_error_message": outside_audience_reason(connection),
    }
