"""The bodies of Close searches (POST /data/search/): the contact with one email or phone, and
every contact, page by page (the inventory).

Close's query language nests a condition on a contact's email or phone rows inside a query on
contacts; this builds the exact form Close's own scripts use for an email.
"""


def contact_search_body(kind: str, value: str, *, mode: str) -> dict:
    """`kind` is "email" or "phone"; `mode` Close's text match ("exact_value", "phrase")."""
    related = {
        "type": "field_condition",
        "field": {"type": "regular_field", "object_type": f"contact_{kind}", "field_name": kind},
        "condition": {"type": "text", "mode": mode, "value": value},
    }
    has_related = {
        "type": "has_related",
        "this_object_type": "contact",
        "related_object_type": f"contact_{kind}",
        "related_query": related,
    }
    contacts = {"type": "object_type", "object_type": "contact"}
    return {
        "query": {"type": "and", "queries": [contacts, has_related]},
        "_fields": {"contact": ["id", "lead_id", "emails", "phones"]},
        "_limit": 200,
        "results_limit": 1,
    }


INVENTORY_PAGE = 200  # the search's largest _limit
# A contact's keys as the lookup searches them: its emails first, else its phones.
INVENTORY_KEYS = (("email", "emails.email"), ("phone", "phones.phone"))


def contacts_page_body(cursor: str | None) -> dict:
    """A page of every contact with its emails and phones; `cursor` is the previous answer's."""
    body = {
        "query": {"type": "object_type", "object_type": "contact"},
        "_fields": {"contact": ["id", "emails", "phones"]},
        "_limit": INVENTORY_PAGE,
    }
    return body | ({"cursor": cursor} if cursor else {})
