"""List pagination: a keyset cursor by default, page numbers for clients that ask for them.

`PageNumberPagination` answers with a `count`, and counting every matching contact costs
more than serving the rest of the page (docs/benchmarks.md). The list therefore pages with
an opaque cursor (`?cursor=…`, followed through `next` and `previous`): the position of the
last row seen in the list's ordering, turned into a WHERE clause, so any page costs the same
as the first and rows inserted or deleted meanwhile never shift a page.

Clients written against the page-number API (`?page=2`) keep working: a request with `page`
is answered as before, with `count`, and pays for it.
"""

import base64
import binascii
import datetime
import json
import re
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from rest_framework import pagination
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

MAX_CURSOR_LENGTH = 2000
BIGINT_MAX = 2**63 - 1
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")
LARGEST_WHOLE_NUMBER = 10**18 - 1  # the largest WHOLE_NUMBER reads


def positive_integer_parameter(request, name: str, *, maximum: int | None = None) -> int | None:
    """`?name=` as a whole number from 1 (to `maximum`), None when left out. A bad value is a
    400 naming the parameter, never the default in its place."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not WHOLE_NUMBER.fullmatch(raw):
        code, message = "invalid", "Enter a whole number."
        if raw.isdigit():
            code, message = "max_value", "This number is too large."
    else:
        value = int(raw)
        if value < 1:
            code, message = "min_value", "Ensure this value is greater than or equal to 1."
        elif maximum is not None and value > maximum:
            code, message = "max_value", f"Ensure this value is less than or equal to {maximum}."
        else:
            return value
    raise ValidationError({name: [ErrorDetail(message, code=code)]})


class StrictPageSizeMixin:
    """`page_size` from 1 to `max_page_size`: DRF's pagination would serve 0, `abc` or 500 as
    the default (or the maximum) without a word."""

    query_error_codes = {"page_size": ["invalid", "min_value", "max_value"]}

    def get_page_size(self, request) -> int:
        size = positive_integer_parameter(
            request, self.page_size_query_param, maximum=self.max_page_size
        )
        return self.page_size if size is None else size


class PageNumberPagination(StrictPageSizeMixin, pagination.PageNumberPagination):
    """`?page=2&page_size=100`; the page size is capped so one request stays cheap."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_number(self, request, paginator) -> int:
        # From 1: `page=0` or `page=abc` is a 400, not the 404 of a page past the end.
        return positive_integer_parameter(request, self.page_query_param) or 1


def invalid_cursor(message: str) -> ValidationError:
    return ValidationError({"cursor": [ErrorDetail(message, code="invalid_cursor")]})


