"""Shared pieces of every benchmark (PERFORMANCE.md): scratch databases, ceilings measured in the
same run, a latency summary, and the writer of `docs/benchmarks.md`.

The API, all plain functions:

- `scratch_database(name)`: context manager creating PostgreSQL database `name` (drop first if
  left over) and dropping it at the end; yields its URL. Names start with `bench_<area>_`.
- `django_env(url)`: environment for a subprocess running Django against that database
  (`python manage.py migrate`, or a benchmark's own child process).
- `run_django(url, *args)`: run `manage.py <args>` against that database, failing loudly.
- `ceiling_insert(url, clients=1, seconds=3.0)`: C_insert, single-row INSERT commits/s.
- `ceiling_copy(url, rows)`: C_copy, rows/s of a raw `COPY` of `rows` into a scratch table.
- `summary(samples)`: `Summary` (n, min, median, max, p99) of durations in seconds.
- `free_port()`, `start_gunicorn(app, url, port, workers, **env)`, `stop_server(server)`: a
  gunicorn of the project's own on loopback, in its own process group, for HTTP load tests.
- `Phase`: counts, latencies and errors of one load phase; `Phase.rate` in requests/s.
- `closed_loop(name, seconds, job, clients)`: saturation phase, each client back to back.
- `sandbox_env()`: environment for a server taking payments with the sandbox card only.
- `write_section(name, markdown)`: rewrite the section between `<!-- bench:NAME -->` and
  `<!-- /bench:NAME -->` in `docs/benchmarks.md`, headed with date, machine and commit.

Nothing here imports Django, so a benchmark's parent process stays free to point Django at a
scratch database in a child process.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
# The server where scratch databases are made; any database on it serves as the maintenance one.
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgres://postgres@127.0.0.1/postgres")


# --- Scratch databases ---------------------------------------------------------------------------


def database_url(name: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


def _check_name(name: str) -> None:
    if not re.fullmatch(r"bench_[a-z0-9_]+", name):
        raise ValueError(f"scratch database names start with bench_ and use [a-z0-9_]: {name!r}")


def drop_database(name: str) -> None:
    _check_name(name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(name: str) -> str:
    """A fresh, empty database (dropped first if a previous run left it); returns its URL."""
    drop_database(name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(name)


@contextlib.contextmanager
def scratch_database(name: str, *, keep: bool = False) -> Iterator[str]:
    url = create_database(name)
    try:
        yield url
    finally:
        if not keep:
            drop_database(name)


def django_env(url: str, **extra: str) -> dict[str, str]:
    """Environment for Django against `url`: development settings without DEBUG (no query log),
    tasks run inline, no Redis."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PIAZZA_TASKS_BACKEND")}
    env.update(
        DATABASE_URL=url, PIAZZA_ENV="development", DEBUG="0", PIAZZA_TASKS_BACKEND="immediate", PYTHONPATH=str(ROOT)
    )
    env.update(extra)
    return env


def run_django(url: str, *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=django_env(url), cwd=ROOT, check=True)


# --- Ceilings ------------------------------------------------------------------------------------


def run_child(module: str, url: str, step: str, path: Path, *extra: str, env: dict[str, str]) -> dict[str, Any]:
    """A benchmark's Django step (`--child STEP`) in its own process; the JSON it left in `path`."""
    out = subprocess.run(
        [sys.executable, "-m", module, "--child", step, "--file", str(path), *extra],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(out.stdout[-3000:], out.stderr[-3000:])
        raise SystemExit(f"benchmark child '{step}' failed")
    text = path.read_text() if path.exists() else ""
    return dict(json.loads(text)) if text.strip() else {}


def ceiling_insert(url: str, *, clients: int = 1, seconds: float = 3.0) -> float:
    """C_insert: committed single-row INSERTs per second, `clients` connections in parallel
    (an equivalent of `pgbench -n -N`), into a scratch table dropped afterwards."""
    table = f"bench_ceiling_insert_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (id bigserial PRIMARY KEY, client int, at timestamptz, note text)").format(
                sql.Identifier(table)
            )
        )
    counts = [0] * clients
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            statement = sql.SQL("INSERT INTO {} (client, at, note) VALUES (%s, now(), %s)").format(
                sql.Identifier(table)
            )
            while time.monotonic() < deadline:
                conn.execute(statement, (index, "ceiling"))
                counts[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
    return sum(counts) / elapsed


def ceiling_copy(url: str, rows: Sequence[Sequence[object]]) -> float:
    """C_copy: rows per second of a raw `COPY` of `rows` (text columns) into a scratch table."""
    if not rows:
        raise ValueError("ceiling_copy needs at least one row")
    width = max(len(r) for r in rows)
    table = f"bench_ceiling_copy_{os.getpid()}"
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(f"c{i}")) for i in range(width))
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), columns))
        conn.commit()
        started = time.monotonic()
        with conn.cursor() as cursor, cursor.copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))) as copy:
            for row in rows:
                copy.write_row([*(None if v is None else str(v) for v in row), *[None] * (width - len(row))])
        conn.commit()
        elapsed = time.monotonic() - started
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
        conn.commit()
    return len(rows) / elapsed


