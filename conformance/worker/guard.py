"""No network during a run: any outbound connection attempt raises.

Installed in every conversion worker (and by the project's tests) when
``CONFORMANCE_NO_NETWORK=1``.  Unix sockets and loopback addresses stay usable.
"""
from __future__ import annotations

import ipaddress
import os
import socket

_installed = False


class NetworkAccessDenied(ConnectionRefusedError):
    pass


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else ""
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def install() -> None:
    global _installed
    if _installed:
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        if not _is_local(address):
            raise NetworkAccessDenied(f"conformance run: network access to {address!r} is not allowed")
        return real_connect(self, address)

    def connect_ex(self, address):
        if not _is_local(address):
            raise NetworkAccessDenied(f"conformance run: network access to {address!r} is not allowed")
        return real_connect_ex(self, address)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    _installed = True


def install_from_env() -> None:
    if os.environ.get("CONFORMANCE_NO_NETWORK", "1") == "1":
        install()


def command(module: str, *args: str) -> list[str]:
    """``[python, -m, conformance.worker.guard, module, *args]``: run a Python module in a subprocess with
    the guard installed there too (converters' own command lines, e.g. ``tf2onnx.convert``)."""
    import sys

    return [sys.executable, "-m", "conformance.worker.guard", module, *args]


def main(argv: list[str] | None = None) -> int:
    """``python -m conformance.worker.guard MODULE [ARGS...]``: MODULE as ``__main__``, guarded per the environment."""
    import runpy
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].startswith("-"):
        print("usage: python -m conformance.worker.guard MODULE [ARGS...]", file=sys.stderr)
        return 2
    install_from_env()
    sys.argv = argv
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
