"""What a run stands on: its own PostgreSQL database and Redis database number, the Xero sandbox as a
separate process, real Celery workers as separate processes, and a sampler of their memory.

Nothing here imports Django: the environment is set before Django starts (see `configure`)."""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
# Debug is off, as in production, so the app refuses values written in this repository: each bench process
# makes its own (the workers inherit them; the sandbox registers the app with the same credentials).
SANDBOX_CLIENT_ID = secrets.token_hex(16).upper()
SANDBOX_CLIENT_SECRET = secrets.token_urlsafe(36)
SECRET_KEY = secrets.token_urlsafe(50)
ENCRYPTION_SALT = secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Options:
    database: str = "arena_bench"
    postgres: str = "postgres://postgres@127.0.0.1:5432"
    redis: str = "redis://127.0.0.1:6379"
    redis_db: int = 13
    sandbox_port: int = 0  # 0: a free port
    time_scale: float = 10.0
    workers: int = 4
    instrument: bool = True  # count queries and Xero calls per task in the workers (bench/worker_app.py)
    app_minute_limit: int = 10000  # Xero's calls a minute for the whole app (sandbox and limiter alike)
    billing_processes: int = 1  # billrun: processes billing the month, each its own organisations

    @property
    def database_url(self) -> str:
        return f"{self.postgres}/{self.database}"

    @property
    def redis_url(self) -> str:
        return f"{self.redis}/{self.redis_db}"


def app_environment(options: Options, sandbox_url: str = "http://127.0.0.1:1") -> dict[str, str]:
    """The variables the app (this process and the workers) runs with. Debug is off, as in production."""
    return {
        "DJANGO_SETTINGS_MODULE": "arena_xero.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "ENCRYPTION_SALT": ENCRYPTION_SALT,
        "DATABASE_URL": options.database_url,
        "REDIS_URL": options.redis_url,
        "CELERY_BROKER_URL": options.redis_url,
        "XERO_CLIENT_ID": SANDBOX_CLIENT_ID,
        "XERO_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "XERO_ALLOW_HTTP_HOSTS": "127.0.0.1",
        "XERO_AUTHORIZE_URL": f"{sandbox_url}/identity/connect/authorize",
        "XERO_TOKEN_URL": f"{sandbox_url}/connect/token",
        "XERO_REVOCATION_URL": f"{sandbox_url}/connect/revocation",
        "XERO_API_URL": sandbox_url,
        "XERO_LIMIT_TIME_SCALE": str(options.time_scale),
        "XERO_RATE_LIMIT_BACKEND": "redis",
        "XERO_APP_MINUTE_LIMIT": str(options.app_minute_limit),
        # The bench's app connects up to 200 organisations: a certified app's (uncertified ones stop at 25).
        "XERO_APP_CONNECTION_LIMIT": "100000",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "INFO",
    }


def configure(options: Options, sandbox_url: str) -> None:
    """Point this process at the bench's database, Redis and sandbox (before Django is set up)."""
    os.environ.update(app_environment(options, sandbox_url))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, *, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll `predicate` until it returns something truthy (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"Timed out after {timeout:.0f}s waiting for {message}")
        time.sleep(interval)


# Database and Redis ---------------------------------------------------------------------------------


def _admin_connection(options: Options):
    import psycopg2

    connection = psycopg2.connect(f"{options.postgres}/postgres")
    connection.autocommit = True
    return connection


def database_recreate(options: Options, *, template: str | None = None) -> None:
    """Drop and create the bench's database (from `template` if given). Refuses the tests' names."""
    name = options.database
    if name == "test" or name.startswith("test_") or name in ("postgres", "template0", "template1"):
        raise SystemExit(f"Refusing to use database {name!r}: it belongs to the tests or to PostgreSQL.")
    connection = _admin_connection(options)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        connection.close()


def database_drop(options: Options, name: str) -> None:
    connection = _admin_connection(options)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()


