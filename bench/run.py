"""Every benchmark, end to end, then a table of figure vs target: `make bench`.

Uses PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/relay_bench, created
when missing) with BENCH_CONTACTS contacts (default 100,000; made once, then reused).
"""

import os
import platform
import time
import timeit

import bench_admin
import bench_api
import bench_import
import bench_pace
import bench_push
import bench_ratelimit
import bench_requests
import dataset
from common import RESULTS, database_label


def cpu_calibration_ms() -> float:
    """A fixed pure-Python workload, best of five: how fast this machine's core is.

    The targets in milliseconds depend on it; compare runs on two machines by it first.
    """
    loop = "sum(i * i for i in range(1_000_000))"
    return min(timeit.repeat(loop, number=1, repeat=5)) * 1000


def main() -> None:
    started = time.perf_counter()
    size = int(os.environ.get("BENCH_CONTACTS", "100000"))
    print(
        f"Relay CRM benchmarks on {database_label()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; CPU calibration {cpu_calibration_ms():.0f} ms "
        "(one million squares summed in Python, best of five)"
    )
    print(
        f"  dataset: {dataset.ensure_dataset(size):,} contacts (2 phones, 3 tags, 5 custom fields)"
    )
    for module in (
        bench_admin,
        bench_api,
        bench_push,
        bench_requests,
        bench_ratelimit,
        bench_pace,
        bench_import,
    ):
        dataset.vacuum()
        print(f"{module.__name__}:")
        module.run()
    print()
    print("| what | figure | target | met |")
    print("|---|---|---|---|")
    for what, figure, target, ok in RESULTS:
        print(
            f"| {what.strip()} | {figure} | {target} | {dict([(True, 'yes'), (False, 'no')]).get(ok, '-')} |"
        )
    print(f"\nAll benchmarks ran in {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    main()
