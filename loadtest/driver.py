#!/usr/bin/env python3
"""The HTTP load driver behind `loadtest/run.sh`: starts the service on loopback, opens
sessions, joins tabs, runs every scenario with wrk (`loadtest/load.lua`) and writes the
table. `ab.py` runs it for two binaries in turn.

Run it through `loadtest/run.sh`, which builds the binary it needs (with the `bench-baseline`
feature). The driver builds the bare actix-web app (`examples/bare_baseline.rs`) itself,
unless `--bare` names one, and runs each baseline scenario on it too, right after ours.
Every loop here is bounded in count, every wait and every wrk run in time.
"""

import argparse
import datetime
import json
import os
import re
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from common import (CONNECTIONS, ROOT, THREADS, USERS, Client, Workspace, compact, cpu_idle, live_tabs, log,
                    machine, mint_tokens, open_sessions, server_settings, stop_on_sigterm, sweeps_in, write_report,
                    write_requests, wrk)

TABS_PER_USER = 10
PAGES = 100
TABS = USERS * TABS_PER_USER  # 10 000 tabs; tab i is user i // 10's, on page i % 100
BIG_PAGE, BIG_VIEWERS = "/big", 200
LIST_PATH = f"/api/presence/list?pagePath={BIG_PAGE}&limit=1000"  # every one of the 200 viewers
# The sweep scenario's server: tabs live 8 s and the sweep runs every second.
SWEEP_TTL_MS, SWEEP_HEARTBEAT_MS, SWEEP_EVERY_MS = 8000, 3000, 1000
SWEEP_DOOM_SECONDS = 2
TARGETS = {"heartbeat-cookie": 0.60, "list-304": 0.80, "list-200": 0.40}
PERF_DIR = ROOT / "target/loadtest/perf"  # --perf's summaries: working files, never committed
# The bare actix-web app, in run.sh's target dir, with run.sh's features: it shares the
# baseline route's body and answer (and the presence library is compiled once for both).
BARE_TARGET_DIR = "target/bench-baseline"
BARE_BUILD = ["cargo", "build", "--release", "--features", "bench-baseline", "--example", "bare_baseline",
              "--target-dir", BARE_TARGET_DIR, "-q"]
# Each baseline scenario on our stack and its twin on the bare app, run right after it with
# the same request file (the bare app reads no cookie, but gets the same bytes).
BARE_TWINS = {"baseline": "bare", "baseline-cookie": "bare-cookie", "baseline-sized": "bare-sized",
              "baseline-cookie-sized": "bare-cookie-sized", "baseline-end": "bare-end"}

def tab(i):
    """Tab i of the 10 000: user i // 10's, on page i % 100 (so each page has 100 viewers)."""
    return i // TABS_PER_USER, f"/docs/page-{i % PAGES:03d}", f"tab-{i:05d}"


def heartbeat_bodies():
    """(user, JSON body) of a heartbeat of each of the 10 000 tabs."""
    bodies = []
    for i in range(TABS):
        u, page, tab_id = tab(i)
        bodies.append((u, compact({"pagePath": page, "tabId": tab_id, "isEditing": False})))
    return bodies


def request_files(scratch, cookies, tokens):
    json_type = "Content-Type: application/json"
    heartbeats = heartbeat_bodies()
    files = {
        "baseline": [("POST", "/bench/baseline", body, [json_type]) for _, body in heartbeats],
        "baseline-cookie": [
            ("POST", "/bench/baseline", body, [json_type, f"Cookie: {cookies[u]}"]) for u, body in heartbeats
        ],
        "heartbeat-cookie": cookie_heartbeats(cookies),
        "heartbeat-minimal": [
            ("POST", "/api/presence/heartbeat", body, [json_type, f"Cookie: {cookies[u]}", "Prefer: return=minimal"])
            for u, body in heartbeats
        ],
        "heartbeat-bearer": [
            ("POST", "/api/presence/heartbeat", body, [json_type, f"Authorization: Bearer {tokens[u]}"])
            for u, body in heartbeats
        ],
        # `%s` is a fresh tab id (loadtest/load.lua): churn on the 100 busy pages, and tabs
        # that are joined once and left to expire, on 1000 pages nobody reads again.
        "churn": [
            ("POST", "/api/presence/join", f'{{"pagePath":"/docs/page-{u % PAGES:03d}","tabId":"%s"}}',
             [json_type, f"Cookie: {cookies[u]}"])
            for u in range(USERS)
        ],
        "doomed": [
            ("POST", "/api/presence/join", f'{{"pagePath":"/doomed/page-{u:03d}","tabId":"%s"}}',
             [json_type, f"Cookie: {cookies[u]}"])
            for u in range(USERS)
        ],
    }
    return {name: write_requests(scratch / f"{name}.txt", rows) for name, rows in files.items()}


