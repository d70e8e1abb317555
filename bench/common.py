"""What every benchmark shares: Django set-up on the bench database, the dataset, timing."""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

RESULTS: list[tuple[str, str, str, bool | None]] = []


def median_ms(fn, *, runs: int = 15, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def report(what: str, figure: str, target: str, ok: bool | None) -> None:
    RESULTS.append((what, figure, target, ok))
    mark = {True: "ok", False: "MISSED", None: "-"}[ok]
    print(f"  {what:<58} {figure:>18}   target {target:<22} {mark}", flush=True)


def database_label() -> str:
    db = settings.DATABASES["default"]
    return f"{db['ENGINE'].rsplit('.', 1)[-1]} {db.get('NAME')}"
