"""Smoke-world network guard, loaded by every Python process the test run starts (PYTHONPATH).

Only loopback connections are allowed. Any other connection, and any name lookup other than
localhost, fails at once with a clear message and is appended to $COURSE_NETGUARD_LOG.
"""

import ipaddress
import os
import socket

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_LOCAL_ANY = {"0.0.0.0", "::", ""}


class NetworkBlockedError(ConnectionRefusedError):
    """Raised for a non-loopback connection inside the smoke world."""


def is_loopback(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]").split("%")[0].lower()
    if host in _LOOPBACK_NAMES or host in _LOCAL_ANY:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _blocked(what: str) -> NetworkBlockedError:
    message = f"smoke world: {what} blocked (only loopback is allowed in tests; no internet here)"
    log = os.environ.get("COURSE_NETGUARD_LOG")
    if log:
        try:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()}\t{what}\n")
        except OSError:
            pass
    return NetworkBlockedError(message)


def _check(sock, address) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        if not is_loopback(address[0]):
            raise _blocked(f"connection to {address[0]}:{address[1]}")


def install() -> None:
    if getattr(socket, "_course_netguard", False):
        return
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        _check(self, address)
        return original_connect(self, address)

    def connect_ex(self, address):
        _check(self, address)
        return original_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if is_loopback(host):
            return original_getaddrinfo(host, *args, **kwargs)
        try:
            ipaddress.ip_address(str(host).strip("[]").split("%")[0])
        except ValueError:
            raise _blocked(f"name lookup of {host!r}") from None
        return original_getaddrinfo(host, *args, **kwargs)  # a literal address: connect() decides

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo = getaddrinfo
    socket._course_netguard = True


if os.environ.get("COURSE_NETGUARD", "1") == "1":
    install()
