"""What the API tests share besides fixtures: scope names, URLs and error-reading helpers.

The API clients themselves (`make_client`, `api_client`, `reader`, `writer`) are fixtures in
tests/conftest.py.
"""

READ = "contacts:read"
WRITE = "contacts:write"
PUSH = "push"
CONTACTS_URL = "/api/v1/contacts/"


def detail_url(contact_id: int) -> str:
    return f"{CONTACTS_URL}{contact_id}/"


def error_codes(response) -> dict[str | None, list[str]]:
    """{attr: [codes]} of an error response, for compact assertions."""
    codes: dict[str | None, list[str]] = {}
    for error in response.json()["errors"]:
        codes.setdefault(error["attr"], []).append(error["code"])
    return codes
