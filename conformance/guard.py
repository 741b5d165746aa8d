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
