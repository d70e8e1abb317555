"""The rate-limit headers in the OpenAPI schema (a drf-spectacular postprocessing hook).

Every response of an operation a key may call documents RateLimit-*; a 429 also Retry-After.
Not the 401 (no valid key, so no key's window) nor the 406 (answered before the key is read):
see middleware.py. The headers are optional, as staff sessions get none.
"""

from .schema import APIKeyScheme

HEADERS = {
    "RateLimit-Limit": {
        "description": "Requests the API key may make in one window.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the key's current window, this one counted.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the key's current window closes.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Policy": {
        "description": "The limit and the window's length in seconds (`w`).",
        "schema": {"type": "string", "pattern": r"^[0-9]+;w=[0-9]+$", "example": "1200;w=60"},
    },
}
RETRY_AFTER = {
    "description": "Seconds to wait before the next request: the same as RateLimit-Reset.",
    "schema": {"type": "integer", "minimum": 1},
}
ANSWERED_WITHOUT_A_KEY = {"401", "406"}


def reference(name: str) -> dict:
    return {"$ref": f"#/components/headers/{name}"}


def rate_limit_headers(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("headers", {})
    components.update(HEADERS)
    components.setdefault("Retry-After", RETRY_AFTER)
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            requirements = operation.get("security", [])
            if not any(APIKeyScheme.name in requirement for requirement in requirements):
                continue
            for status, response in operation.get("responses", {}).items():
                if status in ANSWERED_WITHOUT_A_KEY or "$ref" in response:
                    continue
                headers = response.setdefault("headers", {})
                for name in HEADERS:
                    headers.setdefault(name, reference(name))
                if status == "429":
                    headers.setdefault("Retry-After", reference("Retry-After"))
    return result