def sized_baseline_files(scratch, cookies, answer_bytes):
    """The baseline, without and with the cookie, answering `answer_bytes` bytes of JSON."""
    json_type = "Content-Type: application/json"
    path = f"/bench/baseline?bytes={answer_bytes}"
    heartbeats = heartbeat_bodies()
    files = {
        "baseline-sized": [("POST", path, body, [json_type]) for _, body in heartbeats],
        "baseline-cookie-sized": [("POST", path, body, [json_type, f"Cookie: {cookies[u]}"]) for u, body in heartbeats],
    }
    return {name: write_requests(scratch / f"{name}.txt", rows) for name, rows in files.items()}


def join_tabs(client, cookies):
    for i in range(TABS):
        u, page, tab_id = tab(i)
        client.expect(200, "POST", "/api/presence/join", {"pagePath": page, "tabId": tab_id},
                      [("Cookie", cookies[u])])


def prepare_big_page(client, cookies, scratch):
    """Joins 200 viewers to /big; answers the list request files and the body size."""
    for u in range(BIG_VIEWERS):
        client.expect(200, "POST", "/api/presence/join", {"pagePath": BIG_PAGE, "tabId": "big"},
                      [("Cookie", cookies[u])])
    etags, body_bytes = [], None
    for u in range(USERS):  # every caller has its own ETag (`isCurrentUser` differs)
        response, data = client.expect(200, "GET", LIST_PATH, headers=[("Cookie", cookies[u])])
        snapshot = json.loads(data)
        assert snapshot["viewerCount"] == BIG_VIEWERS and len(snapshot["viewers"]) == BIG_VIEWERS, snapshot
        body_bytes = len(data)
        etags.append(response.getheader("ETag"))
    for u in (0, USERS - 1):
        client.expect(304, "GET", LIST_PATH, headers=[("Cookie", cookies[u]), ("If-None-Match", etags[u])])
    files = {
        "list-200": write_requests(
            scratch / "list-200.txt", [("GET", LIST_PATH, None, [f"Cookie: {cookies[u]}"]) for u in range(USERS)]
        ),
        "list-304": write_requests(
            scratch / "list-304.txt",
            [("GET", LIST_PATH, None, [f"Cookie: {cookies[u]}", f"If-None-Match: {etags[u]}"]) for u in range(USERS)],
        ),
    }
    return files, body_bytes


def cookie_heartbeats(cookies):
    """A heartbeat of each of the 10 000 tabs, with its user's session cookie."""
    return [("POST", "/api/presence/heartbeat", body, ["Content-Type: application/json", f"Cookie: {cookies[u]}"])
            for u, body in heartbeat_bodies()]


