"""Signals the contact domain sends, so other apps can react without crm importing them."""

from django.dispatch import Signal

# Sent once a contact and everything attached to it (phones, tags, custom fields) is written,
# inside the writing transaction. Arguments: contact, created.
contact_changed = Signal()

# The bulk twin, sent once per batch by contacts_bulk_write (the import) instead of
# contact_changed per contact, inside the writing transaction. Arguments: contact_ids (every
# contact written), created_ids (those of them that are new).
contacts_changed = Signal()

# Sent by crm.deletion before each chunk of contacts is deleted, inside the deleting
# transaction, so other apps can keep what must outlive them. Arguments: contact_ids.
contacts_deleting = Signal()

# Sent by the contact admin's "Delete selected" confirmation (crm.selectors.
# contacts_delete_summary) to learn what a delete of `contacts` (a queryset, any size) does to
# another app's rows that a relation with a rule of its own reaches (not a plain CASCADE,
# which crm counts itself). Receivers return a list of DeleteLine (crm.selectors), counted
# with `contacts` as a subquery.
contacts_delete_summary = Signal()
