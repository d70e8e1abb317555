"""What every provider adapter declares and the chores they share.

The base owns HTTP (base_http) and error classification (base_errors); an adapter owns
meaning. Each adapter class declares its provider key, label, default base URL, auth scheme
and option fields, builds the payload from a contact, names its endpoints, and reads the
remote ID and the provider's error body. The registry (this package's __init__) and the
Connection model's choices are built from these declarations.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

import requests

from crm.models import CustomField

from ..mapping import Mapped, Rules, mapping_apply, mapping_from_legacy
from .base_errors import ProviderError
from .base_http import Answer, HttpClient, Observer
from .base_inventory import Inventory, Key
from .base_rate import RateWindow

# Lookups compare rows exactly after a substring search: ten pages of 100 matches for one
# duplicate key is already absurd, so a lookup gives up there.
MAX_LOOKUP_PAGES = 10
LOOKUP_PAGE_SIZE = 100

# How the engine makes sure a new contact isn't created twice (integrations.inventory):
# - LOOKUP: look the contact up, then create it when the lookup misses (two requests);
# - CREATE_FIRST: the provider refuses duplicates itself (a 409), so create at once and look
#   up only after a 409 or an ambiguous failure (one request);
# - INVENTORY: the provider accepts duplicates silently, so match the contact against the
#   inventory of its records, read page by page as the adapter's `inventory` declares
#   (base_inventory) and kept fresh by our own writes; a lookup while it is stale.
LOOKUP, CREATE_FIRST, INVENTORY = "lookup", "create_first", "inventory"


@dataclass(frozen=True)
class OptionField:
    """One key of a connection's `options` that the adapter reads."""

    key: str
    help: str


class References(Protocol):
    """Where an adapter keeps remote objects it learns for later pushes (Close's lead per
    company): `get(kind, key)`, `put(kind, key, remote_id)`, `drop(kind, key, remote_id)`."""

    def get(self, kind: str, key: str) -> str | None: ...

    def put(self, kind: str, key: str, remote_id: str) -> None: ...

    def drop(self, kind: str, key: str, remote_id: str) -> None: ...


class MemoryReferences:
    """References kept for the adapter's lifetime only (a bare adapter, the tests)."""

    def __init__(self):
        self.entries: dict[tuple[str, str], str] = {}

    def get(self, kind: str, key: str) -> str | None:
        return self.entries.get((kind, key))

    def put(self, kind: str, key: str, remote_id: str) -> None:
        self.entries[kind, key] = remote_id

    def drop(self, kind: str, key: str, remote_id: str) -> None:
        if self.entries.get((kind, key)) == remote_id:
            del self.entries[kind, key]


