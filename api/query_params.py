"""The list's query string is as strict as a body: a parameter the endpoint does not know, one
sent empty, or a single-valued one sent twice is a 400 `validation_error`, `attr` the parameter.

A misspelt filter (`?tags=vip` for `?tag=vip`) used to be ignored, so the client got every
contact and took them for the filtered ones; an empty value (`?created_since=`) meant "no
filter" although its format says a date. The known parameters are those the endpoint's
filters, ordering, pagination and renderers declare, which are also those the schema lists;
an operation other than the list (a contact, its update) reads none but `format`.
"""

from functools import cache

from django.http import QueryDict
from drf_standardized_errors.openapi_validation_errors import (
    extend_validation_errors,
    get_validation_errors,
)
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.settings import api_settings

# Named one by one up to a bound, like unknown body fields, so junk cannot inflate the answer.
MAX_REPORTED_UNKNOWN = 20
MAX_NAME_LENGTH = 64


@cache
def known_parameters(view_class: type, *, listing: bool) -> tuple[frozenset[str], frozenset[str]]:
    """(every parameter the view's list, or its other operations, read; those repeatable)."""
    known, repeatable = set(), set()
    if api_settings.URL_FORMAT_OVERRIDE:
        known.add(api_settings.URL_FORMAT_OVERRIDE)
    if not listing:
        return frozenset(known), frozenset(repeatable)
    filterset_class = getattr(view_class, "filterset_class", None)
    if filterset_class is not None:
        for name, query_filter in filterset_class.base_filters.items():
            known.add(name)
            if _reads_every_value(query_filter.field_class.widget):
                repeatable.add(name)
    for backend in getattr(view_class, "filter_backends", ()):
        if issubclass(backend, OrderingFilter):
            known.add(backend.ordering_param)
    pagination_class = getattr(view_class, "pagination_class", None)
    for attribute in ("cursor_query_param", "page_query_param", "page_size_query_param"):
        name = getattr(pagination_class, attribute, None)
        if name:
            known.add(name)
    return frozenset(known), frozenset(repeatable)


def _reads_every_value(widget_class: type) -> bool:
    """Whether a form widget reads every value of a repeated parameter, not only the last."""
    value = widget_class().value_from_datadict(QueryDict("p=1&p=2"), {}, "p")
    return isinstance(value, list | tuple)


def query_parameters_check(request, view) -> None:
    listing = getattr(view, "action", None) == "list"
    known, repeatable = known_parameters(type(view), listing=listing)
    errors: dict[str, list[ErrorDetail]] = {}
    unknown = sorted(name for name in request.query_params if name not in known)
    for name in unknown[:MAX_REPORTED_UNKNOWN]:
        errors[name[:MAX_NAME_LENGTH]] = [
            ErrorDetail(
                f"Unknown query parameter “{name[:MAX_NAME_LENGTH]}”.", code="unknown_parameter"
            )
        ]
    if len(unknown) > MAX_REPORTED_UNKNOWN:
        errors[api_settings.NON_FIELD_ERRORS_KEY] = [
            ErrorDetail(
                f"…and {len(unknown) - MAX_REPORTED_UNKNOWN} more unknown query parameters.",
                code="unknown_parameter",
            )
        ]
    for name, values in request.query_params.lists():
        if name not in known:
            continue
        if any(not value.strip() for value in values):
            errors[name] = [
                ErrorDetail("Give this parameter a value, or leave it out.", code="blank")
            ]
        elif len(values) > 1 and name not in repeatable:
            errors[name] = [ErrorDetail("Send this parameter once.", code="invalid")]
    format_param = api_settings.URL_FORMAT_OVERRIDE
    chosen = request.query_params.get(format_param) if format_param else None
    formats = [renderer.format for renderer in view.renderer_classes]
    if chosen and format_param not in errors and chosen not in formats:
        errors[format_param] = [
            ErrorDetail(f"Use one of: {', '.join(formats)}.", code="invalid_choice")
        ]
    if errors:
        raise ValidationError(errors)


def strict_query_parameters(view_class: type) -> type:
    """Class decorator: the list's query-parameter errors in the OpenAPI schema, from the same
    declarations as the checks (this module, the ordering, and the pagination's
    `query_error_codes`), merged with the codes the view declares itself."""
    known, repeatable = known_parameters(view_class, listing=True)
    codes = {name: {"blank"} | (set() if name in repeatable else {"invalid"}) for name in known}
    for backend in view_class.filter_backends:
        if issubclass(backend, OrderingFilter):
            codes[backend.ordering_param].add("invalid")
    pagination_codes = getattr(view_class.pagination_class, "query_error_codes", {})
    for name, extra in pagination_codes.items():
        codes[name].update(extra)
    if api_settings.URL_FORMAT_OVERRIDE:
        codes[api_settings.URL_FORMAT_OVERRIDE].add("invalid_choice")
    # Any other name: the attr placeholder KEY stands for every string (api.schema).
    codes["KEY"] = {"unknown_parameter"}
    declared = get_validation_errors(view_class)
    for name, name_codes in codes.items():
        for error in declared.get(name, ()):
            if error.action in (None, "list") and error.method in (None, "get"):
                name_codes.update(error.error_codes)
        extend_validation_errors(sorted(name_codes), field_name=name, actions=["list"])(view_class)
    return view_class


class StrictQueryParametersMixin:
    """For a view without filters or pages (the push, the batch, the custom fields): its query
    string is checked as the list's is, so it takes only `format`; anything else is a 400
    `validation_error` naming the parameter. Checked once the caller is authenticated and
    allowed, so a 401 or 403 still comes first."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.query_params:
            query_parameters_check(request, self)


def strict_query_string(view_class: type) -> type:
    """Class decorator, with StrictQueryParametersMixin: its codes in the OpenAPI schema, merged
    with those the view declares itself for the same names (so: outermost)."""
    methods = [name for name in view_class.http_method_names if name not in ("head", "options")]
    codes = {"KEY": {"unknown_parameter"}}
    if api_settings.URL_FORMAT_OVERRIDE:
        codes[api_settings.URL_FORMAT_OVERRIDE] = {"blank", "invalid", "invalid_choice"}
    declared = get_validation_errors(view_class)
    for name, name_codes in codes.items():
        for error in declared.get(name, ()):
            name_codes.update(error.error_codes)
        extend_validation_errors(sorted(name_codes), field_name=name, methods=methods)(view_class)
    return view_class
