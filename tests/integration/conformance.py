#!/usr/bin/env python3
"""conformance.py - the TD-driven conformance walk of wotgw (driven by
tests/integration/test_conformance.sh; Python standard library only).

For every form of every exposed TD, fetched from the running gateway, it
derives from the form's security (the TD's securityDefinitions, combos
included) and scopes which credentials the form needs, and sends:
  no credentials                         -> 401, a challenge per scheme
  wrong credentials (wrong password,
    unknown key, foreign CA, token of
    another key / expired / wrong aud /
    other issuer, a missing allOf part)  -> 401 (Bearer error="invalid_token"
                                            when a token was refused)
  valid but not allowed / no scope       -> 403 (error="insufficient_scope"
                                            for a token)
  valid and allowed                      -> 2xx; SSE forms: 200
                                            text/event-stream and a first event
The mqtts forms (the MQTT front end, when the catalog has "mqtt") are
walked with mosquitto_sub / mosquitto_pub (MQTT 5, several in parallel),
the credentials derived from the same security, cut to what MQTT can carry
(user name and password, a JWT as the password, a client certificate on
the certificate listener):
  no / wrong credentials                 -> CONNACK 135 (a foreign
                                            certificate: TLS refusal)
  accepted by the broker but not enough
    (other scheme or issuer, not allowed,
    missing scope)                       -> CONNACK 0, SUBACK / PUBACK 135,
                                            nothing delivered
  allowed                                -> SUBACK granted QoS and the
                                            retained value / an event;
                                            PUBACK 0 or 16
The coaps forms (the CoAPS front end, when the catalog has "coaps") are
walked with coap-client-gnutls (several in parallel), the credentials cut
to what a DTLS handshake carries (a PSK identity and key, or a client
certificate):
  no credentials, wrong PSK key,
    unknown PSK identity, foreign CA     -> the handshake fails, no answer
  valid, of a scheme the form does not
    take                                 -> 4.01
  valid but not allowed                  -> 4.03
  allowed                                -> 2.05 with the value (GET),
                                            2.04 (PUT), 2.04/2.05 (POST);
                                            observeproperty / subscribeevent
                                            (GET with Observe): 2.05 with
                                            Observe, or an empty ACK while
                                            no value is there yet
HTTPS cannot carry a PSK: psk parts of a form's security are left out of
its HTTPS cases (and challenges).
A subscription to a property topic is observeproperty or readproperty
(wotgw(8), MQTT), so the oracle allows it when either allows it. Then a
principal allowed only one thing subscribes to PREFIX/# and must receive
that thing's messages only.
Who is allowed is an independent oracle: the allow lists of the test
config (most specific key wins, wotgw.conf(5)); the scopes a token needs
are the form's own "scopes" (the contract), checked against the config.
The walk also checks that the TD's security equals the config's, that no
device address appears, that forms the config leaves unexposed are absent
and answer 404/405, and that TDs are served only to those who may see them.

Usage: conformance.py CATALOG.json   (see test_conformance.sh)
Output: TAP-like "ok - ..." / "not ok - ..." lines; exit 1 on any failure.
"""
import base64
import http.client
import io
import importlib.util
import json
import os
import re
import socket
import ssl
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
import sys
import time
import urllib.parse
import urllib.request

FAILS = 0
COUNTS = {}
MQTT_COUNTS = {}
COAPS_COUNTS = {}
NOPROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def ok(msg):
    print("ok - " + msg, flush=True)


def fail(msg):
    global FAILS
    FAILS += 1
    print("not ok - " + msg, flush=True)


def check(cond, msg):
    (ok if cond else fail)(msg)
    return cond


# ---------------------------------------------------------------- config oracle

def read_ini(path):
    """[type name] sections -> {(type, name): {key: value}} (the subset of
    wotgw.conf syntax the test config uses)."""
    secs = {}
    cur = None
    for raw in open(path, encoding="utf-8"):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            inner = line[1:line.index("]")].strip()
            typ, _, name = inner.partition(" ")
            cur = secs.setdefault((typ, name.strip().strip('"')), {})
            continue
        k, _, v = line.partition("=")
        cur[k.strip()] = v.strip()
    return secs


DEFAULT_SCOPE = {
    "readproperty": "read", "readallproperties": "read", "readmultipleproperties": "read",
    "observeproperty": "read", "unobserveproperty": "read", "observeallproperties": "read",
    "unobserveallproperties": "read",
    "writeproperty": "write", "writeallproperties": "write", "writemultipleproperties": "write",
    "invokeaction": "invoke", "queryaction": "invoke", "cancelaction": "invoke",
    "queryallactions": "invoke",
    "subscribeevent": "subscribe", "unsubscribeevent": "subscribe",
    "subscribeallevents": "subscribe", "unsubscribeallevents": "subscribe",
}


def lookup(sec, kind, aff, op):
    """Most specific key wins: KIND.AFF.OP, KIND.AFF, KIND.OP, KIND."""
    keys = []
    if aff is not None:
        keys += [f"{kind}.{aff}.{op}", f"{kind}.{aff}"]
    keys += [f"{kind}.{op}", kind]
    for k in keys:
        if k in sec:
            return sec[k]
    return None


def parse_expr(s):
    """Config security expression -> normalized tree."""
    toks = re.findall(r"[()|&]|[A-Za-z0-9:._~-]+", s)
    pos = 0

    def expr():
        nonlocal pos
        parts = [term()]
        while pos < len(toks) and toks[pos] == "|":
            pos += 1
            parts.append(term())
        return norm("oneOf", parts)

    def term():
        nonlocal pos
        parts = [factor()]
        while pos < len(toks) and toks[pos] == "&":
            pos += 1
            parts.append(factor())
        return norm("allOf", parts)

    def factor():
        nonlocal pos
        t = toks[pos]
        pos += 1
        if t == "(":
            e = expr()
            pos += 1  # ")"
            return e
        return t

    return expr()


def norm(kind, parts):
    if len(parts) == 1:
        return parts[0]
    flat = []
    for p in parts:
        if isinstance(p, tuple) and p[0] == kind:
            flat += list(p[1])
        else:
            flat.append(p)
    return (kind, tuple(sorted(flat, key=repr)))


def expr_text(e):
    if isinstance(e, str):
        return e
    sep = "|" if e[0] == "oneOf" else "&"
    return "(" + sep.join(expr_text(x) for x in e[1]) + ")"


def leaves(e):
    if isinstance(e, str):
        return [e]
    return [leaf for x in e[1] for leaf in leaves(x)]


# ---------------------------------------------------------------- HTTP

