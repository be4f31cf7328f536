#!/usr/bin/env python3
"""keepalive.py PORT CAFILE SIGNAL_FILE - one keep-alive HTTPS connection
across a gateway reload.

Sends GET /.well-known/wot, prints "first STATUS FINGERPRINT", writes
"ready" into SIGNAL_FILE, waits until the test writes "go" there (after the
SIGHUP), sends a second request on the SAME connection and prints "second
STATUS FINGERPRINT SAME|NEW-CONNECTION". A dropped connection fails the
second request (http.client does not reconnect by itself) and prints
"second ERROR ...". Exit status 0 only when both requests got 200 on one
connection.
"""
import hashlib
import http.client
import ssl
import sys
import time


def main():
    port, cafile, sig = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    conn.request("GET", "/.well-known/wot")
    r = conn.getresponse()
    r.read()
    sock1 = conn.sock
    fp1 = hashlib.sha256(conn.sock.getpeercert(True)).hexdigest()
    print("first", r.status, fp1, flush=True)
    with open(sig, "w") as f:
        f.write("ready")
    deadline = time.time() + 20
    while time.time() < deadline:
        with open(sig) as f:
            if f.read().strip() == "go":
                break
        time.sleep(0.05)
    try:
        conn.request("GET", "/.well-known/wot")
        r2 = conn.getresponse()
        r2.read()
    except Exception as e:  # the connection was dropped
        print("second ERROR", type(e).__name__, flush=True)
        return 1
    same = conn.sock is sock1
    fp2 = hashlib.sha256(conn.sock.getpeercert(True)).hexdigest()
    print("second", r2.status, fp2, "SAME" if same else "NEW-CONNECTION", flush=True)
    return 0 if (r.status == 200 and r2.status == 200 and same and fp1 == fp2) else 1


if __name__ == "__main__":
    sys.exit(main())
