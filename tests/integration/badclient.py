#!/usr/bin/env python3
"""badclient.py - hostile clients for tests/integration/test_badinput.sh
(Python standard library only).

  badclient.py raw HOST PORT CAFILE [--plain] [--timeout S]
      sends stdin as is (over TLS unless --plain) and prints the status
      code of the answer, "closed" (no answer, connection closed) or
      "timeout" (nothing within S seconds, default 10), and the seconds.
  badclient.py slowloris HOST PORT CAFILE N IDLE_S CURL_ARGS...
      opens N/2 TLS connections that send half a request and N/2 TCP
      connections that send half a ClientHello, all stalling; then runs
      curl CURL_ARGS (a real request) while they are open; then waits
      IDLE_S + 3 s and counts the stalled connections the server closed.
      Prints a JSON object.
  badclient.py burst HOST PORT CAFILE N AUTHORIZATION
      sends N bad requests of several kinds, reusing connections the server
      keeps open. Prints a JSON object of status counts.
"""
import json
import socket
import ssl
import subprocess
import sys
import time


def tls_ctx(cafile):
    c = ssl.create_default_context(cafile=cafile)
    c.minimum_version = ssl.TLSVersion.TLSv1_3
    return c


def connect(host, port, cafile, plain=False, timeout=10):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as curl: no Nagle delay
    if plain:
        return s
    return tls_ctx(cafile).wrap_socket(s, server_hostname="localhost")


def read_status(s, timeout):
    """Status code of the first answer on s, 'closed' or 'timeout'."""
    s.settimeout(timeout)
    buf = b""
    try:
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    except (socket.timeout, TimeoutError):
        return "timeout" if not buf else parse_status(buf)
    except (ssl.SSLError, OSError):
        pass
    return parse_status(buf) if buf else "closed"


def parse_status(buf):
    line = buf.split(b"\r\n", 1)[0].split()
    if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
        return line[1].decode()
    return "garbage"


def cmd_raw(args):
    host, port, cafile = args[0], int(args[1]), args[2]
    plain = "--plain" in args
    timeout = float(args[args.index("--timeout") + 1]) if "--timeout" in args else 10.0
    data = sys.stdin.buffer.read()
    t0 = time.monotonic()
    try:
        s = connect(host, port, cafile, plain=plain, timeout=timeout)
        s.sendall(data)
        st = read_status(s, timeout)
        s.close()
    except (ssl.SSLError, OSError) as e:
        st = "closed" if not isinstance(e, (socket.timeout, TimeoutError)) else "timeout"
    print(st, f"{time.monotonic() - t0:.3f}")


def still_open(s):
    """False when the server closed s (EOF or reset); whatever it sent
    before closing (an alert, an error answer) is read and ignored."""
    s.setblocking(False)
    try:
        while True:
            if not s.recv(65536):
                return False
    except (BlockingIOError, ssl.SSLWantReadError):
        return True
    except (ssl.SSLError, OSError):
        return False


def cmd_slowloris(args):
    host, port, cafile, n, idle = args[0], int(args[1]), args[2], int(args[3]), float(args[4])
    curl = args[5:]
    conns, errors = [], 0
    t0 = time.monotonic()
    for i in range(n):
        try:
            if i % 2 == 0:
                s = connect(host, port, cafile, timeout=10)
                s.sendall(b"GET /things HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            else:
                s = socket.create_connection((host, port), timeout=10)
                # the first bytes of a TLS 1.3 ClientHello record, then nothing
                s.sendall(bytes.fromhex("160301020001"))
            conns.append(s)
        except OSError:
            errors += 1
    opened = time.monotonic() - t0
    t1 = time.monotonic()
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                        "10"] + curl, capture_output=True, text=True)
    real_s = time.monotonic() - t1
    time.sleep(idle + 3)
    closed = sum(1 for s in conns if not still_open(s))
    for s in conns:
        try:
            s.close()
        except OSError:
            pass
    print(json.dumps({"opened": len(conns), "open_errors": errors, "open_s": round(opened, 3),
                      "real_status": r.stdout.strip(), "real_s": round(real_s, 3),
                      "closed_after_idle": closed}))


