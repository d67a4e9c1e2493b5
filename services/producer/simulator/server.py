"""The Finnhub-protocol WebSocket server: handshake and token, subscriptions, trades, pings and faults.

One market loop stamps and sends trades (or replays a recording) to every subscribed client, a ping loop
sends Finnhub's pings, and control.py serves the HTTP control endpoint on the same port.

Longer than most modules (~370 lines): its loops and fault injections all act on the one set of client
sessions and counters; the parts with their own reason to change (control endpoint, sessions, market,
replay, settings) are modules of their own already.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from services.producer.logs import log_event
from services.producer.recording import FrameRecorder
from services.producer.simulator import control, replay
from services.producer.simulator.market import PING_FRAME, Market, TapeTrade, error_frame, trade_frame
from services.producer.simulator.sessions import ClientSession
from services.producer.simulator.settings import SimulatorSettings
from services.producer.symbols import is_valid_symbol

logger = logging.getLogger("simulator")

GARBAGE_FRAMES = (
    b"this is not JSON",
    b'{"type":"trade","data":[{"s":"AAPL","p":1',
    b'{"type":"trade","data":"not a list"}',
    b'{"type":"news","headline":"?"}',
)
"""What the garbage fault sends, in turn: each is a frame the producer must dead-letter."""


class SimulatorLoopFailed(RuntimeError):
    """One of the server's loops (market, replay, ping) ended with an error; the server stopped."""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class SimulatorServer:
    """A Finnhub stand-in for one process; the trade sequence is global to the process (see market.py)."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.market = Market(settings.simulator_seed)
        self.sessions: dict[int, ClientSession] = {}
        self.port = 0
        self.counts: Counter[str] = Counter()  # trades, trade_frames, pings, garbage, repeats, drops, errors
        self.per_symbol: Counter[str] = Counter()  # trades sent, per symbol (= each tape's position)
        self.replay_done = False
        self._next_session_id = 1
        self._garbage_turn = 0
        self._timing = random.Random(f"{settings.simulator_seed}:timing")
        self._burst_until = 0.0
        self._sent_log = FrameRecorder(settings.simulator_sent_log) if settings.simulator_sent_log else None
        self._recording = (
            replay.load_replay(settings.simulator_replay_file) if settings.simulator_replay_file else None
        )
        self.replay_started_at: float | None = None  # epoch seconds of the first replayed frame
        self._loop_failure: SimulatorLoopFailed | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------
    async def serve(self, stop: asyncio.Event, ready: Callable[[int], None] | None = None) -> None:
        """Listen until `stop` is set; `ready(port)` is called once the socket is bound."""
        settings = self.settings
        async with serve(
            self._handle_client,
            settings.simulator_host,
            settings.simulator_port,
            process_request=self._process_request,
            compression=None,  # speed at high rates; Finnhub's frames are small anyway
            ping_interval=None,  # Finnhub's keep-alive is its JSON ping, sent by _ping_loop
            close_timeout=1,  # on shutdown, do not wait long for clients that do not read
            max_size=2**16,
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            source = "replay" if self._recording is not None else "market"
            log_event(
                logger,
                "simulator_listening",
                host=settings.simulator_host,
                port=self.port,
                source=source,
                rate=settings.simulator_rate,
                seed=settings.simulator_seed,
                auth_required=settings.token is not None,
            )
            loops = [
                asyncio.create_task(
                    self._replay_loop() if self._recording is not None else self._market_loop(),
                    name=source,
                ),
                asyncio.create_task(self._ping_loop(), name="ping"),
            ]
            for task in loops:
                task.add_done_callback(lambda task: self._loop_ended(task, stop))
            if ready is not None:
                ready(self.port)
            try:
                await stop.wait()
            finally:
                for task in loops:
                    task.cancel()
                await asyncio.gather(*loops, return_exceptions=True)
                if self._sent_log is not None:
                    self._sent_log.close()
        log_event(logger, "simulator_stopped", **self.counts)
        if self._loop_failure is not None:
            raise self._loop_failure

    def _loop_ended(self, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        """A loop that fails stops the server (its process exits 1 and its supervisor restarts it): a
        simulator whose market loop died would still answer health checks and pings, and send no trade."""
        error = None if task.cancelled() else task.exception()
        if error is None:
            return  # cancelled at shutdown, or a replay that has sent everything
        log_event(logger, "simulator_loop_failed", logging.ERROR, loop=task.get_name(), error=repr(error))
        self._loop_failure = SimulatorLoopFailed(f"the {task.get_name()} loop failed: {error!r}")
        stop.set()

    # --- clients -----------------------------------------------------------------------------------------
    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if url.path.startswith("/control/"):
            return await control.handle(
                self, connection, url.path.removeprefix("/control/"), parse_qs(url.query)
            )
        expected = self.settings.token
        given = parse_qs(url.query).get("token", [""])[0]
        if expected is not None and not hmac.compare_digest(given.encode(), expected.encode()):
            log_event(logger, "handshake_rejected", logging.WARNING, status=401, credential_given=bool(given))
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        return None

    async def _handle_client(self, ws: ServerConnection) -> None:
        session = ClientSession(self._next_session_id, ws, asyncio.get_running_loop().time())
        self._next_session_id += 1
        self.sessions[session.id] = session
        log_event(logger, "client_connected", conn=session.id)
        try:
            async for message in ws:
                await self._on_client_message(session, message)
        except ConnectionClosed:
            pass  # the client went away or was dropped: logged below with its counters
        finally:
            del self.sessions[session.id]
            log_event(
                logger,
                "client_disconnected",
                conn=session.id,
                trade_frames=session.trade_frames_sent,
                dropped=session.dropped,
            )

    async def _on_client_message(self, session: ClientSession, message: str | bytes) -> None:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            log_event(logger, "client_message_ignored", logging.WARNING, conn=session.id, why="not JSON")
            return
        kind = request.get("type") if isinstance(request, dict) else None
        symbol = request.get("symbol") if isinstance(request, dict) else None
        if kind not in ("subscribe", "unsubscribe"):
            log_event(logger, "client_message_ignored", logging.WARNING, conn=session.id, type=kind)
        elif not isinstance(symbol, str) or not is_valid_symbol(symbol):
            await self.send_error(session, "Invalid symbol")
        elif kind == "unsubscribe":
            session.subscriptions.discard(symbol)
        elif symbol not in session.subscriptions:
            if len(session.subscriptions) >= self.settings.simulator_symbol_limit:
                await self.send_error(session, "Subscribing to too many symbols")
            else:
                session.subscriptions.add(symbol)
                log_event(logger, "client_subscribed", logging.DEBUG, conn=session.id, symbol=symbol)

    # --- sending -----------------------------------------------------------------------------------------
    async def send(self, session: ClientSession, frame: bytes, fault: str | None = None) -> bool:
        """Send one text frame; False when the client is gone (nothing was sent)."""
        if session.dropped:
            return False
        try:
            await session.ws.send(frame, text=True)
        except ConnectionClosed:
            return False
        if self._sent_log is not None:
            self._sent_log.record(wall_ms(), frame, conn=session.id, fault=fault)
        return True

    async def send_error(self, session: ClientSession, message: str) -> None:
        if await self.send(session, error_frame(message)):
            self.counts["errors"] += 1
            log_event(logger, "client_error_sent", conn=session.id, message=message)

    async def send_garbage(self, session: ClientSession) -> bool:
        frame = GARBAGE_FRAMES[self._garbage_turn % len(GARBAGE_FRAMES)]
        self._garbage_turn += 1
        sent = await self.send(session, frame, fault="garbage")
        self.counts["garbage"] += sent
        return sent

    async def send_repeat(self, session: ClientSession) -> bool:
        if session.last_trade_frame is None:
            return False
        sent = await self.send(session, session.last_trade_frame, fault="repeat")
        self.counts["repeats"] += sent
        return sent

    def drop(self, session: ClientSession, cause: str) -> bool:
        if not session.drop():
            return False
        self.counts["drops"] += 1
        log_event(logger, "client_dropped", conn=session.id, cause=cause)
        return True

    def silence(self, session: ClientSession, seconds: float, cause: str) -> None:
        session.silenced_until = asyncio.get_running_loop().time() + seconds
        log_event(logger, "client_silenced", conn=session.id, seconds=seconds, cause=cause)

    @property
    def finished(self) -> bool:
        """True once a finite run (SIMULATOR_MAX_TRADES) or a replay has sent everything."""
        if self._recording is not None:
            return self.replay_done
        limit = self.settings.simulator_max_trades
        return bool(limit) and self.counts["trades"] >= limit

    # --- the market --------------------------------------------------------------------------------------
    async def _market_loop(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.settings
        last, carry = loop.time(), 0.0
        while True:
            await asyncio.sleep(settings.simulator_tick_seconds)
            now = loop.time()
            elapsed, last = now - last, now
            await self._apply_timed_faults(now)
            targets = [s for s in self.sessions.values() if s.subscriptions and s.can_receive(now)]
            symbols = set().union(*(s.subscriptions for s in targets))
            rate = self._rate(now)
            if not symbols or rate == 0:
                carry = 0.0  # no backlog builds up while nobody listens
                continue
            # Catch up at most two ticks: past that the rate is more than this process can send, and a
            # huge batch would stall pings, control requests and every other client.
            carry = min(carry + rate * elapsed, rate * 2 * settings.simulator_tick_seconds + 1)
            budget = int(carry)
            if settings.simulator_max_trades:
                budget = min(budget, settings.simulator_max_trades - self.counts["trades"])
            if budget <= 0:
                continue
            carry -= budget
            await self._deliver(self.market.take(sorted(symbols), budget), targets)

    def _rate(self, now: float) -> float:
        settings = self.settings
        if (
            now >= self._burst_until
            and self._timing.random() < settings.simulator_burst_probability * settings.simulator_tick_seconds
        ):
            self._burst_until = now + settings.simulator_burst_seconds
        return settings.simulator_rate * (
            settings.simulator_burst_multiplier if now < self._burst_until else 1
        )

    async def _deliver(self, trades: list[TapeTrade], targets: list[ClientSession]) -> None:
        """Send `trades` to their subscribers; give back to the tapes those no client received."""
        delivered = [False] * len(trades)
        per_frame = self.settings.simulator_max_trades_per_frame
        now_ms = wall_ms()
        for session in targets:
            mine = [i for i, trade in enumerate(trades) if trade.symbol in session.subscriptions]
            for start in range(0, len(mine), per_frame):
                chunk = mine[start : start + per_frame]
                frame = trade_frame([trades[i] for i in chunk], session.next_trade_ts_ms(now_ms))
                if not await self.send(session, frame):
                    break
                for i in chunk:
                    delivered[i] = True
                session.trade_frames_sent += 1
                session.last_trade_frame = frame
                self.counts["trade_frames"] += 1
                await self._apply_frame_faults(session)
        for trade, sent in zip(trades, delivered, strict=True):
            if sent:
                self.per_symbol[trade.symbol] += 1
        self.counts["trades"] += sum(delivered)
        self.market.give_back([trade for trade, sent in zip(trades, delivered, strict=True) if not sent])

    async def _apply_frame_faults(self, session: ClientSession) -> None:
        settings, n = self.settings, session.trade_frames_sent
        if settings.simulator_repeat_every_frames and n % settings.simulator_repeat_every_frames == 0:
            await self.send_repeat(session)
        if settings.simulator_garbage_every_frames and n % settings.simulator_garbage_every_frames == 0:
            await self.send_garbage(session)
        if settings.simulator_drop_every_frames and n % settings.simulator_drop_every_frames == 0:
            self.drop(session, f"every {settings.simulator_drop_every_frames} frames")

    async def _apply_timed_faults(self, now: float) -> None:
        settings = self.settings
        for session in list(self.sessions.values()):
            age = now - session.opened_at
            if settings.simulator_drop_after_seconds and age >= settings.simulator_drop_after_seconds:
                self.drop(session, f"after {settings.simulator_drop_after_seconds}s")
            after = settings.simulator_silence_after_seconds
            if after and not session.silence_started and age >= after:
                session.silence_started = True
                self.silence(session, settings.simulator_silence_seconds, f"after {after}s")

    async def _ping_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.simulator_ping_seconds)
            for session in list(self.sessions.values()):
                if session.can_receive(loop.time()) and await self.send(session, PING_FRAME):
                    self.counts["pings"] += 1

    # --- replay ------------------------------------------------------------------------------------------
    async def _replay_loop(self) -> None:
        assert self._recording is not None
        loop = asyncio.get_running_loop()
        settings = self.settings
        offset_ms = 0
        previous_t_ms: int | None = None
        for recorded in self._recording:
            if settings.simulator_replay_speed and previous_t_ms is not None:
                await asyncio.sleep(
                    max(0.0, (recorded.t_ms - previous_t_ms) / 1000 / settings.simulator_replay_speed)
                )
            while not any(s.subscriptions and s.can_receive(loop.time()) for s in self.sessions.values()):
                await asyncio.sleep(settings.simulator_tick_seconds)  # paused while nobody listens
            if previous_t_ms is None:
                self.replay_started_at = time.time()
                if settings.simulator_replay_retime:
                    offset_ms = wall_ms() - recorded.t_ms
            previous_t_ms = recorded.t_ms
            await self._replay_frame(recorded, replay.retime(recorded.frame, offset_ms), loop.time())
        self.replay_done = True
        log_event(logger, "replay_finished", frames=len(self._recording), trades=self.counts["trades"])

    async def _replay_frame(self, recorded: replay.ReplayFrame, frame: bytes, now: float) -> None:
        """Send `frame` (the recorded one, retimed) to the clients subscribed to one of its symbols."""
        symbols = recorded.symbols
        sent_any = False
        for session in list(self.sessions.values()):
            if session.can_receive(now) and (
                symbols is None or not symbols.isdisjoint(session.subscriptions)
            ):
                sent_any |= await self.send(session, frame)
        if sent_any and symbols is not None:
            counts = recorded.trades_per_symbol
            self.per_symbol.update(counts)
            self.counts["trades"] += counts.total()
            self.counts["trade_frames"] += 1

    def stats(self) -> dict[str, Any]:
        """What the simulator has sent so far (GET /control/stats)."""
        now = asyncio.get_running_loop().time()
        return {
            "port": self.port,
            "seed": self.settings.simulator_seed,
            "finished": self.finished,
            "replay_started_at": self.replay_started_at,
            "trades_sent": self.counts["trades"],
            "counts": dict(self.counts),
            "per_symbol": dict(self.per_symbol),
            "connections": [
                {
                    "id": s.id,
                    "subscriptions": sorted(s.subscriptions),
                    "trade_frames_sent": s.trade_frames_sent,
                    "silent": s.is_silent(now),
                    "dropped": s.dropped,
                }
                for s in self.sessions.values()
            ],
        }
