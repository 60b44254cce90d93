"""The smoke world's network isolation: the in-process guard (tests/world/site/sitecustomize.py) and the
operating-system network namespace that .ci/run starts (`unshare -n`, loopback only).

Every probe runs in a child process that loads the guard the way each kernel does (PYTHONPATH), with a
private log, so deliberate attempts stay out of the session's report (which fails the run on any attempt).
Addresses are from TEST-NET ranges (RFC 5737), names from RFC 2606: nothing real is ever contacted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

OUTSIDE = "203.0.113.7"  # TEST-NET-3

GUARD_PROBE = """
import socket, sys
try:
    socket.create_connection(("203.0.113.7", 80), timeout=5)
    print("OUTSIDE-REACHED")
except ConnectionRefusedError as err:
    print("BLOCKED:", err)
try:
    socket.getaddrinfo("huggingface.co", 443)
    print("DNS-RESOLVED")
except OSError as err:
    print("DNS-BLOCKED:", err)
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n"); print("LOOPBACK:", s.recv(64)[:12])
"""

# each line of CALLS is one attempt; the probe prints "<name>: BLOCKED <message>" or "<name>: PASSED <value>"
PROBE_TEMPLATE = """
import importlib, socket, sys
{setup}
CALLS = {calls!r}
for name, expr in CALLS:
    try:
        value = eval(expr)
        print(name + ": PASSED", repr(value)[:60])
    except OSError as err:
        print(name + ": BLOCKED" if "smoke world" in str(err) else name + ": OSERROR", err)
"""

DNS_CALLS = [
    ("gethostbyname", "socket.gethostbyname('example.com')"),
    ("gethostbyname_ex", "socket.gethostbyname_ex('example.org')"),
    ("gethostbyaddr", f"socket.gethostbyaddr('{OUTSIDE}')"),
    ("getfqdn", "socket.getfqdn('example.net')"),
    ("getnameinfo", f"socket.getnameinfo(('{OUTSIDE}', 80), 0)"),
    ("getaddrinfo", "socket.getaddrinfo('example.com', 443)"),
    ("raw-gethostbyname", "__import__('_socket').gethostbyname('example.com')"),
    ("raw-getaddrinfo", "__import__('_socket').getaddrinfo('example.com', 443)"),
]
LOCAL_CALLS = [
    ("localhost", "socket.gethostbyname('localhost')"),
    ("literal", f"socket.getaddrinfo('{OUTSIDE}', 80)[0][4][0]"),
    ("own-fqdn", "socket.getfqdn()"),
    ("numeric-nameinfo", f"socket.getnameinfo(('{OUTSIDE}', 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)"),
]
UDP_CALLS = [
    ("udp-sendto", f"socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('{OUTSIDE}', 53))"),
    ("udp-sendto-flags", f"socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', 0, ('{OUTSIDE}', 53))"),
    ("udp-sendmsg", f"socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendmsg([b'x'], [], 0, ('{OUTSIDE}', 53))"),
    ("udp6-sendto", "socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b'x', ('2001:db8::1', 53))"),
    ("udp-connect", f"socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(('{OUTSIDE}', 53))"),
]
RAW_CALLS = [
    ("raw-connect", f"__import__('_socket').socket().connect(('{OUTSIDE}', 80))"),
    ("raw-connect_ex", f"__import__('_socket').socket().connect_ex(('{OUTSIDE}', 80))"),
    ("raw-sendto", f"__import__('_socket').socket(2, 2).sendto(b'x', ('{OUTSIDE}', 53))"),
    ("packet-socket", "socket.socket(socket.AF_PACKET, socket.SOCK_RAW)"),
]
AFTER_RELOAD = [
    ("reload-connect", f"socket.create_connection(('{OUTSIDE}', 80), timeout=5)"),
    ("reload-gethostbyname", "socket.gethostbyname('example.com')"),
    ("reload-getaddrinfo", "socket.getaddrinfo('example.com', 443)"),
    ("reload-sendto", f"socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('{OUTSIDE}', 53))"),
    ("reload-connect_ex", f"socket.socket().connect_ex(('{OUTSIDE}', 80))"),
]


@pytest.fixture()
def loopback_http():
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def probe_env(tmp_path) -> dict:
    """The run's environment, with the guard logging to a private file."""
    return {**os.environ, "COURSE_NETGUARD_LOG": str(tmp_path / "attempts.log")}


def run_probe(tmp_path, calls, setup="", flags=()) -> dict[str, str]:
    code = PROBE_TEMPLATE.format(setup=setup, calls=calls)
    run = subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                         env=probe_env(tmp_path))
    assert run.returncode == 0, run.stderr
    print(run.stdout)
    return dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)


def outcome(results: dict[str, str]) -> dict[str, str]:
    return {name: text.split(" ", 1)[0] for name, text in results.items()}


def test_guard_in_a_child_process_blocks_outside_and_allows_loopback(loopback_http, tmp_path):
    run = subprocess.run([sys.executable, "-c", GUARD_PROBE, str(loopback_http)], capture_output=True, text=True,
                         timeout=60, check=False, env=probe_env(tmp_path))
    assert "BLOCKED: smoke world: connection to 203.0.113.7:80 blocked" in run.stdout, run.stderr
    assert "DNS-BLOCKED" in run.stdout
    assert "OUTSIDE-REACHED" not in run.stdout and "DNS-RESOLVED" not in run.stdout
    assert "LOOPBACK: b'HTTP/1.0 200" in run.stdout
    assert OUTSIDE in (tmp_path / "attempts.log").read_text()


