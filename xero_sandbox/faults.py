"""Injected failures: the next N calls matching a method and path fail in a chosen way.

Modes: ``status`` answers with a status (and body/headers) without doing anything; ``timeout``
holds the request for ``delay`` seconds, then closes the connection without processing it;
``drop_response`` processes the request (state committed) and then closes the connection
without answering; ``status_after`` processes the request (committed, its idempotency key stored)
and then answers ``status`` instead (a 502/504 from a gateway after Xero saved it); ``slow`` holds
the request for ``delay`` seconds and then processes and answers it as usual, whether or not the
client is still waiting. Clearing the faults releases requests that are being held.
"""
import socket
import threading
from dataclasses import asdict, dataclass, field

from .errors import problem
from .wire import new_id

MODES = ("status", "timeout", "drop_response", "status_after", "slow")


@dataclass
class Fault:
    mode: str
    path: str
    method: str | None = None
    prefix: bool = False
    status: int = 500
    count: int | None = 1
    delay: float = 30.0
    retry_after: int | None = None
    problem: str = "minute"
    body: object = None
    headers: dict = field(default_factory=dict)
    fault_id: str = field(default_factory=new_id)
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() not in ("*", method.upper()):
            return False
        if self.prefix:
            return path.lower().startswith(self.path.lower())
        return path.lower().rstrip("/") == self.path.lower().rstrip("/")

    def as_dict(self) -> dict:
        return asdict(self)


def parse_fault(spec: dict) -> Fault:
    """Build a Fault from the control API's JSON; raises ValueError on nonsense."""
    mode = spec.get("mode", "status")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    path = spec.get("path") or spec.get("path_prefix")
    if not path or not path.startswith("/"):
        raise ValueError("path (or path_prefix) must be an absolute path such as /api.xro/2.0/Invoices")
    prefix = bool(spec.get("prefix")) or "path_prefix" in spec or path.endswith("*")
    count = spec.get("count", 1)
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError("count must be a positive integer or null (every matching call)")
    return Fault(
        mode=mode, path=path.rstrip("*"), method=spec.get("method"), prefix=prefix,
        status=int(spec.get("status", 500)), count=count, delay=float(spec.get("delay", 30.0)),
        retry_after=spec.get("retry_after"), problem=spec.get("problem", "minute"),
        body=spec.get("body"), headers=dict(spec.get("headers") or {}),
    )


class FaultRegistry:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._release = threading.Event()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def list(self) -> list[dict]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def take(self, method: str, path: str) -> "FaultHit | None":
        """The first matching fault, counting this call against it."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return FaultHit(fault, self._release)
        return None

    def clear(self) -> None:
        """Forget every fault and let go of requests held by ``timeout`` faults."""
        with self._lock:
            self._faults.clear()
            released, self._release = self._release, threading.Event()
        released.set()


@dataclass
class FaultHit:
    """A fault applied to one call; ``released`` is set when the faults are cleared."""

    fault: Fault
    released: threading.Event

    def hold(self) -> None:
        self.released.wait(self.fault.delay)


def status_response_parts(fault: Fault, path: str) -> tuple[int, object, dict]:
    """Status, body and headers for a ``status`` fault, defaulting to what Xero would send."""
    headers = dict(fault.headers)
    if fault.status == 429:
        headers.setdefault("Retry-After", str(fault.retry_after if fault.retry_after is not None else 60))
        headers.setdefault("X-Rate-Limit-Problem", fault.problem)
    elif fault.retry_after is not None:
        headers.setdefault("Retry-After", str(fault.retry_after))
    if fault.body is not None:
        return fault.status, fault.body, headers
    return fault.status, _default_body(fault.status, path), headers


def _default_body(status: int, path: str):
    if path.startswith("/connect/"):
        return {"error": "invalid_grant" if status == 400 else "server_error"}
    titles = {
        400: ("BadRequest", "The request could not be processed"),
        401: ("Unauthorized", "AuthenticationUnsuccessful"),
        403: ("Forbidden", "AuthorizationUnsuccessful"),
        404: ("NotFound", "The resource you're looking for cannot be found"),
        429: ("Too Many Requests", "Rate limit exceeded"),
        500: ("An error occurred", "An unexpected error occurred in Xero's systems"),
        502: ("Bad Gateway", "Bad Gateway"),
        503: ("Service Unavailable", "The Xero API is temporarily unavailable"),
        504: ("Gateway Timeout", "Gateway Timeout"),
    }
    title, detail = titles.get(status, ("Error", f"HTTP {status}"))
    return problem(status, title, detail)


def drop_connection(environ) -> None:
    """Close the client's connection now, so it sees a connection error instead of a response.

    Shutting the socket down (not closing it) makes Werkzeug's later write fail with EPIPE, which
    it treats as a dropped connection and handles quietly.
    """
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("drop_response/timeout faults need the Werkzeug server (environ['werkzeug.socket'])")
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
