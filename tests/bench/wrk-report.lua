-- wrk-report.lua - used by tests/bench/run.sh: after wrk's own report,
-- prints one "WRKJSON {...}" line with exact numbers (latencies in
-- microseconds) so that run.sh does not parse wrk's rounded text.
-- errors.status counts responses that were not 2xx or 3xx: a run with any
-- of those (or socket errors) is reported as invalid by report.py.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
        '"status_errors":%d,"timeouts":%d,"lat_mean_us":%.1f,' ..
        '"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d}\n',
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout, latency.mean,
        latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max))
end
