"""Provider adapters, one module each, registered by the Connection.provider value."""

from django.utils.module_loading import import_string

from .base import Adapter, ProviderError

__all__ = ["Adapter", "ProviderError", "adapter_class"]

# A new provider is a new module here and a line in this map.
ADAPTERS = {
    "getraze": "integrations.providers.getraze.GetRazeAdapter",
    "contactship": "integrations.providers.contactship.ContactshipAdapter",
    "klen": "integrations.providers.klen.KlenAdapter",
    "close": "integrations.providers.close.CloseAdapter",
}


# Each provider's official API root, used when a connection leaves its base URL empty.
OFFICIAL_BASE_URLS = {
    "getraze": "https://app.getraze.com/external/v1",
    "contactship": "https://api.contactship.ai",
    "klen": "https://api.klen.ai/api/v1",
    "close": "https://api.close.com/api/v1",
}


def adapter_class(provider: str) -> type[Adapter]:
    try:
        return import_string(ADAPTERS[provider])
    except KeyError:
        raise ValueError(f"No adapter for provider {provider!r} yet.") from None
