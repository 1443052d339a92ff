"""What the exact cache's bounded insert pays for sending its script's text (``EVAL``)
rather than its hash (``EVALSHA``).

    python benchmarks/bench_cache_script.py [--rounds 10] [--inserts 1000]

On an embedded Redis of its own (the script loaded, so ``EVALSHA`` works too), the two
forms of the same insert run in interleaved rounds; prints the time hiredis takes to pack
each, its size on the wire, the median round trip, and Redis's own CPU per insert (from
``INFO cpu``). The cache sends the text because a thread-per-request server never reads the
``NOSCRIPT`` reply a Redis without the script gives (``ai_backends/cache/exact.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import redis  # noqa: E402
from hiredis import pack_command  # noqa: E402

from ai_backends.cache.exact import _INSERT_CAPPED  # noqa: E402
from ai_backends.core.redis import embedded_redis_url  # noqa: E402

VALUE = '{"predicted_class":"setosa","probabilities":[1.0,0.0,0.0]}'


def command(form: str, sha: str, n: int) -> tuple[Any, ...]:
    """The bounded insert of entry ``n``, sent as ``EVAL`` or ``EVALSHA``."""
    keys = ["bench:#index", f"bench:k{n}"]
    head = ("EVAL", _INSERT_CAPPED) if form == "EVAL" else ("EVALSHA", sha)
    return (*head, len(keys), *keys, 3600, 10000, time.time(), VALUE)


def main() -> None:
    """Run both forms in interleaved rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--inserts", type=int, default=1000)
    args = parser.parse_args()
    url = embedded_redis_url(tempfile.mkdtemp())
    if url is None:
        raise SystemExit("the embedded Redis did not start")
    client = redis.Redis.from_url(url)
    sha = client.script_load(_INSERT_CAPPED)

    def server_cpu() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    forms = ("EVAL", "EVALSHA")
    trips: dict[str, list[float]] = {form: [] for form in forms}
    cpu = dict.fromkeys(forms, 0.0)
    for round_ in range(args.rounds):
        for form in forms:
            before, started = server_cpu(), time.perf_counter()
            for i in range(args.inserts):
                client.execute_command(*command(form, sha, round_ * args.inserts + i))
            trips[form].append((time.perf_counter() - started) / args.inserts * 1e6)
            cpu[form] += server_cpu() - before
    total = args.rounds * args.inserts
    print(f"{args.rounds} interleaved rounds of {args.inserts} inserts per form")
    print(f"{'form':8s} {'pack µs':>8s} {'bytes':>6s} {'round trip µs':>14s} "
          f"{'Redis CPU µs':>13s}")
    for form in forms:
        started = time.perf_counter()
        for i in range(total):
            pack_command(command(form, sha, i))
        pack = (time.perf_counter() - started) / total * 1e6
        size = len(pack_command(command(form, sha, 0)))
        print(f"{form:8s} {pack:8.2f} {size:6d} {statistics.median(trips[form]):14.1f} "
              f"{cpu[form] / total * 1e6:13.1f}")
    client.shutdown(nosave=True)


if __name__ == "__main__":
    main()
