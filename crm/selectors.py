"""Reads of the contact domain shared by the admin, the API and the import."""

import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.db import connection
from django.db.models import (
    CharField,
    Model,
    OuterRef,
    Q,
    QuerySet,
    StringAgg,
    Subquery,
    Value,
)
from django.db.models.functions import Lower

from .chunks import chunks
from .deletion import contact_cascade
from .models import Contact, PhoneNumber, normalize_email
from .signals import contacts_delete_summary as contacts_delete_summary_signal

_PHONE_LIKE = re.compile(r"^[\d\s()+\-./]+$")
_NON_DIGITS = re.compile(r"\D+")
MIN_PHONE_DIGITS = 4
PHONE_SEARCH_MIN_DIGITS = 7


def contact_search_filter(term: str) -> Q:
    """Match a contact by name, email, company or phone number typed in any format.

    A term that looks like a phone number (phone characters only, at least
    PHONE_SEARCH_MIN_DIGITS digits) searches phone numbers alone: stored E.164 numbers that
    contain its digits, or the exact number it parses to in the default region ("020 7946
    0958" with region GB). Any other term matches names, email and company, and its digits,
    if it has enough of them, match phone numbers too.
    """
    term = " ".join(term.split())
    if not term:
        return Q()
    phone_like = bool(_PHONE_LIKE.match(term))
    digits = _NON_DIGITS.sub("", term) if phone_like else ""
    numbers = _phone_numbers_filter(term, digits) if phone_like else Q()
    # Phone numbers are matched through an uncorrelated subquery, which PostgreSQL runs once
    # (a hashed subplan); a join would repeat a contact once per matching phone.
    phone_match = Q(pk__in=PhoneNumber.objects.filter(numbers).values("contact_id"))
    if len(digits) >= PHONE_SEARCH_MIN_DIGITS:
        return phone_match
    match = (
        Q(first_name__icontains=term)
        | Q(last_name__icontains=term)
        | Q(email__icontains=term)
        | Q(company__icontains=term)
    )
    first, _, last = term.partition(" ")
    if last:
        match |= Q(first_name__icontains=first, last_name__icontains=last)
    return match | phone_match if numbers else match


def _phone_numbers_filter(term: str, digits: str) -> Q:
    numbers = Q()
    if len(digits) >= MIN_PHONE_DIGITS:
        numbers |= Q(number__contains=digits)
    try:
        parsed = phonenumbers.parse(term, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return numbers
    if phonenumbers.is_valid_number(parsed):
        numbers |= Q(number=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    return numbers


def contact_admin_queryset() -> QuerySet[Contact]:
    """Contacts with the two related values the admin's list shows, as columns of its query.

    The primary phone's number and, where the database orders an aggregate's input
    (PostgreSQL; SQLite from 3.44), the tag names joined by ", " in the Tag model's order.
    Prefetching them instead would build five model instances a contact and parse every
    phone number, a large share of a page (docs/benchmarks.md).
    """
    primary = PhoneNumber.objects.filter(contact=OuterRef("pk")).order_by(
        *PhoneNumber._meta.ordering
    )
    contacts = Contact.objects.annotate(
        list_primary_phone=Subquery(primary.values("number")[:1], output_field=CharField())
    )
    if not connection.features.supports_aggregate_order_by_clause:
        return contacts.prefetch_related("tags")
    names = (
        Contact.tags.through.objects.filter(contact=OuterRef("pk"))
        .values("contact")
        .annotate(names=StringAgg("tag__name", Value(", "), order_by=Lower("tag__name")))
        .values("names")
    )
    return contacts.annotate(list_tag_names=Subquery(names, output_field=CharField()))


def contact_find_duplicate(*, email: str, exclude_pk: int | None = None) -> Contact | None:
    """The existing contact that `email` would duplicate, if any."""
    email = normalize_email(email)
    if not email:
        return None
    # Written as the unique index on LOWER(email) WHERE email <> '' is defined (its expression
    # and its condition), so the lookup is an index search; `email__iexact` is not, and scans
    # the whole table.
    candidates = Contact.objects.alias(folded=Lower("email")).filter(~Q(email=""), folded=email)
    if exclude_pk is not None:
        candidates = candidates.exclude(pk=exclude_pk)
    return candidates.order_by("pk").first()


def contacts_find_by_email(*, emails: Iterable[str]) -> dict[str, Contact]:
    """The contacts that these emails would duplicate, by lowercased email, in a few queries.

    contact_find_duplicate for many emails at once: the same LOWER(email) index, the lowest
    id first when (against the constraint) two match. Phones and tags come prefetched, so a
    caller comparing rows with the stored contacts makes no query per contact.
    """
    folded = sorted({normalize_email(email) for email in emails} - {""})
    found: dict[str, Contact] = {}
    for chunk in chunks(folded):
        contacts = (
            Contact.objects.alias(folded=Lower("email"))
            .filter(~Q(email=""), folded__in=chunk)
            .order_by("pk")
            .prefetch_related("phone_numbers", "tags")
        )
        for contact in contacts:
            found.setdefault(contact.email.lower(), contact)
    return found


@dataclass(frozen=True)
class DeleteLine:
    """One line of a delete's summary: `count` rows, what happens to them (`label`), and the
    model whose delete permission it takes (None: the rows are changed, not deleted)."""

    label: str
    count: int
    model: type[Model] | None = None


def contacts_delete_summary(*, contacts: QuerySet[Contact]) -> list[DeleteLine]:
    """What deleting `contacts` does: the contacts, every row their delete cascades to (phone
    numbers, tag assignments, and other apps' rows, found through the models' relations),
    then what other apps say of their own rules (crm.signals.contacts_delete_summary). Each
    is counted with the selection as a subquery, so a selection of any size binds no id and
    no row is read into memory. Lines with nothing in them are left out."""
    selection = contacts.order_by().values("pk")
    lines = [
        DeleteLine(
            label=str(model._meta.verbose_name_plural),
            count=model._meta.base_manager.filter(**{f"{path}__in": selection}).count(),
            model=model,
        )
        for model, path in contact_cascade()
    ]
    for _receiver, answer in contacts_delete_summary_signal.send(
        sender=Contact, contacts=selection
    ):
        lines.extend(answer)
    return [line for line in lines if line.count]