class Adapter(HttpClient):
    """Base of provider adapters. Subclasses declare the class attributes and implement the
    hooks; the chores below are theirs to call."""

    provider: ClassVar[str]  # the value stored in Connection.provider
    label: ClassVar[str]
    default_base_url: ClassVar[str]  # used when a connection leaves its base URL empty
    # Requests a second the provider documents for one key: a connection paces itself at this
    # until the provider's own answers say more (throttle.connection_pace).
    documented_rate: ClassVar[float]
    # Whether its answers carry their rate window (RateLimit or X-RateLimit-* headers).
    advertises_rate: ClassVar[bool] = False
    option_fields: ClassVar[tuple[OptionField, ...]] = ()
    # "Test connection" in the admin: one harmless authenticated read. Most providers list
    # contacts at this path; a provider with a cheaper or different read overrides these.
    check_path: ClassVar[str] = "/contacts"
    check_params: ClassVar[dict[str, Any]] = {"limit": 1}
    # The documented delete of one record, `{}` standing for its id; None: the provider
    # documents none, so a remote record is never deleted by us.
    delete_path: ClassVar[str | None] = None
    # A delete that is a notification rather than a removal (a webhook's contact.deleted): sent
    # for every deleted contact, whatever the connection's on_delete says.
    notifies_deletes: ClassVar[bool] = False
    # The connection's URL used exactly as given, trailing slash included (a receiver's URL).
    exact_url: ClassVar[bool] = False
    # How a new contact is created without making a duplicate: LOOKUP, CREATE_FIRST or
    # INVENTORY (see above), read by the engine.
    create_path: ClassVar[str] = LOOKUP
    inventory: ClassVar[Inventory | None] = None  # with INVENTORY: its list and keys
    # Where a connection's field mapping may put values, and how they are typed there
    # (integrations/mapping.py); None: the provider takes no mapping.
    mapping_rules: ClassVar[Rules | None] = None
    # An option that held a mapping before mappings were their own setting (Close's
    # custom_field_map): read when no field_map is given (a bare adapter, older options).
    legacy_map_option: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        options: Mapping[str, Any] | None = None,
        session: requests.Session | None = None,
        observer: Observer | None = None,
        throttle: Callable[[], None] | None = None,
        pace: Callable[[RateWindow], None] | None = None,
        timeout: float | None = None,
        references: References | None = None,
        field_map: Sequence[Mapping] | None = None,
        provider_fields: Sequence[Mapping] | None = None,
    ):
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            session=session,
            observer=observer,
            throttle=throttle,
            pace=pace,
            timeout=timeout,
        )
        self.options = dict(options or {})
        self.references = references if references is not None else MemoryReferences()
        if not field_map and self.legacy_map_option:
            field_map = mapping_from_legacy(self.options.get(self.legacy_map_option))
        self.field_map = list(field_map or ())
        # The provider's field definitions as last fetched (Close's), None if never.
        self.provider_fields = provider_fields
        # What the last build_payload left out because the provider can't take it.
        self.payload_warnings: list[str] = []

    # --- hooks each provider implements -----------------------------------------------------

    def build_payload(self, contact) -> dict:
        """The complete representation of `contact` for this provider (None = empty)."""
        raise NotImplementedError

    def build_context(self, contact) -> Any:
        """What a create needs besides the payload (Close's lead), or None. Not part of the
        payload, so it is neither sent as such nor part of the payload's hash."""
        return None

    def skip_reason(self, payload: dict) -> str | None:
        """Why this provider cannot accept the contact at all, or None."""
        return None

    def create(self, payload: dict, *, context: Any = None) -> str:
        """Create the remote record and return its ID."""
        raise NotImplementedError

    def update(self, remote_id: str, payload: dict) -> None:
        raise NotImplementedError

    def lookup(self, payload: dict) -> str | None:
        """The ID of the remote record with this payload's duplicate key, if there is one."""
        raise NotImplementedError

    def delete(self, remote_id: str) -> None:
        """Delete the remote record; raises ProviderError (a 404: it is already gone)."""
        if self.delete_path is None:
            raise NotImplementedError(f"{self.label} documents no delete endpoint.")
        self.request("delete", "DELETE", self.path(self.delete_path, remote_id))

    @classmethod
    def settings_problem(cls, *, base_url: str, api_key: str) -> str | None:
        """What is wrong with a connection's URL or key for this provider, or None."""
        return None

    def check(self) -> None:
        """Make one harmless authenticated read; raises ProviderError when it is refused."""
        self.request("lookup", "GET", self.check_path, params=self.check_params)

    def read_page(self, body: dict, page: int) -> tuple[list, bool]:
        """A list answer's rows and whether a next page exists, for `find_exact`."""
        raise NotImplementedError

    # --- the inventory (create_path INVENTORY): what `inventory` declares -----------------

    @classmethod
    def duplicate_key(cls, payload: dict) -> Key | None:
        """The key `lookup` searches this payload by, or None when it can't search (then no
        request could find the record either)."""
        return cls.inventory.duplicate_key(payload) if cls.inventory else None

    @classmethod
    def record_keys(cls, record: dict) -> list[Key]:
        """Every key `lookup` finds `record` by: a list row, or a payload as written."""
        return cls.inventory.record_keys(record) if cls.inventory else []

    def read_inventory_page(self, cursor: Any) -> tuple[list[tuple[Key, str]], Any]:
        """One page of the provider's records, from `cursor` (None: the first page): each
        record's (key, remote ID) pairs, and the next page's cursor (None after the last)."""
        if self.inventory is None:
            raise NotImplementedError(f"{self.label} declares no inventory.")
        return self.inventory.read_page(self, cursor)

    # --- chores shared by the adapters -----------------------------------------------------

    def mapped_values(self, contact) -> Mapped | None:
        """The connection's mapping applied to `contact`, or None without one (the adapter's
        default mapping applies). Its warnings become `payload_warnings`."""
        self.payload_warnings = []
        if not self.field_map or self.mapping_rules is None:
            return None
        mapped = mapping_apply(
            entries=self.field_map,
            contact=contact,
            custom_types=self.custom_field_types if contact.custom_fields else {},
            provider_fields=self.provider_fields,
            prefix=self.mapping_rules.prefix,
        )
        self.payload_warnings = mapped.warnings
        return mapped

    def mapped_object(self, contact) -> dict:
        """A free JSON object of custom values (GetRaze's custom_fields, Klen's custom_context):
        the mapped values, empty ones left out, or by default every custom field by its key."""
        mapped = self.mapped_values(contact)
        if mapped is None:
            return dict(sorted((contact.custom_fields or {}).items()))
        return dict(sorted((k, v) for k, v, _ in mapped.values if v not in (None, "", [])))

    @cached_property
    def custom_field_types(self) -> dict[str, str]:
        # Read once per adapter, which lives for one push or one batch of them, so a batch
        # costs one query here, not one per contact. Fields deleted since read as text.
        return dict(CustomField.objects.values_list("key", "type"))

    @staticmethod
    def without_empty(payload: dict) -> dict:
        """A create's body: empty values are left out (an update sends them as null to clear
        the remote field)."""
        return {key: value for key, value in payload.items() if value is not None}

    @staticmethod
    def path(template: str, *ids: str) -> str:
        """`template` with each `{}` replaced by an id quoted whole: a "/" or "+" in an id
        stays inside its path segment."""
        return template.format(*(quote(str(value), safe="") for value in ids))

    @staticmethod
    def tag_names(contact) -> list[str]:
        """The contact's tag names in case-insensitive order, so the payload's hash is stable
        (`Contact.tag_names`: bulk-read names when loaded, else its tags)."""
        return contact.tag_names()

    def answer_id(self, answer: Answer, *paths: str) -> str:
        """The remote ID at the first of `paths` ("id", "data.id") that holds one; an answer
        without any is an error that may hide an applied create, so it is ambiguous."""
        for path in paths:
            value: Any = answer.body
            for key in path.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            if value:
                return str(value)
        raise self.error(
            f"The answer has no {' or '.join(paths)}.",
            code="invalid_response",
            status=answer.status,
            ambiguous=True,
        )

    def read_if_found(self, path: str, *, params: Mapping[str, Any]) -> Answer | None:
        """A lookup's GET of one record, whose 404 means "no such record"."""
        try:
            return self.request("lookup", "GET", path, params=params)
        except ProviderError as error:
            if error.status == 404:
                return None
            raise

    def find_exact(
        self, path: str, *, field: str, value: str, params: Mapping[str, Any]
    ) -> str | None:
        """The ID of the first row whose `field` equals `value` (in any case), reading a
        paginated list whose filter `params` match substrings. Pages come from `read_page`."""
        wanted = value.lower()
        for page in range(1, MAX_LOOKUP_PAGES + 1):
            query = {**params, "limit": LOOKUP_PAGE_SIZE, "page": page}
            answer = self.request("lookup", "GET", path, params=query)
            rows, has_next = self.read_page(answer.json_object, page)
            for row in rows:
                if isinstance(row, dict) and str(row.get(field) or "").lower() == wanted:
                    return str(row["id"])
            if not rows or not has_next:
                return None
        return None


__all__ = ["Adapter", "Answer", "OptionField", "ProviderError", "Rules"]