def redis_mode(binary, workspace, settings, redis_url, seconds):
    """The heartbeat scenario with the registry and sessions in Redis: one instance, then
    two on the same Redis loaded at once (half the connections each). Answers the rows."""
    prefix = f"bench-{secrets.token_hex(4)}"
    redis_settings = dict(settings, PRESENCE_REDIS_URL=redis_url, PRESENCE_REDIS_PREFIX=prefix)
    rows = {}
    try:
        a = workspace.start(binary, "redis-a", redis_settings)
        client = Client(a.port)
        cookies = open_sessions(client)  # sessions live in Redis now, not in the cookie
        join_tabs(client, cookies)
        assert live_tabs(client, cookies[0]) == (PAGES, TABS), live_tabs(client, cookies[0])
        requests = write_requests(workspace.path / "redis-heartbeat.txt", cookie_heartbeats(cookies))
        log("Redis mode: heartbeat, cookie session, one instance")
        rows["redis-one"] = wrk(a, requests, seconds)
        b = workspace.start(binary, "redis-b", redis_settings)
        log("Redis mode: the same heartbeats on two instances at once, half the connections each")
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = [pool.submit(wrk, server, requests, seconds, "cycle", None, CONNECTIONS // 2) for server in (a, b)]
            rows["redis-two-a"], rows["redis-two-b"] = (run.result() for run in runs)
        a.stop()
        b.stop()
    finally:
        keys = subprocess.run(["redis-cli", "-u", redis_url, "--scan", "--pattern", f"{prefix}:*"],
                              capture_output=True, text=True, timeout=60).stdout.split()
        for start in range(0, len(keys), 1000):
            subprocess.run(["redis-cli", "-u", redis_url, "del", *keys[start:start + 1000]],
                           capture_output=True, timeout=60)
    return rows


def redis_table(rows, memory):
    """Heartbeats/s in Redis mode against the memory mode's, measured in the same run."""
    both = rows["redis-two-a"]["rps"] + rows["redis-two-b"]["rps"]
    lines = [
        "| heartbeat, cookie session, 10 000 tabs | requests/s | × memory mode | p50 | p99 | CPU/request: server |",
        "|---|---:|---:|---:|---:|---:|",
        f"| memory mode, one instance (the row above) | {memory['rps']:,.0f} | 1.00 | {memory['p50_us'] / 1000:.2f} ms "
        f"| {memory['p99_us'] / 1000:.2f} ms | {memory['server_cpu_us']:.0f} µs |",
    ]
    for name, label in [("redis-one", "Redis mode, one instance"),
                        ("redis-two-a", "Redis mode, two instances: A"),
                        ("redis-two-b", "Redis mode, two instances: B")]:
        row = rows[name]
        lines.append(f"| {label} | {row['rps']:,.0f} | {row['rps'] / memory['rps']:.2f} | {row['p50_us'] / 1000:.2f} ms "
                     f"| {row['p99_us'] / 1000:.2f} ms | {row['server_cpu_us']:.0f} µs |")
    lines.append(f"| Redis mode, two instances together | {both:,.0f} | {both / memory['rps']:.2f} | | | |")
    errors = sum(row["status_errors"] + row["socket_errors"] for row in rows.values())
    return "\n".join(["", "## Redis mode", "", *lines, "",
                      f"Redis, the instances and wrk share the machine's {os.cpu_count()} CPUs; "
                      f"{errors} errors in these runs."]) + "\n"


class Measure:
    """Runs one scenario of the table with wrk; under --perf, with the server profiled too.
    `pair` runs a baseline scenario and then its twin on the bare actix-web app."""

    def __init__(self, scratch, perf, bare):
        self.scratch, self.perf, self.bare, self.profiles = scratch, perf, bare, {}

    def __call__(self, name, server, requests, seconds, mode="cycle"):
        profile = self.scratch / f"{name}.perf" if self.perf else None
        figures = wrk(server, requests, seconds, mode, profile)
        if profile:
            self.profiles[name] = profile
        return figures

    def pair(self, name, server, requests, seconds, rows):
        rows[name] = self(name, server, requests, seconds)
        log("  the same requests on the bare actix-web app (no middleware)")
        rows[BARE_TWINS[name]] = self(BARE_TWINS[name], self.bare, requests, seconds)


def build_bare():
    """Builds the bare actix-web app, `examples/bare_baseline.rs`; answers its path."""
    log(f"building the bare actix-web app: {' '.join(BARE_BUILD)}")
    subprocess.run(BARE_BUILD, cwd=ROOT, check=True, timeout=3600)
    return ROOT / BARE_TARGET_DIR / "release/examples/bare_baseline"


def start_bare(bare, workspace):
    """The bare actix-web app on a free loopback port of its own."""
    ready = ("POST", "/bench/baseline", {"pagePath": "/a", "tabId": "t"})
    return workspace.start(str(Path(bare).resolve()), "bare", {}, argv=("{port}",), ready=ready)


def setup(binary, server, scratch, notes):
    """The 1 000 sessions and tokens and the request files; checks the baseline route is there."""
    client = Client(server.port)
    status, _, _ = client.request("POST", "/bench/baseline", {"pagePath": "/a", "tabId": "t"})
    if status != 200:
        raise SystemExit(f"POST /bench/baseline answered {status}: build with --features bench-baseline")
    started = time.monotonic()
    cookies = open_sessions(client)
    notes["sessions_s"] = time.monotonic() - started
    started = time.monotonic()
    tokens = mint_tokens(binary)
    notes["tokens_s"] = time.monotonic() - started
    log(f"{USERS} sessions in {notes['sessions_s']:.1f} s, {USERS} tokens in {notes['tokens_s']:.1f} s")
    return client, cookies, request_files(scratch, cookies, tokens)


def heartbeats(measure, server, client, cookies, files, seconds, rows, notes):
    """The baselines, the 10 000 tabs joined, then their heartbeats and the churn."""
    log("baseline: POST /bench/baseline with a heartbeat's body")
    measure.pair("baseline", server, files["baseline"], seconds, rows)
    log("baseline with the session cookie (decrypted by the session middleware, unused by the handler)")
    measure.pair("baseline-cookie", server, files["baseline-cookie"], seconds, rows)

    started = time.monotonic()
    join_tabs(client, cookies)
    notes["join_s"] = time.monotonic() - started
    assert live_tabs(client, cookies[0]) == (PAGES, TABS), live_tabs(client, cookies[0])
    log(f"joined {TABS} tabs of {USERS} users over {PAGES} pages in {notes['join_s']:.1f} s")
    u, page, tab_id = tab(0)
    _, data = client.expect(200, "POST", "/api/presence/heartbeat", {"pagePath": page, "tabId": tab_id},
                            [("Cookie", cookies[u])])
    notes["heartbeat_body_bytes"] = len(data)
    log("heartbeat, cookie session")
    rows["heartbeat-cookie"] = measure("heartbeat-cookie", server, files["heartbeat-cookie"], seconds)
    log("heartbeat, cookie session, Prefer: return=minimal (204, no snapshot)")
    rows["heartbeat-minimal"] = measure("heartbeat-minimal", server, files["heartbeat-minimal"], seconds)
    log("heartbeat, bearer token")
    rows["heartbeat-bearer"] = measure("heartbeat-bearer", server, files["heartbeat-bearer"], seconds)
    notes["live_after"] = live_tabs(client, cookies[0])
    if notes["live_after"] != (PAGES, TABS):
        log(f"  !! {notes['live_after']} (pages, tabs) live after the heartbeats, not {(PAGES, TABS)}")
    log("join/leave churn of fresh tabs on the 100 busy pages")
    rows["churn"] = measure("churn", server, files["churn"], seconds, mode="churn")
    # When wrk stops, a join whose pipelined leave was still unread may stay (at most
    # one a connection) until it expires.
    log(f"  {live_tabs(client, cookies[0])[1] - TABS} churn tabs left behind by the end of the run")


def lists(measure, server, client, cookies, scratch, seconds, rows, notes):
    """The 200-viewer list, with its body and then answered 304."""
    big_files, notes["list_body_bytes"] = prepare_big_page(client, cookies, scratch)
    log(f"list of the {BIG_VIEWERS}-viewer page ({notes['list_body_bytes']:,} bytes of JSON)")
    rows["list-200"] = measure("list-200", server, big_files["list-200"], seconds)
    # Heartbeats keep /big's viewers live (a page's tabs outlive one run of up to 30 s, not two)
    # without changing its snapshot, so the ETags stay good.
    for u in range(BIG_VIEWERS):
        client.expect(200, "POST", "/api/presence/heartbeat", {"pagePath": BIG_PAGE, "tabId": "big"},
                      [("Cookie", cookies[u])])
    log("list with If-None-Match")
    rows["list-304"] = measure("list-304", server, big_files["list-304"], seconds)
    if rows["list-304"]["bytes_per_answer"] > 1000:
        raise SystemExit("list with If-None-Match answered bodies: the page changed during the run")


def closing_baselines(measure, server, client, cookies, files, scratch, seconds, rows, notes):
    """Here, as the tabs may expire now: what a route that answers as many bytes as a
    heartbeat costs at the least; then the baseline again, for the drift."""
    size = notes["heartbeat_body_bytes"]
    sized = sized_baseline_files(scratch, cookies, size)
    for who, port in (("the service", server.port), ("the bare app", measure.bare.port)):
        _, data = Client(port).expect(200, "POST", f"/bench/baseline?bytes={size}", {"pagePath": "/a", "tabId": "t"})
        if len(data) != size:
            raise SystemExit(f"/bench/baseline?bytes= of {who} answered {len(data)} bytes, not {size}")
    log(f"baseline answering a heartbeat's {size:,} bytes, without and with the session cookie")
    measure.pair("baseline-sized", server, sized["baseline-sized"], seconds, rows)
    measure.pair("baseline-cookie-sized", server, sized["baseline-cookie-sized"], seconds, rows)
    log("baseline again, to see how much the machine drifted during the run")
    measure.pair("baseline-end", server, files["baseline"], seconds, rows)


def sweeps(measure, binary, workspace, settings, rust_log, cookies, files, seconds, rows, notes):
    """Heartbeats on a second server whose sweep frees tens of thousands of expired tabs."""
    log(f"heartbeats while the sweep frees expired tabs (TTL {SWEEP_TTL_MS} ms, sweep every {SWEEP_EVERY_MS} ms)")
    sweep_settings = dict(
        settings,
        PRESENCE_TTL_MS=str(SWEEP_TTL_MS),
        PRESENCE_HEARTBEAT_INTERVAL_MS=str(SWEEP_HEARTBEAT_MS),
        PRESENCE_SWEEP_INTERVAL_MS=str(SWEEP_EVERY_MS),
        RUST_LOG=f"{rust_log},presence::store::memory=debug",
    )
    server = workspace.start(binary, "sweep", sweep_settings)
    client = Client(server.port)
    for _ in range(3):  # heartbeats re-create the tabs (this server starts empty)
        wrk(server, files["heartbeat-cookie"], 3)
        if live_tabs(client, cookies[0]) == (PAGES, TABS):
            break
    else:
        raise SystemExit(f"the sweep server has {live_tabs(client, cookies[0])} (pages, tabs) live")
    doomed = wrk(server, files["doomed"], SWEEP_DOOM_SECONDS, mode="fresh")
    offset = server.log_path.stat().st_size
    # Long enough for the doomed tabs to expire and be swept inside the window.
    window = max(seconds, SWEEP_TTL_MS // 1000 + 2)
    rows["heartbeat-sweep"] = measure("heartbeat-sweep", server, files["heartbeat-cookie"], window)
    notes["sweeps"] = sweeps_in(server.log_path, offset)
    notes["doomed"] = doomed["requests"]
    notes["sweep_window_s"] = window
    notes["live_after_sweep"] = live_tabs(client, cookies[0])
    log(f"  {notes['doomed']:,} doomed tabs; {notes['sweeps'][0]} sweeps in the window freed "
        f"{notes['sweeps'][1]:,} (largest {notes['sweeps'][2]:,}); live after: {notes['live_after_sweep']}")
    server.stop()


def run(args):
    """Every scenario on `args.bin`, bounded in time. Writes the table to `args.out` (under
    --perf, the profiles instead); answers the table and the rows."""
    binary = str(Path(args.bin).resolve())
    seconds = args.seconds
    info = dict(machine(), log_format=args.log_format, rust_log=args.rust_log,
                load_before=os.getloadavg(), idle_before=cpu_idle())
    log(f"machine: {info['nproc']} CPUs, {info['cpu']}; load average {info['load_before'][0]:.2f}, "
        f"{info['idle_before']:.0%} idle")
    rows, notes = {}, {}
    with Workspace("presence-loadtest-", args.keep) as workspace:
        scratch = workspace.path
        # RUST_LOG=info, the default, logs no line a request but records every span.
        settings = server_settings(scratch, PRESENCE_LOG_FORMAT=args.log_format, RUST_LOG=args.rust_log)
        measure = Measure(scratch, args.perf, start_bare(args.bare or build_bare(), workspace))
        server = workspace.start(binary, "main", settings)
        client, cookies, files = setup(binary, server, scratch, notes)
        heartbeats(measure, server, client, cookies, files, seconds, rows, notes)
        lists(measure, server, client, cookies, scratch, seconds, rows, notes)
        closing_baselines(measure, server, client, cookies, files, scratch, seconds, rows, notes)
        server.stop()
        measure.bare.stop()
        sweeps(measure, binary, workspace, settings, args.rust_log, cookies, files, seconds, rows, notes)
        redis_rows = redis_mode(binary, workspace, settings, args.redis, seconds) if args.redis else None
        info["load_after"] = os.getloadavg()
        report = table(rows, notes, info, seconds)
        if redis_rows:
            report += redis_table(redis_rows, rows["heartbeat-cookie"])
        if args.perf:
            # Sampling slows the server down: these figures are not the ones to publish.
            write_profiles(measure.profiles, PERF_DIR)
            log(f"profiles in {PERF_DIR}; {args.out} left as it was")
        else:
            write_report(args.out, report)
    return report, rows


# Frames of the service and of the middleware it chose, as opposed to actix, tokio and the kernel.
OWN_FRAMES = re.compile(r"presence::|actix_session::|tracing_actix_web::|jsonwebtoken::|tracing_subscriber::fmt|"
                        r"serde_json::(ser|de)::|sendto|recvfrom|epoll_wait|futex")


def write_profiles(profiles, directory):
    """A text summary of each `perf record`: self time by function, time with callees, and
    time with callees of the service's own frames and its middleware."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in profiles.items():

        def report(*flags):
            text = subprocess.run(
                ["perf", "report", "-i", str(data), "--stdio", "--sort", "symbol", "-g", "none",
                 "--percent-limit", "0.5", *flags],
                capture_output=True, text=True, timeout=600,
            ).stdout
            # perf pads every line to the longest symbol; long generic names are cut.
            return [line.rstrip()[:160] for line in text.splitlines() if line.strip() and not line.startswith("#")]

        with_callees = report("--children")
        sections = [
            ("self time by function (the top 40)", report("--no-children")[:40]),
            ("time including callees (the top 50)", with_callees[:50]),
            ("time including callees: the service, its middleware, JSON and the socket calls",
             [line for line in with_callees if OWN_FRAMES.search(line)][:60]),
        ]
        text = "\n\n".join(f"## {title}\n\n" + "\n".join(rows) for title, rows in sections)
        (directory / f"{name}.txt").write_text(f"# perf profile of the server: {name}\n\n{text}\n")


LABELS = {
    "baseline": "baseline: `POST /bench/baseline`, heartbeat body, no session",
    "baseline-end": "baseline again, at the end of the run",
    "bare": "bare actix-web app: the same requests, no middleware ⁴",
    "bare-end": "bare actix-web app again, at the end of the run ⁴",
    "baseline-cookie": "baseline + session cookie",
    "bare-cookie": "bare actix-web app, the same requests with the cookie (unread) ⁴",
    "heartbeat-cookie": "heartbeat, cookie session (10 000 tabs, 100 pages)",
    "heartbeat-minimal": "heartbeat, cookie, `Prefer: return=minimal` → 204",
    "heartbeat-bearer": "heartbeat, bearer token (same tabs)",
    "churn": "join/leave churn, fresh tabs on the busy pages ¹",
    "list-200": f"list of a {BIG_VIEWERS}-viewer page, 200 with the body",
    "list-304": f"list of a {BIG_VIEWERS}-viewer page, `If-None-Match` → 304",
    "heartbeat-sweep": "heartbeat, cookie, while sweeps free expired tabs ²",
    "baseline-sized": "baseline answering a heartbeat's bytes (`?bytes=N`) ³",
    "baseline-cookie-sized": "baseline + session cookie, answering a heartbeat's bytes ³",
    "bare-sized": "bare actix-web app answering a heartbeat's bytes ³ ⁴",
    "bare-cookie-sized": "bare actix-web app + cookie (unread), answering a heartbeat's bytes ³ ⁴",
}


class Ratios(NamedTuple):
    baseline: float  # × baseline: to our baseline route, the mean of its start and end runs
    cookie: float  # × baseline + cookie: to our baseline route with the session cookie
    bare: float  # × bare actix-web: to the bare app's same-shaped baseline


def ratios(rows):
    """Each scenario's requests/s as a share of our baseline's (the mean of its runs at the
    start and at the end), of our baseline with the session cookie's, and of the bare app's
    same-shaped baseline: a baseline row's own twin, run right after it with the same
    requests; any other row's, the bare app's plain baseline (the mean of its start and end)."""

    def mean(first, last):
        return (rows[first]["rps"] + rows.get(last, rows[first])["rps"]) / 2

    base, cookie_base, bare = mean("baseline", "baseline-end"), rows["baseline-cookie"]["rps"], mean("bare", "bare-end")
    return {name: Ratios(row["rps"] / base, row["rps"] / cookie_base,
                         row["rps"] / (rows[BARE_TWINS[name]]["rps"] if name in BARE_TWINS else bare))
            for name, row in rows.items()}


def table(rows, notes, info, seconds):
    def ms(us):
        return f"{us / 1000:.2f} ms"

    shares = ratios(rows)
    lines = [
        "| scenario | requests/s | × bare actix-web | × baseline | × baseline + cookie | target | p50 | p99 | max "
        "| CPU/request: server, wrk | CPUs busy (others) | bytes/answer |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in LABELS.items():
        row = rows.get(name)
        if row is None:
            continue
        ratio, cookie_ratio, bare_ratio = shares[name]
        target = TARGETS.get(name)
        verdict = "" if target is None else f"≥ {target:.2f}: {'met' if ratio >= target else '**not met**'}"
        errors = "" if not (row["status_errors"] or row["socket_errors"]) else (
            f" ({row['status_errors']} errors ≥ 400, {row['socket_errors']} socket errors)")
        lines.append(
            f"| {label}{errors} | {row['rps']:,.0f} | {bare_ratio:.2f} | {ratio:.2f} | {cookie_ratio:.2f} | {verdict} "
            f"| {ms(row['p50_us'])} | "
            f"{ms(row['p99_us'])} | {ms(row['max_us'])} | {row['server_cpu_us']:.0f} µs, {row['client_cpu_us']:.0f} µs | "
            f"{row['busy_share']:.0%} ({row['other_cpu_share']:.0%}) | "
            f"{row['bytes_per_answer']:,.0f} |"
        )
    load_before, load_after = info["load_before"], info["load_after"]
    sweeps, removed, largest = notes.get("sweeps", (0, 0, 0))
    text = [
        f"# presence load figures, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        "",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), Linux {info['kernel']}, {info['rustc']}, {info['wrk']}",
        f"- load average before the run {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} "
        f"(1/5/15 min), {info['idle_before']:.0%} of the CPU idle; after it {load_after[0]:.2f} / "
        f"{load_after[1]:.2f} / {load_after[2]:.2f} (the run's own load)",
        f"- wrk `-t{THREADS} -c{CONNECTIONS}`, {seconds} s a scenario, on the same machine as the server "
        f"(release build, `--features bench-baseline`, 2 workers, `RUST_LOG={info['rust_log']}`, "
        f"`PRESENCE_LOG_FORMAT={info['log_format']}`) and as the bare actix-web app (`examples/bare_baseline.rs`, "
        "release, 2 workers, no middleware)",
        f"- {USERS} users; {TABS:,} tabs, 10 a user, over {PAGES} pages (100 viewers a page), all live "
        f"during the heartbeats ({notes.get('live_after', ('?', '?'))[1]:,} live after them)",
        "",
        *lines,
        "",
        "¹ Each wrk request is a join of a fresh tab and then its leave, pipelined on one connection: "
        "requests/s counts both answers, the latency is that of the pair.",
        f"² A second server with a {SWEEP_TTL_MS // 1000} s TTL and a sweep every {SWEEP_EVERY_MS // 1000} s: "
        f"{notes.get('doomed', 0):,} tabs joined once on 1000 pages nobody reads again expire during the "
        f"{notes.get('sweep_window_s', 0)} s window, and {sweeps} sweeps free {removed:,} of them "
        f"(the largest {largest:,} at once), beside the same 10 000 heartbeating tabs.",
        f"³ `POST /bench/baseline?bytes={notes.get('heartbeat_body_bytes', 0)}`: the baseline's answer padded to "
        "the size of a heartbeat's snapshot, written on every request; the most a heartbeat that answers "
        "its snapshot could reach.",
        "⁴ `examples/bare_baseline.rs`: actix-web with no middleware at all, the same `POST /bench/baseline` "
        "(the body through `web::Json`, the same answer and padding), run right after its twin on our stack with "
        "the same request file.",
        "",
        f"The list answers all {BIG_VIEWERS} viewers (`limit=1000`): {notes.get('list_body_bytes', 0):,} bytes of JSON.",
        "× bare actix-web is to the bare app's same-shaped baseline: for our baseline rows, their twin on the bare "
        "app (so it is what our middleware stack keeps of bare actix-web doing the same); for every other row, the "
        "mean of the two bare rows (how close it comes to the limit of any handler). × baseline is to the mean of "
        "the two baseline rows (the floor of HTTP + our middleware + a JSON body); × baseline + cookie is to the "
        "baseline with the session cookie, the whole middleware stack of a signed-in call, so what is left is the "
        "route's own work.",
        "CPU/request is the CPU time the server (and wrk) used in the scenario over its requests; CPUs busy is "
        "the whole machine's, and (others) the share neither the server nor wrk used.",
    ]
    noisy = [name for name, row in rows.items() if row["other_cpu_share"] > 0.05]
    if noisy:
        text += ["", f"**The machine was not quiet**: other processes took more than 5 % of the CPUs during "
                 f"{', '.join(noisy)}; those figures are low."]
    return "\n".join(text) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the presence binary, built with --features bench-baseline")
    parser.add_argument("--bare", help="the bare actix-web app, examples/bare_baseline.rs built in release "
                                       f"(default: build it now, into {BARE_TARGET_DIR})")
    parser.add_argument("--seconds", type=int, default=10, help="seconds a scenario (1 to 30)")
    parser.add_argument("--perf", action="store_true",
                        help="profile the server in each scenario with perf; writes target/loadtest/perf/*.txt "
                             "instead of loadtest/results/latest.md (sampling slows it down)")
    parser.add_argument("--log-format", choices=["pretty", "json"], default="pretty",
                        help="the server's PRESENCE_LOG_FORMAT (default: pretty, the service's default)")
    parser.add_argument("--rust-log", default="info", help="the server's RUST_LOG (default: info, the service's default)")
    parser.add_argument("--out", default=str(ROOT / "loadtest/results/latest.md"),
                        help="where the table goes (default: loadtest/results/latest.md)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (request files, logs)")
    parser.add_argument("--redis", metavar="URL",
                        help="also run the heartbeats in Redis mode on this Redis, one and two instances "
                             "(keys under a prefix of the run's own, deleted at the end)")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 30:
        parser.error("--seconds must be 1 to 30 (the tabs' TTL is 45 s)")
    return args


def main():
    stop_on_sigterm()
    report, _ = run(parse_args())
    print(report)


if __name__ == "__main__":
    main()
