"""The checks behind /health/: database, caches, migrations, a live worker, the queue's lag.

Each check returns a dict with "ok" and what it measured. A check that raises is failed with
a generic message (the exception goes to the log, not to an unauthenticated answer).
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django.utils.crypto import get_random_string

from . import selectors

logger = logging.getLogger(__name__)

# Databases whose migrations were all applied once: they stay applied for this process's
# life, so the migration graph is not loaded from disk on every probe.
migrations_verified: set[str] = set()


def database() -> dict:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def cache() -> dict:
    """Every configured cache stores and returns a value (the import progress cache is shared
    by the web process and the workers)."""
    failing = []
    for alias in settings.CACHES:
        key, value = f"ops:health:{get_random_string(12)}", get_random_string(12)
        store = caches[alias]
        store.set(key, value, 30)
        if store.get(key) != value:
            failing.append(alias)
        store.delete(key)
    return {"ok": not failing, **({"failing": failing} if failing else {})}


def migrations() -> dict:
    if DEFAULT_DB_ALIAS in migrations_verified:
        return {"ok": True, "unapplied": 0}
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    unapplied = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    if not unapplied:
        migrations_verified.add(DEFAULT_DB_ALIAS)
    return {"ok": not unapplied, "unapplied": unapplied}


def worker() -> dict:
    """A worker ran the scheduler's heartbeat task within WORKER_SEEN_SECONDS. Failing means
    no worker takes tasks, or no scheduler queues the heartbeat."""
    limit = settings.OPS["WORKER_SEEN_SECONDS"]
    last_seen = selectors.worker_last_seen()
    if last_seen is None:
        return {"ok": False, "last_seen_seconds_ago": None, "limit_seconds": limit}
    ago = (timezone.now() - last_seen).total_seconds()
    return {"ok": ago <= limit, "last_seen_seconds_ago": round(ago, 1), "limit_seconds": limit}


def queue_lag() -> dict:
    limit = settings.OPS["QUEUE_LAG_SECONDS"]
    lag = selectors.queue_lag_seconds()
    return {"ok": lag <= limit, "seconds": round(lag, 1), "limit_seconds": limit}


CHECKS: dict[str, Callable[[], dict]] = {
    "database": database,
    "cache": cache,
    "migrations": migrations,
    "worker": worker,
    "queue_lag": queue_lag,
}


def health_report() -> dict:
    """Every check's result; "failing" names the checks that failed, in CHECKS order."""
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception:
            logger.exception("Health check %s failed", name)
            results[name] = {"ok": False, "error": "the check could not run (see the log)"}
    failing = [name for name, result in results.items() if not result["ok"]]
    return {"status": "failing" if failing else "ok", "failing": failing, "checks": results}
