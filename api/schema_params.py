"""The limits of query parameters, in the OpenAPI schema from the same declarations the checks
use (api.query_params, the filters, the ordering).

What the schema's generators leave out: a blank value is refused for every parameter
(`blank`), so a string says it holds a non-space character; a filter's `max_length` bounds its
value; the ordering takes the view's `ordering_fields`, each with an optional `-`.
"""

from typing import Any

from rest_framework.filters import OrderingFilter

from .query_params import known_parameters


def _python_spaces() -> str:
    r"""The characters Python's str.strip() removes, as the inside of a JSON Schema (ECMA-262)
    character class. ECMA's `\s` differs on a few (U+001C to U+001F, U+0085 and U+FEFF), hence
    the characters listed."""
    spaces = [code for code in range(0x110000) if chr(code).isspace()]
    ranges, start = [], spaces[0]
    for previous, code in zip(spaces, [*spaces[1:], None], strict=True):
        if code != previous + 1:
            ranges.append((start, previous))
            start = code
    parts = (
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )
    return "".join(parts)


# A space as the API sees it (its values are trimmed with str.strip()).
SPACE = f"[{_python_spaces()}]"
# A string that holds something besides spaces: api.query_params refuses the others (`blank`),
# and the contact's service a blank first name (`required`).
NOT_BLANK = f"[^{_python_spaces()}]"
# Any character but those (in a URL's path, which Django's URLValidator reads with `\S`).
NOT_SPACE = NOT_BLANK


def query_parameters_constrained(view, parameters: list[dict[str, Any]]) -> None:
    """Add the API's limits to an operation's query `parameters`, in place."""
    listing = getattr(view, "action", None) == "list"
    known, _ = known_parameters(type(view), listing=listing)
    filters = getattr(getattr(view, "filterset_class", None), "base_filters", {})
    orderings = _ordering_terms(view)
    for parameter in parameters:
        if parameter.get("in") != "query" or parameter["name"] not in known:
            continue
        name, schema = parameter["name"], parameter.setdefault("schema", {})
        if name in orderings:
            schema.update({"type": "string", "enum": orderings[name]})
            continue
        query_filter = filters.get(name)
        max_length = query_filter.extra.get("max_length") if query_filter is not None else None
        target = schema.get("items", schema) if schema.get("type") == "array" else schema
        if max_length and "maxLength" not in target:
            target["maxLength"] = max_length
        if target.get("type") == "string" and not ({"enum", "pattern", "format"} & set(target)):
            target["pattern"] = NOT_BLANK
            target.setdefault("minLength", 1)


def _ordering_terms(view) -> dict[str, list[str]]:
    """{ordering parameter: every single term it takes}. Several terms may be sent, separated
    by commas (the parameter's description says so); the enum lists the single ones."""
    terms = {}
    for backend in getattr(view, "filter_backends", ()):
        if not issubclass(backend, OrderingFilter):
            continue
        fields = getattr(view, "ordering_fields", None)
        if not isinstance(fields, list | tuple):
            continue
        terms[backend.ordering_param] = [f"{sign}{name}" for name in fields for sign in ("", "-")]
    return terms
