"""Values shown as the serializer shows them, for the list's fast path."""

import datetime
from collections.abc import Callable
from typing import Any

import orjson
from django.utils import timezone
from rest_framework import serializers
from rest_framework.settings import ISO_8601, api_settings

_drf_datetime = serializers.DateTimeField()


def datetime_formatter() -> Callable[[datetime.datetime | None], str | None]:
    """A function that shows a datetime as DRF's DateTimeField does, for one response.

    The same steps as DateTimeField.to_representation (the current time zone, ISO 8601,
    "Z" for UTC), inlined for the usual settings (ISO 8601, USE_TZ): DRF's reads its
    settings and the time zone on every call. Made per response, so the time zone is the
    request's.
    """
    output_format = api_settings.DATETIME_FORMAT
    if not (isinstance(output_format, str) and output_format.lower() == ISO_8601):
        return _drf_datetime.to_representation
    tz = timezone.get_current_timezone()
    # The driver gives UTC datetimes; shown in UTC (the default TIME_ZONE) they need no
    # conversion. A zone that is only sometimes at +00:00 (Europe/London) is not UTC.
    utc_shown = tz is datetime.UTC or getattr(tz, "key", None) in ("UTC", "Etc/UTC")

    def represent(value: datetime.datetime | None) -> str | None:
        if not value:
            return None
        if utc_shown and value.tzinfo is datetime.UTC:
            return value.isoformat()[:-6] + "Z"
        if timezone.is_naive(value):
            return _drf_datetime.to_representation(value)
        text = value.astimezone(tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return represent


def json_loads(text: str) -> Any:
    """JSON that the fast path's SQL builds (ids, texts, booleans), read by orjson.

    Not for stored documents such as custom_fields: orjson reads an integer beyond 64 bits
    as a float, where the json module (and so the detail endpoint) keeps it exact.
    """
    return orjson.loads(text)
