"""Names that moved out of this module, for the imports not yet updated (integrations/api,
bench/): the writes now live in connections, links, retention and queue."""

from .links import links_mark_pending

__all__ = ["links_mark_pending"]
