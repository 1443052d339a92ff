"""The API and the bare Flask floor under each HTTP server, side by side, in one run.

    python benchmarks/bench_servers.py [--seconds 5] [--rounds 2] [--connections 8 32]
        [--servers granian gunicorn-threads gunicorn-sync] [--apps miss hit bare io]
        [--before PATH]

For each server setting (granian WSGI, gunicorn threaded, gunicorn sync) it serves the apps
on free loopback ports: the API (``app:app``) asked POST /api/v1/classify with a new random
row every request (``miss``) or the same row every time (``hit``), the bare Flask app of
``benchmarks/bare_flask.py`` (``bare``), and the same plus the work a miss cannot skip
(``io``, ``benchmarks/bare_flask_io.py``: the model, a Redis lookup and store, a log append
and an access-log line, each done the cheapest way). ``--before PATH`` adds the API served
from another checkout (an earlier commit, e.g. ``git worktree add /tmp/before <commit>``)
with misses, so a change's effect is measured side by side on the same machine in the same
minutes. Rounds are interleaved (every setting once, then again) so a noisy neighbour hits
all of them alike. For each run it prints requests/s, p50/p99 from wrk, errors, and the
server's CPU time per request, read from ``/proc/<pid>/stat`` of the server and all its
children: the figure that stays put while absolute throughput moves with the machine's
load; the table adds the whole machine's busy CPU per request (the server, wrk, Redis and
the kernel: on 2 cores, 5,000 req/s leaves 400 µs of it per request). The table gives
medians of the rounds, the lowest round against the median, and each API row against the
bare floor served by the same server in the same round. The API logs at INFO (one
access-log line per request, written to /dev/null) as in production.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess  # nosec B404 - starts our own servers and wrk with fixed arguments
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_classify import _free_port, bench_wrk, parse_wrk  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
SETTINGS = {
    "granian": ("granian 2 workers + 4 threads",
                ["granian", "--workers", "2", "--blocking-threads", "4"]),
    "gunicorn-threads": ("gunicorn 2 workers x 4 threads",
                         ["gunicorn", "--workers", "2", "--threads", "4"]),
    "gunicorn-sync": ("gunicorn 2 sync workers",
                      ["gunicorn", "--workers", "2", "--worker-class", "sync"]),
}
# name -> (label, WSGI target, random rows?)
APPS = {"miss": ("API (miss)", "app:app", True), "hit": ("API (hit)", "app:app", False),
        "bare": ("bare Flask", "benchmarks.bare_flask:app", True),
        "io": ("bare Flask + a miss's I/O", "benchmarks.bare_flask_io:app", True)}
BEFORE_LABEL = "API (miss), before"


def command(server: list[str], target: str, port: int) -> list[str]:
    """The argv that serves ``target`` on ``port`` with ``server`` settings."""
    kind, *options = server
    if kind == "gunicorn":
        return [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}",
                *options]
    return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", *options, target]


def tree(pid: int) -> list[int]:
    """``pid`` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every live descendant."""
    total = 0.0
    for current in tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (every process, kernel included)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user, nice, system, irq, softirq: not idle, iowait or steal (another guest's time)
    return (sum(fields[:7]) - fields[3] - fields[4]) / CLK_TCK


@contextmanager
def serving(argv: list[str], env: dict[str, str],
            root: Path = ROOT) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server in ``root``, wait until it answers, stop it afterwards."""
    port = int(argv[argv.index("--port") + 1] if "--port" in argv
               else argv[argv.index("--bind") + 1].rsplit(":", 1)[1])
    env = {**env, "PYTHONPATH": str(root)}
    server = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure(server: list[str], target: str, miss: bool, connections: int, seconds: int,
            env: dict[str, str], root: Path = ROOT) -> dict[str, float]:
    """One wrk run against a fresh server; throughput, latency and CPU per request."""
    port = _free_port()
    with serving(command(server, target, port), env, root) as process:
        url = f"http://127.0.0.1:{port}/api/v1/classify"
        bench_wrk(url, connections, 1, miss=miss)  # warm-up: workers up, connections open
        before, machine_before = tree_cpu_seconds(process.pid), machine_cpu_seconds()
        result = parse_wrk(bench_wrk(url, connections, seconds, miss=miss))
        spent = tree_cpu_seconds(process.pid) - before
        machine = machine_cpu_seconds() - machine_before
    requests_done = result.get("rps", 0.0) * seconds
    result["cpu_us"] = spent / requests_done * 1e6 if requests_done else float("nan")
    result["machine_us"] = machine / requests_done * 1e6 if requests_done else float("nan")
    return result


def main() -> None:
    """Run every server x app x connection count, interleaved, and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--servers", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--apps", nargs="+", choices=APPS, default=["miss", "bare"])
    parser.add_argument("--before", type=Path, help="another checkout of the project")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-servers-"))
    env = {**os.environ, "LOG_LEVEL": "INFO", "RATE_LIMIT_PER_MINUTE": "0",
           "DATA_DIR": str(data), "REDIS_KEY_PREFIX": f"bench-servers-{os.getpid()}:"}
    apps = [(APPS[name][0], APPS[name][1], APPS[name][2], ROOT) for name in args.apps]
    if args.before:
        apps.append((BEFORE_LABEL, "app:app", True, args.before.resolve()))
    results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for label, target, miss, root in apps:
            for connections in args.connections:
                for name in args.servers:
                    setting, server = SETTINGS[name]
                    run = measure(server, target, miss, connections, args.seconds, env, root)
                    results.setdefault((label, setting, connections), []).append(run)
                    print(f"# {label} | {setting} | {connections} conn: "
                          f"{run.get('rps', 0):,.0f} req/s, p99 {run.get('99%', 0):.1f} ms, "
                          f"{run['cpu_us']:.0f} µs CPU/request (machine "
                          f"{run['machine_us']:.0f})", file=sys.stderr)
    print(f"{os.cpu_count()} cores, {args.rounds} interleaved rounds of {args.seconds} s; "
          "median of rounds\n")
    print("| app | server | connections | req/s | lowest round / median | p50 ms | p99 ms "
          "| errors | CPU µs/request | machine CPU µs/request | req/s vs bare floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (label, setting, connections), runs in results.items():
        def median(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(run.get(key, float("nan")) for run in runs)

        lowest = min(run.get("rps", 0.0) for run in runs) / median("rps")
        floor = results.get((APPS["bare"][0], setting, connections))
        ratio = ""
        if floor is not None and label != APPS["bare"][0]:
            shares = [run.get("rps", 0.0) / bare.get("rps", float("nan"))
                      for run, bare in zip(runs, floor, strict=True)]
            ratio = f"{statistics.median(shares):.0%}"
        errors = sum(run["errors"] for run in runs)
        print(f"| {label} | {setting} | {connections} | {median('rps'):,.0f} | {lowest:.0%} | "
              f"{median('50%'):.1f} | {median('99%'):.1f} | {errors:.0f} | "
              f"{median('cpu_us'):.0f} | {median('machine_us'):.0f} | {ratio} |")
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