def redis_flush(options: Options) -> None:
    """Empty the bench's own Redis database (broker queue, cache, rate-limit windows)."""
    if options.redis_db <= 5:
        raise SystemExit(f"Refusing Redis database {options.redis_db}: 0-5 belong to the tests.")
    import redis

    client = redis.Redis.from_url(options.redis_url)
    consumers = [
        c
        for c in client.client_list()
        if int(c.get("db", -1)) == options.redis_db and c.get("cmd") in ("brpop", "blpop")
    ]
    if consumers:
        # Another process's Celery worker (a test run with REDIS_URL database N runs its workers on N+1, N+2...,
        # tests/pytest_env.py) would take this bench's tasks and reset its limiter: its wake-ups would go missing.
        raise SystemExit(
            f"Redis database {options.redis_db} has {len(consumers)} Celery consumer(s) of another process: "
            "choose another with --redis-db."
        )
    client.flushdb()


# Processes ------------------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


def _start(name: str, command: list[str], env: dict, log: Path) -> Process:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        popen = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Process(name, popen, log)


def sandbox_start(options: Options, *, organisations: int, run_dir: Path) -> tuple[Process, str]:
    """The Xero sandbox as its own process: validation and the request log off, Xero's limits on."""
    port = options.sandbox_port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "XERO_SANDBOX_REQUEST_LOG": "false",
        "XERO_SANDBOX_VALIDATE_OPENAPI": "false",
        "XERO_SANDBOX_ORGANISATIONS": str(max(organisations, 2)),
        "XERO_SANDBOX_APP_MINUTE_LIMIT": str(options.app_minute_limit),
        # In the environment, not on the command line: `ps` shows argv, and a random secret may start with "-".
        "XERO_SANDBOX_CLIENT_ID": SANDBOX_CLIENT_ID,
        "XERO_SANDBOX_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
    }
    command = [
        *(sys.executable, "-m", "xero_sandbox", "--port", str(port), "--time-scale", str(options.time_scale)),
    ]
    process = _start("sandbox", command, env, run_dir / "sandbox.log")

    def up():
        if process.popen.poll() is not None:
            raise RuntimeError(f"The sandbox died:\n{process.log_text()[-2000:]}")
        try:
            return requests.get(f"{url}/_sandbox/health", timeout=1).ok
        except requests.RequestException:
            return False

    wait_for(up, timeout=30, message="the sandbox to start")
    return process, url


def workers_start(options: Options, *, sandbox_url: str, run_dir: Path, beat: bool = True) -> list[Process]:
    """`options.workers` Celery workers, each its own process (prefork, one child), as production runs
    them; the first also runs beat (the outbox sweeper)."""
    env = {**os.environ, **app_environment(options, sandbox_url)}
    app = "bench.worker_app" if options.instrument else "arena_xero"
    processes = []
    for index in range(1, options.workers + 1):
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"bench{index}@node{index}",  # each its own node, as on its own machine: they share Redis only
        ]
        if beat and index == 1:
            command += ["--beat", "--schedule", str(run_dir / "celerybeat-schedule")]
        processes.append(_start(f"worker{index}", command, env, run_dir / f"worker{index}.log"))
    for process in processes:

        def ready(process=process):
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} died:\n{process.log_text()[-3000:]}")
            return " ready." in process.log_text()

        wait_for(ready, timeout=90, message=f"{process.name} to start")
    return processes


def stop_all(processes: list[Process]) -> None:
    for process in processes:
        try:
            process.stop()
        except Exception as exc:  # noqa: BLE001 - stop the others whatever happens to one
            print(f"Could not stop {process.name}: {exc}", file=sys.stderr)


@dataclass
class MemorySampler:
    """Samples the resident memory of each worker process tree (the worker and its pool children)."""

    processes: list[Process]
    interval: float = 0.25
    peak_total: int = 0
    peak_per_worker: dict[str, int] = field(default_factory=dict)
    baseline_total: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _tree_rss(self, process: Process) -> int:
        import psutil

        try:
            root = psutil.Process(process.popen.pid)
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for member in members:
            try:
                total += member.memory_info().rss
            except psutil.Error:
                continue
        return total

    def sample(self) -> int:
        total = 0
        for process in self.processes:
            rss = self._tree_rss(process)
            self.peak_per_worker[process.name] = max(self.peak_per_worker.get(process.name, 0), rss)
            total += rss
        self.peak_total = max(self.peak_total, total)
        self.samples += 1
        return total

    def start(self) -> "MemorySampler":
        self.baseline_total = self.sample()

        def loop():
            while not self._stop.wait(self.interval):
                self.sample()

        self._thread = threading.Thread(target=loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self.sample()


def run_dir_for(name: str) -> Path:
    path = VAR / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path
