#!/usr/bin/env python3
"""The big-page benchmark of issue 14 (`loadtest/bigpage.sh`): N never-seen users fill one
page, then heartbeats and churn on the full page, then lists of it cold and warm; and in
the same run the very same load on pages of 100 viewers (the same N users spread over N/100
pages), so each big-page figure is also given as a ratio to the small pages'. In memory
mode, and with `--redis URL` in Redis mode too.

Each layout gets a server of its own, started empty with a database of its own, so every
user is a first contact in both fills. Users sign in with bearer tokens (HS256, signed here
with the same secret and claims as `presence token`), the TTL is 1 h, rate limits are off,
and every write sends `Prefer: return=minimal`. Every loop is bounded in count, every wait
and wrk run in time, every address is on loopback.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import (CONNECTIONS, JWT_SECRET, LOAD_LUA, ROOT, THREADS, Client, Workspace, add_cpu_figures,
                    busy_seconds, compact, cpu_idle, free_port, log, machine, report_errors, server_settings,
                    stop_on_sigterm, write_report, write_requests, wrk)
from streams import Streams

SMALL = 100  # viewers a page in the small layout
BIG_PAGE = "/big/live"
LIST_LIMIT = 100
SLOWLOG_US = 1000  # the SLOWLOG threshold in Redis mode: issue 14 wants none at 1 ms
LIST_CALLERS = 100  # the list's wrk requests rotate over this many of the page's viewers
JSON = "Content-Type: application/json"
MINIMAL = "Prefer: return=minimal"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, secret=JWT_SECRET):
    """An HS256 JWT as `presence token` makes it (src/auth/token.rs): header
    {"typ":"JWT","alg":"HS256"}, claims sub, exp, name, picture."""
    signing_input = b64url(compact({"typ": "JWT", "alg": "HS256"}).encode()) + "." + b64url(compact(claims).encode())
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def mint(users, prefix):
    """A token a user, `{prefix}-000000` on: thousands a second, where `presence token` (a
    process each) manages tens."""
    exp = int(time.time()) + 4 * 3600
    return [jwt({"sub": f"{prefix}-{u:06d}", "exp": exp, "name": f"Viewer {u}",
                 "picture": f"https://example.com/avatars/{u}.png"}) for u in range(users)]


class Layout:
    """Where user u's tab is: all on one page (big), or 100 a page (small)."""

    def __init__(self, name, users, per_page):
        self.name, self.users, self.per_page = name, users, per_page

    def page(self, u):
        return BIG_PAGE if self.per_page is None else f"/small/page-{u // self.per_page:05d}"

    @property
    def listed_page(self):
        return self.page(0)

    def viewers_of_listed_page(self):
        return self.users if self.per_page is None else min(self.per_page, self.users)


def bearer(token):
    return f"Authorization: Bearer {token}"


def request_files(scratch, layout, tokens):
    name = layout.name
    joins = [("POST", "/api/presence/join", compact({"pagePath": layout.page(u), "tabId": "t"}),
              [JSON, bearer(tokens[u]), MINIMAL]) for u in range(layout.users)]
    churn = [("POST", "/api/presence/join", f'{{"pagePath":"{layout.page(u)}","tabId":"%s"}}',
              [JSON, bearer(tokens[u]), MINIMAL]) for u in range(layout.users)]
    callers = range(min(LIST_CALLERS, layout.viewers_of_listed_page()))
    target = f"/api/presence/list?pagePath={layout.listed_page}&limit={LIST_LIMIT}"
    lists = [("GET", target, None, [bearer(tokens[u])]) for u in callers]
    return {
        "fill": write_requests(scratch / f"{name}-fill.txt", joins),
        "churn": write_requests(scratch / f"{name}-churn.txt", churn),
        "list": write_requests(scratch / f"{name}-list.txt", lists),
    }, target


def heartbeat_file(scratch, layout, tokens, joined):
    """Heartbeats of the tabs the fill sent (`joined`: user numbers), so none re-creates a tab."""
    rows = [("POST", "/api/presence/heartbeat", compact({"pagePath": layout.page(u), "tabId": "t"}),
             [JSON, bearer(tokens[u]), MINIMAL]) for u in joined]
    return write_requests(scratch / f"{layout.name}-heartbeat.txt", rows)


