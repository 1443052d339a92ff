"""grpcio's thread-pool server against its asyncio server, each answering a constant.

    python benchmarks/bench_grpc_server.py [--seconds 3] [--rounds 3] [--threads 8]

Would the gRPC sidecar cost less per call on ``grpc.aio``? Each server answers from one
process on a free loopback port with a servicer whose ``ModelInfer`` returns a constant (no
model, no decoding; the thread-pool one is ``bench_sidecars.py``'s bare floor with one
worker), so what is measured is grpcio's own cost per call. One client process sends the
same pre-encoded one-row request from ``--threads`` threads over one channel; the rounds
are interleaved. For each run it prints requests/s and the server's CPU time per call (from
``/proc``), then the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import subprocess  # nosec B404 - starts this script as a server, fixed arguments
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from benchmarks.bench_servers import tree_cpu_seconds  # noqa: E402
from benchmarks.bench_sidecars import (  # noqa: E402
    WARMUP_SECONDS,
    Target,
    free_port,
    grpc_payload,
    run_load,
    serve_bare_grpc,
    wait_for,
)

KINDS = ("thread pool", "asyncio")


def serve(kind: str, port: int, threads: int) -> None:
    """Serve a constant ``ModelInfer`` with grpcio's ``kind`` of server until killed."""
    if kind == "thread pool":  # bench_sidecars' bare floor, in one worker process
        serve_bare_grpc(port, threads, processes=1)
        return

    import grpc

    from ai_backends.oip.generated import inference_pb2 as pb
    from ai_backends.oip.generated import inference_pb2_grpc as pb_grpc

    class AsyncBare(pb_grpc.GRPCInferenceServiceServicer):
        async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
            return pb.ModelInferResponse(model_name="bare")

    async def main() -> None:
        server = grpc.aio.server()
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(AsyncBare(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())


def main() -> int:
    """Start both servers, load them in interleaved rounds, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.threads)
        return 0
    payload = grpc_payload(1)
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    for kind in KINDS:
        port = free_port()
        servers[kind] = (port, subprocess.Popen(  # nosec B603 - this script, fixed arguments
            [sys.executable, __file__, "--serve", kind, "--port", str(port), "--threads",
             str(args.threads)]))
    for kind, (port, _) in servers.items():
        wait_for(Target(kind, "grpc", f"127.0.0.1:{port}"))
    runs: dict[str, list[tuple[float, float, int]]] = {kind: [] for kind in KINDS}
    try:
        for _ in range(args.rounds):
            for kind, (port, process) in servers.items():
                before = tree_cpu_seconds(process.pid)
                with multiprocessing.get_context("spawn").Pool(1) as pool:
                    latencies, errors = pool.apply(run_load, (
                        "grpc", f"127.0.0.1:{port}", payload, {}, args.threads, args.seconds))
                # run_load's warm-up is in the CPU time but not in the calls: scale it out.
                spent = (tree_cpu_seconds(process.pid) - before) \
                    * args.seconds / (args.seconds + WARMUP_SECONDS)
                calls = len(latencies)
                cpu_us = spent / max(calls, 1) * 1e6
                runs[kind].append((calls / args.seconds, cpu_us, errors))
                print(f"# {kind}: {calls / args.seconds:,.0f} calls/s, {cpu_us:.0f} µs CPU "
                      f"per call, {errors} errors", file=sys.stderr)
    finally:
        for _, process in servers.values():
            process.terminate()
            process.wait(timeout=10)
    print("| grpcio server | calls/s | server CPU µs per call (lowest-highest) | errors |\n"
          "|---|---|---|---|")
    for kind, results in runs.items():
        print(f"| {kind} | {statistics.median(r[0] for r in results):,.0f} | "
              f"{statistics.median(r[1] for r in results):.0f} "
              f"({min(r[1] for r in results):.0f}-{max(r[1] for r in results):.0f}) | "
              f"{sum(r[2] for r in results)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
