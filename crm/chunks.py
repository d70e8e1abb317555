"""Long lists cut into statements of a bounded size, for the bulk reads and writes."""

from collections.abc import Iterator, Sequence

# Rows per IN (...) list or bulk statement: well under SQLite's 999 variables per statement
# on old builds, and small enough that PostgreSQL plans each statement quickly.
BULK_CHUNK = 500


def chunks[T](items: Sequence[T], size: int = BULK_CHUNK) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
