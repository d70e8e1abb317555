"""The running counts of a background contact import, kept in a cache while it runs.

The progress page must see counts move while batches are written, and the counts are written
inside each batch's transaction:

- Not on the ContactImport row through the importing connection: nothing written inside a
  transaction is visible to other connections before it commits.
- Not on that row through a second connection either: on SQLite the open batch transaction
  holds the database's single write lock (IMMEDIATE mode), so a second writer would wait on
  the busy timeout and stall the import.
- So the running counts go to a cache (the `import_progress` alias), keyed by the import's id,
  which no database transaction holds. The worker writes it and the web process reads it, so
  it must be shared between processes: settings make it file-based on this host (SQLite means
  one host anyway); with web and workers on several hosts, point it at a shared cache.
- The row itself is written only outside the import's transactions: RUNNING with the total
  first, the final status and counts at the end. The progress view reads the row and, while
  it is RUNNING, the cache's counts on top.
"""

import logging

from django.core.cache import caches

logger = logging.getLogger(__name__)

PROGRESS_CACHE = "import_progress"
PROGRESS_TIMEOUT = 24 * 3600
COUNTS = ("processed", "new", "updated", "skipped", "invalid")


def progress_key(import_id: int) -> str:
    return f"crm:contact-import:{import_id}"


def progress_write(import_id: int, counts: dict[str, int]) -> None:
    # Best effort: a cache that fails must not fail the import (the row gets the final counts).
    try:
        caches[PROGRESS_CACHE].set(progress_key(import_id), dict(counts), PROGRESS_TIMEOUT)
    except Exception:
        logger.warning("Contact import %s: progress not written", import_id, exc_info=True)


def progress_read(import_id: int) -> dict[str, int]:
    """The running counts written so far (none before the first write)."""
    running = caches[PROGRESS_CACHE].get(progress_key(import_id)) or {}
    return {name: running[name] for name in COUNTS if name in running}


def progress_clear(import_id: int) -> None:
    caches[PROGRESS_CACHE].delete(progress_key(import_id))
