"""Entry point of the simulator: `python -m services.producer.simulator`.

Reads SIMULATOR_* settings (exit 2 on a bad one), serves until SIGTERM or SIGINT (exit 0); SIGUSR1 drops
every client connection, like the `/control/drop` endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from services.producer.logs import configure_logging, log_event
from services.producer.simulator.server import SimulatorLoopFailed, SimulatorServer
from services.producer.simulator.settings import SimulatorSettings

logger = logging.getLogger("simulator")


async def run(server: SimulatorServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    def drop_all() -> None:
        for session in list(server.sessions.values()):
            server.drop(session, "SIGUSR1")

    loop.add_signal_handler(signal.SIGUSR1, drop_all)
    await server.serve(stop)


def main() -> int:
    settings = SimulatorSettings.load_or_exit("simulator")
    configure_logging(settings.simulator_log_level, secrets=[settings.token] if settings.token else [])
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        server = SimulatorServer(settings)
    except ValueError as exc:  # a malformed replay file: its path and line are in the message
        sys.stderr.write(f"simulator: invalid configuration: SIMULATOR_REPLAY_FILE: {exc}\n")
        return 2
    try:
        asyncio.run(run(server))
    except OSError as exc:  # typically the port is taken
        log_event(logger, "simulator_failed", logging.ERROR, error=f"{type(exc).__name__}: {exc}")
        return 1
    except SimulatorLoopFailed:  # logged as simulator_loop_failed; supervisord starts it again
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
