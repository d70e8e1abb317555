"""The admin of the integrations app, one module per model group.

connections: Connection; links: RemoteLink and PushAttempt; contacts: crm's contact admin
re-registered with its sync pieces. Their pages (test, Close fields, payload preview, push
form and progress) are in pages, built on forms, display and preview.
"""

from . import connections, contacts, links  # noqa: F401  (each registers its model admins)