class Redis:
    """INFO commandstats of the Redis in use: its CPU time in commands, to give a phase's Redis
    time per request. The server may be shared: other clients' commands count too."""

    def __init__(self, url):
        self.url = url

    def cli(self, *args, timeout=60):
        return subprocess.run(["redis-cli", "-u", self.url, *args], capture_output=True, text=True,
                              timeout=timeout).stdout

    def usec(self):
        total = calls = 0
        for line in self.cli("info", "commandstats").splitlines():
            if line.startswith("cmdstat_"):
                fields = dict(f.split("=", 1) for f in line.split(":", 1)[1].split(","))
                total += int(fields["usec"])
                calls += int(fields["calls"])
        return total, calls

    def watch_slow_commands(self):
        """Empties the SLOWLOG and logs every command of 1 ms or more from now on; answers the
        threshold it replaced, to give back to `restore_slowlog`."""
        previous = self.cli("config", "get", "slowlog-log-slower-than").split()[-1]
        self.cli("config", "set", "slowlog-log-slower-than", str(SLOWLOG_US))
        self.cli("slowlog", "reset")
        return previous

    def slow_commands(self):
        """The SLOWLOG since `watch_slow_commands`: (how many, the slowest few as text)."""
        count = int(self.cli("slowlog", "len").strip() or 0)
        entries = json.loads(self.cli("--json", "slowlog", "get", "128") or "[]")
        slowest = sorted(entries, key=lambda entry: -entry[2])[:3]
        return count, [f"{entry[2]} µs `{' '.join(entry[3][:4])[:80]}`" for entry in slowest]

    def restore_slowlog(self, threshold):
        self.cli("config", "set", "slowlog-log-slower-than", threshold)

    def delete_prefix(self, prefix):
        keys = self.cli("--scan", "--pattern", f"{prefix}:*").split()
        for start in range(0, len(keys), 1000):
            self.cli("del", *keys[start:start + 1000])
        return len(keys)


class PrivateRedis:
    """A redis-server of the run's own on a free loopback port, scheduled ahead of everything
    else on the machine (`chrt`, real-time round robin) when it may be: on two cores the
    server, wrk and the driver would otherwise preempt Redis in the middle of a command,
    and `INFO commandstats` and the SLOWLOG would count the wait as Redis's time."""

    def __init__(self, scratch):
        self.port = free_port()
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(scratch)]
        first = ["chrt", "--rr", "10"] if shutil.which("chrt") and os.geteuid() == 0 else []
        self.process = subprocess.Popen(first + command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}"
        self.scheduled_first = bool(first)
        for _ in range(100):  # at most 10 s
            if Redis(self.url).cli("ping", timeout=5).strip() == "PONG":
                return
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"redis-server did not answer on port {self.port}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def measured(redis, run):
    """Runs `run()` (answering wrk's figures); adds Redis µs a request when in Redis mode."""
    before = redis.usec() if redis else None
    figures = run()
    if redis:
        after = redis.usec()
        figures["redis_us"] = (after[0] - before[0]) / max(figures["requests"], 1)
        figures["redis_calls"] = (after[1] - before[1]) / max(figures["requests"], 1)
    return figures


def page_counts(client, token, page):
    """(viewers, tabs) of `page`, from GET /api/presence/stats."""
    _, data = client.expect(200, "GET", f"/api/presence/stats?pagePath={page}&minutes=1",
                            headers=[("Authorization", f"Bearer {token}")])
    stats = json.loads(data)
    return stats["viewerCount"], stats["tabCount"]


