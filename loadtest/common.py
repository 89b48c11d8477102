"""What the load tests share: the service on a free loopback port and a scratch directory
for it, its 1 000 users' sessions and tokens, bounded wrk runs, and the machine's figures
(CPU time, idle share, load). `driver.py` (run.sh), `soak.py` (soak.sh) and `ab.py`
(ab.sh) import it; Python's standard library only.

Every loop here is bounded in count, every wait and every wrk run in time, and every
address is on loopback.
"""

import base64
import http.client
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOAD_LUA = "loadtest/load.lua"  # the one wrk script, relative to ROOT (wrk runs there)
USERS = 1000
JWT_SECRET = "bench-secret-that-is-long-enough-for-hs256"
THREADS, CONNECTIONS = 2, 64  # every wrk run: `wrk -t2 -c64`


def log(message):
    print(message, file=sys.stderr, flush=True)


def user_id(u):
    return f"user-{u:04d}"


def profile(u):
    return {"id": user_id(u), "name": f"User {u}", "avatar": f"https://example.com/avatars/{u}.png"}


def compact(value):
    return json.dumps(value, separators=(",", ":"))


def stop_on_sigterm():
    """SIGTERM ends the run as Ctrl-C does: through the `finally` blocks and `with` exits
    that stop the servers."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def write_report(path, text):
    """Writes a report (a markdown file), making its folder if need be."""
    out = Path(path).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    log(f"written to {out}")


class Client:
    """One keep-alive HTTP/1.1 connection to the service."""

    def __init__(self, port):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(self, method, path, body=None, headers=()):
        headers = dict(headers)
        data = None
        if body is not None:
            data = compact(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                return response.status, response, response.read()
            except (ConnectionError, http.client.HTTPException):
                self.connection.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def expect(self, status, method, path, body=None, headers=()):
        got, response, data = self.request(method, path, body, headers)
        if got != status:
            raise SystemExit(f"{method} {path} answered {got}, not {status}: {data[:300]!r}")
        return response, data


class Server:
    """The binary on a free loopback port, its log in the scratch directory; `stop()` ends
    it (and waits for it). Start it through `Workspace.start`, which stops it on exit.

    The port is in `PRESENCE_LISTEN`, and `{port}` in an item of `argv` becomes it; the
    server is up once `ready` (method, path, JSON body) answers 200."""

    def __init__(self, binary, scratch, name, settings, argv=(), ready=("GET", "/healthz", None)):
        self.binary, self.name = binary, name
        self.log_path = scratch / f"{name}.log"
        self.port = free_port()
        env = dict(os.environ, PRESENCE_LISTEN=f"127.0.0.1:{self.port}", **settings)
        self.process = subprocess.Popen(
            [binary, *(arg.format(port=self.port) for arg in argv)],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"), cwd=scratch
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(200):  # at most 20 s
            if self.process.poll() is not None:
                raise SystemExit(f"{name} server exited at start:\n{self.log_path.read_text()[-2000:]}")
            try:
                status, _, _ = Client(self.port).request(*ready)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"{name} server did not answer {ready[0]} {ready[1]} within 20 s")

    def cpu_seconds(self):
        """User and system CPU time the server has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def exited(self):
        """Raises, with the end of its log, if the server is gone."""
        if self.process.poll() is not None:
            raise SystemExit(f"the {self.name} server exited:\n{self.log_path.read_text()[-3000:]}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


class Workspace:
    """A scratch directory and the servers started in it. Leaving the `with` stops every
    server and deletes the directory, unless `keep` (then its path is printed)."""

    def __init__(self, prefix, keep=False):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self.keep, self.servers = keep, []

    def start(self, binary, name, settings, **options):
        server = Server(binary, self.path, name, settings, **options)
        self.servers.append(server)
        return server

    def __enter__(self):
        return self

    def __exit__(self, *_):
        for server in self.servers:
            server.stop()
        if self.keep:
            log(f"the server logs, the database and the request files are in {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def server_settings(scratch, **overrides):
    """The server's environment for a load test: its defaults, but a SQLite file in the
    scratch directory, a fresh session key, dev login over plain HTTP, a JWT secret for
    `mint_tokens`, and both rate limits off (all the load comes from one loopback address,
    and each user sends far more than a browser would)."""
    return {
        "PRESENCE_DATABASE_URL": f"sqlite:{scratch / 'presence.db'}",
        "PRESENCE_JWT_SECRET": JWT_SECRET,
        # One key for every server of a run, so a second server takes the same cookies.
        "PRESENCE_SESSION_KEY": base64.b64encode(secrets.token_bytes(64)).decode(),
        "PRESENCE_DEV_LOGIN": "true",
        "PRESENCE_COOKIE_SECURE": "false",
        "PRESENCE_RATE_LIMIT_PER_IP": "0",
        "PRESENCE_RATE_LIMIT_PER_USER": "0",
        **overrides,
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_sessions(client):
    """A session cookie per user, from `POST /api/session/dev`."""
    cookies = []
    for u in range(USERS):
        response, _ = client.expect(200, "POST", "/api/session/dev", profile(u))
        cookie = response.getheader("Set-Cookie")
        if not cookie:
            raise SystemExit("POST /api/session/dev set no cookie")
        cookies.append(cookie.split(";", 1)[0])
    return cookies


def mint_tokens(binary):
    """A bearer token per user, from `presence token`, with the same profile as the session."""
    env = dict(os.environ, PRESENCE_JWT_SECRET=JWT_SECRET)

    def mint(u):
        p = profile(u)
        command = [binary, "token", "--sub", p["id"], "--name", p["name"], "--picture", p["avatar"], "--ttl", "2h"]
        return subprocess.run(command, env=env, check=True, capture_output=True, text=True, timeout=30).stdout.strip()

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(mint, range(USERS)))


def live_tabs(client, cookie, prefix="/docs/"):
    """(pages, tabs) live under `prefix`, from `GET /api/presence/pages`."""
    _, data = client.expect(200, "GET", "/api/presence/pages?limit=100", headers=[("Cookie", cookie)])
    pages = [p for p in json.loads(data)["pages"] if p["pagePath"].startswith(prefix)]
    return len(pages), sum(p["tabCount"] for p in pages)


def sweeps_in(log_path, offset):
    """(sweeps, tabs removed, largest sweep) logged after byte `offset` of the server log
    (the server logs a line a sweep with `RUST_LOG=…,presence::store::memory=debug`)."""
    with open(log_path) as f:
        f.seek(offset)
        text = re.sub(r"\x1b\[[0-9;]*m", "", f.read())  # the pretty format's colours
        removed = [int(m.group(1)) for m in re.finditer(r'"?removed"?[=:](\d+)', text)]
    return len(removed), sum(removed), max(removed, default=0)


def write_requests(path, rows):
    """One request a line, as `load.lua` reads them: method, path, body, headers, tab-separated."""
    with open(path, "w") as f:
        for method, target, body, headers in rows:
            assert all("\t" not in h and "\n" not in h for h in headers)
            f.write("\t".join([method, target, body or "", *headers]) + "\n")
    return path



def add_cpu_figures(figures, elapsed, machine_busy, server_cpu, client_cpu):
    """CPU µs a request of the server and of wrk, and the share of the CPUs neither used:
    other processes (the machine was not quiet)."""
    figures["server_cpu_us"] = server_cpu * 1e6 / max(figures["requests"], 1)
    figures["client_cpu_us"] = client_cpu * 1e6 / max(figures["requests"], 1)
    capacity = elapsed * (os.cpu_count() or 1)
    figures["other_cpu_share"] = max(machine_busy - server_cpu - client_cpu, 0) / capacity
    figures["busy_share"] = min(machine_busy / capacity, 1.0)


def report_errors(figures):
    if figures["status_errors"] or figures["socket_errors"]:
        log(f"  !! {figures['status_errors']} answers ≥ 400 and {figures['socket_errors']} socket errors")

def wrk(server, requests, seconds, mode="cycle", profile=None, connections=CONNECTIONS):
    """One bounded wrk run of `load.lua` over a request file; answers its figures and the
    command. With `profile` (a path), `perf record` samples the server during the run."""
    env = {"BENCH_REQUESTS": str(requests), "BENCH_MODE": mode, "BENCH_THREADS": str(THREADS)}
    command = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
               "-s", LOAD_LUA, server.base]
    shown = " ".join(f"{k}={v}" for k, v in env.items()) + " " + shlex.join(command)
    log(f"  $ {shown}")
    perf = None
    if profile:
        perf = subprocess.Popen(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-o", str(profile),
                                 "-p", str(server.process.pid), "--", "sleep", str(seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server_cpu = server.cpu_seconds()
    client_cpu = os.times()
    machine_busy, started = busy_seconds(), time.monotonic()
    done = subprocess.run(command, env=dict(os.environ, **env), capture_output=True, text=True,
                          timeout=seconds + 60, cwd=ROOT)
    client_cpu = os.times().children_user + os.times().children_system - (
        client_cpu.children_user + client_cpu.children_system)
    server_cpu = server.cpu_seconds() - server_cpu
    machine_busy = busy_seconds() - machine_busy
    elapsed = time.monotonic() - started
    if perf:
        perf.wait(timeout=seconds + 120)
    line = next((l for l in done.stdout.splitlines() if l.startswith("result ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    figures = {k: int(v) for k, v in (field.split("=") for field in line.split()[1:])}
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["bytes_per_answer"] = figures["bytes"] / max(figures["requests"], 1)
    add_cpu_figures(figures, elapsed, machine_busy, server_cpu, client_cpu)
    figures["command"] = shown
    report_errors(figures)
    log(f"  {figures['rps']:,.0f} requests/s, p50 {figures['p50_us']} µs, p99 {figures['p99_us']} µs, "
        f"{figures['bytes_per_answer']:,.0f} bytes an answer; CPU µs a request: server "
        f"{figures['server_cpu_us']:.0f}, wrk {figures['client_cpu_us']:.0f}; CPUs {figures['busy_share']:.0%} busy, "
        f"{figures['other_cpu_share']:.0%} by other processes")
    return figures


def busy_seconds():
    """CPU seconds the whole machine has spent busy (not idle, not waiting on I/O)."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cpu_idle(seconds=1.0):
    """The share of CPU time spent idle over `seconds`, from /proc/stat."""

    def sample():
        fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(total1 - total0, 1)


def machine():
    """The CPUs, kernel, rustc and wrk, for a report's first lines."""
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")

    def version(command):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
            return (done.stdout or done.stderr).splitlines()[0].strip()
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "rustc": version(["rustc", "--version"]),
        "wrk": version(["wrk", "-v"]).split(" [")[0],
    }
