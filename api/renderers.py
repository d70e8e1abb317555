"""JSON rendering for the contacts endpoints."""

from drf_orjson_renderer.renderers import ORJSONRenderer


class FastJSONRenderer(ORJSONRenderer):
    """orjson: the same compact UTF-8 JSON as DRF's renderer, in less time. The list passes
    some values through as JSON text already (`orjson.Fragment`, see
    api.contacts.representation)."""