def cmd_burst(args):
    host, port, cafile, n, auth = args[0], int(args[1]), args[2], int(args[3]), args[4]
    big = "a" * 6000
    huge_tok = "eyJhbGciOiJFUzI1NiJ9." + "A" * 3000 + ".AAAA"
    none_tok = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0."
    kinds = [
        ("bad-token", f"GET /things/lamp/properties/on HTTP/1.1\r\nHost: l\r\n"
                      f"Authorization: Bearer {none_tok}\r\n\r\n"),
        ("huge-token", f"GET /things/lamp/properties/on HTTP/1.1\r\nHost: l\r\n"
                       f"Authorization: Bearer {huge_tok}\r\n\r\n"),
        ("bad-percent", f"GET /things/lamp/properties/%zz HTTP/1.1\r\nHost: l\r\n"
                        f"Authorization: {auth}\r\n\r\n"),
        ("dotdot", f"GET /things/lamp/%2e%2e/thermometer HTTP/1.1\r\nHost: l\r\n"
                   f"Authorization: {auth}\r\n\r\n"),
        ("unknown", f"GET /things/nosuch/properties/x HTTP/1.1\r\nHost: l\r\n"
                    f"Authorization: {auth}\r\n\r\n"),
        ("big-body", f"POST /things/faulty/actions/echo HTTP/1.1\r\nHost: l\r\n"
                     f"Authorization: {auth}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: 100000\r\n\r\n"),
        ("big-header", f"GET /things/lamp/properties/on HTTP/1.1\r\nHost: l\r\n"
                       f"X-Big: {big}\r\n\r\n"),
        ("not-http", "\x16\x03\x01 garbage\r\n\r\n"),
    ]
    counts = {}
    s = None
    t0 = time.monotonic()
    for i in range(n):
        name, req = kinds[i % len(kinds)]
        for attempt in (1, 2):
            close = True
            try:
                if s is None:
                    s = connect(host, port, cafile, timeout=10)
                s.sendall(req.encode("latin-1"))
                st, close = read_response(s, 10)
            except (ssl.SSLError, OSError):
                st = "closed"
            if st == "closed" and attempt == 1 and name != "not-http":
                # closed after an earlier answer: retry once on a new connection
                s = None
                continue
            break
        key = f"{name}:{st}"
        counts[key] = counts.get(key, 0) + 1
        if close or name in ("big-body", "big-header", "not-http"):
            try:
                s.close()
            except (OSError, AttributeError):
                pass
            s = None
    print(json.dumps({"seconds": round(time.monotonic() - t0, 2), "counts": counts}))


def read_response(s, timeout):
    """(status, close) of one answer read in full: status is the code,
    'closed', 'timeout' or 'garbage'; close when the connection is done."""
    s.settimeout(timeout)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                return (parse_status(buf) if buf else "closed"), True
            buf += chunk
            if len(buf) > 1 << 20:
                return "garbage", True
        head, _, body = buf.partition(b"\r\n\r\n")
        hdrs = {}
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            hdrs[k.strip().lower()] = v.strip().lower()
        st = parse_status(buf)
        n = int(hdrs.get(b"content-length", b"0") or 0)
        if hdrs.get(b"transfer-encoding") == b"chunked":
            while not body.endswith(b"0\r\n\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return st, True
                body += chunk
        else:
            while len(body) < n:
                chunk = s.recv(65536)
                if not chunk:
                    return st, True
                body += chunk
        return st, hdrs.get(b"connection") == b"close"
    except (socket.timeout, TimeoutError):
        return "timeout", True
    except (ssl.SSLError, OSError):
        return (parse_status(buf) if buf else "closed"), True


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"raw": cmd_raw, "slowloris": cmd_slowloris, "burst": cmd_burst}[cmd](args)


if __name__ == "__main__":
    main()
