"""Per-provider handles on the one test sandbox, for the adapter and contract tests."""

import pytest

from integrations.providers import ProviderError
from tests.integrations_helpers import Sandbox

# Where each emulation is served, below the sandbox's URL.
API_ROOTS = {
    "getraze": "/getraze/external/v1",
    "contactship": "/contactship",
    "klen": "/klen/api/v1",
    "close": "/close/api/v1",
}


def provider_sandbox(server, provider: str) -> Sandbox:
    box = Sandbox(server.url, provider)
    box.base_url = server.url + API_ROOTS[provider]
    box.reset()
    return box


def expect_error(call) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call()
    return info.value