# --- Figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Durations in seconds; `ms()` renders them for a table."""

    n: int
    min: float
    median: float
    max: float
    p99: float

    def ms(self) -> str:
        return (
            f"p99 {self.p99 * 1000:.1f} ms (min {self.min * 1000:.1f} / median {self.median * 1000:.1f} / "
            f"max {self.max * 1000:.1f}, n={self.n})"
        )


def summary(samples: Sequence[float]) -> Summary:
    if not samples:
        raise ValueError("summary of no samples")
    ordered = sorted(samples)
    # Nearest-rank p99: with fewer than 100 samples it is the maximum.
    rank = max(1, -(-99 * len(ordered) // 100))
    return Summary(len(ordered), ordered[0], statistics.median(ordered), ordered[-1], ordered[rank - 1])


def timed(function: object, *args: object, **kwargs: object) -> float:
    started = time.perf_counter()
    function(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - started


# --- docs/benchmarks.md --------------------------------------------------------------------------


def machine() -> str:
    cores = os.cpu_count() or 0
    memory = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(cores)
    return f"{nproc} cores (nproc), {memory or 'unknown'} memory"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out + (" (working tree with uncommitted changes)" if dirty else "")


def write_section(name: str, markdown: str, *, path: Path = DOC) -> None:
    """Replace (or append) the section `name` of the benchmarks page, headed with date, machine
    and commit, leaving every other section as it is."""
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        raise ValueError(f"section names use [a-z0-9_-]: {name!r}")
    header = f"_Run {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {machine()}, commit {git_commit()}._\n\n"
    block = f"<!-- bench:{name} -->\n{header}{markdown.strip()}\n<!-- /bench:{name} -->"
    text = (
        path.read_text(encoding="utf-8")
        if path.exists()
        else ("# Benchmarks\n\nWritten by `make bench` (see PERFORMANCE.md): each section by one benchmark.\n")
    )
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    found = pattern.search(text)
    text = pattern.sub(lambda _m: block, text) if found else text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


# --- HTTP load against a gunicorn of our own --------------------------------------------------------


def sandbox_env() -> dict[str, str]:
    """The sandbox card processor only; emails dropped (in production they leave from a task)."""
    return {
        "PAYMENT_PROVIDERS": "piazza.payments.providers.sandbox.SandboxProvider",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": "http://127.0.0.1",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int, seconds: float = 60.0) -> bool:
    """Whether something accepts connections on loopback `port` within `seconds` (a server starting)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def start_gunicorn(
    app: str, url: str, port: int, workers: int, *, options: Sequence[str] = (), **env: str
) -> subprocess.Popen[bytes]:
    """gunicorn serving `app` (a WSGI dotted path) against database `url`, ready when this returns;
    `options` go before the defaults (e.g. a settings file with `-c`)."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            *options,
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--backlog",
            "2048",
            "--timeout",
            "60",
        ],
        env=django_env(url, DB_CONN_MAX_AGE="60", LOG_LEVEL="WARNING", **env),
        cwd=ROOT,
        start_new_session=True,
    )
    if listening(port):
        return server
    stop_server(server)
    raise SystemExit("gunicorn did not start")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Stop a server this benchmark started (its own process group, by id)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    done: int = 0
    offered: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


async def closed_loop(name: str, seconds: float, job: Callable[[], Awaitable[object]], clients: int) -> Phase:
    """Saturation: `clients` loops, each starting its next job when the last one ends."""
    phase = Phase(name)
    deadline = time.perf_counter() + seconds

    async def client_loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            phase.offered += 1
            try:
                await job()
            except Exception as exc:  # every failure is counted and shown
                phase.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                phase.done += 1
                phase.latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    phase.seconds = time.perf_counter() - started
    return phase