class KeysetCursorPagination(StrictPageSizeMixin, pagination.CursorPagination):
    """`?cursor=…&page_size=100`: pages that cost no count and never overlap.

    DRF's CursorPagination keeps the position of the first ordering field only, plus an
    offset through the rows that tie on it, capped at `offset_cutoff`: ordered by a field
    many contacts share (company), its pages repeat rows and never reach the rest
    (docs/benchmarks.md). This subclass keeps DRF's parameters, page size and response, and
    replaces the position with the whole ordering tuple.

    The cursor holds the queryset's ordering and the values of its fields in the last (or,
    for `previous`, the first) row shown. The next page is the rows strictly after that
    position: (a < x) OR (a = x AND b < y) OR …, with the direction of each field. The
    ordering must end with the primary key, so the position is unique and no row is skipped
    or repeated on ties (api.contacts.filters.OrderingFilter appends it). Every field of the
    ordering must be a non-null column of the model read by the page.

    A cursor made for one ordering is refused (400 `invalid_cursor`) with another: the
    position would mean nothing there.
    """

    cursor_query_param = "cursor"
    query_error_codes = {
        **StrictPageSizeMixin.query_error_codes,
        "cursor": ["invalid_cursor"],
    }
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list:
        self.request = request
        self.model = queryset.model
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        self.ordering = self.get_ordering(request, queryset, view)
        cursor = self.decode_cursor(request)
        position = None if cursor is None else cursor.position
        self.reverse = cursor is not None and cursor.reverse
        self.had_cursor = position is not None or self.reverse

        ordering = self.ordering
        if self.reverse:
            ordering = [_flip(field) for field in ordering]
        queryset = queryset.order_by(*ordering)
        if position is not None:
            queryset = queryset.filter(self.after(ordering, position))
        rows = list(queryset[: self.page_size + 1])
        self.has_more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if self.reverse:
            rows.reverse()
        self.first_row = rows[0] if rows else None
        self.last_row = rows[-1] if rows else None
        return rows

    def get_ordering(self, request, queryset: QuerySet, view) -> list[str]:
        """The queryset's own ordering (the view's OrderingFilter set it), the key last."""
        ordering = list(queryset.query.order_by or queryset.model._meta.ordering)
        pk = queryset.model._meta.pk.name
        fields = []
        for term in ordering:
            if not isinstance(term, str):
                raise TypeError(f"Cursor pagination orders by field names, not {term!r}.")
            descending, name = term.startswith("-"), term.lstrip("-")
            name = pk if name == "pk" else name
            field = queryset.model._meta.get_field(name)
            if getattr(field, "null", False) or field.is_relation:
                raise TypeError(f"Cursor pagination cannot order by {name}.")
            fields.append(f"-{name}" if descending else name)
        if not fields or fields[-1].lstrip("-") != pk:
            fields.append(f"-{pk}" if fields and fields[-1].startswith("-") else pk)
        return fields

    @staticmethod
    def after(ordering: list[str], position: list[Any]) -> Q:
        """Rows strictly after `position` in `ordering`."""
        condition = Q()
        equal: dict[str, Any] = {}
        for term, value in zip(ordering, position, strict=True):
            name = term.lstrip("-")
            lookup = "lt" if term.startswith("-") else "gt"
            condition |= Q(**equal, **{f"{name}__{lookup}": value})
            equal[name] = value
        return condition

    # --- the cursor -----------------------------------------------------------------------

    def decode_cursor(self, request) -> pagination.Cursor | None:
        """The position and direction in `?cursor=`; None (no cursor) is the first page."""
        encoded = request.query_params.get(self.cursor_query_param)
        if not encoded:
            return None
        if len(encoded) > MAX_CURSOR_LENGTH:
            raise invalid_cursor("This cursor is not one this API made.")
        try:
            payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        except (binascii.Error, ValueError):
            raise invalid_cursor("This cursor is not one this API made.") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("r", False), bool):
            raise invalid_cursor("This cursor is not one this API made.")
        if payload.get("o") != self.ordering:
            raise invalid_cursor(
                "This cursor was made for another ordering. Follow the next and previous "
                "links with the ordering they were made with, or start again without a cursor."
            )
        reverse, position = payload.get("r", False), payload.get("p")
        if position is None:
            # A reverse cursor without a position: the last page (see previous_link).
            return pagination.Cursor(offset=0, reverse=reverse, position=None)
        if not isinstance(position, list) or len(position) != len(self.ordering):
            raise invalid_cursor("This cursor is not one this API made.")
        return pagination.Cursor(
            offset=0, reverse=reverse, position=self.position_from_json(position)
        )

    def position_from_json(self, position: list[Any]) -> list[Any]:
        model = self.model
        values = []
        for term, value in zip(self.ordering, position, strict=True):
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise invalid_cursor("This cursor is not one this API made.")
            # Refused here, not by the database: an integer past bigint or a NUL in a text
            # would be a 500 there.
            if isinstance(value, int) and not -BIGINT_MAX <= value <= BIGINT_MAX:
                raise invalid_cursor("This cursor is not one this API made.")
            if isinstance(value, str) and "\x00" in value:
                raise invalid_cursor("This cursor is not one this API made.")
            try:
                value = model._meta.get_field(term.lstrip("-")).to_python(value)
            except (DjangoValidationError, FieldDoesNotExist, TypeError, ValueError):
                raise invalid_cursor("This cursor is not one this API made.") from None
            if value is None:
                raise invalid_cursor("This cursor is not one this API made.")
            values.append(value)
        return values

    def encode_cursor(self, cursor: pagination.Cursor) -> str:
        payload: dict[str, Any] = {"o": self.ordering, "p": cursor.position}
        if cursor.reverse:
            payload["r"] = True
        text = json.dumps(payload, separators=(",", ":"), default=_json_default)
        encoded = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def cursor_at(self, row: Any, *, reverse: bool) -> str:
        """The link to the rows after `row` (before it if `reverse`); no row: the last page."""
        position = None if row is None else [_value(row, term) for term in self.ordering]
        return self.encode_cursor(pagination.Cursor(offset=0, reverse=reverse, position=position))

    # --- links and the envelope -----------------------------------------------------------

    def get_next_link(self) -> str | None:
        if self.reverse:
            # Came backwards: the rows after this page are the ones the client came from.
            if self.last_row is None:
                return remove_query_param(self.base_url, self.cursor_query_param)
            return self.cursor_at(self.last_row, reverse=False)
        if not self.has_more:
            return None
        return self.cursor_at(self.last_row, reverse=False)

    def get_previous_link(self) -> str | None:
        if not self.reverse:
            if not self.had_cursor:
                return None  # the first page
            if self.first_row is None:
                # Past the end (the rows were deleted meanwhile): the last page.
                return self.cursor_at(None, reverse=True)
            return self.cursor_at(self.first_row, reverse=True)
        if not self.has_more:
            return None
        return self.cursor_at(self.first_row, reverse=True)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {
                    **link,
                    "description": "The next page, or null on the last page.",
                    "example": "https://relay.example/api/v1/contacts/?cursor=eyJvIjpb…",
                },
                "previous": {
                    **link,
                    "description": "The previous page, or null on the first page.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque; take it from a page's `next` or `previous` link.",
                "schema": {"type": "string", "maxLength": MAX_CURSOR_LENGTH},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page, at most {self.max_page_size}.",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]


class ContactPagination(KeysetCursorPagination):
    """The contacts list: the keyset cursor, or page numbers for `?page=` (with `count`)."""

    page_query_param = "page"
    query_error_codes = {
        **KeysetCursorPagination.query_error_codes,
        "page": ["invalid", "min_value", "max_value"],
    }

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list:
        self.legacy = None
        if self.page_query_param in request.query_params:
            if self.cursor_query_param in request.query_params:
                raise ValidationError(
                    {
                        self.page_query_param: [
                            ErrorDetail("Send either page or cursor, not both.", code="invalid")
                        ]
                    }
                )
            self.legacy = PageNumberPagination()
            return self.legacy.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data) -> Response:
        if self.legacy is not None:
            return self.legacy.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        envelope = super().get_paginated_response_schema(schema)
        envelope["properties"] = {
            "count": {
                "type": "integer",
                "example": 1250,
                "description": "Only with `page`: how many contacts match the filters.",
            },
            **envelope["properties"],
        }
        return envelope

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "deprecated": True,
                "description": "Page number, from 1, for clients written before cursors: the "
                "answer adds `count`, and costs a count of every matching contact. A page "
                "past the end is 404 `not_found`. Not combined with `cursor`.",
                "schema": {"type": "integer", "minimum": 1, "maximum": LARGEST_WHOLE_NUMBER},
            },
        ]


def _value(row: Any, term: str) -> Any:
    name = term.lstrip("-")
    return row[name] if isinstance(row, dict) else getattr(row, name)


def _flip(term: str) -> str:
    return term[1:] if term.startswith("-") else f"-{term}"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be part of a cursor.")
