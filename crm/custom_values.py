"""A custom field's value, from what a client sent to what is stored, by the field's type.

The API, the admin form and the import all go through custom_value_convert (by way of
CustomField.to_value). A value is normalised only where the meaning cannot change (" 12 "
is 12, "saas" is the choice "SaaS", an email is lowercased); input that could be read two
ways, or that would be stored as something else, is refused with a reason instead:

- numbers: a dot for decimals; a comma only between groups of three digits (1,234.5), so
  "12,34" is refused rather than read as 1234; NaN and Infinity are refused; so is a value
  the stored JSON number cannot hold exactly: 15 digits before the point at most, nothing
  so close to zero that it would be stored as 0 (1e-400), nor more significant digits than
  a double keeps (0.12345678901234567891);
- dates: exactly YYYY-MM-DD (not 20260102, 2026-W01-1 or 2026-002, which the ISO parser
  would take); a date and time only at midnight, so no time of day is dropped.

Errors are ValueError or TypeError (the type's generic reason applies) or ValidationError
with a reason of its own; CustomField.to_value turns both into `invalid_custom_field`.
"""

import datetime
import decimal
import re
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

TEXT_MAX_LENGTH = 2000
NUMBER_MAX_DIGITS = 15
NUMBER_TEXT_MAX_LENGTH = 40

PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
GROUPED_NUMBER = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?\Z")
NOT_FINITE = re.compile(r"[+-]?(?:nan|snan|inf|infinity)\Z", re.IGNORECASE)
DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")

TRUE = frozenset({"true", "yes", "y", "1", "on"})
FALSE = frozenset({"false", "no", "n", "0", "off"})


def expected_value(type_: str, choices: Sequence[str]) -> str:
    """What a value of the type looks like: the reason given for a malformed one."""
    return {
        "number": "enter a number.",
        "date": "enter a date as YYYY-MM-DD.",
        "boolean": "enter true or false.",
        "choice": "choose one of: " + ", ".join(choices) + ".",
        "url": "enter a valid URL.",
        "email": "enter a valid email address.",
    }.get(type_, "enter a text.")


def custom_value_convert(type_: str, raw: Any, *, choices: Sequence[str] = ()) -> Any:
    """`raw` (not empty) as stored for a custom field of `type_`."""
    match type_:
        case "number":
            return number_convert(raw)
        case "date":
            return date_convert(raw)
        case "boolean":
            return boolean_convert(raw)
        case "choice":
            return choice_convert(raw, choices)
        case "url":
            return url_convert(raw)
        case "email":
            return email_convert(raw)
        case _:
            return text_convert(raw)


def text_convert(raw: Any) -> str:
    if not isinstance(raw, str | int | float | decimal.Decimal) or isinstance(raw, bool):
        raise TypeError
    value = str(raw).strip()
    if len(value) > TEXT_MAX_LENGTH:
        raise ValidationError(f"at most {TEXT_MAX_LENGTH} characters.")
    return value


def number_convert(raw: Any) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | decimal.Decimal):
        raise TypeError
    text = str(raw).strip()
    if NOT_FINITE.match(text):
        raise ValidationError("enter a finite number; NaN and Infinity cannot be stored.")
    if len(text) > NUMBER_TEXT_MAX_LENGTH:
        raise ValidationError(f"enter a number with at most {NUMBER_MAX_DIGITS} digits.")
    if GROUPED_NUMBER.match(text):
        text = text.replace(",", "")
    elif "," in text:
        raise ValidationError(
            "use a dot for decimals (12.34); a comma may only separate groups of three "
            "digits (1,234.5)."
        )
    if not PLAIN_NUMBER.match(text):
        raise ValueError
    number = decimal.Decimal(text)
    # Bounded so every value survives JSON and float arithmetic in reports and providers.
    if number.adjusted() >= NUMBER_MAX_DIGITS:
        raise ValidationError(f"enter a number with at most {NUMBER_MAX_DIGITS} digits.")
    # JSON has one number type; integral values stay integers so 3 is never "3.0".
    if number == number.to_integral_value():
        return int(number)
    stored = float(number)
    if stored == 0:
        raise ValidationError("too close to zero to store; enter 0 or a larger number.")
    if decimal.Decimal(repr(stored)) != number:
        raise ValidationError(
            "more significant digits than can be stored exactly; round it "
            f"(at most {NUMBER_MAX_DIGITS} significant digits are always kept)."
        )
    return stored


def date_convert(raw: Any) -> str:
    if isinstance(raw, datetime.datetime):
        if raw.time() != datetime.time(0):
            raise ValidationError("enter a date (YYYY-MM-DD), not a date and time.")
        raw = raw.date()
    if isinstance(raw, datetime.date):
        return raw.isoformat()
    if not isinstance(raw, str):
        raise TypeError
    text = raw.strip()
    if not DATE_TEXT.match(text):
        raise ValueError
    return datetime.date.fromisoformat(text).isoformat()


def boolean_convert(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in TRUE | FALSE:
        return raw.strip().lower() in TRUE
    raise ValueError


def choice_convert(raw: Any, choices: Sequence[str]) -> str:
    if not isinstance(raw, str):
        raise TypeError
    by_folded = {choice.lower(): choice for choice in choices}
    try:
        return by_folded[raw.strip().lower()]
    except KeyError:
        raise ValueError from None


def url_convert(raw: Any) -> str:
    if not isinstance(raw, str):
        raise TypeError
    value = raw.strip()
    URLValidator()(value)
    return value


def email_convert(raw: Any) -> str:
    if not isinstance(raw, str):
        raise TypeError
    value = raw.strip().lower()
    EmailValidator()(value)
    return value
