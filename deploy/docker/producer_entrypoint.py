"""Container entrypoint of the producer: works out this replica's index and API key, then runs the producer.

Finnhub allows one WebSocket per API key, so every replica needs its own key and its own
PRODUCER_REPLICA_INDEX (services/producer/README.md, "Sharding"). Neither `docker compose --scale` nor a
Kubernetes StatefulSet can put a different value in each replica's environment, so this script derives them:

- PRODUCER_REPLICA_INDEX, when set, wins (Kubernetes sets it from the pod-index label).
- Otherwise the index is the ordinal at the end of the container's name, whatever PRODUCER_REPLICA_COUNT
  says: compose names replicas `<project>-finnhub-producer-<n>` (n from 1) and Docker's DNS answers a
  reverse lookup of the container's address with that name; a StatefulSet pod's hostname ends in `-<n>`
  (n from 0). So `docker compose up --scale finnhub-producer=3` with PRODUCER_REPLICA_COUNT unset (1) runs
  replica 0 with every symbol and stops replicas 2 and 3 with one line each, instead of three replicas
  sending every trade three times; with PRODUCER_REPLICA_COUNT=3 the three share the symbols. Only a lone
  replica whose name has no ordinal (`docker run`) is index 0.
- FINNHUB_API_KEYS (comma-separated, one key per replica, in index order) gives replica i its key i.
  A single FINNHUB_API_KEY is refused when more than one replica runs: the replicas would fight over it.
- Without any key the producer reads the simulator: FINNHUB_SIMULATOR_URL becomes FINNHUB_WS_URL, whatever
  FINNHUB_WS_URL says (`.env.example`'s wss://ws.finnhub.io is the endpoint for a key, never for no key).

A problem stops the container with one line on stderr and exit status 2, like the producer's own settings
check; no key is ever printed.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Callable, Mapping

ENTRYPOINT_VARIABLES = ("FINNHUB_API_KEYS", "FINNHUB_SIMULATOR_URL")
"""Read by this script only; everything else in the environment is the producer's own settings."""

_ORDINAL = re.compile(r"-(\d+)$")


class ReplicaConfigError(Exception):
    """The replica's index or key cannot be decided; the message names the variable, never a key."""


def ordinal_from_name(name: str, first: int) -> int:
    """The replica index in a container or pod name: `proj-finnhub-producer-3.proj_default` -> 2 (first=1)."""
    short = name.split(".", 1)[0]
    match = _ORDINAL.search(short)
    if match is None:
        raise ReplicaConfigError(f"cannot read a replica ordinal from the name {short!r}")
    index = int(match.group(1)) - first
    if index < 0:
        raise ReplicaConfigError(f"replica ordinal of {short!r} is below {first}")
    return index


def compose_container_name() -> str:
    """This container's compose name, from Docker's DNS (reverse lookup of the container's own address)."""
    address = socket.gethostbyname(socket.gethostname())
    return socket.gethostbyaddr(address)[0]


def replica_environment(
    env: Mapping[str, str], container_name: Callable[[], str] = compose_container_name
) -> dict[str, str]:
    """The producer's environment for this replica: index, count, key and endpoint resolved."""
    resolved = {name: value for name, value in env.items() if name not in ENTRYPOINT_VARIABLES}
    count = int(env.get("PRODUCER_REPLICA_COUNT") or "1")
    if env.get("PRODUCER_REPLICA_INDEX"):
        index = int(env["PRODUCER_REPLICA_INDEX"])
    elif env.get("KUBERNETES_SERVICE_HOST"):
        index = _ordinal_or_lone(lambda: env.get("HOSTNAME") or socket.gethostname(), 0, count)
    else:
        index = _ordinal_or_lone(container_name, 1, count)
    if not 0 <= index < count:
        raise ReplicaConfigError(
            f"replica index {index} is outside PRODUCER_REPLICA_COUNT={count}: scale to at most {count}"
            f" replica(s), or set PRODUCER_REPLICA_COUNT to the number of replicas (and give every replica"
            " a key in FINNHUB_API_KEYS)"
        )
    resolved["PRODUCER_REPLICA_INDEX"] = str(index)
    resolved["PRODUCER_REPLICA_COUNT"] = str(count)

    keys = [key.strip() for key in env.get("FINNHUB_API_KEYS", "").split(",") if key.strip()]
    if keys:
        if len(keys) != count:
            raise ReplicaConfigError(
                f"FINNHUB_API_KEYS holds {len(keys)} keys for PRODUCER_REPLICA_COUNT={count}: one per replica"
            )
        resolved["FINNHUB_API_KEY"] = keys[index]
    elif env.get("FINNHUB_API_KEY") and count > 1:
        raise ReplicaConfigError(
            "FINNHUB_API_KEY is one key for several replicas; Finnhub allows one connection per key:"
            " set FINNHUB_API_KEYS to one key per replica"
        )
    if not resolved.get("FINNHUB_API_KEY"):
        resolved.pop("FINNHUB_API_KEY", None)
        if env.get("FINNHUB_SIMULATOR_URL"):
            resolved["FINNHUB_WS_URL"] = env["FINNHUB_SIMULATOR_URL"]
    return resolved


def _ordinal_or_lone(name: Callable[[], str], first: int, count: int) -> int:
    """The replica ordinal in this container's or pod's name; 0 for a lone replica whose name has none (a
    plain `docker run`), a refusal for one of several."""
    try:
        return ordinal_from_name(name(), first)
    except (ReplicaConfigError, OSError) as error:
        if count == 1:
            return 0
        raise ReplicaConfigError(
            f"PRODUCER_REPLICA_INDEX is not set and {error}: with PRODUCER_REPLICA_COUNT={count} a replica"
            " must know its index (set PRODUCER_REPLICA_INDEX)"
        ) from None


def main() -> None:
    try:
        env = replica_environment(os.environ)
    except (ReplicaConfigError, ValueError, OSError) as error:
        sys.stderr.write(f"producer-entrypoint: {error}\n")
        raise SystemExit(2) from None
    command = sys.argv[1:] or [sys.executable, "-m", "services.producer"]
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    main()
