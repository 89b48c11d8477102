#!/usr/bin/env python3
"""The soak run behind `loadtest/soak.sh`: the release server under a steady, mixed load of
tabs that come, heartbeat, leave or just go quiet, for minutes on end; then every tab left
expires, and the report says whether anything failed and whether the memory came back.

Run it through `loadtest/soak.sh`, which builds the release binary. Every loop here ends by a
deadline or a count; the server is stopped on exit, also on SIGINT and SIGTERM.
"""

import argparse
import collections
import datetime
import heapq
import http.client
import itertools
import json
import os
import queue
import random
import sys
import threading
import time
import types
from pathlib import Path

from common import (ROOT, USERS, Client, Workspace, busy_seconds, compact, cpu_idle, live_tabs, log, machine,
                    mint_tokens, open_sessions, server_settings, stop_on_sigterm, sweeps_in,
                    write_report)

# The traffic. A tab joins, heartbeats every `heartbeatIntervalMs` (the server's answer),
# and after a lifetime (exponential, this mean) leaves or goes quiet; new tabs arrive at
# the rate that keeps the number of open tabs at `--tabs`.
MEAN_LIFETIME_S = 120
LEAVE_JSON, LEAVE_BEACON = 0.35, 0.35  # the rest of the tabs go quiet and expire by TTL
BUSY_PAGES = 100  # /docs/page-000 … 099, the first ones the busiest (weights k^-0.8)
TAIL_SHARE, TAIL_PAGES = 0.2, 100_000  # tabs on rarely visited pages, made and freed all along
LISTS_PER_TAB_MINUTE = 1  # list polls, half of them with If-None-Match when a tag is known
MINIMAL_SHARE = 0.3  # tabs that heartbeat with `Prefer: return=minimal`, as beside a stream
EDITING_SHARE = 0.05
BEARER_EVERY = 4  # every 4th user calls with a bearer token, the others with the cookie
STREAMS, STREAM_SECONDS = 8, (5, 40)  # streams open at any time, and how long each stays
MAX_TABS_PER_USER = 64  # PRESENCE_MAX_TABS_PER_USER's default: the soak stays within it
WORKERS = 8  # each its own keep-alive connection, reopened every 50 to 200 requests
REQUESTS_PER_CONNECTION = (50, 200)
LEAVING_S = 5  # a tab that left counts against its user's cap while its leave is on its way
# Bounds.
MAX_MINUTES, MAX_TABS = 60, 20_000
DRAIN_S = 30  # at most, for the requests queued when the traffic stops
SWEEP_INTERVAL_S = 5  # the server's default PRESENCE_SWEEP_INTERVAL_MS
EXPIRY_GRACE_S = 30  # polls for live pages after the TTL and two sweeps have passed
SETTLE_S = 65  # after the last page expired: a stats sample (every 60 s by default, which drops the
# snapshots of pages no longer live), more sweeps, and jemalloc's 1 s decay many times over
LATE_S = 0.05  # requests sent later than this after they were due (p99): the driver fell behind


