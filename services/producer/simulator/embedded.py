"""Run a simulator inside the current process, on a background thread: for tests and tools.

`with EmbeddedSimulator(settings) as sim: ... sim.url ...` starts the server on its own event loop and
stops it on exit.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from services.producer.simulator.server import SimulatorServer
from services.producer.simulator.settings import SimulatorSettings


class EmbeddedSimulator:
    """A SimulatorServer on a daemon thread; `port` and `url` are known once the context is entered."""

    def __init__(self, settings: SimulatorSettings, start_timeout: float = 10.0) -> None:
        self.server = SimulatorServer(settings)
        self._start_timeout = start_timeout
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> EmbeddedSimulator:
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            raise TimeoutError(f"simulator did not start within {self._start_timeout}s")
        if self._error is not None:
            raise RuntimeError("simulator failed to start") from self._error
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def call(self, function_name: str) -> object:
        """Run a no-argument method of the server on its loop and return the result (e.g. "stats")."""
        assert self._loop is not None

        async def invoke() -> object:
            return getattr(self.server, function_name)()

        return asyncio.run_coroutine_threadsafe(invoke(), self._loop).result(timeout=10)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self.server.serve(self._stop, ready=lambda _port: self._ready.set())

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the starting thread by __enter__
            self._error = exc
            self._ready.set()