def test_guard_inside_a_notebook_kernel(loopback_http, tmp_path):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env=probe_env(tmp_path))
    try:
        outputs = []
        kc.execute_interactive(GUARD_PROBE.replace("int(sys.argv[1])", str(loopback_http)), timeout=60,
                               output_hook=lambda msg: outputs.append(msg["content"].get("text", "")))
        text = "".join(outputs)
        assert "BLOCKED: smoke world" in text and "OUTSIDE-REACHED" not in text
        assert "LOOPBACK: b'HTTP/1.0 200" in text
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_guard_in_this_process(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_NETGUARD_LOG", str(tmp_path / "attempts.log"))
    with pytest.raises(ConnectionRefusedError, match="only loopback"):
        socket.create_connection(("198.51.100.1", 443), timeout=5)


def test_every_resolver_is_closed_with_a_clear_message(tmp_path):
    results = run_probe(tmp_path, DNS_CALLS)
    assert outcome(results) == {name: "BLOCKED" for name, _ in DNS_CALLS}
    assert "name lookup of 'example.com' blocked" in results["gethostbyname"]
    log = (tmp_path / "attempts.log").read_text()
    assert "example.net" in log and "reverse lookup" in log, "every attempt is logged, also getfqdn's"


def test_lookups_that_need_no_dns_still_work(tmp_path):
    results = run_probe(tmp_path, LOCAL_CALLS)
    assert outcome(results) == {name: "PASSED" for name, _ in LOCAL_CALLS}
    assert "127.0.0.1" in results["localhost"] and OUTSIDE in results["literal"]
    assert not (tmp_path / "attempts.log").exists()


def test_udp_datagrams_to_the_outside_are_blocked(tmp_path):
    results = run_probe(tmp_path, UDP_CALLS)
    assert outcome(results) == {name: "BLOCKED" for name, _ in UDP_CALLS}
    assert f"datagram to {OUTSIDE}:53 blocked" in results["udp-sendto"]


def test_udp_on_loopback_still_works(tmp_path):
    setup = ("rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(('127.0.0.1', 0)); rx.settimeout(5)\n"
             "tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)")
    results = run_probe(tmp_path, [("send", "tx.sendto(b'ping', rx.getsockname())"),
                                   ("sendmsg", "tx.sendmsg([b'pong'], [], 0, rx.getsockname())"),
                                   ("receive", "rx.recv(16) + rx.recv(16)")], setup=setup)
    assert outcome(results) == {"send": "PASSED", "sendmsg": "PASSED", "receive": "PASSED"}
    assert "pingpong" in results["receive"]


def test_the_raw_socket_class_is_guarded(tmp_path):
    results = run_probe(tmp_path, RAW_CALLS)
    assert outcome(results) == {name: "BLOCKED" for name, _ in RAW_CALLS}
    assert "packet socket" in results["packet-socket"]


def test_guard_survives_reloading_the_socket_module(tmp_path, loopback_http):
    setup = "importlib.reload(socket)"
    calls = AFTER_RELOAD + [("reload-loopback", f"socket.create_connection(('127.0.0.1', {loopback_http})).close()")]
    results = run_probe(tmp_path, calls, setup=setup)
    assert outcome(results) == {**{name: "BLOCKED" for name, _ in AFTER_RELOAD}, "reload-loopback": "PASSED"}


def test_guard_is_idempotent_and_reinstallable(tmp_path):
    setup = ("import sitecustomize; sitecustomize.install(); importlib.reload(socket); sitecustomize.install()\n"
             "import _socket; assert _socket.socket.__mro__.count(_socket.SocketType) == 1")
    results = run_probe(tmp_path, [("getfqdn-after-reinstall", "socket.getfqdn('example.com')"),
                                   ("isinstance", "isinstance(socket.socket(), socket.SocketType) or 1/0")],
                        setup=setup)
    assert outcome(results) == {"getfqdn-after-reinstall": "BLOCKED", "isinstance": "PASSED"}


def test_isolated_mode_skips_the_guard_so_the_os_must_isolate(tmp_path):
    """`python -I` / `-S` never run sitecustomize: the in-process guard cannot see them (nor curl, nor C code).
    This is the documented gap the network namespace of .ci/run closes."""
    for flag in ("-I", "-S"):
        run = subprocess.run([sys.executable, flag, "-c", "import sys; print('sitecustomize' in sys.modules)"],
                             capture_output=True, text=True, timeout=60, check=False, env=probe_env(tmp_path))
        assert run.stdout.strip() == "False", (flag, run.stdout, run.stderr)


def only_loopback_interfaces() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@pytest.mark.skipif(not only_loopback_interfaces(),
                    reason="not inside a loopback-only network namespace (.ci/run starts one with unshare -n "
                           "where the machine permits it; otherwise only the in-process guard is in force)")
def test_namespace_stops_what_the_guard_cannot_see(tmp_path, loopback_http):
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('{OUTSIDE}', 80), timeout=5); print('REACHED')\n"
        "except OSError as err:\n"
        "    print('FAILED', err.errno, err)\n"
        f"with socket.create_connection(('127.0.0.1', {loopback_http}), timeout=5) as s:\n"
        "    print('LOOPBACK OK')\n")
    run = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60, check=False,
                         env=probe_env(tmp_path))
    print(run.stdout, run.stderr)
    assert "REACHED" not in run.stdout and "FAILED" in run.stdout and "smoke world" not in run.stdout
    assert "LOOPBACK OK" in run.stdout, "loopback is up inside the namespace"
