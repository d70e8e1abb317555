"""Reads of the contact domain shared by the admin and the API."""

import re

import phonenumbers
from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from .models import Contact, PhoneNumber

_PHONE_LIKE = re.compile(r"^[\d\s()+\-./]+$")
_NON_DIGITS = re.compile(r"\D+")
MIN_PHONE_DIGITS = 4


def contact_search_filter(term: str) -> Q:
    """Match a contact by name, email, company or phone number typed in any format.

    A phone-looking term matches stored E.164 numbers that contain its digits, and also the
    exact number it parses to in the default region ("020 7946 0958" with region GB).
    """
    term = " ".join(term.split())
    if not term:
        return Q()
    match = (
        Q(first_name__icontains=term)
        | Q(last_name__icontains=term)
        | Q(email__icontains=term)
        | Q(company__icontains=term)
    )
    first, _, last = term.partition(" ")
    if last:
        match |= Q(first_name__icontains=first, last_name__icontains=last)
    if _PHONE_LIKE.match(term):
        digits = _NON_DIGITS.sub("", term)
        numbers = Q()
        if len(digits) >= MIN_PHONE_DIGITS:
            numbers |= Q(number__contains=digits)
        try:
            parsed = phonenumbers.parse(term, settings.PHONE_DEFAULT_REGION)
            if phonenumbers.is_valid_number(parsed):
                numbers |= Q(
                    number=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                )
        except phonenumbers.NumberParseException:
            pass
        if numbers:
            # Exists, not a join: a join repeats a contact once per matching phone.
            match |= Q(Exists(PhoneNumber.objects.filter(numbers, contact=OuterRef("pk"))))
    return match


def contact_list_queryset() -> QuerySet[Contact]:
    """Contacts with what a list shows, fetched in a fixed number of queries."""
    return Contact.objects.select_related("owner").prefetch_related(
        "tags",
        Prefetch("phone_numbers", queryset=PhoneNumber.objects.order_by("-is_primary", "id")),
    )
