"""The simulator's HTTP control endpoint, served on the WebSocket port: tests force faults at a chosen moment.

`GET /control/<action>[?conn=<id>]` acts on every client (or one) and answers JSON naming the clients it
touched: drop, silence (`seconds=`), resume, garbage, repeat, send (`frame=`: any text, sent as one frame
as it is); `GET /control/stats` reports what was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Protocol

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Response

from services.producer.simulator.sessions import ClientSession
from services.producer.simulator.settings import SimulatorSettings


class ControlledServer(Protocol):
    """What the control endpoint asks of the simulator's server (server.py serves this module, not the
    other way round)."""

    settings: SimulatorSettings

    @property
    def sessions(self) -> Mapping[Any, ClientSession]: ...
    def stats(self) -> dict[str, Any]: ...
    def drop(self, session: ClientSession, cause: str) -> bool: ...
    def silence(self, session: ClientSession, seconds: float, cause: str) -> None: ...
    async def send(self, session: ClientSession, frame: bytes, fault: str | None = None) -> bool: ...
    async def send_garbage(self, session: ClientSession) -> bool: ...
    async def send_repeat(self, session: ClientSession) -> bool: ...


ACTIONS = ("drop", "silence", "resume", "garbage", "repeat", "send", "stats")


def json_response(status: HTTPStatus, body: object) -> Response:
    payload = orjson.dumps(body) + b"\n"
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return Response(status.value, status.phrase, headers, payload)


async def handle(
    server: ControlledServer, connection: ServerConnection, action: str, query: dict[str, list[str]]
) -> Response:
    """Run one control action; 400 for a bad parameter, 404 for an unknown action or client."""
    if action == "stats":
        return json_response(HTTPStatus.OK, server.stats())
    if action not in ACTIONS:
        return json_response(
            HTTPStatus.NOT_FOUND, {"error": f"unknown action {action!r}", "actions": ACTIONS}
        )
    try:
        wanted = int(query["conn"][0]) if "conn" in query else None
        seconds = float(query.get("seconds", [server.settings.simulator_silence_seconds])[0])
    except ValueError:
        return json_response(HTTPStatus.BAD_REQUEST, {"error": "conn must be an integer, seconds a number"})
    if action == "send" and "frame" not in query:
        return json_response(HTTPStatus.BAD_REQUEST, {"error": "send needs frame=<the frame's text>"})
    sessions = [s for s in list(server.sessions.values()) if wanted is None or s.id == wanted]
    if wanted is not None and not sessions:
        return json_response(HTTPStatus.NOT_FOUND, {"error": f"no client {wanted}"})
    touched: list[int] = []
    for session in sessions:
        if action == "drop":
            done = server.drop(session, "control")
        elif action == "silence":
            server.silence(session, seconds, "control")
            done = True
        elif action == "resume":
            session.silenced_until = 0.0
            done = True
        elif action == "garbage":
            done = await server.send_garbage(session)
        elif action == "send":
            done = await server.send(session, query["frame"][0].encode(), fault="injected")
        else:
            done = await server.send_repeat(session)
        if done:
            touched.append(session.id)
    return json_response(HTTPStatus.OK, {"action": action, "connections": touched})