def wrk_once(server, requests, seconds):
    """`common.wrk` for load.lua's once mode: every line sent once, and wrk interrupted (SIGINT)
    as soon as every thread has had all its answers, or at `seconds`. The figures are the fill's
    own: from the first thread's first request to the last thread's last answer."""
    env = {"BENCH_REQUESTS": str(requests), "BENCH_MODE": "once", "BENCH_THREADS": str(THREADS)}
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s", "-s", LOAD_LUA,
               server.base]
    shown = " ".join(f"{k}={v}" for k, v in env.items()) + " " + shlex.join(command)
    log(f"  $ {shown}")
    server_cpu, client_cpu = server.cpu_seconds(), os.times()
    machine_busy, started = busy_seconds(), time.monotonic()
    process = subprocess.Popen(command, env=dict(os.environ, **env), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    done_threads, errors = 0, []
    timer = threading.Timer(seconds + 60, process.kill)  # the bound, whatever wrk does
    timer.start()
    try:
        for line in process.stderr:  # ends when wrk exits
            if line.strip() == "once done":
                done_threads += 1
                if done_threads == THREADS:
                    process.send_signal(signal.SIGINT)  # wrk prints its figures and exits
            else:
                errors.append(line)
        stdout = process.stdout.read()
        process.wait(timeout=30)
    finally:
        timer.cancel()
    client_cpu = os.times().children_user + os.times().children_system - (
        client_cpu.children_user + client_cpu.children_system)
    server_cpu = server.cpu_seconds() - server_cpu
    machine_busy = busy_seconds() - machine_busy
    elapsed = time.monotonic() - started
    result = next((l for l in stdout.splitlines() if l.startswith("result ")), None)
    once = next((l for l in stdout.splitlines() if l.startswith("once ")), None)
    if result is None or once is None:
        raise SystemExit(f"wrk failed ({process.returncode}):\n{stdout}\n{''.join(errors)}")
    figures = {k: int(v) for k, v in (field.split("=") for field in result.split()[1:])}
    once = {k: v.split(",") for k, v in (field.split("=") for field in once.split()[1:])}
    figures["sent_by_thread"] = [int(x) for x in once["sent"]]
    starts = [float(x) for x in once["started"] if float(x) > 0]
    ends = [float(x) for x in once["finished"]]
    figures["complete"] = all(end > 0 for end in ends)
    # Cut short: up to when wrk was stopped (about `seconds` after the start).
    last = max(ends) if figures["complete"] else min(starts, default=0) + figures["duration_us"] / 1e6
    figures["fill_s"] = max(last - min(starts, default=last), 1e-6)
    add_cpu_figures(figures, elapsed, machine_busy, server_cpu, client_cpu)
    figures["command"] = shown
    report_errors(figures)
    log(f"  {sum(figures['sent_by_thread']):,} joins in {figures['fill_s']:.2f} s"
        f"{'' if figures['complete'] else ' (cut short)'}, p50 {figures['p50_us']} µs, p99 {figures['p99_us']} µs; "
        f"CPU µs a request: server {figures['server_cpu_us']:.0f}, wrk {figures['client_cpu_us']:.0f}; "
        f"{figures['other_cpu_share']:.0%} of the CPUs by other processes")
    return figures


def fill(server, layout, files, fill_seconds, observer, redis):
    """Every user joins once (wrk's once mode), until all have or the time bound passes. For the
    big page a thread samples the page's viewer count every 5 s meanwhile."""
    samples, stop = [], threading.Event()

    def sample():
        client = Client(server.port)
        started = time.monotonic()
        for _ in range(int(fill_seconds / 5) + 20):  # bounded: the fill's time bound and a margin
            if stop.wait(5):
                return
            try:
                samples.append((time.monotonic() - started, page_counts(client, observer, BIG_PAGE)[0]))
            except Exception:  # a slow answer is data, not a reason to stop the run
                pass

    sampler = threading.Thread(target=sample, daemon=True) if layout.per_page is None else None
    if sampler:
        sampler.start()
    try:
        figures = measured(redis, lambda: wrk_once(server, files["fill"], fill_seconds))
    finally:
        stop.set()
        if sampler:
            sampler.join(timeout=30)
    joined = []
    for t, count in enumerate(figures["sent_by_thread"]):  # thread t's share starts at line floor(t·N/T)
        first = t * layout.users // THREADS
        joined.extend(range(first, first + count))
    figures["sent"] = len(joined)
    figures["joins_per_s"] = len(joined) / figures["fill_s"]
    figures["samples"] = samples
    return figures, joined


def slowest_interval(samples):
    """The fewest joins a second between two successive samples (the fill's slowest 5 s)."""
    rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:]) if b[0] > a[0]]
    return min(rates) if rates else None


