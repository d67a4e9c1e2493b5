"""`python -m stack.cqlsh_tls [cqlsh arguments]`: cqlsh that verifies the node's certificate and host name.

cqlsh 6.2.2 asks the driver for `ssl_version=PROTOCOL_TLS`, and the driver then builds a context that checks
nothing, whatever `[ssl] validate` says: it connected with an unrelated CA. This wraps cqlsh's TLS options so
a validating configuration really validates (PROTOCOL_TLS_CLIENT: certificate required, host name checked).
`make cql` runs it with ENABLE_SSL=true.
"""

from __future__ import annotations

import ssl
import sys
from typing import Any

from cqlshlib import sslhandling

_cqlsh_ssl_settings = sslhandling.ssl_settings


def verifying_ssl_settings(host: str, config_file: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = _cqlsh_ssl_settings(host, config_file, *args, **kwargs)
    if options.get("cert_reqs") == ssl.CERT_REQUIRED:
        options["ssl_version"] = ssl.PROTOCOL_TLS_CLIENT
        options["check_hostname"] = True
    return options


def main() -> int:
    sslhandling.ssl_settings = verifying_ssl_settings
    from cqlshlib.__main__ import main as cqlsh_main

    return int(cqlsh_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