class Results:
    """What the workers and streams saw, shared by their threads."""

    def __init__(self, started):
        self.started = started
        self.lock = threading.Lock()
        self.latencies = collections.defaultdict(list)  # kind -> seconds
        self.by_minute = collections.defaultdict(list)  # minute -> seconds, every kind
        self.statuses = collections.defaultdict(collections.Counter)  # kind -> status -> count
        self.errors = collections.Counter()  # (kind, what) -> count
        self.errors_by_minute = collections.Counter()
        self.examples = []  # the first few errors in full
        self.lags = collections.defaultdict(list)  # minute -> seconds a request was sent after it was due
        self.seen = collections.Counter()  # stream events and connections opened

    def answered(self, kind, status, seconds, sent_at, lag=None):
        with self.lock:
            self.latencies[kind].append(seconds)
            minute = int((sent_at - self.started) // 60)
            self.by_minute[minute].append(seconds)
            self.statuses[kind][status] += 1
            if lag is not None:
                self.lags[minute].append(lag)

    def saw(self, what):
        with self.lock:
            self.seen[what] += 1

    def error(self, kind, what, detail=""):
        with self.lock:
            self.errors[(kind, what)] += 1
            self.errors_by_minute[int((time.monotonic() - self.started) // 60)] += 1
            if len(self.examples) < 10:
                self.examples.append(f"{kind}: {what} {detail}"[:300])


class Action:
    """One request, built by the scheduler and sent by a worker."""

    __slots__ = ("kind", "method", "path", "body", "headers", "due", "etag_key")

    def __init__(self, kind, method, path, body, headers, due, etag_key=None):
        self.kind, self.method, self.path, self.body, self.headers = kind, method, path, body, headers
        self.due, self.etag_key = due, etag_key


# What each kind may answer: anything else is an error.
EXPECTED = {"join": {200, 204}, "heartbeat": {200, 204}, "leave": {200}, "leave-beacon": {200}, "list": {200, 304}}


class Tab:
    """One simulated browser tab; `index` is its place in `Traffic.open` while it is open."""

    __slots__ = ("number", "user", "page", "tab_id", "editing", "minimal", "index")

    def __init__(self, number, user, page, editing, minimal):
        self.number, self.user, self.page, self.tab_id = number, user, page, f"soak-{number}"
        self.editing, self.minimal, self.index = editing, minimal, None


class Traffic:
    """The scheduler: keeps `tabs` tabs open and sends every request when it is due, to the
    worker that owns the tab (so a tab's requests never overtake each other)."""

    def __init__(self, port, identities, tabs, heartbeat_s, ttl_s):
        self.identities, self.tabs_wanted, self.heartbeat_s = identities, tabs, heartbeat_s
        # A user's tab that went quiet still counts against the cap until the sweep took it.
        self.quiet_hold_s = ttl_s + 2 * SWEEP_INTERVAL_S + 5
        self.origin = f"http://127.0.0.1:{port}"
        self.queues = [queue.Queue() for _ in range(WORKERS)]
        self.open = []  # the open tabs, for picking one at random
        self.held = collections.Counter()  # user -> tabs that may still be live on the server
        self.releases = []  # heap of (when, user): a held tab no longer counts
        self.etags = {}  # (user, page) -> the last ETag that user got for the page
        self.events = []  # heap of (due, sequence, what, tab)
        self.sequence = itertools.count()
        self.numbers = itertools.count()
        self.busy_weights = list(itertools.accumulate((k + 1) ** -0.8 for k in range(BUSY_PAGES)))
        self.counts = collections.Counter()  # joined, left, quiet, …
        self.scheduled = collections.Counter()  # kind -> requests sent out on schedule
        self.most_held = 0

    def at(self, due, what, tab=None):
        heapq.heappush(self.events, (due, next(self.sequence), what, tab))

    def run(self, until):
        start = time.monotonic()
        # The first tabs join over one heartbeat interval, so their heartbeats are spread.
        for _ in range(self.tabs_wanted):
            self.at(start + random.uniform(0, self.heartbeat_s), "join")
        self.at(start + random.expovariate(self.tabs_wanted / MEAN_LIFETIME_S), "arrival")
        self.at(start + random.expovariate(self.list_rate()), "poll")
        while True:
            now = time.monotonic()
            if now >= until:
                break
            while self.releases and self.releases[0][0] <= now:
                self.held[heapq.heappop(self.releases)[1]] -= 1
            while self.events and self.events[0][0] <= now:
                due, _, what, tab = heapq.heappop(self.events)
                getattr(self, what)(due, tab)
            wait = (self.events[0][0] if self.events else until) - time.monotonic()
            time.sleep(min(max(wait, 0), 0.05, max(until - time.monotonic(), 0)))
        # The tabs still open go quiet: they expire after the traffic, which is the point.
        self.counts["open at the end"] = len(self.open)

    def list_rate(self):
        return self.tabs_wanted * LISTS_PER_TAB_MINUTE / 60

    def busy_page(self):
        return f"/docs/page-{random.choices(range(BUSY_PAGES), cum_weights=self.busy_weights)[0]:03d}"

    def arrival(self, due, _):
        self.join(due, None)
        self.at(due + random.expovariate(self.tabs_wanted / MEAN_LIFETIME_S), "arrival")

    def join(self, due, _):
        user = self.pick_user()
        if user is None:
            self.counts["joins skipped: every user picked was at the cap"] += 1
            return
        if random.random() < TAIL_SHARE:
            page = f"/tail/page-{random.randrange(TAIL_PAGES):05d}"
        else:
            page = self.busy_page()
        tab = Tab(next(self.numbers), user, page, random.random() < EDITING_SHARE, random.random() < MINIMAL_SHARE)
        tab.index = len(self.open)
        self.open.append(tab)
        self.held[user] += 1
        self.most_held = max(self.most_held, self.held[user])
        self.counts["joined"] += 1
        self.send(tab, "join", {"pagePath": page, "tabId": tab.tab_id}, due)
        self.at(due + self.heartbeat_s, "beat", tab)
        self.at(due + random.expovariate(1 / MEAN_LIFETIME_S), "end", tab)

    def pick_user(self):
        for _ in range(10):
            user = random.randrange(USERS)
            if self.held[user] < MAX_TABS_PER_USER:
                return user
        return None

    def beat(self, due, tab):
        if tab.index is None:  # it left or went quiet
            return
        self.send(tab, "heartbeat", {"pagePath": tab.page, "tabId": tab.tab_id, "isEditing": tab.editing}, due)
        self.at(due + self.heartbeat_s, "beat", tab)

    def end(self, due, tab):
        last = self.open.pop()
        if last is not tab:
            self.open[tab.index] = last
            last.index = tab.index
        tab.index = None
        body = {"pagePath": tab.page, "tabId": tab.tab_id}
        roll = random.random()
        bearer = "Authorization" in self.identities[tab.user]
        if roll < LEAVE_JSON or (roll < LEAVE_JSON + LEAVE_BEACON and bearer):
            # A page can only beacon with its cookie, so bearer callers leave with fetch.
            self.counts["left with a JSON leave"] += 1
            self.send(tab, "leave", body, due)
            hold = LEAVING_S
        elif roll < LEAVE_JSON + LEAVE_BEACON:
            self.counts["left with a text/plain beacon"] += 1
            self.send(tab, "leave-beacon", body, due)
            hold = LEAVING_S
        else:
            self.counts["went quiet (expire by TTL)"] += 1
            hold = self.quiet_hold_s
        heapq.heappush(self.releases, (due + hold, tab.user))

    def poll(self, due, _):
        self.at(due + random.expovariate(self.list_rate()), "poll")
        if not self.open:
            return
        tab = random.choice(self.open)
        headers = dict(self.identities[tab.user])
        etag = self.etags.get((tab.user, tab.page))
        if etag and random.random() < 0.5:
            headers["If-None-Match"] = etag
        action = Action("list", "GET", f"/api/presence/list?pagePath={tab.page}", None, headers, due,
                        (tab.user, tab.page))
        self.queues[random.randrange(WORKERS)].put(action)
        self.scheduled["list"] += 1

    def send(self, tab, kind, body, due):
        headers = dict(self.identities[tab.user])
        if "Cookie" in headers:
            headers["Origin"] = self.origin  # browsers send it with every POST
        if kind == "leave-beacon":
            headers["Content-Type"] = "text/plain;charset=UTF-8"  # what sendBeacon(url, string) sends
        else:
            headers["Content-Type"] = "application/json"
        if tab.minimal and kind in ("join", "heartbeat"):
            headers["Prefer"] = "return=minimal"
        etag_key = (tab.user, tab.page) if kind in ("join", "heartbeat") else None
        action = Action(kind, "POST", f"/api/presence/{kind.removesuffix('-beacon')}", compact(body).encode(),
                        headers, due, etag_key)
        self.queues[tab.number % WORKERS].put(action)
        self.scheduled[kind] += 1


def worker(port, jobs, traffic, results, until):
    """Sends its queue's requests on one keep-alive connection until the traffic is over and
    the queue empty (or `DRAIN_S` later), and checks each answer."""
    connection, left = None, 0
    while time.monotonic() < until + DRAIN_S:
        try:
            action = jobs.get(timeout=0.2)
        except queue.Empty:
            if time.monotonic() >= until:
                break
            continue
        if left == 0:  # browsers come and go: a new connection every so often
            if connection:
                connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            left = random.randint(*REQUESTS_PER_CONNECTION)
            results.saw("connections")
        left -= 1
        sent_at = time.monotonic()
        try:
            connection.request(action.method, action.path, body=action.body, headers=action.headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            results.error(action.kind, "socket error", repr(error))
            connection.close()
            left = 0
            continue
        seconds = time.monotonic() - sent_at
        results.answered(action.kind, response.status, seconds, sent_at, lag=sent_at - action.due)
        if response.status not in EXPECTED[action.kind]:
            results.error(action.kind, f"status {response.status}", data[:200].decode(errors="replace"))
        elif action.kind in ("join", "heartbeat") and response.status == 200 and b'"isCurrentUser":true' not in data:
            results.error(action.kind, "answer without the caller", data[:200].decode(errors="replace"))
        etag = response.getheader("ETag")
        if action.etag_key and etag:
            traffic.etags[action.etag_key] = etag
    if connection:
        connection.close()


def stream_slot(port, identities, traffic, results, until):
    """Opens a stream of a busy page, reads it for a while, closes it; again until the traffic
    is over. A stream silent for longer than its keepalive (15 s) and a bit is an error."""
    cookie_users = [u for u in range(USERS) if "Cookie" in identities[u]]
    while time.monotonic() < until:
        user = random.choice(cookie_users)
        page = traffic.busy_page()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        sent_at = time.monotonic()
        try:
            connection.request("GET", f"/api/presence/stream?pagePath={page}", headers=identities[user])
            response = connection.getresponse()
            results.answered("stream", response.status, time.monotonic() - sent_at, sent_at)
            if response.status != 200 or response.getheader("Content-Type") != "text/event-stream":
                results.error("stream", f"status {response.status}", response.getheader("Content-Type") or "")
                continue
            closes_at = time.monotonic() + random.uniform(*STREAM_SECONDS)
            while time.monotonic() < min(closes_at, until):
                line = response.readline()
                if not line:
                    results.error("stream", "ended by the server")
                    break
                if line.startswith(b"event: "):
                    results.saw(line[7:].strip().decode())
                elif line.startswith(b": keepalive"):
                    results.saw("keepalive")
        except (OSError, http.client.HTTPException) as error:
            results.error("stream", "socket error", repr(error))
        finally:
            connection.close()


class Memory(threading.Thread):
    """The server's resident memory, from /proc/<pid>/status once a second until stopped:
    VmRSS (what `ps` shows), and RssAnon, the part that is the process's own (heap and
    stacks) and not pages of the binary and its libraries."""

    FIELDS = ("VmRSS", "RssAnon", "VmHWM")

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.done = pid, [], threading.Event()

    def read(self):
        """The FIELDS in bytes, and `at`, when they were read."""
        values = {"at": time.monotonic()}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in self.FIELDS:
                values[name] = int(value.split()[0]) * 1024
        return values

    def run(self):
        while not self.done.wait(1):
            self.samples.append(self.read())

    def latest(self):
        return self.samples[-1] if self.samples else self.read()

    def peak(self, field):
        return max(sample[field] for sample in self.samples)

    def since(self, moment):
        return [sample for sample in self.samples if sample["at"] >= moment]


def identities_of(cookies, tokens):
    """Per user, the headers that say who is calling: the session cookie, or for every
    `BEARER_EVERY`th user a bearer token."""
    return [{"Authorization": f"Bearer {tokens[u]}"} if u % BEARER_EVERY == BEARER_EVERY - 1
            else {"Cookie": cookies[u]} for u in range(USERS)]


def wait_for_expiry(client, cookie, stopped, ttl_s):
    """Leaves the server alone for a TTL and two sweeps after the traffic stopped, so the
    sweep, not a read, frees the tabs; then polls the busiest pages each second until none
    is live. Answers the seconds from the stop to no live page, or None past the bound.
    (Listing the pages expires their tabs too, so it waits to be the check, not the cause.)"""
    quiet_until = stopped + ttl_s + 2 * SWEEP_INTERVAL_S
    time.sleep(max(quiet_until - time.monotonic(), 0))
    while time.monotonic() < quiet_until + EXPIRY_GRACE_S:
        if live_tabs(client, cookie, prefix="/")[0] == 0:
            return time.monotonic() - stopped
        time.sleep(1)
    return None


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)] if ordered else 0.0


def mib(value):
    return f"{value / 2 ** 20:.1f} MiB"


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


LABELS = {
    "join": "join",
    "heartbeat": "heartbeat",
    "leave": "leave, JSON",
    "leave-beacon": "leave, text/plain beacon",
    "list": "list",
    "stream": "stream opened",
}


def report(run):
    """The markdown report of a finished run, and whether it passed."""
    r, memory, traffic = run.results, run.memory, run.traffic
    requests = sum(len(v) for v in r.latencies.values())
    errors = sum(r.errors.values())
    every = [s for v in r.latencies.values() for s in v]
    lags = [s for v in r.lags.values() for s in v]
    boot, start, end = run.memory_boot, run.memory_start, run.memory_end
    peak = {field: memory.peak(field) for field in ("VmRSS", "RssAnon")}
    # The bar: with no tab live, no more memory than one minute in, with every tab live.
    warm = run.minutes[0][0]["RssAnon"]
    memory_ok = end["RssAnon"] <= warm
    added, kept = peak["RssAnon"] - start["RssAnon"], end["RssAnon"] - start["RssAnon"]
    expired = run.expired_after_s is not None
    passed = errors == 0 and memory_ok and expired
    info, load_start, load_end, seconds = run.info, run.load_start, run.load_end, run.traffic_s
    scheduled = traffic.scheduled
    offered = (f"{scheduled['heartbeat'] / seconds:.0f} heartbeats, {scheduled['join'] / seconds:.0f} joins, "
               f"{(scheduled['leave'] + scheduled['leave-beacon']) / seconds:.0f} leaves and "
               f"{scheduled['list'] / seconds:.0f} lists a second")
    lines = [
        f"# presence soak, {run.when:%Y-%m-%d %H:%M %Z}: {'PASSED' if passed else '**FAILED**'}",
        "",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), Linux {info['kernel']}, {info['rustc']}",
        f"- load average at the start {load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f} (1/5/15 min; "
        f"{run.idle_start:.0%} of the CPUs idle in the second before), at the end {load_end[0]:.2f} / "
        f"{load_end[1]:.2f} / {load_end[2]:.2f}; the server and this driver share the machine with whatever else runs",
        f"- server: `target/release/presence` with its default settings but a temporary SQLite file, a session key, "
        f"`PRESENCE_DEV_LOGIN=true`, `PRESENCE_COOKIE_SECURE=false`, a JWT secret, the rate limits off "
        f"(`PRESENCE_RATE_LIMIT_PER_USER=0`, `PRESENCE_RATE_LIMIT_PER_IP=0`) and "
        f"`RUST_LOG=info,presence::store::memory=debug` (a line a sweep); TTL {run.ttl_s:.0f} s, "
        f"heartbeats every {run.heartbeat_s:.0f} s",
        f"- CPU during the traffic: the server {run.cpu[-1].server - run.cpu[0].server:.0f} s, this driver "
        f"{run.cpu[-1].driver - run.cpu[0].driver:.0f} s; other processes took {others_share(run.cpu[0], run.cpu[-1]):.0%} "
        "of the machine's CPUs (per minute in the last table)",
        f"- traffic: {seconds // 60} minute{'s' if seconds > 60 else ''}; {run.tabs:,} tabs open at a time, of {USERS} users "
        f"({USERS // BEARER_EVERY} with a bearer token, the others with the session cookie), on {BUSY_PAGES} busy "
        f"pages and, for {TAIL_SHARE:.0%} of the tabs, one of {TAIL_PAGES:,} rarely visited ones; "
        f"**offered {sum(traffic.scheduled.values()) / seconds:.0f} requests/s** on a fixed schedule ({offered}), "
        f"answered {requests / seconds:.0f}/s, on {WORKERS} connections "
        f"(each reopened after {REQUESTS_PER_CONNECTION[0]}–{REQUESTS_PER_CONNECTION[1]} requests: "
        f"{r.seen['connections']:,} in all), and {STREAMS} streams open at a time",
        "",
        "| requests (answers) | count | errors | p50 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, label in LABELS.items():
        values = r.latencies.get(kind, [])
        kind_errors = sum(n for (k, _), n in r.errors.items() if k == kind)
        statuses = ", ".join(f"{n:,}× {s}" for s, n in sorted(r.statuses[kind].items()))
        lines.append(f"| {label} ({statuses}) | {len(values):,} | {kind_errors} | {ms(percentile(values, .5))} "
                     f"| {ms(percentile(values, .99))} | {ms(max(values, default=0))} |")
    lines += [
        f"| **all** | **{requests:,}** | **{errors}** | **{ms(percentile(every, .5))}** "
        f"| **{ms(percentile(every, .99))}** | {ms(max(every, default=0))} |",
        "",
        "Latency is the driver's, from sending a request to having read its answer (for a stream, its headers), so "
        "it includes the Python client's own time. Errors are answers a well-behaved client should not get (any "
        "status but those of its row; a join or heartbeat answer without the caller), socket errors, and streams "
        "that ended early or were silent for 20 s.",
        f"Requests went out {ms(percentile(lags, .99))} after they were due at p99 ({ms(max(lags, default=0))} at most): "
        + ("the driver kept to the offered rate." if percentile(lags, .99) <= LATE_S else
           f"**the driver fell behind the offered rate** (p99 over {ms(LATE_S)}): the machine was busy or the server "
           "slow; the minute table shows when."),
        "",
    ]
    if r.errors:
        lines += ["Errors:", ""] + [f"- {k}: {what}: {n}" for (k, what), n in sorted(r.errors.items())]
        lines += ["", "The first ones:", ""] + [f"- `{e}`" for e in r.examples] + [""]
    counts = traffic.counts
    during, after = run.sweeps_during, run.sweeps_after
    lines += [
        f"- tabs: {counts['joined']:,} joined; {counts['left with a JSON leave']:,} left with a JSON leave and "
        f"{counts['left with a text/plain beacon']:,} with a text/plain beacon; "
        f"{counts['went quiet (expire by TTL)']:,} went quiet during the traffic and "
        f"{counts['open at the end']:,} when it stopped, to expire by TTL. At most {traffic.most_held} tabs of one "
        f"user were live (cap {MAX_TABS_PER_USER}); {counts['joins skipped: every user picked was at the cap']} "
        "joins were skipped for the cap",
        f"- streams received {r.seen['snapshot']:,} snapshots, {r.seen['join']:,} joins, {r.seen['leave']:,} "
        f"leaves and {r.seen['keepalive']:,} keepalives",
        f"- sweeps freed {during[1]:,} expired tabs during the traffic (the others were expired by reads of their "
        f"page) and {after[1]:,} after it, in {after[0]} sweeps (the largest {after[2]:,} at once)",
        f"- expiry: {run.live_at_stop:,} tabs were live on the 100 busiest pages when the traffic stopped; "
        + (f"no page was live {run.expired_after_s:.0f} s after it" if expired
           else f"**pages were still live {run.ttl_s + 2 * SWEEP_INTERVAL_S + EXPIRY_GRACE_S:.0f} s after it**"),
        "",
        "| server memory | VmRSS | RssAnon |",
        "|---|---:|---:|",
        f"| just started | {mib(boot['VmRSS'])} | {mib(boot['RssAnon'])} |",
        f"| **start**: sessions open, before the traffic | {mib(start['VmRSS'])} | {mib(start['RssAnon'])} |",
        f"| one minute into the traffic | {mib(run.minutes[0][0]['VmRSS'])} | {mib(warm)} |",
        f"| **peak** (sampled every second) | {mib(peak['VmRSS'])} | {mib(peak['RssAnon'])} |",
        f"| **end**: {SETTLE_S} s after no page was live | {mib(end['VmRSS'])} | {mib(end['RssAnon'])} |",
        "",
        f"The kernel's high-water mark of VmRSS (VmHWM) was {mib(end['VmHWM'])}.",
        f"**Memory {'came back' if memory_ok else 'did not come back'}**: with no tab live, RssAnon at the end "
        f"({mib(end['RssAnon'])}) {'is not above' if memory_ok else 'is above'} RssAnon one minute into the "
        f"traffic ({mib(warm)}), when every tab was live; that is the bar. Of the {mib(added)} the traffic added "
        f"(peak − start), {mib(max(kept, 0))} stayed ({kept / added if added else 0:.0%}).",
        "",
        "| minute | requests | p99 | sent late, p99 | errors | others' CPU | VmRSS at its end | RssAnon "
        "| tabs live (100 busiest pages) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for minute, (sample, tabs) in enumerate(run.minutes):
        values = r.by_minute.get(minute, [])
        lines.append(f"| {minute + 1} | {len(values):,} | {ms(percentile(values, .99))} | "
                     f"{ms(percentile(r.lags.get(minute, []), .99))} | {r.errors_by_minute[minute]} | "
                     f"{others_share(run.cpu[minute], run.cpu[minute + 1]):.0%} | {mib(sample['VmRSS'])} | "
                     f"{mib(sample['RssAnon'])} | {tabs:,} |")
    after_stop = memory.since(run.stopped)[::10]
    lines += ["", "RssAnon after the traffic stopped: " + ", ".join(
        f"{sample['at'] - run.stopped:.0f} s: {mib(sample['RssAnon'])}" for sample in after_stop)]
    return "\n".join(lines) + "\n", passed


CpuTimes = collections.namedtuple("CpuTimes", "at machine server driver")


def cpu_times(server):
    """CPU seconds so far: the whole machine's busy time, the server's and this driver's."""
    return CpuTimes(time.monotonic(), busy_seconds(), server.cpu_seconds(), time.process_time())


def others_share(before, after):
    """The share of the machine's CPUs that neither the server nor this driver used between
    two `cpu_times`: a machine that was not quiet."""
    others = (after.machine - before.machine) - (after.server - before.server) - (after.driver - before.driver)
    return max(others, 0) / ((after.at - before.at) * (os.cpu_count() or 1))


def drive(run, server, client, cookies, identities):
    """The traffic, for `run.traffic_s`; each minute, the server's memory, its live tabs and
    the CPU times."""
    started = time.monotonic()
    until = started + run.traffic_s
    run.results = results = Results(started)
    run.traffic = traffic = Traffic(server.port, identities, run.tabs, run.heartbeat_s, run.ttl_s)
    threads = [threading.Thread(target=worker, args=(server.port, jobs, traffic, results, until), daemon=True)
               for jobs in traffic.queues]
    threads += [threading.Thread(target=stream_slot, args=(server.port, identities, traffic, results, until),
                                 daemon=True) for _ in range(STREAMS)]
    threads.append(threading.Thread(target=traffic.run, args=(until,), daemon=True))
    run.cpu = [cpu_times(server)]
    for thread in threads:
        thread.start()
    run.minutes = []
    for minute in range(run.traffic_s // 60):
        time.sleep(max(started + 60 * (minute + 1) - time.monotonic(), 0))
        server.exited()
        run.cpu.append(cpu_times(server))
        live = live_tabs(client, cookies[0], prefix="/")[1]
        run.minutes.append((run.memory.latest(), live))
        log(f"  minute {minute + 1}: {sum(len(v) for v in results.latencies.values()):,} requests, "
            f"{sum(results.errors.values())} errors, RSS {mib(run.memory.latest()['VmRSS'])}, {live:,} tabs live")
    run.stopped = until
    for thread in threads:  # a stream ends at its next line: within a keepalive
        thread.join(timeout=max(until + DRAIN_S + 25 - time.monotonic(), 0))


def soak(args):
    binary = str(Path(args.bin).resolve())
    run = types.SimpleNamespace(tabs=args.tabs, traffic_s=args.minutes * 60, info=machine())
    with Workspace("presence-soak-", args.keep) as workspace:
        # A line a sweep in the log, so the report can count what the sweeps freed.
        settings = server_settings(workspace.path, RUST_LOG="info,presence::store::memory=debug")
        server = workspace.start(binary, "soak", settings)
        run.memory = Memory(server.process.pid)
        run.memory_boot = run.memory.read()
        run.memory.start()
        client = Client(server.port)
        cookies = open_sessions(client)
        identities = identities_of(cookies, mint_tokens(binary))
        # The timing the server tells its clients.
        setup = {"pagePath": "/soak/setup", "tabId": "setup"}
        _, data = client.expect(200, "POST", "/api/presence/join", setup, [("Cookie", cookies[0])])
        client.expect(200, "POST", "/api/presence/leave", setup, [("Cookie", cookies[0])])
        snapshot = json.loads(data)
        run.heartbeat_s, run.ttl_s = snapshot["heartbeatIntervalMs"] / 1000, snapshot["ttlMs"] / 1000
        run.load_start, run.idle_start = os.getloadavg(), cpu_idle()
        run.memory_start = run.memory.read()
        log(f"soak: {args.minutes} min, {args.tabs:,} tabs; load average {run.load_start[0]:.2f}; "
            f"RSS {mib(run.memory_start['VmRSS'])}")

        drive(run, server, client, cookies, identities)
        swept = server.log_path.stat().st_size
        run.live_at_stop = live_tabs(client, cookies[0], prefix="/")[1]
        log("traffic stopped; leaving the server alone for a TTL and two sweeps, then polling for live pages")
        run.expired_after_s = wait_for_expiry(client, cookies[0], run.stopped, run.ttl_s)
        time.sleep(SETTLE_S)
        run.memory_end = run.memory.read()
        run.memory.done.set()
        run.sweeps_after = sweeps_in(server.log_path, swept)
        run.sweeps_during = [total - after for total, after in zip(sweeps_in(server.log_path, 0), run.sweeps_after)]
        run.when, run.load_end = datetime.datetime.now().astimezone(), os.getloadavg()
        text, passed = report(run)
        print(text)
        write_report(args.out, text)
        return passed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the release presence binary")
    parser.add_argument("--minutes", type=int, default=int(os.environ.get("SOAK_MINUTES", 10)),
                        help=f"minutes of traffic (1 to {MAX_MINUTES}; default 10, or SOAK_MINUTES)")
    parser.add_argument("--tabs", type=int, default=6000,
                        help=f"tabs open at a time (100 to {MAX_TABS}; default 6000, about 565 requests/s)")
    parser.add_argument("--out", default=str(ROOT / "loadtest/results/soak-latest.md"),
                        help="where the report goes (default: loadtest/results/soak-latest.md)")
    parser.add_argument("--keep", action="store_true", help="keep the server log and the database")
    args = parser.parse_args()
    if not 1 <= args.minutes <= MAX_MINUTES:
        parser.error(f"--minutes must be 1 to {MAX_MINUTES}")
    if not 100 <= args.tabs <= MAX_TABS:
        parser.error(f"--tabs must be 100 to {MAX_TABS}")
    stop_on_sigterm()
    sys.exit(0 if soak(args) else 1)


if __name__ == "__main__":
    main()
