"""Command line of the sim: pick scenarios, serve on a port, write a kubeconfig, run until a signal.

python -m bot.devtools.simcluster --port 0 --kubeconfig /tmp/sim.kubeconfig --scenario web-app --latency 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from .kubelet import DEFAULT_NETCHECK_SECONDS
from .scenarios import load_scenarios, scenario_names
from .sim import SimCluster


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.devtools.simcluster", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only, by design)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for this sim to this path")
    parser.add_argument("--context", default="sim", help="cluster/user/context name in the kubeconfig")
    parser.add_argument(
        "--scenario", action="extend", nargs="+", choices=scenario_names(), help="scenario names; default all"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API request")
    parser.add_argument(
        "--token", help="require this bearer token (kubectl never sends tokens over plain HTTP: leave unset for it)"
    )
    parser.add_argument("--restart-period", type=float, help="seconds between restarts of crash-looping pods")
    parser.add_argument("--seed", type=int, help="random seed for names and uids")
    parser.add_argument(
        "--netcheck-seconds",
        type=float,
        default=DEFAULT_NETCHECK_SECONDS,
        help="how long a netcheck pod runs before it completes (0: at once)",
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    sim = SimCluster(
        load_scenarios(args.scenario),
        latency=args.latency,
        token=args.token or None,
        host=args.host,
        port=args.port,
        restart_period=args.restart_period,
        seed=args.seed,
        netcheck_seconds=args.netcheck_seconds,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        if args.kubeconfig:
            sim.write_kubeconfig(args.kubeconfig, context=args.context)
        print(sim.url, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_serve(_parser().parse_args(argv)))
    return 0
