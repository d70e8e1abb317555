from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the `invalid_json` code, and deep nesting refused, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except ParseError as exc:
            raise ParseError(exc.detail, code="invalid_json") from None
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.", code="invalid_json") from None