def timed_list(server, token, target):
    """The first list after the page changed (cold), then the same again (warm), each timed
    alone on an open keep-alive connection: ms, and the cold answer's viewer count."""
    client = Client(server.port)
    client.expect(200, "GET", "/healthz")
    times = []
    for _ in range(2):
        started = time.perf_counter()
        _, data = client.expect(200, "GET", target, headers=[("Authorization", f"Bearer {token}")])
        times.append((time.perf_counter() - started) * 1000)
        if len(times) == 1:
            snapshot = json.loads(data)
    return times[0], times[1], snapshot["viewerCount"], len(data)


def run_layout(binary, workspace, layout, settings, args, redis, observer_token):
    """One layout on a server of its own: fill, heartbeats, churn, lists. Answers its rows."""
    tokens = mint(layout.users, f"{layout.name}")
    files, list_target = request_files(workspace.path, layout, tokens)
    server = workspace.start(binary, layout.name, settings)
    rows = {}
    try:
        log(f"[{layout.name}] fill: {layout.users:,} new users join "
            f"{'one page' if layout.per_page is None else f'{layout.per_page} a page'} (at most {args.fill_seconds} s)")
        if redis:
            redis.watch_slow_commands()
        rows["fill"], joined = fill(server, layout, files, args.fill_seconds, observer_token, redis)
        client = Client(server.port)
        viewers, tabs = page_counts(client, observer_token, layout.listed_page)
        rows["fill"]["page_viewers"] = viewers
        log(f"  {len(joined):,} joins sent at {rows['fill']['joins_per_s']:,.0f}/s; "
            f"{layout.listed_page} has {viewers:,} viewers")
        server.exited()
        log(f"[{layout.name}] heartbeats of the {len(joined):,} joined tabs")
        hb = heartbeat_file(workspace.path, layout, tokens, joined)
        rows["heartbeat"] = measured(redis, lambda: wrk(server, hb, args.seconds))
        log(f"[{layout.name}] churn: join + leave of fresh tabs of the page's users")
        rows["churn"] = measured(redis, lambda: wrk(server, files["churn"], args.seconds, mode="churn"))
        if args.streams:
            log(f"[{layout.name}] churn again, with {args.streams:,} streams open on {layout.listed_page}")
            with Streams(server.port, tokens, layout.listed_page, args.streams) as streams:
                rows["streams"] = measured(redis, lambda: wrk(server, files["churn"], args.seconds, mode="churn"))
            rows["streams"].update(streams.figures())
            log("  a stream got {snapshots_per_s:.2f} snapshots/s (at most {most_snapshots_in_1s} in a second), "
                "{people_per_s:,.0f} joins and leaves/s; {mb_per_s:.1f} MB/s in all".format(**rows["streams"]))
        cold_ms, warm_ms, listed, size = timed_list(server, tokens[0], list_target)
        rows["list"] = measured(redis, lambda: wrk(server, files["list"], args.seconds))
        rows["list"].update(cold_ms=cold_ms, single_warm_ms=warm_ms, listed_viewers=listed, body_bytes=size)
        log(f"  first list after the churn {cold_ms:.2f} ms, the next {warm_ms:.2f} ms "
            f"({listed:,} viewers, {size:,} bytes)")
        if redis:
            rows["slowlog"] = redis.slow_commands()
            log(f"  SLOWLOG (≥ {SLOWLOG_US} µs) through the layout: {rows['slowlog'][0]} entries")
        server.exited()
    finally:
        server.stop()
    return rows


