#!/usr/bin/env python3
"""report.py META.json RESULTS.jsonl SUMMARY.json - the table and JSON
summary of tests/bench/run.sh.

RESULTS has one JSON object per wrk run (round 0 = warm-up, ignored): wrk's
numbers (requests, duration_us, lat_*_us, *_errors) plus the CPU time the
proxy and the device spent during the run (proxy_cpu_ns, device_cpu_ns,
from /proc/PID/task/*/schedstat) and the proxy's highest RSS.

A run is valid when wrk saw no socket error, no timeout, no non-2xx/3xx
response and every server was still alive afterwards; invalid runs are
listed and left out of the medians. Ratios are computed per round (the
two targets of a pair ran back to back) and their median reported.

Exit status: 0 when every measured run was valid and wotgw was measured,
1 otherwise (the summary is written either way).
"""
import json
import statistics
import sys

RSS_TARGET_KIB = 8 * 1024

# (name, numerator, denominator, what): wotgw/nginx and the references
PAIRS = [
    ("bearer_vs_nginx", "wotgw-bearer", "nginx"),
    ("basic_vs_nginx", "wotgw-basic", "nginx"),
    ("nginx_basic_vs_nginx", "nginx-basic", "nginx"),
    ("handshake_wotgw_vs_nginx", "wotgw-hs", "nginx-hs"),
    ("nginx_vs_device", "nginx", "device"),
    ("bearer_vs_device", "wotgw-bearer", "device"),
]


def run_numbers(r):
    req = r.get("requests", 0)
    dur = max(r.get("duration_us", 1), 1)
    errors = sum(r.get(k, 0) for k in
                 ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    out = {
        "round": r["round"],
        "requests": req,
        "rps": req * 1e6 / dur,
        "p50_ms": r.get("lat_p50_us", 0) / 1000,
        "p99_ms": r.get("lat_p99_us", 0) / 1000,
        "errors": errors,
        "non_2xx": r.get("status_errors", 0),
        "valid": errors == 0 and req > 0 and r.get("servers_alive", False),
        "proxy_cpu_us_per_req": None,
        "device_cpu_us_per_req": r.get("device_cpu_ns", 0) / req / 1000 if req else None,
        "server_cpu_us_per_req": None,
        "proxy_rss_max_kib": r.get("proxy_rss_max_kib", 0),
    }
    if req and r["target"] != "device":
        out["proxy_cpu_us_per_req"] = r.get("proxy_cpu_ns", 0) / req / 1000
        out["server_cpu_us_per_req"] = (r.get("proxy_cpu_ns", 0) + r.get("device_cpu_ns", 0)) / req / 1000
    elif req:
        out["server_cpu_us_per_req"] = out["device_cpu_us_per_req"]
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec="{:.2f}"):
    return "-" if x is None else spec.format(x)


