#!/usr/bin/env python3
"""docker-compose's Cassandra healthcheck: a CQL OPTIONS request over TLS, the node's certificate verified
against the pipeline's CA. OPTIONS needs no login, so the check passes before security-init has created any
role; it fails while the native transport is down or speaks no TLS. Exit status 0 when the node answers."""

from __future__ import annotations

import socket
import ssl
import sys

CA = "/run/secrets/tls/ca.crt"
ADDRESS = ("127.0.0.1", 9042)
# Protocol v4 frame header: version (request), flags, stream id (2 bytes), opcode OPTIONS, body length 0.
OPTIONS = bytes([0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00])
RESPONSE_V4, SUPPORTED = 0x84, 0x06


def answers() -> bool:
    context = ssl.create_default_context(cafile=CA)
    with (
        socket.create_connection(ADDRESS, timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=ADDRESS[0]) as tls,
    ):
        tls.sendall(OPTIONS)
        header = b""
        while len(header) < len(OPTIONS):
            chunk = tls.recv(len(OPTIONS) - len(header))
            if not chunk:
                break
            header += chunk
    return len(header) == len(OPTIONS) and header[0] == RESPONSE_V4 and header[4] == SUPPORTED


if __name__ == "__main__":
    try:
        sys.exit(0 if answers() else 1)
    except OSError as error:
        print(f"cassandra not ready: {error}", file=sys.stderr)
        sys.exit(1)
