"""System checks for the per-key rate limit: a valid API_KEY_RATE, and a cache that makes it exact.

Under `check --deploy`: a per-process default cache with several server processes gives each
process its own counts, so a key gets the rate once per process. The number of processes is
what the server reads from the environment, WEB_CONCURRENCY (gunicorn's and uvicorn's default
worker count) or a --workers option in GUNICORN_CMD_ARGS; without either, gunicorn runs one.
"""

import itertools
import os
import shlex

from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from .ratelimit import CACHE_ALIAS, rate_parse


@checks.register()
def check_api_key_rate(app_configs, **kwargs) -> list[checks.Error]:
    if not settings.API_KEY_RATE:
        return []
    try:
        rate_parse(settings.API_KEY_RATE)
    except ValueError as exc:
        return [
            checks.Error(
                str(exc),
                hint="API_KEY_RATE is read from the environment variable of that name.",
                id="apikeys.E001",
            )
        ]
    return []


def server_workers() -> int:
    """Worker processes the environment asks the server for (1 when it says nothing)."""
    try:
        args = shlex.split(os.environ.get("GUNICORN_CMD_ARGS", ""))
    except ValueError:  # unbalanced quotes: gunicorn would refuse them too
        args = []
    requested = os.environ.get("WEB_CONCURRENCY", "1")
    for arg, following in itertools.pairwise([*args, ""]):
        if arg in ("-w", "--workers"):
            requested = following
        elif arg.startswith("--workers="):
            requested = arg.removeprefix("--workers=")
        elif arg.startswith("-w"):
            requested = arg.removeprefix("-w")
    try:
        return int(requested)
    except ValueError:
        return 1


@checks.register(checks.Tags.caches, deploy=True)
def check_rate_limit_cache(app_configs, **kwargs) -> list[checks.Warning]:
    workers = server_workers()
    if not settings.API_KEY_RATE or workers < 2:
        return []
    if not isinstance(caches[CACHE_ALIAS], LocMemCache):
        return []
    return [
        checks.Warning(
            f"The default cache is per process and the server runs {workers} workers: "
            f"each counts API_KEY_RATE on its own, so a key may make {workers} times its rate.",
            hint="Set CACHE_URL to a shared cache, e.g. redis://127.0.0.1:6379/1.",
            id="apikeys.W001",
        )
    ]
