"""Which Close lead a new contact goes to, by the connection's option `lead_strategy`:
`new` (Close makes a lead per contact, the default), `by_company` (one lead per company name,
its id remembered among the connection's references, not in its options) or `fixed` (the
option `lead_id`).

The choice is made from the contact when the push is prepared (the create's context), and
turned into a lead id only when a contact is created. A remembered lead that Close no longer
has (deleted or merged there: "lead_id: Object does not exist.") is forgotten and made again.
"""

from collections.abc import Callable, Mapping
from typing import Any

from .base_errors import ProviderError

LEAD_STRATEGIES = ("new", "by_company", "fixed")
LEAD = "lead"  # the references' kind


def lead_choice(options: Mapping[str, Any], contact) -> dict | None:
    """The lead a create of `contact` asks for; None lets Close name a new lead after it."""
    strategy = options.get("lead_strategy") or "new"
    if strategy == "fixed":
        return {"id": options.get("lead_id") or None}
    if strategy == "by_company" and contact.company.strip():
        return {"company": " ".join(contact.company.split())}
    if strategy not in LEAD_STRATEGIES:
        return {"strategy": strategy}
    return None


def create_in_lead(adapter, choice: dict | None, create: Callable[[str | None], str]) -> str:
    """`create(lead_id)` in the lead `choice` names. A remembered lead Close says is gone is
    dropped, made again and the create tried once more; a fixed one is the connection's to fix."""
    lead = lead_id(adapter, choice)
    try:
        return create(lead)
    except ProviderError as error:
        if lead is None or error.code != "lead_not_found":
            raise
        if "company" not in choice:
            message = f"The lead {lead} in the option lead_id no longer exists at Close."
            raise adapter.error(message, code="lead_not_found", misconfigured=True) from None
        adapter.references.drop(LEAD, choice["company"].casefold(), lead)
    return create(lead_id(adapter, choice))


def lead_id(adapter, choice: dict | None) -> str | None:
    """The id of the lead `choice` names, made at Close (and remembered) for a new company."""
    if choice is None:
        return None
    if "strategy" in choice or ("id" in choice and not choice["id"]):
        # The connection needs fixing, not the contact: the engine pauses it with the reason.
        raise adapter.error(
            "lead_strategy must be new, by_company or fixed, and fixed needs lead_id.",
            code="invalid_lead_strategy",
            misconfigured=True,
        )
    if "id" in choice:
        return choice["id"]
    company = choice["company"]
    known = adapter.references.get(LEAD, company.casefold())
    if known:
        return known
    # Two workers creating the first contacts of one company at once may make two leads; the
    # last remembered wins from then on. Accepted: rare, and visible in Close.
    answer = adapter.request("create", "POST", "/lead/", json_body={"name": company})
    found = adapter.answer_id(answer, "id")
    adapter.references.put(LEAD, company.casefold(), found)
    return found