def main():
    meta = json.load(open(sys.argv[1]))
    runs = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
    out_path = sys.argv[3]
    measured = [r for r in runs if r.get("round", 0) > 0]

    per_target = {}
    order = []
    for r in measured:
        t = r["target"]
        if t not in per_target:
            per_target[t] = []
            order.append(t)
        per_target[t].append(run_numbers(r))

    targets = {}
    invalid = []
    for t in order:
        rs = per_target[t]
        ok = [x for x in rs if x["valid"]]
        invalid += [{"target": t, "round": x["round"], "errors": x["errors"], "non_2xx": x["non_2xx"]}
                    for x in rs if not x["valid"]]
        targets[t] = {
            "runs": len(rs),
            "valid_runs": len(ok),
            "rps": med([x["rps"] for x in ok]),
            "p50_ms": med([x["p50_ms"] for x in ok]),
            "p99_ms": med([x["p99_ms"] for x in ok]),
            "proxy_cpu_us_per_req": med([x["proxy_cpu_us_per_req"] for x in ok]),
            "device_cpu_us_per_req": med([x["device_cpu_us_per_req"] for x in ok]),
            "server_cpu_us_per_req": med([x["server_cpu_us_per_req"] for x in ok]),
            "proxy_rss_max_kib": max([x["proxy_rss_max_kib"] for x in ok], default=0),
            "per_round": rs,
        }

    ratios = {}
    for name, a, b in PAIRS:
        if a not in per_target or b not in per_target:
            continue
        ra = {x["round"]: x for x in per_target[a] if x["valid"]}
        rb = {x["round"]: x for x in per_target[b] if x["valid"]}
        rounds = sorted(set(ra) & set(rb))
        if not rounds:
            continue

        def ratio(key):
            v = [ra[k][key] / rb[k][key] for k in rounds
                 if ra[k][key] is not None and rb[k][key]]
            return (med(v), v)

        rps, rps_v = ratio("rps")
        pc, pc_v = ratio("proxy_cpu_us_per_req")
        sc, sc_v = ratio("server_cpu_us_per_req")
        ratios[name] = {
            "of": a, "to": b, "rounds": rounds,
            "rps": rps, "rps_per_round": rps_v,
            "proxy_cpu": pc, "proxy_cpu_per_round": pc_v,
            "server_cpu": sc, "server_cpu_per_round": sc_v,
        }

    w = meta.get("wotgw", {})

    def goal(ratio_name, key, cmp, limit):
        r = ratios.get(ratio_name, {}).get(key)
        if r is None:
            return {"value": None, "limit": limit, "met": None}
        return {"value": r, "limit": limit, "met": r >= limit if cmp == ">=" else r <= limit}

    goals = {
        "bearer_rps_ge_nginx": goal("bearer_vs_nginx", "rps", ">=", 1.0),
        "bearer_server_cpu_le_nginx": goal("bearer_vs_nginx", "server_cpu", "<=", 1.0),
        "bearer_proxy_cpu_le_nginx": goal("bearer_vs_nginx", "proxy_cpu", "<=", 1.0),
        "basic_rps_ge_nginx": goal("basic_vs_nginx", "rps", ">=", 1.0),
        "handshake_proxy_cpu_le_nginx": goal("handshake_wotgw_vs_nginx", "proxy_cpu", "<=", 1.0),
        "handshake_server_cpu_le_nginx": goal("handshake_wotgw_vs_nginx", "server_cpu", "<=", 1.0),
        "rss_idle_le_8MiB": {
            "value": w.get("rss_idle_kib") or None, "limit": RSS_TARGET_KIB,
            "met": (w["rss_idle_kib"] <= RSS_TARGET_KIB) if w.get("rss_idle_kib") else None,
        },
    }

    # -hs numbers are handshakes only if no session was resumed
    tls = meta["tls"]
    full = {"nginx": tls.get("wrk_sessions_resumed") == 0 and tls.get("resumption_nginx") == "New",
            "wotgw": tls.get("resumption_wotgw") == "New"}
    for g in ("handshake_proxy_cpu_le_nginx", "handshake_server_cpu_le_nginx"):
        if goals[g]["met"] is not None and not (full["nginx"] and full["wotgw"]):
            goals[g]["met"] = None
            goals[g]["why"] = "a server resumed TLS sessions: not full handshakes"
    summary = dict(meta)
    summary.update({"targets": targets, "ratios": ratios, "goals": goals, "invalid_runs": invalid})
    with open(out_path, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")

    # ---- the table ----
    s = meta["settings"]
    print()
    print(f"wotgw benchmark: {s['rounds']} rounds, {s['duration_s']} s per run "
          f"({s['hs_duration_s']} s handshakes), {s['connections']} connections "
          f"({s['hs_connections']} for handshakes), wrk -t{s['wrk_threads']}, "
          f"load on CPU {meta['machine']['load_cpu']}, servers on CPU {meta['machine']['server_cpu']}"
          + ("" if meta["machine"]["pinned"] else " (NOT pinned)"))
    print(f"TLS nginx: {meta['tls']['nginx']}")
    if meta["tls"]["wotgw"]:
        print(f"TLS wotgw: {meta['tls']['wotgw']}")
    tls = meta["tls"]
    print(f"wrk with Connection: close against nginx: {tls['wrk_sessions_resumed']} of "
          f"{tls['wrk_sessions_checked']} TLS sessions resumed (0 = every handshake is a full one); "
          f"wrk negotiated {tls.get('wrk_negotiated_with_nginx') or '?'}")
    print(f"second connection resumes the first (s_client -sess_in): nginx {tls['resumption_nginx'] or '-'}, "
          f"wotgw {tls['resumption_wotgw'] or '-'} (New = full handshakes only)")
    print()
    hdr = f"{'target':<14} {'ok':>5} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} " \
          f"{'proxy us/req':>13} {'device us/req':>14} {'server us/req':>14} {'proxy RSS max':>14}"
    print(hdr)
    print("-" * len(hdr))
    for t in order:
        x = targets[t]
        rss = f"{x['proxy_rss_max_kib'] / 1024:.1f} MiB" if x["proxy_rss_max_kib"] else "-"
        print(f"{t:<14} {x['valid_runs']:>2}/{x['runs']:<2} {fmt(x['rps'], '{:.0f}'):>10} "
              f"{fmt(x['p50_ms']):>8} {fmt(x['p99_ms']):>8} {fmt(x['proxy_cpu_us_per_req'], '{:.1f}'):>13} "
              f"{fmt(x['device_cpu_us_per_req'], '{:.1f}'):>14} {fmt(x['server_cpu_us_per_req'], '{:.1f}'):>14} "
              f"{rss:>14}")
    print("(-hs targets: one full TLS 1.3 handshake per request, so req/s = handshakes/s and "
          "us/req = CPU per handshake plus one proxied request)")
    print()
    print(f"{'ratio (median of per-round ratios)':<36} {'req/s':>8} {'proxy CPU':>10} {'server CPU':>11}   per-round req/s")
    for name, r in ratios.items():
        label = f"{r['of']} / {r['to']}"
        print(f"{label:<36} {fmt(r['rps']):>8} {fmt(r['proxy_cpu']):>10} {fmt(r['server_cpu']):>11}   "
              + " ".join(f"{v:.2f}" for v in r["rps_per_round"]))
    print()
    print("goals:")
    for name, g in goals.items():
        state = {True: "met", False: "MISSED", None: "not measured"}[g["met"]]
        val = fmt(g["value"], "{:.3f}") if name != "rss_idle_le_8MiB" else \
            (f"{g['value'] / 1024:.2f} MiB" if g["value"] else "-")
        print(f"  {name:<30} {val:>10}  {state}")
    print()
    mib = lambda k: f"{k / 1024:.2f} MiB"
    if w.get("available"):
        print(f"wotgw RSS with {w['things']} things: idle {mib(w['rss_idle_kib'])} "
              f"(anonymous {mib(w['rss_anon_idle_kib'])}, PSS {mib(w['pss_idle_kib'])}), "
              f"after first requests {mib(w['rss_after_first_requests_kib'])}, "
              f"after the runs {mib(w['rss_after_runs_kib'])}, "
              f"peak (VmHWM) {mib(w['rss_peak_kib'])}")
    else:
        print(f"wotgw not measured: {w.get('why_not')}")
    if meta.get("library_floor_rss_kib"):
        print(f"RSS of a do-nothing process linking wotgw's libraries (tests/bench/rss-floor.c): "
              f"{mib(meta['library_floor_rss_kib'])}")
    n = meta["nginx"]
    print(f"nginx RSS (master + worker): idle {mib(n['rss_idle_kib'])} (anonymous "
          f"{mib(n['rss_anon_idle_kib'])}, PSS {mib(n['pss_idle_kib'])}), after the runs "
          f"{mib(n['rss_after_runs_kib'])} (worker {mib(n['worker_rss_after_runs_kib'])})")
    if invalid:
        print("INVALID runs (left out of the medians):")
        for i in invalid:
            print(f"  {i['target']} round {i['round']}: {i['errors']} errors ({i['non_2xx']} non-2xx)")
    return 0 if not invalid and w.get("available") else 1


if __name__ == "__main__":
    sys.exit(main())
