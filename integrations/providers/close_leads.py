"""Which Close lead a new contact goes to, by the connection's option `lead_strategy`:
`new` (Close makes a lead per contact, the default), `by_company` (one lead per company name,
its id remembered in the option `lead_ids`) or `fixed` (the option `lead_id`).

The choice is made from the contact when the push is prepared (the create's context), and
turned into a lead id only when a contact is created.
"""

from collections.abc import Mapping
from typing import Any

LEAD_STRATEGIES = ("new", "by_company", "fixed")


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
    known = (adapter.options.get("lead_ids") or {}).get(company.casefold())
    if known:
        return known
    # Two workers creating the first contacts of one company at once may make two leads; the
    # last remembered wins from then on. Accepted: rare, and visible in Close.
    answer = adapter.request("create", "POST", "/lead/", json_body={"name": company})
    found = adapter.answer_id(answer, "id")
    adapter.remember("lead_ids", {company.casefold(): found})
    return found
