"""What an adapter declares for the inventory of its provider's records (create path
INVENTORY, integrations.inventory): the list read page by page, and the fields holding a
record's duplicate keys, in the order its lookup searches them.

A key is (kind, value): kind "email" (the value lowercased) or "phone". A field is a name
("email") or, for a list of objects, the list and the item's field ("emails.email").
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]


@dataclass(frozen=True)
class Inventory:
    """`keys`: (kind, field) pairs. Paged by number (GET `path` with `page` and `limit`,
    rows and "has next" read by the adapter's `read_page`), or by cursor when `body` is
    given (a POST of `body(cursor)`, rows under "data", the next cursor under "cursor")."""

    keys: tuple[tuple[str, str], ...]
    path: str = "/contacts"
    limit: int = 100
    params: dict = field(default_factory=dict)
    body: Callable[[Any], dict] | None = None

    def values(self, record: dict, path: str) -> list[str]:
        name, _, inner = path.partition(".")
        value = record.get(name) if isinstance(record, dict) else None
        if inner:
            items = value if isinstance(value, list) else []
            return [str(i[inner]).strip() for i in items if isinstance(i, dict) and i.get(inner)]
        return [str(value).strip()] if value else []

    def duplicate_key(self, payload: dict) -> Key | None:
        """The key the lookup searches `payload` by: the first field with a value."""
        for kind, path in self.keys:
            found = self.values(payload, path)
            if found:
                return kind, _normal(kind, found[0])
        return None

    def record_keys(self, record: dict) -> list[Key]:
        """Every key the lookup finds `record` by (a list row, or a payload as written)."""
        return [
            (kind, _normal(kind, v)) for kind, path in self.keys for v in self.values(record, path)
        ]

    def read_page(self, adapter, cursor: Any) -> tuple[list[tuple[Key, str]], Any]:
        """One page from `cursor` (None: the first): (key, remote ID) pairs and the next
        page's cursor, None after the last."""
        if self.body is not None:
            answer = adapter.request("lookup", "POST", self.path, json_body=self.body(cursor))
            rows, after = answer.json_object.get("data") or [], answer.json_object.get("cursor")
        else:
            page = int(cursor or 1)
            query = {**self.params, "limit": self.limit, "page": page}
            answer = adapter.request("lookup", "GET", self.path, params=query)
            rows, has_next = adapter.read_page(answer.json_object, page)
            after = page + 1 if rows and has_next else None
        found = [
            (key, str(row["id"]))
            for row in rows
            if isinstance(row, dict) and row.get("id") not in (None, "")
            for key in self.record_keys(row)
        ]
        return found, after or None


def _normal(kind: str, value: str) -> str:
    return value.lower() if kind == "email" else value
