"""Smoke-world network guard, loaded by every Python process the test run starts (PYTHONPATH).

Only loopback is allowed. Any other connection, UDP datagram, packet socket, and any name lookup other
than localhost / this machine's own name fails at once with a clear message and is appended to
$COURSE_NETGUARD_LOG (the test session fails when that log is not empty).

What it covers: `socket.socket` (connect, connect_ex, sendto, sendmsg), the raw `_socket.socket` class
(replaced by a guarded subclass, so `importlib.reload(socket)` rebuilds `socket.socket` on top of the guard),
and the resolver functions (`getaddrinfo`, `gethostbyname`, `gethostbyname_ex`, `gethostbyaddr`,
`getnameinfo`, `getfqdn`), patched in both `_socket` and `socket`.

What it cannot cover: `python -I` / `python -S` (no sitecustomize), C code and ctypes calling libc, and
other programs (`curl`, `git`). That is why `.ci/run` runs the tests inside an operating-system network
namespace with only loopback (`unshare -n`); this guard stays for the clear message.
"""

import ipaddress
import os
import socket

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_LOCAL_ANY = {"0.0.0.0", "::", ""}
_INET = (socket.AF_INET, socket.AF_INET6)


class NetworkBlockedError(ConnectionRefusedError):
    """Raised for a non-loopback connection or name lookup inside the smoke world."""


def _clean(host) -> str:
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode(errors="replace")
    return str(host).strip("[]").split("%")[0].lower()


def is_loopback(host) -> bool:
    """A loopback (or wildcard) address or name. Used for connections and datagrams."""
    if host is None:
        return True
    host = _clean(host)
    if host in _LOOPBACK_NAMES or host in _LOCAL_ANY:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_literal(host) -> bool:
    try:
        ipaddress.ip_address(_clean(host))
        return True
    except ValueError:
        return False


def _own_names() -> set:
    try:
        name = _original["gethostname"]().lower()
    except (OSError, KeyError):
        return set()
    return {name, name.split(".")[0]}


def _lookup_allowed(host) -> bool:
    """A name lookup that needs no DNS server: loopback names, this machine's own name, address literals."""
    return host is None or is_loopback(host) or _is_literal(host) or _clean(host) in _own_names()


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


def _check_address(sock, address, what="connection") -> None:
    if sock.family in _INET and isinstance(address, tuple) and address and not is_loopback(address[0]):
        port = address[1] if len(address) > 1 else "?"
        raise _blocked(f"{what} to {address[0]}:{port}")


def _check_family(family) -> None:
    packet = getattr(socket, "AF_PACKET", None)
    if packet is not None and family == packet:
        raise _blocked("packet socket (AF_PACKET)")


_original: dict = {}


def _guarded_resolvers(raw):
    """Guarded versions of the resolver functions of module `raw` (_socket)."""
    getaddrinfo, gethostbyname = raw.getaddrinfo, raw.gethostbyname
    gethostbyname_ex, gethostbyaddr, getnameinfo = raw.gethostbyname_ex, raw.gethostbyaddr, raw.getnameinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not _lookup_allowed(host):
            raise _blocked(f"name lookup of {host!r}")
        return getaddrinfo(host, *args, **kwargs)

    def guarded_gethostbyname(host):
        if not _lookup_allowed(host):
            raise _blocked(f"name lookup of {host!r}")
        return gethostbyname(host)

    def guarded_gethostbyname_ex(host):
        if not _lookup_allowed(host):
            raise _blocked(f"name lookup of {host!r}")
        return gethostbyname_ex(host)

    def guarded_gethostbyaddr(host):
        if not (is_loopback(host) or _clean(host) in _own_names()):  # an address literal means reverse DNS
            raise _blocked(f"reverse lookup of {host!r}")
        return gethostbyaddr(host)

    def guarded_getnameinfo(sockaddr, flags):
        host = sockaddr[0] if isinstance(sockaddr, tuple) and sockaddr else None
        if not (is_loopback(host) or flags & socket.NI_NUMERICHOST):
            raise _blocked(f"reverse lookup of {host!r}")
        return getnameinfo(sockaddr, flags)

    return {"getaddrinfo": guarded_getaddrinfo, "gethostbyname": guarded_gethostbyname,
            "gethostbyname_ex": guarded_gethostbyname_ex, "gethostbyaddr": guarded_gethostbyaddr,
            "getnameinfo": guarded_getnameinfo}


def _guarded_socket_methods(base):
    """connect/connect_ex/sendto/sendmsg of class `base` wrapped with the loopback check."""
    connect, connect_ex, sendto = base.connect, base.connect_ex, base.sendto
    sendmsg = getattr(base, "sendmsg", None)

    def guarded_connect(self, address):
        _check_address(self, address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        _check_address(self, address)
        return connect_ex(self, address)

    def guarded_sendto(self, data, *args):
        if args:
            _check_address(self, args[-1], "datagram")
        return sendto(self, data, *args)

    methods = {"connect": guarded_connect, "connect_ex": guarded_connect_ex, "sendto": guarded_sendto}
    if sendmsg is not None:
        def guarded_sendmsg(self, buffers, *args):
            if len(args) >= 3:
                _check_address(self, args[2], "datagram")
            return sendmsg(self, buffers, *args)

        methods["sendmsg"] = guarded_sendmsg
    return methods


def install() -> None:
    """Install the guard (idempotent; also repairs a `socket` module that was reloaded)."""
    import _socket

    if not getattr(_socket, "_course_netguard", False):
        _original["gethostname"] = _socket.gethostname
        raw_class = _socket.socket
        methods = _guarded_socket_methods(raw_class)
        raw_init = raw_class.__init__

        def guarded_init(self, family=-1, *args, **kwargs):
            _check_family(family)
            raw_init(self, family, *args, **kwargs)

        # socket.socket.__init__ calls `_socket.socket.__init__` by name, so this also guards socket.socket
        guarded_raw = type("socket", (raw_class,), {**methods, "__init__": guarded_init, "__slots__": (),
                                                    "__module__": "_socket", "__doc__": raw_class.__doc__})
        _socket.socket = guarded_raw  # SocketType stays the C class, so isinstance checks keep working
        for name, function in _guarded_resolvers(_socket).items():
            setattr(_socket, name, function)
        _socket._course_netguard = True
    # the `socket` module copied the raw functions at import (`from _socket import *`): point it at the
    # guarded ones; its own class already inherits from the C class, so wrap its methods as well
    for name in ("gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo"):
        setattr(socket, name, getattr(_socket, name))
    if not getattr(socket.socket, "_course_netguard", False):
        if not issubclass(socket.socket, _socket.socket):  # not rebuilt on the guard by a reload
            for name, method in _guarded_socket_methods(socket.socket).items():
                setattr(socket.socket, name, method)
        socket.socket._course_netguard = True
    if not getattr(socket.getfqdn, "_course_netguard", False):
        getfqdn = socket.getfqdn

        def guarded_getfqdn(name=""):
            if name and not _lookup_allowed(name.strip()):  # getfqdn swallows errors: say it here
                raise _blocked(f"name lookup of {name!r}")
            return getfqdn(name)

        guarded_getfqdn._course_netguard = True
        socket.getfqdn = guarded_getfqdn
    socket._course_netguard = True


if os.environ.get("COURSE_NETGUARD", "1") == "1":
    install()