def run_mode(binary, workspace, args, redis_url):
    """Both layouts, small first, in memory mode or (with `redis_url`) in Redis mode."""
    mode = "redis" if redis_url else "memory"
    observer = jwt({"sub": "bigpage-observer", "exp": int(time.time()) + 4 * 3600, "name": "Observer"})
    results, prefixes = {}, []
    redis = Redis(redis_url) if redis_url else None
    slowlog_threshold = redis.watch_slow_commands() if redis else None
    try:
        for layout in (Layout("small", args.users, SMALL), Layout("big", args.users, None)):
            settings = server_settings(
                workspace.path,
                PRESENCE_DATABASE_URL=f"sqlite:{workspace.path / f'{mode}-{layout.name}.db'}",
                PRESENCE_TTL_MS="3600000",
                PRESENCE_MAX_TABS_PER_USER="1000",
                PRESENCE_MAX_TABS=str(max(1_000_000, 4 * args.users)),
                RUST_LOG=args.rust_log,
            )
            if redis_url:
                prefix = f"bigpage-{secrets.token_hex(4)}"
                prefixes.append(prefix)
                settings.update(PRESENCE_REDIS_URL=redis_url, PRESENCE_REDIS_PREFIX=prefix)
            layout.name = f"{mode}-{layout.name}" if mode == "redis" else layout.name
            results["small" if layout.per_page else "big"] = run_layout(
                binary, workspace, layout, settings, args, redis, observer)
    finally:
        if redis:
            redis.restore_slowlog(slowlog_threshold)
        for prefix in prefixes:
            log(f"deleted {redis.delete_prefix(prefix):,} Redis keys under {prefix}:")
    return results


ROWS = [
    ("fill", "fill: joins of never-seen users ¹"),
    ("heartbeat", "heartbeats of the joined tabs"),
    ("churn", "churn: join + leave of fresh tabs ²"),
    ("streams", "the same churn, with streams open on the page ⁵"),
    ("list", f"list `limit={LIST_LIMIT}`, warm (wrk) ³"),
]


