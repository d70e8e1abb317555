"""Query pieces shared by the list's readers."""

from collections.abc import Sequence

from django.db import connection
from django.db.models import F, Lookup, Q


class AnyOf(Lookup):
    """`column = ANY(%s)`: a page's ids as one array parameter, on PostgreSQL.

    Django compiles `contact_id__in=ids` with one parameter per id, each prepared and quoted
    in Python; one array parameter is a single value.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, list(self.rhs))


def ids_filter(column: str, ids: Sequence[int]) -> Q | AnyOf:
    """`column IN ids`, as one array parameter where the database has arrays."""
    if connection.vendor == "postgresql":
        return AnyOf(F(column), list(ids))
    return Q(**{f"{column}__in": ids})
