#!/usr/bin/env python3
"""Stands in for systemd's notification socket: binds a datagram socket at
argv[1] and appends every message it receives (one per line, newlines in
a message turned into '|') to argv[2]. Runs until killed."""
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a", buffering=1) as f:
    while True:
        msg = s.recv(4096).decode(errors="replace")
        f.write(msg.replace("\n", "|") + "\n")