def mode_table(mode, results, users):
    small, big = results["small"], results["big"]
    redis = "redis_us" in big["fill"]

    def rate(name, row):
        return row["joins_per_s"] if name == "fill" else row["rps"]

    def ms(us):
        return f"{us / 1000:.2f}"

    head = ("| phase | big: requests/s | small: requests/s | big × small | big p50 / p99 ms | small p50 / p99 ms "
            "| server CPU µs/request: big, small |" + (" Redis µs/request: big, small |" if redis else "")
            + " others' CPU: big, small | errors |")
    lines = [head, "|" + "---|" + "---:|" * (head.count("|") - 3) + "---:|"]
    for name, label in ROWS:
        if name not in big:
            continue
        b, s = big[name], small[name]
        errors = sum(r["status_errors"] + r["socket_errors"] for r in (b, s))
        lines.append(
            f"| {label} | {rate(name, b):,.0f} | {rate(name, s):,.0f} | **{rate(name, b) / rate(name, s):.2f}** "
            f"| {ms(b['p50_us'])} / {ms(b['p99_us'])} | {ms(s['p50_us'])} / {ms(s['p99_us'])} "
            f"| {b['server_cpu_us']:.0f}, {s['server_cpu_us']:.0f} |"
            + (f" {b['redis_us']:.1f}, {s['redis_us']:.1f} |" if redis else "")
            + f" {b['other_cpu_share']:.0%}, {s['other_cpu_share']:.0%} | {errors} |")
    bl, sl = big["list"], small["list"]
    lines.append(f"| list `limit={LIST_LIMIT}`, cold: the first after the churn, alone ⁴ | {bl['cold_ms']:.2f} ms "
                 f"| {sl['cold_ms']:.2f} ms | **{bl['cold_ms'] / max(sl['cold_ms'], 1e-6):.2f}** (time) | "
                 f"the next one alone: {bl['single_warm_ms']:.2f} ms | {sl['single_warm_ms']:.2f} ms | |"
                 + (" |" if redis else "") + " | |")
    bf, sf = big["fill"], small["fill"]
    slowest = slowest_interval(bf["samples"])
    notes = [
        f"- **Page size reached**: the big page has **{bf['page_viewers']:,} viewers** of {users:,} "
        f"({bf['sent']:,} joins sent in {bf['fill_s']:.1f} s"
        + ("" if bf["sent"] == users else ", **cut short by the time bound**")
        + f"); the small layout sent {sf['sent']:,} joins in {sf['fill_s']:.1f} s, "
        f"its first page has {sf['page_viewers']:,} viewers. The list read {bl['listed_viewers']:,} and "
        f"{sl['listed_viewers']:,} viewers ({bl['body_bytes']:,} and {sl['body_bytes']:,} bytes).",
    ]
    if bf["samples"]:
        shown = ", ".join(f"{t:.0f} s: {v:,}" for t, v in bf["samples"][:: max(1, len(bf["samples"]) // 12)])
        notes.append(f"- **The big page's viewers during the fill** (every 5 s, `GET /api/presence/stats`): {shown}"
                     + (f"; the slowest 5 s added {slowest:,.0f} viewers/s" if slowest is not None else "") + ".")
    if "streams" in big:
        for name, row in (("big", big["streams"]), ("small", small["streams"])):
            gap = "–" if row["smallest_gap_ms"] is None else f"{row['smallest_gap_ms']:.0f} ms"
            notes.append(f"- **{row['streams']:,} streams ({name})** during the churn: a stream received "
                         f"{row['snapshots_per_s']:.2f} snapshots/s on average, **at most "
                         f"{row['most_snapshots_in_1s']} in any second**, never two closer than {gap}; "
                         f"{row['people_per_s']:,.0f} joins and leaves/s; {row['mb_per_s']:.1f} MB/s over all streams.")
    if redis:
        for name, row in (("big", big), ("small", small)):
            count, slowest = row["slowlog"]
            notes.append(f"- **SLOWLOG ({name})**, commands of {SLOWLOG_US / 1000:g} ms or more from the fill to "
                         f"the last list: **{count}**" + (f"; the slowest: {'; '.join(slowest)}" if slowest else "")
                         + ".")
    return "\n".join([f"## {mode}", "", *lines, "", *notes]) + "\n"


def report(all_results, info, args):
    load_before, load_after = info["load_before"], info["load_after"]
    text = [
        f"# presence big-page benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        "",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), Linux {info['kernel']}, {info['rustc']}, {info['wrk']}",
        f"- load average before {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f}, "
        f"{info['idle_before']:.0%} of the CPU idle; after {load_after[0]:.2f} / {load_after[1]:.2f} / "
        f"{load_after[2]:.2f}",
        f"- commit {info['commit']}; `{info['command']}`",
        f"- {args.users:,} users with bearer tokens, one tab each: **big** = all on one page (`{BIG_PAGE}`), "
        f"**small** = {SMALL} a page over {-(-args.users // SMALL):,} pages; each layout on a fresh server "
        f"(release, `--features bench-baseline`, `RUST_LOG={args.rust_log}`) with an empty database, TTL 1 h, "
        f"rate limits off; wrk `-t{THREADS} -c{CONNECTIONS}`, {args.seconds} s a phase after the fill "
        f"(at most {args.fill_seconds} s); joins and heartbeats with `Prefer: return=minimal` (204)",
        "",
    ]
    if "private_redis" in info:
        text.insert(-1, f"- Redis mode on a redis-server of the run's own (Redis {info['redis_version']}), "
                        + ("scheduled ahead of the rest (`chrt --rr 10`)" if info["private_redis"]
                           else "at normal priority (`chrt` needs root)"))
    for mode, results in all_results.items():
        text.append(mode_table(mode, results, args.users))
    text += [
        "¹ Each user's one join, sent once (`load.lua`'s once mode), until all have joined or the time bound: "
        "requests/s is joins sent over the fill's duration (from empty to full), the latency is the joins' "
        "(and a few `GET /healthz` a connection sends once its thread has nothing left).",
        "² A join of a fresh tab of one of the page's users and its leave, pipelined: requests/s counts both, "
        "the latency is the pair's. The page's viewers stay the same; its tab count moves.",
        f"³ `GET /api/presence/list?pagePath=…&limit={LIST_LIMIT}` of the big page and of the small layout's "
        f"first page, rotating over {LIST_CALLERS} of its viewers' tokens, nothing changing meanwhile.",
        "⁴ One request, timed in Python (urllib's client, on an open connection): the first list right after the "
        "churn changed the page, then the same request again.",
        f"⁵ The churn of ², with `--streams` clients (`loadtest/streams.py`, asyncio in the driver's process, "
        f"each a different user) reading `GET /api/presence/stream` of the page meanwhile; their CPU counts "
        f"among others'.",
        "",
        "big × small is the big page's figure over the small pages' (requests/s; for the cold list, its time: "
        "there lower is better). Issue 14's bars (on a quiet machine, memory mode unless said): fill ≥ 20 000 "
        "joins/s with p99 ≤ 50 ms; heartbeats ≥ 0.8 × small; a list ≤ 2 ms cold or warm; Redis µs a join and a "
        "heartbeat on the big page ≤ 2 × small. Redis µs/request is `INFO commandstats` time over the phase's "
        "requests (every client of that Redis counts). Others' CPU is the share of the CPUs neither the server "
        "nor wrk used: above 5 %, the machine was not quiet.",
    ]
    return "\n".join(text) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the presence binary (bigpage.sh builds it)")
    parser.add_argument("--users", type=int, default=100_000, help="users, a tab each (100 to 1 000 000; default 100 000)")
    parser.add_argument("--seconds", type=int, default=10, help="seconds a phase after the fill (1 to 60, default 10)")
    parser.add_argument("--fill-seconds", type=int, default=300,
                        help="the most a fill may take, each layout (5 to 900, default 300)")
    parser.add_argument("--redis", metavar="URL",
                        help="also run both layouts in Redis mode on this Redis (keys under prefixes of the run's "
                             "own, deleted at the end), or `private`: on a redis-server of the run's own, scheduled "
                             "ahead of the rest (`chrt`, as root), so its figures are its own work")
    parser.add_argument("--no-memory", action="store_true", help="with --redis, skip memory mode")
    parser.add_argument("--streams", type=int, default=1000,
                        help="streams open on the page during a second churn (0 to 5 000, default 1 000; 0: none)")
    parser.add_argument("--rust-log", default="info", help="the server's RUST_LOG (default info)")
    parser.add_argument("--out", default=str(ROOT / "loadtest/results/bigpage-latest.md"),
                        help="where the report goes (default loadtest/results/bigpage-latest.md)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (request files, logs)")
    args = parser.parse_args(argv)
    if not 100 <= args.users <= 1_000_000:
        parser.error("--users must be 100 to 1 000 000")
    if not 1 <= args.seconds <= 60:
        parser.error("--seconds must be 1 to 60")
    if not 0 <= args.streams <= min(5000, args.users):
        parser.error("--streams must be 0 to 5 000, and at most --users")
    if not 5 <= args.fill_seconds <= 900:
        parser.error("--fill-seconds must be 5 to 900")
    if args.no_memory and not args.redis:
        parser.error("--no-memory needs --redis")
    return args


def main():
    stop_on_sigterm()
    args = parse_args()
    binary = str(Path(args.bin).resolve())
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True, timeout=30).stdout.strip() or "?"
    info = dict(machine(), load_before=os.getloadavg(), idle_before=cpu_idle(), commit=commit,
                command="bash loadtest/bigpage.sh " + " ".join(arg for i, arg in enumerate(sys.argv[1:])
                                                              if arg != "--bin" and sys.argv[i:i + 1] != ["--bin"]))
    all_results = {}
    with Workspace("presence-bigpage-", args.keep) as workspace:
        if not args.no_memory:
            all_results["Memory mode"] = run_mode(binary, workspace, args, None)
        if args.redis == "private":
            private = PrivateRedis(workspace.path)
            info["private_redis"] = private.scheduled_first
            info["redis_version"] = Redis(private.url).cli("info", "server").split("redis_version:")[1].split()[0]
            try:
                all_results["Redis mode"] = run_mode(binary, workspace, args, private.url)
            finally:
                private.stop()
        elif args.redis:
            all_results["Redis mode"] = run_mode(binary, workspace, args, args.redis)
    info["load_after"] = os.getloadavg()
    text = report(all_results, info, args)
    write_report(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
