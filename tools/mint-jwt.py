#!/usr/bin/env python3
"""mint-jwt.py - signs a JWT access token with a local key, for the demo,
the tests and the benchmarks (a stand-in for an authorization server).

    mint-jwt.py --key KEY.pem --kid KID --iss ISS --aud AUD --sub SUB
                [--scope "lamp:read lamp:write"] [--ttl 3600] [--nbf-in 0]
                [--iat-in 0] [--alg ES256|EdDSA|RS256] [--claim NAME=JSON]...
                [--header NAME=JSON]...

The algorithm follows the key (P-256 -> ES256, Ed25519 -> EdDSA, RSA ->
RS256) unless --alg says otherwise (tests use that to forge mismatches).
Signing uses the openssl command; only the Python standard library.
"""
import argparse
import base64
import json
import subprocess
import sys
import tempfile
import time


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def key_type(key: str) -> str:
    out = subprocess.run(["openssl", "pkey", "-in", key, "-noout", "-text"],
                         capture_output=True, check=True, text=True).stdout
    first = out.splitlines()[0] if out else ""
    if "ED25519" in first.upper():
        return "EdDSA"
    if "RSA" in first.upper() or "Private-Key" in first and "modulus" in out:
        return "RS256"
    return "ES256"


def der_ecdsa_to_raw(der: bytes, n: int = 32) -> bytes:
    # SEQUENCE { INTEGER r, INTEGER s }
    def read_len(b, i):
        ln = b[i]
        i += 1
        if ln & 0x80:
            k = ln & 0x7F
            ln = int.from_bytes(b[i:i + k], "big")
            i += k
        return ln, i

    if der[0] != 0x30:
        raise ValueError("not an ECDSA signature")
    _, i = read_len(der, 1)
    parts = []
    for _ in range(2):
        if der[i] != 0x02:
            raise ValueError("not an ECDSA signature")
        ln, i = read_len(der, i + 1)
        v = der[i:i + ln].lstrip(b"\0")
        parts.append(v.rjust(n, b"\0"))
        i += ln
    return parts[0] + parts[1]


def sign(key: str, alg: str, data: bytes) -> bytes:
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        if alg == "EdDSA":
            cmd = ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", f.name]
        else:
            cmd = ["openssl", "dgst", "-sha256", "-sign", key, f.name]
        sig = subprocess.run(cmd, capture_output=True, check=True).stdout
    if alg == "ES256":
        sig = der_ecdsa_to_raw(sig)
    return sig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--key", required=True)
    ap.add_argument("--kid")
    ap.add_argument("--alg")
    ap.add_argument("--iss")
    ap.add_argument("--aud")
    ap.add_argument("--sub")
    ap.add_argument("--scope")
    ap.add_argument("--ttl", type=int, default=3600, help="exp = now + TTL seconds")
    ap.add_argument("--nbf-in", type=int, help="nbf = now + N seconds")
    ap.add_argument("--iat-in", type=int, default=0)
    ap.add_argument("--no-exp", action="store_true")
    ap.add_argument("--claim", action="append", default=[], help="NAME=JSON")
    ap.add_argument("--header", action="append", default=[], help="NAME=JSON")
    a = ap.parse_args()

    alg = a.alg or key_type(a.key)
    sign_alg = key_type(a.key)
    now = int(time.time())
    hdr = {"alg": alg, "typ": "JWT"}
    if a.kid:
        hdr["kid"] = a.kid
    for h in a.header:
        k, _, v = h.partition("=")
        hdr[k] = json.loads(v)
    claims = {"iat": now + a.iat_in}
    if not a.no_exp:
        claims["exp"] = now + a.ttl
    for name in ("iss", "aud", "sub", "scope"):
        if getattr(a, name) is not None:
            claims[name] = getattr(a, name)
    if a.nbf_in is not None:
        claims["nbf"] = now + a.nbf_in
    for c in a.claim:
        k, _, v = c.partition("=")
        claims[k] = json.loads(v)
    signing_input = (b64url(json.dumps(hdr, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = sign(a.key, sign_alg, signing_input.encode())
    print(signing_input + "." + b64url(sig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