class Client:
    def __init__(self, ca):
        self.ca = ca
        self.ctx = {}

    def context(self, cert):
        k = cert["crt"] if cert else None
        if k not in self.ctx:
            c = ssl.create_default_context(cafile=self.ca)
            c.minimum_version = ssl.TLSVersion.TLSv1_3
            if cert:
                c.load_cert_chain(cert["crt"], cert["key"])
            self.ctx[k] = c
        return self.ctx[k]

    def request(self, method, url, bundle=(), body=None, ctype=None, apikey_header="X-API-Key",
                sse=False, on_stream=None, timeout=15):
        """Returns (status, headers message, body bytes). For a 200 SSE
        answer the body is what arrived until the first complete event
        (on_stream() is called repeatedly meanwhile to make one happen)."""
        u = urllib.parse.urlsplit(url)
        cert = next((c for c in bundle if c["kind"] == "cert"), None)
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.context(cert),
                                           timeout=timeout)
        path = u.path + ("?" + u.query if u.query else "")
        hdrs = {"Connection": "close"}
        for c in bundle:
            if c["kind"] == "basic":
                hdrs["Authorization"] = "Basic " + base64.b64encode(
                    f"{c['user']}:{c['password']}".encode()).decode()
            elif c["kind"] == "bearer":
                hdrs["Authorization"] = "Bearer " + c["token"]
            elif c["kind"] == "apikey":
                hdrs[apikey_header] = c["key"]
        if sse:
            hdrs["Accept"] = "text/event-stream"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs["Content-Type"] = ctype or "application/json"
        if sse:
            conn.close()
            return self.sse_request(u, path, hdrs, cert, on_stream, timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            return r.status, r.headers, r.read()
        finally:
            conn.close()

    def sse_request(self, u, path, hdrs, cert, on_stream, timeout):
        """GET of an SSE form on a raw TLS socket, so that reading with a
        timeout never upsets a parser. For a 200 text/event-stream answer
        the body is the de-chunked stream until its first data event."""
        raw = socket.create_connection((u.hostname, u.port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s = self.context(cert).wrap_socket(raw, server_hostname=u.hostname)
        try:
            req = f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
            s.sendall(req.encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise http.client.RemoteDisconnected("closed before the answer")
                buf += chunk
            head, _, rest = buf.partition(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            headers = http.client.parse_headers(io.BytesIO(head.split(b"\r\n", 1)[1] +
                                                           b"\r\n\r\n"))
            chunked = headers.get("Transfer-Encoding", "").lower() == "chunked"
            stream = headers.get("Content-Type", "").startswith("text/event-stream")
            if not (status == 200 and stream):
                n = int(headers.get("Content-Length", "0") or 0)
                s.settimeout(timeout)
                while not chunked and len(rest) < n:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                return status, headers, dechunk(rest)[0] if chunked else rest
            if not on_stream:
                return status, headers, b""  # nothing to trigger: the head is the proof
            s.settimeout(0.2)
            end = time.monotonic() + 8
            while time.monotonic() < end:
                body, _ = dechunk(rest) if chunked else (rest, False)
                if re.search(rb"(^|\n)data:[^\n]*\n\n", body.replace(b"\r\n", b"\n")):
                    break
                if on_stream:
                    on_stream()
                try:
                    chunk = s.recv(65536)
                except (socket.timeout, TimeoutError):
                    continue
                if not chunk:
                    break
                rest += chunk
            return status, headers, (dechunk(rest)[0] if chunked else rest)
        finally:
            s.close()


def dechunk(b):
    """(payload, complete) of a possibly partial chunked body."""
    out, i = b"", 0
    while True:
        j = b.find(b"\r\n", i)
        if j < 0:
            return out, False
        try:
            n = int(b[i:j].split(b";")[0], 16)
        except ValueError:
            return out, False
        if n == 0:
            return out, True
        if len(b) < j + 2 + n:
            return out + b[j + 2:], False
        out += b[j + 2:j + 2 + n]
        i = j + 2 + n + 2


def challenges(headers):
    """auth-schemes of all WWW-Authenticate challenges -> {scheme: text}"""
    out = {}
    for v in headers.get_all("WWW-Authenticate") or []:
        for m in re.finditer(r"(?:^|,)\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s+"
                             r"(?=[A-Za-z0-9!#$%&'*+.^_`|~-]+\s*=)", v):
            out[m.group(1)] = v[m.start(1):]
    return out


CHALLENGE_NAME = {"basic": "Basic", "bearer": "Bearer", "oauth2": "Bearer", "apikey": "APIKey",
                  "cert": "ClientCert"}


# ---------------------------------------------------------------- tokens

class Minter:
    def __init__(self, root, audience):
        spec = importlib.util.spec_from_file_location("mintjwt",
                                                      os.path.join(root, "tools/mint-jwt.py"))
        self.m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.m)
        self.aud = audience
        self.cache = {}
        self.algs = {}

    def token(self, key, kid, iss, scopes, aud=None, ttl=3600, sub="tester", alg=None):
        ck = (key, kid, iss, tuple(scopes), aud, ttl, sub, alg)
        if ck in self.cache:
            return self.cache[ck]
        if key not in self.algs:
            self.algs[key] = self.m.key_type(key)
        now = int(time.time())
        hdr = {"alg": alg or self.algs[key], "typ": "JWT", "kid": kid}
        claims = {"iat": now, "exp": now + ttl, "iss": iss, "aud": aud or self.aud, "sub": sub,
                  "scope": " ".join(scopes)}
        si = (self.m.b64url(json.dumps(hdr, separators=(",", ":")).encode()) + "." +
              self.m.b64url(json.dumps(claims, separators=(",", ":")).encode()))
        tok = si + "." + self.m.b64url(self.m.sign(key, self.algs[key], si.encode()))
        self.cache[ck] = tok
        return tok


# ---------------------------------------------------------------- the walk

class Walk:
    def __init__(self, cat):
        self.cat = cat
        self.gw = cat["gateway"]
        self.client = Client(cat["ca"])
        self.conf = read_ini(cat["config"])
        self.minter = Minter(cat["root"], cat["audience"])
        self.issuers = cat["issuers"]
        self.apikey_header = "X-API-Key"
        self.secrets = ([u["password"] for u in cat["basic"]] +
                        [k["key"] for k in cat["apikey"]])
        self.mqtt_forms = []     # mqtts forms walked (for the wildcard check)
        self.mqtt_jobforms = []  # their case bookkeeping
        self.mqtt_jobs = []      # one mosquitto client run per case
        self.coaps_jobforms = []  # coaps forms walked, their case bookkeeping
        self.coaps_jobs = []      # one coap-client run per case

    # -- credentials catalog
    def identities(self, scheme):
        """(item, valid) for every identity credential of scheme."""
        c = self.cat
        if scheme == "basic":
            items = [dict(kind="basic", valid=True, principal=u["user"], **u) for u in c["basic"]]
            wrong = [dict(kind="basic", valid=False, user=c["basic"][0]["user"],
                          password=c["basic"][0]["password"] + "-wrong", why="wrong password"),
                     dict(kind="basic", valid=False, user="nosuchuser", password="Whatever-123",
                          why="unknown user")]
        elif scheme == "apikey":
            items = [dict(kind="apikey", valid=True, principal=k["name"], **k) for k in c["apikey"]]
            wrong = [dict(kind="apikey", valid=False, key="wotgw_" + "0" * 43, why="unknown key")]
        elif scheme == "cert":
            items = [dict(kind="cert", valid=True, **x) for x in c["cert"]]
            wrong = [dict(kind="cert", valid=False, why="certificate of another CA",
                          **c["rogue_cert"])]
        elif scheme == "psk":
            items = [dict(kind="psk", valid=True, principal=k["identity"], **k) for k in c["psk"]]
            a = c["psk"][0]
            wrong = [dict(kind="psk", valid=False, identity=a["identity"],
                          key=a["key"][::-1] + "x", why="wrong key"),
                     dict(kind="psk", valid=False, identity="eve", key=a["key"],
                          why="unknown identity")]
        else:
            raise ValueError(scheme)
        return items, wrong

    def issuer_of(self, name):
        """TD security definition -> leaf text ("bearer:idp", "bearer")."""
        d = self.td["securityDefinitions"][name]
        s = d.get("scheme")
        if s in ("bearer", "oauth2"):
            url = d.get("authorization") if s == "bearer" else d.get("token")
            for n, i in self.issuers.items():
                if url and url in (i["authorization"], i["token"]):
                    return f"{s}:{n}"
            return s
        if s == "wotgw:cert":
            return "cert"
        return s

    def td_expr(self, names):
        if isinstance(names, str):
            names = [names]
        parts = []
        for n in names:
            d = self.td["securityDefinitions"][n]
            if d.get("scheme") == "combo":
                kind = "allOf" if "allOf" in d else "oneOf"
                parts.append(norm(kind, [self.td_expr(x) for x in d[kind]]))
            else:
                parts.append(self.issuer_of(n))
        return norm("allOf", parts)

    def token_item(self, issuer, scopes, why=None, **kw):
        i = self.issuers[issuer]
        valid = why is None
        key = i["rogue"] if why == "signed by another key" else i["key"]
        if why == "expired":
            kw["ttl"] = -600
        if why == "wrong audience":
            kw["aud"] = "https://elsewhere.test"
        tok = self.minter.token(key, i["kid"], i["iss"], scopes, **kw)
        return dict(kind="bearer", valid=valid, issuer=issuer, scopes=list(scopes), token=tok,
                    why=why or "valid")

    # -- oracle
    def allowed(self, item, allow):
        if not allow:
            return False
        for w in allow.replace(",", " ").split():
            if w == "*":
                return True
            if w.startswith("user:") and w[5:] == item["principal"]:
                return True
            if w.startswith("group:") and w[6:] in item.get("groups", []):
                return True
        return False

    def decide_leaf(self, leaf, bundle, ctx):
        """-> 'allow' | 'forbid' | 'unauth'"""
        scheme, _, iss = leaf.partition(":")
        if scheme in ("bearer", "oauth2"):
            t = next((c for c in bundle if c["kind"] == "bearer"), None)
            if not t:
                return "unauth"
            if not t["valid"] or (iss and t["issuer"] != iss):
                ctx["token_refused"] = True
                return "unauth"
            if set(ctx["scopes"]) <= set(t["scopes"]):
                return "allow"
            ctx["insufficient_scope"] = True
            return "forbid"
        c = next((c for c in bundle if c["kind"] == scheme), None)
        if not c or not c["valid"]:
            return "unauth"
        return "allow" if self.allowed(c, ctx["allow"]) else "forbid"

    def decide(self, e, bundle, ctx):
        if isinstance(e, str):
            return self.decide_leaf(e, bundle, ctx)
        rs = [self.decide(x, bundle, ctx) for x in e[1]]
        if e[0] == "oneOf":
            return "allow" if "allow" in rs else "forbid" if "forbid" in rs else "unauth"
        return "unauth" if "unauth" in rs else "forbid" if "forbid" in rs else "allow"

    # -- case generation
    def cases(self, e, ctx):
        """-> {'good': [bundle], 'forbid': [...], 'wrong': [...]} where a
        bundle is a list of credential items."""
        if isinstance(e, str):
            scheme, _, iss = e.partition(":")
            if scheme in ("bearer", "oauth2"):
                names = [iss] if iss else sorted(self.issuers)
                need = ctx["scopes"]
                lacking = [s for s in need[1:]] + ["unrelated:scope"]
                good = [[self.token_item(n, need)] for n in names]
                forbid = [[self.token_item(n, lacking)] for n in names]
                n = names[0]
                wrong = [[self.token_item(n, need, why=w)]
                         for w in ("signed by another key", "expired", "wrong audience")]
                for other in sorted(self.issuers):
                    if iss and other != iss:
                        wrong.append([self.token_item(other, need)])  # valid, other issuer
                return {"good": good, "forbid": forbid, "wrong": wrong}
            items, wrong = self.identities(scheme)
            return {"good": [[i] for i in items if self.allowed(i, ctx["allow"])],
                    "forbid": [[i] for i in items if not self.allowed(i, ctx["allow"])],
                    "wrong": [[w] for w in wrong]}
        subs = [self.cases(x, ctx) for x in e[1]]
        if e[0] == "oneOf":
            return {k: [b for s in subs for b in s[k]] for k in ("good", "forbid", "wrong")}
        if not all(s["good"] for s in subs):
            return {"good": [], "forbid": [], "wrong": []}
        base = [s["good"][0] for s in subs]

        def with_part(i, part):
            return [c for j, b in enumerate(base) for c in (part if j == i else b)]

        out = {"good": [with_part(0, base[0])], "forbid": [], "wrong": []}
        for i, s in enumerate(subs):
            out["good"] += [with_part(i, g) for g in s["good"][1:]]
            out["forbid"] += [with_part(i, f) for f in s["forbid"]]
            out["wrong"] += [with_part(i, w) for w in s["wrong"]]
            out["wrong"].append(with_part(i, []))  # that part missing
        return out

    # -- payloads
    def sample(self, schema):
        if not schema:
            return None
        t = schema.get("type")
        if "enum" in schema:
            return schema["enum"][0]
        if t == "boolean":
            return True
        if t in ("integer", "number"):
            lo, hi = schema.get("minimum", 0), schema.get("maximum", 100)
            v = max(lo, min(hi, 42))
            return int(v) if t == "integer" else float(v)
        if t == "string":
            return "conformance"
        if t == "object":
            props = schema.get("properties", {})
            return {k: self.sample(props[k]) for k in schema.get("required", [])}
        if t == "array":
            return []
        return None

    def device_td(self, thing):
        sec = self.conf[("thing", thing)]
        path = os.path.join(os.path.dirname(self.cat["config"]), "things", sec["td"])
        return json.load(open(path))

    def stream_trigger(self, thing, kind, aff):
        """A function that makes the device produce an event/change."""
        dev = self.device_td(thing)
        base = dev["base"]
        state = {"n": 0, "next": 0.0}

        def fire():
            now = time.monotonic()
            if now < state["next"]:
                return
            state["next"] = now + 0.3
            state["n"] += 1
            try:
                if kind == "events":
                    url = urllib.parse.urljoin(base, f"_trigger/{aff}")
                    req = urllib.request.Request(url, data=b"", method="POST")
                else:
                    schema = dev["properties"][aff]
                    if schema.get("type") == "boolean":
                        v = state["n"] % 2 == 0
                    else:
                        v = 10 + state["n"] % 50
                    url = urllib.parse.urljoin(base, f"properties/{aff}")
                    req = urllib.request.Request(url, data=json.dumps(v).encode(), method="PUT",
                                                 headers={"Content-Type": "application/json"})
                NOPROXY.open(req, timeout=2).read()
            except OSError:
                pass
        writable = kind == "events" or not dev["properties"].get(aff, {}).get("readOnly")
        return fire if writable else None

    # -- one form
    def walk_form(self, thing, kind, aff, aschema, form):
        op = form["op"]
        ops = op if isinstance(op, list) else [op]
        label = f"{thing}/{aff or '(thing)'} {'/'.join(ops)}"
        sec = self.conf[("thing", thing)]
        href = form["href"]
        if not check(href.startswith(self.gw + "/things/"), f"{label}: href {href} is the gateway's"):
            return
        method = form.get("htv:methodName", "GET")
        sse = form.get("subprotocol") == "sse"
        names = form.get("security", self.td["security"])
        e = self.td_expr(names)
        cexpr = lookup(sec, "security", aff, ops[0])
        check(cexpr is not None and parse_expr(cexpr) == e,
              f"{label}: TD security {expr_text(e)} is the config's ({cexpr})")
        allow = lookup(sec, "allow", aff, ops[0])
        cscopes = lookup(sec, "scopes", aff, ops[0])
        cscopes = cscopes.split() if cscopes else [f"{thing}:{DEFAULT_SCOPE[ops[0]]}"]
        token_form = any(x.split(":")[0] in ("bearer", "oauth2") for x in leaves(e))
        if token_form:
            check(sorted(form.get("scopes", [])) == sorted(cscopes),
                  f"{label}: form scopes {form.get('scopes')} are the config's {cscopes}")
        ctx0 = {"allow": allow, "scopes": form.get("scopes") or cscopes}
        eh = self.prune(e, self.HTTPS_SCHEMES, self.HTTPS_SCHEMES)
        if not check(eh is not None, f"{label}: its security {expr_text(e)} can be presented "
                     f"over HTTPS"):
            return
        cs = self.cases(eh, ctx0)
        body = None
        if "writeproperty" in ops:
            body = self.sample(aschema)
        elif "invokeaction" in ops and aschema.get("input"):
            body = self.sample(aschema["input"])
        ctype = form.get("contentType", "application/json")
        want_ch = {CHALLENGE_NAME[x.split(":")[0]] for x in leaves(eh)}
        trigger = self.stream_trigger(thing, kind, aff) if sse else None

        seen = {"none": 0, "wrong": 0, "forbid": 0, "good": 0}
        plan = [("none", [])] + [(k, b) for k in ("wrong", "forbid", "good") for b in cs[k]]
        for cat, bundle in plan:
            ctx = dict(ctx0)
            verdict = self.decide(e, bundle, ctx)
            expect = {"none": "unauth", "wrong": "unauth", "forbid": "forbid",
                      "good": "allow"}[cat]
            desc = ", ".join(self.describe(c) for c in bundle) or "no credentials"
            if verdict != expect:
                fail(f"{label}: test design: {desc} is '{verdict}', meant as '{cat}'")
                continue
            try:
                st, hd, rb = self.client.request(method, href, bundle, body=body, ctype=ctype,
                                                 apikey_header=self.apikey_header, sse=sse,
                                                 on_stream=trigger)
            except (OSError, http.client.HTTPException) as ex:
                fail(f"{label} [{desc}]: request failed: {ex!r}")
                continue
            good = self.check_answer(label, desc, cat, st, hd, rb, bundle, ctx, want_ch, sse,
                                     trigger, ops, aschema)
            if good:
                seen[cat] += 1
        for cat, n in seen.items():
            check(n > 0, f"{label}: covered '{cat}' ({n} case(s))")
        COUNTS[thing] = COUNTS.get(thing, 0) + 1

    def describe(self, c):
        if c["kind"] == "basic":
            return f"basic {c['user']}" + ("" if c["valid"] else f" ({c['why']})")
        if c["kind"] == "apikey":
            return f"apikey {c.get('name', '?')}" + ("" if c["valid"] else f" ({c['why']})")
        if c["kind"] == "cert":
            return f"cert {os.path.basename(c['crt'])}"
        if c["kind"] == "psk":
            return f"psk {c['identity']}" + ("" if c["valid"] else f" ({c['why']})")
        return f"token {c['issuer']} [{' '.join(c['scopes'])}] ({c['why']})"

    def check_answer(self, label, desc, cat, st, hd, rb, bundle, ctx, want_ch, sse, trigger,
                     ops, aschema):
        name = f"{label} [{desc}]"
        leaked = [s for s in self.secrets + [c.get("token", "") for c in bundle]
                  if s and (s.encode() in rb or s in str(hd))]
        if leaked:
            fail(f"{name}: a secret is echoed in the answer")
            return False
        if cat in ("none", "wrong"):
            if not check(st == 401, f"{name}: 401 (got {st})"):
                return False
            ch = challenges(hd)
            if not check(want_ch <= set(ch), f"{name}: challenges {sorted(want_ch)} "
                         f"(got {sorted(ch)})"):
                return False
            if "Basic" in ch and not check('realm="wotgw-test"' in ch["Basic"],
                                           f"{name}: Basic challenge has the realm"):
                return False
            if "Bearer" in ch:
                inv = 'error="invalid_token"' in ch["Bearer"]
                if not check(inv == bool(ctx.get("token_refused")),
                             f"{name}: Bearer error=\"invalid_token\" "
                             f"{'present' if ctx.get('token_refused') else 'absent'}"):
                    return False
            return self.check_problem(name, st, hd, rb)
        if cat == "forbid":
            if not check(st == 403, f"{name}: 403 (got {st})"):
                return False
            if ctx.get("insufficient_scope"):
                ch = challenges(hd)
                if not check('error="insufficient_scope"' in ch.get("Bearer", ""),
                             f"{name}: Bearer error=\"insufficient_scope\""):
                    return False
            return self.check_problem(name, st, hd, rb)
        # good
        if sse:
            ctype = hd.get("Content-Type", "")
            if not check(st == 200 and ctype.startswith("text/event-stream"),
                         f"{name}: 200 text/event-stream (got {st} {ctype})"):
                return False
            if trigger:
                return check(b"data:" in rb, f"{name}: the first event arrived ({rb[:60]!r})")
            return True
        if not check(200 <= st < 300, f"{name}: success (got {st} {rb[:100]!r})"):
            return False
        if "readproperty" in ops:
            try:
                v = json.loads(rb)
            except ValueError:
                return check(False, f"{name}: JSON value")
            t = aschema.get("type")
            py = {"boolean": bool, "integer": int, "number": (int, float), "string": str,
                  "object": dict, "array": list}.get(t)
            return check(py is None or (isinstance(v, py) and not (t != "boolean" and
                                                                   isinstance(v, bool))),
                         f"{name}: value {v!r} is a {t}")
        if "readallproperties" in ops:
            try:
                return check(isinstance(json.loads(rb), dict), f"{name}: a JSON object")
            except ValueError:
                return check(False, f"{name}: a JSON object")
        return True

    def check_problem(self, name, st, hd, rb):
        ctype = hd.get("Content-Type", "")
        try:
            p = json.loads(rb)
        except ValueError:
            p = None
        return check(ctype.startswith("application/problem+json") and isinstance(p, dict)
                     and p.get("status") == st,
                     f"{name}: RFC 9457 problem body with status {st}")

    HTTPS_SCHEMES = ("basic", "bearer", "oauth2", "apikey", "cert", "nosec")

    @staticmethod
    def prune(e, schemes, exclusive=()):
        """The part of a security expression a front end can present:
        leaves of schemes; an allOf may hold one leaf only of those not in
        exclusive. None when nothing is left."""
        if isinstance(e, str):
            return e if e.split(":")[0] in schemes else None
        subs = [Walk.prune(x, schemes, exclusive) for x in e[1]]
        if e[0] == "oneOf":
            subs = [x for x in subs if x is not None]
            return norm("oneOf", subs) if subs else None
        if any(x is None for x in subs):
            return None
        if sum(1 for x in leaves(e) if x.split(":")[0] not in exclusive) > 1:
            return None
        return norm("allOf", subs)

    @staticmethod
    def one_op(proto, front, counts, table, thing, aff, form):
        """Counts a form of proto and checks it names one operation of table.
        Returns (label, op), op None when it does not."""
        op = form["op"]
        ops = op if isinstance(op, list) else [op]
        label = f"{proto} {thing}/{aff or '(thing)'} {'/'.join(ops)}"
        counts[thing] = counts.get(thing, 0) + 1
        if not check(len(ops) == 1 and ops[0] in table,
                     f"{label}: one operation the {front} front end carries"):
            return label, None
        return label, ops[0]

    # -- CoAPS front end (the coaps forms)
    COAPS_METHOD = {"readproperty": "GET", "writeproperty": "PUT", "invokeaction": "POST",
                    "readallproperties": "GET", "observeproperty": "GET", "subscribeevent": "GET"}
    COAPS_OBSERVE = ("observeproperty", "subscribeevent")

    def coaps_form(self, thing, kind, aff, aschema, form):
        """Static checks of one coaps form and its cases, queued for coaps_run."""
        label, op = self.one_op("coaps", "CoAPS", COAPS_COUNTS, self.COAPS_METHOD, thing, aff, form)
        if not op:
            return
        method = self.COAPS_METHOD[op]
        coll = {"properties": "properties", "actions": "actions", "events": "events",
                None: "properties"}[kind]
        want_href = (f"{self.cat['coaps']['url']}/things/{thing}/{coll}" +
                     (f"/{urllib.parse.quote(aff, safe='')}" if aff else ""))
        check(form["href"] == want_href, f"{label}: href {form['href']} is {want_href}")
        check(form.get("cov:method") == method,
              f"{label}: cov:method {method} (got {form.get('cov:method')})")
        if op in self.COAPS_OBSERVE:
            check(form.get("subprotocol") == "cov:observe",
                  f"{label}: subprotocol cov:observe (got {form.get('subprotocol')})")
        sec = self.conf[("thing", thing)]
        names = form.get("security", self.td["security"])
        e = self.td_expr(names)
        cexpr = lookup(sec, "security", aff, op)
        check(cexpr is not None and parse_expr(cexpr) == e,
              f"{label}: TD security {expr_text(e)} is the config's ({cexpr})")
        # one handshake: a PSK or a certificate, never both
        ec = self.prune(e, ("psk", "cert", "nosec"), ("nosec",))
        if not check(ec is not None, f"{label}: its security {expr_text(e)} can be presented "
                     f"over CoAPS ({expr_text(ec) if ec else 'nothing'})"):
            return
        allow = lookup(sec, "allow", aff, op)
        cscopes = lookup(sec, "scopes", aff, op)
        cscopes = cscopes.split() if cscopes else [f"{thing}:{DEFAULT_SCOPE[op]}"]
        ctx0 = {"allow": allow, "scopes": form.get("scopes") or cscopes}
        cs = self.cases(ec, ctx0)
        # valid credentials of a DTLS scheme the form does not take: the
        # handshake succeeds, the request gets 4.01
        schemes = {x.split(":")[0] for x in leaves(ec)}
        if "psk" not in schemes:
            cs["wrong"].append([self.identities("psk")[0][0]])
        if "cert" not in schemes:
            cs["wrong"].append([self.identities("cert")[0][0]])
        body = None
        if op == "writeproperty":
            body = self.sample(aschema)
        elif op == "invokeaction" and aschema.get("input"):
            body = self.sample(aschema["input"])
        jf = dict(label=label, op=op, method=method, href=form["href"], aschema=aschema,
                  thing=thing, aff=aff,
                  payload=None if body is None else json.dumps(body),
                  seen={"none": 0, "wrong": 0, "forbid": 0, "good": 0})
        self.coaps_jobforms.append(jf)
        plan = [("none", [])] + [(k, b) for k in ("wrong", "forbid", "good") for b in cs[k]]
        for cat, bundle in plan:
            desc = ", ".join(self.describe(c) for c in bundle) or "no credentials"
            if not bundle or not all(c["valid"] for c in bundle):
                want = "handshake"
            else:
                want = {"unauth": "4.01", "forbid": "4.03",
                        "allow": "2.0x"}[self.decide(e, bundle, dict(ctx0))]
            meant = {"none": ("handshake",), "wrong": ("handshake", "4.01"),
                     "forbid": ("4.03",), "good": ("2.0x",)}[cat]
            if want not in meant:
                fail(f"{label}: test design: {desc} is '{want}', meant as '{cat}'")
                continue
            self.coaps_jobs.append(dict(form=jf, cat=cat, bundle=bundle, desc=desc, want=want))

    def device_value(self, f):
        """The property's bytes straight from the device (None on error)."""
        url = urllib.parse.urljoin(self.device_td(f["thing"])["base"], f"properties/{f['aff']}")
        try:
            return NOPROXY.open(url, timeout=5).read().decode(errors="replace")
        except OSError:
            return None

    def coaps_exec(self, job):
        """Runs one coap-client; -> (returncode, PDU log (-v 7), payload)."""
        f = job["form"]
        fd, path = tempfile.mkstemp(prefix="coaps-", suffix=".out")
        os.close(fd)
        os.unlink(path)  # coap-client creates it when a payload arrives
        argv = ["timeout", "20", "coap-client-gnutls", "-B", "5", "-v", "7", "-o", path,
                "-m", f["method"]]
        for c in job["bundle"]:
            if c["kind"] == "psk":
                argv += ["-u", c["identity"], "-k", c["key"]]
            elif c["kind"] == "cert":
                argv += ["-c", c["crt"], "-j", c["key"], "-C", self.cat["ca"]]
        if f["payload"] is not None:
            argv += ["-t", "50", "-e", f["payload"]]
        if f["op"] in self.COAPS_OBSERVE:  # register, wait a second, deregister
            argv += ["-s", "1"]
        argv.append(f["href"])
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
        payload = ""
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as fh:
                payload = fh.read()
            os.unlink(path)
        return p.returncode, p.stdout.decode(errors="replace"), payload

    @staticmethod
    def coaps_code(log):
        """The response code 'x.yy' of the last response PDU logged, or None."""
        code = None
        for line in log.splitlines():
            m = re.match(r"^v:1 t:\S+ c:(\d\.\d\d) ", line)
            if m and not m.group(1).startswith("0."):
                code = m.group(1)
        return code

    def coaps_judge(self, job, rc, out, payload):
        f = job["form"]
        name = f"{f['label']} [{job['desc']}]"
        code = self.coaps_code(out)
        secrets = [c.get("key") for c in job["bundle"] if c["kind"] == "psk"]
        if any(x and (x in payload) for x in secrets):
            return fail(f"{name}: a secret is echoed")
        want = job["want"]
        if want == "handshake":
            return check(code is None, f"{name}: the DTLS handshake fails, no answer "
                         f"(got {code}, rc {rc})")
        if want in ("4.01", "4.03"):
            return check(code == want, f"{name}: {want} (got {code}, rc {rc})")
        if f["op"] in self.COAPS_OBSERVE:
            # accepted: the current value with Observe, or (no value yet: a
            # long-polled property, an event) the empty ACK of a separate
            # answer to come
            acked = re.search(r"^v:1 t:ACK c:0\.00 ", out, re.M) is not None
            return check(code == "2.05" or (code is None and acked),
                         f"{name}: 2.05 with Observe, or accepted with an empty ACK (got {code}, "
                         f"rc {rc})")
        ok_codes = {"GET": ("2.05",), "PUT": ("2.04",), "POST": ("2.04", "2.05")}[f["method"]]
        if not check(code in ok_codes, f"{name}: {'/'.join(ok_codes)} (got {code}, rc {rc} "
                     f"{payload[:80]!r})"):
            return False
        if f["op"] == "readproperty":
            dev = job.get("device")
            if not check(dev is not None and payload in dev,
                         f"{name}: the device's payload byte for byte ({payload!r}, the "
                         f"device: {dev})"):
                return False
            try:
                v = json.loads(payload)
            except ValueError:
                return check(False, f"{name}: a JSON value ({payload[:40]!r})")
            t = f["aschema"].get("type")
            py = {"boolean": bool, "integer": int, "number": (int, float), "string": str,
                  "object": dict, "array": list}.get(t)
            return check(py is None or (isinstance(v, py) and not (t != "boolean" and
                                                                   isinstance(v, bool))),
                         f"{name}: the device's value {v!r} is a {t}")
        if f["op"] == "readallproperties":
            try:
                v = json.loads(payload)
                return check(isinstance(v, dict) and v,
                             f"{name}: the device's properties as a JSON object "
                             f"({sorted(v) if isinstance(v, dict) else v!r})")
            except ValueError:
                return check(False, f"{name}: a JSON object ({payload[:40]!r})")
        return True

    def coaps_run(self):
        jobs = self.coaps_jobs
        print(f"# coaps: {len(jobs)} client runs", flush=True)
        # allowed reads last, with no write under way: the payload must be
        # the device's own bytes, read directly before and after
        reads = [j for j in jobs if j["want"] == "2.0x" and j["form"]["op"] == "readproperty"]
        rest = [j for j in jobs if j not in reads]
        with ThreadPoolExecutor(max_workers=16) as ex:
            results = list(ex.map(self.coaps_exec, rest))
            for j in reads:
                j["device"] = [self.device_value(j["form"])]
            results += list(ex.map(self.coaps_exec, reads))
            for j in reads:
                j["device"].append(self.device_value(j["form"]))
        jobs = rest + reads
        for job, (rc, out, payload) in zip(jobs, results):
            if self.coaps_judge(job, rc, out, payload):
                job["form"]["seen"][job["cat"]] += 1
            elif os.environ.get("CONFORMANCE_VERBOSE"):
                print("# " + out.replace("\n", "\n# "))
        n = sum(1 for j in jobs if j["want"] == "2.0x" and j["form"]["method"] != "GET")
        print(f"# coaps allowed writes and invocations: {n}", flush=True)
        for f in self.coaps_jobforms:
            for cat, n in f["seen"].items():
                check(n > 0, f"{f['label']}: covered '{cat}' ({n} case(s))")

    # -- MQTT front end (the mqtts forms)
    MQTT_SCHEMES = ("basic", "bearer", "oauth2", "cert")
    MQTT_PACKET = {"readproperty": "subscribe", "observeproperty": "subscribe",
                   "subscribeevent": "subscribe", "writeproperty": "publish",
                   "invokeaction": "publish"}

    def mqtt_prune(self, e):
        """The part of a security expression an MQTT client can present: a
        user name and one password (basic, or a JWT for bearer/oauth2) and a
        client certificate. None when nothing is left."""
        if isinstance(e, str):
            return e if e.split(":")[0] in self.MQTT_SCHEMES else None
        subs = [self.mqtt_prune(x) for x in e[1]]
        if e[0] == "oneOf":
            subs = [x for x in subs if x is not None]
            return norm("oneOf", subs) if subs else None
        if any(x is None for x in subs):
            return None
        if sum(1 for x in leaves(e) if not x.startswith("cert")) > 1:
            return None  # two parts that both need the one password
        return norm("allOf", subs)

    def mqtt_argv(self, bundle):
        """Connection arguments of a credential bundle (and a description)."""
        m = self.cat["mqtt"]
        cert = next((c for c in bundle if c["kind"] == "cert"), None)
        argv = ["-V", "mqttv5", "-h", m["host"], "-p", str(m["cert_port"] if cert else m["port"]),
                "--cafile", self.cat["ca"]]
        for c in bundle:
            if c["kind"] == "basic":
                argv += ["-u", c["user"], "-P", c["password"]]
            elif c["kind"] == "bearer":
                argv += ["-u", "conformance", "-P", c["token"]]  # any user name
            elif c["kind"] == "cert":
                argv += ["--cert", c["crt"], "--key", c["key"]]
        return argv

    def mqtt_form(self, thing, kind, aff, aschema, form):
        """Static checks of one mqtts form and its cases, queued for mqtt_run."""
        label, op = self.one_op("mqtts", "MQTT", MQTT_COUNTS, self.MQTT_PACKET, thing, aff, form)
        if not op:
            return
        packet = self.MQTT_PACKET[op]
        publish = packet == "publish"
        topic = form.get("mqv:topic" if publish else "mqv:filter")
        check(form.get("mqv:controlPacket") == packet and topic,
              f"{label}: mqv:controlPacket {form.get('mqv:controlPacket')} with "
              f"{'mqv:topic' if publish else 'mqv:filter'} {topic}")
        if not topic:
            return
        check(form["href"] == f"{self.cat['mqtt']['broker_url']}/{topic}",
              f"{label}: href {form['href']} is the broker's URL with the topic")
        check(form.get("mqv:qos") == "1", f"{label}: mqv:qos 1 (got {form.get('mqv:qos')})")
        if publish or op == "readproperty":
            check(form.get("mqv:retain") is (op == "readproperty"),
                  f"{label}: mqv:retain {op == 'readproperty'} (got {form.get('mqv:retain')})")
        sec = self.conf[("thing", thing)]
        names = form.get("security", self.td["security"])
        e = self.td_expr(names)
        cexpr = lookup(sec, "security", aff, op)
        check(cexpr is not None and parse_expr(cexpr) == e,
              f"{label}: TD security {expr_text(e)} is the config's ({cexpr})")
        em = self.mqtt_prune(e)
        if not check(em is not None, f"{label}: its security {expr_text(e)} can be presented "
                     f"over MQTT ({expr_text(em) if em else 'nothing'})"):
            return
        allow = lookup(sec, "allow", aff, op)
        cscopes = lookup(sec, "scopes", aff, op)
        cscopes = cscopes.split() if cscopes else [f"{thing}:{DEFAULT_SCOPE[op]}"]
        if any(x.split(":")[0] in ("bearer", "oauth2") for x in leaves(e)):
            check(sorted(form.get("scopes", [])) == sorted(cscopes),
                  f"{label}: form scopes {form.get('scopes')} are the config's {cscopes}")
        ctx0 = {"allow": allow, "scopes": form.get("scopes") or cscopes}
        # A subscription to a property topic is decided as observeproperty
        # or readproperty (MQTT cannot tell them apart, wotgw(8) MQTT): the
        # oracle allows it when either operation the TD offers on the
        # affordance allows it, each with its own security, allow, scopes.
        alts = [(em, ctx0)]
        if kind == "properties" and packet == "subscribe":
            tdops = set()
            for g in aschema.get("forms", []):
                tdops |= set(g["op"] if isinstance(g["op"], list) else [g["op"]])
            for other in ("readproperty", "observeproperty"):
                ox = lookup(sec, "security", aff, other)
                if other == op or other not in tdops or not ox:
                    continue
                oe = self.mqtt_prune(parse_expr(ox))
                if oe is None:
                    continue
                osc = lookup(sec, "scopes", aff, other)
                alts.append((oe, {"allow": lookup(sec, "allow", aff, other),
                                  "scopes": osc.split() if osc else
                                  [f"{thing}:{DEFAULT_SCOPE[other]}"], "op": other}))
        self.mqtt_forms.append(dict(thing=thing, aff=aff, op=op, topic=topic, alts=alts))
        cs = self.cases(em, ctx0)
        body = None
        if op == "writeproperty":
            body = self.sample(aschema)
        elif op == "invokeaction" and aschema.get("input"):
            body = self.sample(aschema["input"])
        payload = "" if body is None else json.dumps(body)
        # credentials the broker accepts, of a scheme the form does not take:
        # connected, then refused like the form's own credentials that fail
        schemes = {x.split(":")[0] for x in leaves(em)}
        if "basic" not in schemes:
            cs["wrong"].append([self.identities("basic")[0][0]])
        if "cert" not in schemes:
            cs["wrong"].append([self.identities("cert")[0][0]])
        if not schemes & {"bearer", "oauth2"}:
            cs["wrong"].append([self.token_item(sorted(self.issuers)[0], ctx0["scopes"])])
        plan = [("none", [])] + [(k, b) for k in ("wrong", "forbid", "good") for b in cs[k]]
        job_form = dict(label=label, op=op, topic=topic, packet=packet, payload=payload,
                        ctype=form.get("contentType"), aschema=aschema, thing=thing,
                        kind=kind, aff=aff, seen={"none": 0, "wrong": 0, "forbid": 0,
                                                  "good": 0})
        self.mqtt_jobforms.append(job_form)
        for cat, bundle in plan:
            verdict, via = self.mqtt_decide(alts, bundle)
            connects = bool(bundle) and all(c["valid"] for c in bundle)
            want = "refused" if not connects else "granted" if verdict == "allow" else "denied"
            desc = ", ".join(self.describe(c) for c in bundle) or "no credentials"
            if cat == "forbid" and want == "granted" and via:
                cat = "good"  # allowed by the other operation of the topic
                desc += f" (allowed by {via})"
            meant = {"none": ("refused",), "wrong": ("refused", "denied"),
                     "forbid": ("denied",), "good": ("granted",)}[cat]
            if want not in meant:
                fail(f"{label}: test design: {desc} is '{want}', meant as '{cat}'")
                continue
            self.mqtt_jobs.append(dict(form=job_form, cat=cat, bundle=bundle, desc=desc,
                                       want=want))

    def mqtt_decide(self, alts, bundle):
        """-> (verdict, the other operation that allowed it or None)"""
        rs = []
        for e, ctx in alts:
            r = self.decide(e, bundle, dict(ctx))
            if r == "allow":
                return r, ctx.get("op")
            rs.append(r)
        return ("forbid" if "forbid" in rs else "unauth"), None

    def mqtt_exec(self, job):
        """Runs one mosquitto client; -> (returncode, output)."""
        f = job["form"]
        argv = ["timeout", "10"]
        trigger = None
        if f["packet"] == "subscribe":
            argv += ["mosquitto_sub"] + self.mqtt_argv(job["bundle"]) + [
                "-t", f["topic"], "-q", "1", "-d", "-F", "MSG %t %r %x"]
            # -W bounds the wait for the SUBACK as well (a password check
            # under ASan with 16 clients at once takes seconds): a denied
            # subscription ends at its SUBACK 135, a granted one at -C 1
            argv += ["-W", "8"]
            if job["want"] == "granted":
                argv += ["-C", "1"]
                if f["kind"] == "events":
                    trigger = self.stream_trigger(f["thing"], "events", f["aff"])
        else:
            argv += ["mosquitto_pub"] + self.mqtt_argv(job["bundle"]) + [
                "-t", f["topic"], "-q", "1", "-d", "-m", f["payload"]]
            if f["payload"] and f["ctype"]:
                argv += ["-D", "publish", "content-type", f["ctype"]]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        if trigger:
            while p.poll() is None:
                time.sleep(0.3)
                trigger()
        out = p.communicate()[0].decode(errors="replace")
        return p.returncode, out

    @staticmethod
    def mqtt_parse(out):
        r = {}
        m = re.search(r"received CONNACK \((\d+)\)", out)
        r["connack"] = int(m.group(1)) if m else None
        m = re.search(r"Subscribed \(mid: \d+\): (\d+)", out)
        r["suback"] = int(m.group(1)) if m else None
        m = re.search(r"received PUBACK \(Mid: \d+, RC:(\d+)\)", out)
        r["puback"] = int(m.group(1)) if m else None
        r["msgs"] = []
        for line in out.splitlines():
            if line.startswith("MSG "):
                parts = line.split(" ", 3) + [""]
                r["msgs"].append((parts[1], bytes.fromhex(parts[3])))
                r.setdefault("retained", []).append(parts[2] == "1")
        r["tls_refused"] = "OpenSSL Error" in out or "alert" in out
        return r

    def mqtt_judge(self, job, rc, out):
        f = job["form"]
        name = f"{f['label']} [{job['desc']}]"
        r = self.mqtt_parse(out)
        ack = "suback" if f["packet"] == "subscribe" else "puback"
        secrets = [c.get("password") or c.get("token") for c in job["bundle"]]
        leaked = [x for x in secrets if x and x in out]
        if leaked:
            return fail(f"{name}: a secret is echoed by the client")
        if job["want"] == "refused":
            cert = any(c["kind"] == "cert" for c in job["bundle"])
            if cert and r["connack"] is None:
                # TLS 1.3: the client learns of the refused certificate after
                # its handshake, as an alert or a closed connection
                return check(rc != 0 and r[ack] is None and not r["msgs"],
                             f"{name}: refused in the TLS handshake, no CONNACK (rc {rc}"
                             f"{', TLS alert' if r['tls_refused'] else ''})")
            return check(r["connack"] == 135 and r[ack] is None and not r["msgs"],
                         f"{name}: CONNACK 135 (got {r['connack']}, rc {rc})")
        if not check(r["connack"] == 0, f"{name}: CONNACK 0 (got {r['connack']}, rc {rc})"):
            return False
        if job["want"] == "denied":
            return check(r[ack] == 135 and not r["msgs"],
                         f"{name}: {ack.upper()} 135 (got {r[ack]}), nothing delivered "
                         f"({len(r['msgs'])})")
        if f["packet"] == "publish":
            return check(r["puback"] in (0, 16), f"{name}: PUBACK 0/16 (got {r['puback']})")
        if not check(r["suback"] in (0, 1), f"{name}: SUBACK granted QoS (got {r['suback']})"):
            return False
        if not check(len(r["msgs"]) == 1 and r["msgs"][0][0] == f["topic"],
                     f"{name}: a message on {f['topic']} arrived "
                     f"({[t for t, _ in r['msgs']]})"):
            return False
        if f["kind"] != "properties":
            return True
        if f["op"] == "readproperty" and not check(r["retained"][0],
                                                   f"{name}: the value came retained"):
            return False
        try:
            v = json.loads(r["msgs"][0][1])
        except ValueError:
            return check(False, f"{name}: the retained value is JSON ({r['msgs'][0][1][:40]!r})")
        t = f["aschema"].get("type")
        py = {"boolean": bool, "integer": int, "number": (int, float), "string": str,
              "object": dict, "array": list}.get(t)
        return check(py is None or (isinstance(v, py) and not (t != "boolean" and
                                                               isinstance(v, bool))),
                     f"{name}: the retained value {v!r} is a {t}")

    def mqtt_run(self):
        """Every queued case of every mqtts form, the clients in parallel."""
        jobs = self.mqtt_jobs
        print(f"# mqtts: {len(jobs)} client runs", flush=True)
        with ThreadPoolExecutor(max_workers=16) as ex:
            results = list(ex.map(self.mqtt_exec, jobs))
        for job, (rc, out) in zip(jobs, results):
            if self.mqtt_judge(job, rc, out):
                job["form"]["seen"][job["cat"]] += 1
            elif os.environ.get("CONFORMANCE_VERBOSE"):
                print("# " + out.replace("\n", "\n# "))
        n = sum(1 for j in jobs if j["want"] == "granted" and j["form"]["packet"] == "publish")
        print(f"# mqtts allowed publishes: {n}", flush=True)
        for f in self.mqtt_jobforms:
            for cat, n in f["seen"].items():
                check(n > 0, f"{f['label']}: covered '{cat}' ({n} case(s))")

    def mqtt_wildcard(self):
        """A principal allowed only one thing (over MQTT, by the oracle)
        subscribes to PREFIX/#: granted, and it receives that thing's
        messages only, each on a topic it may read."""
        if not self.mqtt_forms:
            return fail("no mqtts forms: no wildcard check")
        prefix = self.mqtt_forms[0]["topic"].split("/")[0]
        idents = self.identities("basic")[0] + self.identities("cert")[0]
        picked = []
        for item in idents:
            readable = set()
            things = set()
            for f in self.mqtt_forms:
                if self.mqtt_decide(f["alts"], [item])[0] == "allow":
                    things.add(f["thing"])
                    if self.MQTT_PACKET[f["op"]] == "subscribe":
                        readable.add(f["topic"])
            if len(things) == 1 and readable:
                picked.append((item, things.pop(), readable))
        if not check(picked, f"a principal allowed only one thing over MQTT "
                     f"({[(i['principal'], t) for i, t, _ in picked]})"):
            return
        triggers = []
        for f in self.mqtt_forms:
            if f["op"] == "subscribeevent":
                triggers.append(self.stream_trigger(f["thing"], "events", f["aff"]))
        stop = threading.Event()

        def fire():
            while not stop.is_set():
                for t in triggers:
                    t()
                time.sleep(0.3)

        th = threading.Thread(target=fire, daemon=True)
        th.start()

        def sub(entry):
            item = entry[0]
            b = [item]
            p = subprocess.run(["timeout", "10", "mosquitto_sub"] + self.mqtt_argv(b) + [
                "-t", f"{prefix}/#", "-q", "1", "-d", "-F", "MSG %t %r %x", "-W", "4"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            return p.stdout.decode(errors="replace")

        try:
            with ThreadPoolExecutor(max_workers=len(picked)) as ex:
                outs = list(ex.map(sub, picked))
        finally:
            stop.set()
            th.join()
        flowing = {t.split("/")[1] for out in outs for t, _ in self.mqtt_parse(out)["msgs"]}
        check(len(flowing) > 1, f"{prefix}/#: other things' messages flowed meanwhile "
              f"({sorted(flowing)})")
        for (item, thing, readable), out in zip(picked, outs):
            r = self.mqtt_parse(out)
            who = self.describe(item)
            topics = sorted({t for t, _ in r["msgs"]})
            check(r["connack"] == 0 and r["suback"] in (0, 1),
                  f"{prefix}/# by {who} (allowed only {thing}): granted (CONNACK "
                  f"{r['connack']}, SUBACK {r['suback']})")
            check(r["msgs"], f"{prefix}/# by {who}: messages arrived ({len(r['msgs'])})")
            check(all(t.startswith(f"{prefix}/{thing}/") for t in topics),
                  f"{prefix}/# by {who}: only {thing}'s messages ({topics})")
            check(set(topics) <= readable,
                  f"{prefix}/# by {who}: only topics it may read ({sorted(readable)})")

    # -- TDs
    def fetch_tds(self):
        """GET /things with every single credential; GET /things/{t} of each
        thing seen, with a credential that lists it."""
        singles = []
        for s in ("basic", "apikey", "cert"):
            singles += [[i] for i in self.identities(s)[0]]
        all_scopes = []
        for t in self.cat["things"]:
            all_scopes += [f"{t}:{x}" for x in ("read", "write", "invoke", "subscribe")]
        for (typ, name), sec in self.conf.items():
            if typ == "thing":
                all_scopes += [v for k, v in sec.items() if k.startswith("scopes")]
        for n in sorted(self.issuers):
            singles.append([self.token_item(n, " ".join(all_scopes).split())])
        seen = {}
        for b in singles:
            st, hd, rb = self.client.request("GET", self.gw + "/things", b)
            if st != 200:
                fail(f"GET /things [{self.describe(b[0])}]: 200 (got {st})")
                continue
            ctype = hd.get("Content-Type", "")
            check(ctype.split(";")[0] in ("application/td+json", "application/ld+json",
                                          "application/json"),
                  f"GET /things [{self.describe(b[0])}]: a TD listing ({ctype})")
            try:
                lst = json.loads(rb)
            except ValueError:
                fail(f"GET /things [{self.describe(b[0])}]: JSON")
                continue
            for td in lst if isinstance(lst, list) else []:
                m = re.search(r"/things/([^/]+)/", json.dumps(td.get("forms", [])) + json.dumps(
                    td.get("properties", {})) + json.dumps(td.get("actions", {})) + json.dumps(
                    td.get("events", {})))
                if m:
                    seen.setdefault(urllib.parse.unquote(m.group(1)), b)
        check(sorted(seen) == sorted(self.cat["things"]),
              f"the listings together name every configured thing ({sorted(seen)})")
        tds = {}
        for t, b in sorted(seen.items()):
            st, hd, rb = self.client.request("GET", f"{self.gw}/things/{t}", b)
            if not check(st == 200, f"GET /things/{t} [{self.describe(b[0])}]: 200 (got {st})"):
                continue
            tds[t] = json.loads(rb)
            dev = self.cat["device"].split("//", 1)[1]
            check(dev not in rb.decode(), f"TD of {t}: no device address ({dev})")
            st, hd, rb = self.client.request("GET", f"{self.gw}/things/{t}")
            check(st == 401, f"GET /things/{t} without credentials: 401 (got {st})")
            self.check_problem(f"GET /things/{t} without credentials", st, hd, rb)
        # mallory authenticates but may do nothing anywhere: sees nothing
        mal = [i for i in self.identities("basic")[0] if i["user"] == self.cat["nobody"]]
        st, hd, rb = self.client.request("GET", self.gw + "/things", mal)
        check(st == 200 and json.loads(rb or b"null") == [],
              f"GET /things as {self.cat['nobody']} (allowed nothing): 200 [] (got {st} {rb[:80]!r})")
        for t in self.cat["things"]:
            st, _, _ = self.client.request("GET", f"{self.gw}/things/{t}", mal)
            check(st == 404, f"GET /things/{t} as {self.cat['nobody']}: 404 (got {st})")
        return tds

    def unexposed(self, tds):
        """Forms the config leaves unexposed: absent from the TD, and their URL
        answers 404/405 to credentials that authenticate."""
        alice = [i for i in self.identities("basic")[0] if i["user"] == self.cat["authenticated"]]
        paths = {"readproperty": ("GET", "properties/{}"), "writeproperty": ("PUT",
                                                                             "properties/{}"),
                 "observeproperty": ("GET", "properties/{}/observe"),
                 "invokeaction": ("POST", "actions/{}"), "subscribeevent": ("GET", "events/{}"),
                 "readallproperties": ("GET", "properties")}
        for spec in self.cat["unexposed"]:
            thing, aff, op = spec.split(":")
            td = tds.get(thing, {})
            present = []
            for k in ("properties", "actions", "events"):
                a = td.get(k, {}).get(aff) if aff else None
                if a:
                    present += [f for f in a.get("forms", []) if op in (
                        f["op"] if isinstance(f["op"], list) else [f["op"]])]
            if not aff:
                present += [f for f in td.get("forms", []) if op in (
                    f["op"] if isinstance(f["op"], list) else [f["op"]])]
            check(td and not present, f"unexposed {spec}: absent from the exposed TD")
            method, p = paths[op]
            url = f"{self.gw}/things/{thing}/" + p.format(urllib.parse.quote(aff or "", safe=""))
            body = json.dumps(1).encode() if method in ("PUT", "POST") else None
            st, hd, rb = self.client.request(method, url, alice, body=body)
            check(st in (404, 405), f"unexposed {spec}: {method} {url[len(self.gw):]} "
                  f"answers 404/405 (got {st})")
            if st == 405:
                check(hd.get("Allow") is not None, f"unexposed {spec}: 405 with Allow")

    def run(self):
        tds = self.fetch_tds()
        for thing in sorted(tds):
            self.td = tds[thing]
            for d in self.td.get("securityDefinitions", {}).values():
                if d.get("scheme") == "apikey" and d.get("name"):
                    self.apikey_header = d["name"]
            for k in ("properties", "actions", "events"):
                for aff, a in sorted(self.td.get(k, {}).items()):
                    for f in a.get("forms", []):
                        if f.get("href", "").startswith("mqtts://"):
                            self.mqtt_form(thing, k, aff, a, f)
                        elif f.get("href", "").startswith("coaps://"):
                            self.coaps_form(thing, k, aff, a, f)
                        else:
                            self.walk_form(thing, k, aff, a, f)
            for f in self.td.get("forms", []):
                if f.get("href", "").startswith("mqtts://"):
                    self.mqtt_form(thing, None, None, {}, f)
                elif f.get("href", "").startswith("coaps://"):
                    self.coaps_form(thing, None, None, {}, f)
                else:
                    self.walk_form(thing, None, None, {}, f)
        self.unexposed(tds)
        total = sum(COUNTS.values())
        print(f"# HTTPS forms walked: {total} {json.dumps(COUNTS, sort_keys=True)}")
        check(total == self.cat["expect_forms"],
              f"walked {total} HTTPS forms, expected {self.cat['expect_forms']}")
        for t, n in sorted(self.cat.get("expect_per_thing", {}).items()):
            check(COUNTS.get(t, 0) == n, f"walked {COUNTS.get(t, 0)} HTTPS forms of {t}, "
                  f"expected {n}")
        if "mqtt" in self.cat:
            self.mqtt_run()
            self.mqtt_wildcard()
            total = sum(MQTT_COUNTS.values())
            print(f"# mqtts forms walked: {total} {json.dumps(MQTT_COUNTS, sort_keys=True)}")
            check(total == self.cat["expect_mqtts_forms"],
                  f"walked {total} mqtts forms, expected {self.cat['expect_mqtts_forms']}")
            for t, n in sorted(self.cat.get("expect_mqtts_per_thing", {}).items()):
                check(MQTT_COUNTS.get(t, 0) == n, f"walked {MQTT_COUNTS.get(t, 0)} mqtts forms "
                      f"of {t}, expected {n}")
        if "coaps" in self.cat:
            self.coaps_run()
            total = sum(COAPS_COUNTS.values())
            print(f"# coaps forms walked: {total} {json.dumps(COAPS_COUNTS, sort_keys=True)}")
            check(total == self.cat["expect_coaps_forms"],
                  f"walked {total} coaps forms, expected {self.cat['expect_coaps_forms']}")
            for t, n in sorted(self.cat.get("expect_coaps_per_thing", {}).items()):
                check(COAPS_COUNTS.get(t, 0) == n, f"walked {COAPS_COUNTS.get(t, 0)} coaps "
                      f"forms of {t}, expected {n}")


def main():
    cat = json.load(open(sys.argv[1]))
    Walk(cat).run()
    print(f"# conformance: {FAILS} failed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
