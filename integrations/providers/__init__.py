"""Provider adapters, one module each, registered by the provider key their class declares.

A new provider is a new adapter module and a line in ADAPTERS: the Connection model's
choices, the default base URL and `adapter_class` all come from the classes.
"""

from .base import Adapter, OptionField
from .base_errors import ProviderError
from .close import CloseAdapter
from .contactship import ContactshipAdapter
from .getraze import GetRazeAdapter
from .klen import KlenAdapter
from .webhook import WebhookAdapter

__all__ = [
    "ADAPTERS",
    "Adapter",
    "OptionField",
    "ProviderError",
    "adapter_class",
    "default_base_url",
    "provider_choices",
    "url_kept_exact",
]

# In the order staff see them in the provider menu.
ADAPTERS: tuple[type[Adapter], ...] = (
    GetRazeAdapter,
    ContactshipAdapter,
    KlenAdapter,
    CloseAdapter,
    WebhookAdapter,
)

_BY_PROVIDER = {adapter.provider: adapter for adapter in ADAPTERS}


def adapter_class(provider: str) -> type[Adapter]:
    try:
        return _BY_PROVIDER[provider]
    except KeyError:
        raise ValueError(f"No adapter for provider {provider!r} yet.") from None


def provider_choices() -> list[tuple[str, str]]:
    """(key, label) of every provider, for Connection.provider's choices."""
    return [(adapter.provider, adapter.label) for adapter in ADAPTERS]


def default_base_url(provider: str) -> str:
    """The provider's official API root, or "" for a provider without an adapter."""
    adapter = _BY_PROVIDER.get(provider)
    return adapter.default_base_url if adapter else ""


def url_kept_exact(provider: str) -> bool:
    """Whether the provider's connection URL is kept as given (a webhook receiver's), rather
    than without its trailing slash."""
    adapter = _BY_PROVIDER.get(provider)
    return bool(adapter and adapter.exact_url)
