"""Pure arithmetic of a benchmark run: the call floor, the sandbox's statistics sorted by what the
calls did, the rate-limit floor in real seconds, and the printed table. No Django, no processes."""

import math
import statistics
from dataclasses import dataclass, field

BATCH = 50  # Xero: about 50 elements per call
XERO_MINUTE_LIMIT = 60

# Sandbox endpoint (method and route template) -> what the engine uses it for.
WRITES = {
    "POST Contacts": "contacts",
    "PUT Contacts": "contacts",
    "PUT Invoices": "invoices",
    "POST Invoices": "voids",
    "PUT Payments": "payments",
    "PUT BankTransactions": "bank transactions",
    "PUT Overpayments/{credit_id}/Allocations": "allocations",
}
SETTINGS_READS = {"GET Accounts", "GET TaxRates", "GET Currencies", "GET Organisation"}
# Sync record kinds -> the write they travel in (overpayments and receipts are both bank transactions).
KIND_TO_WRITE = {
    "contact": "contacts",
    "invoice": "invoices",
    "invoice_void": "voids",
    "payment": "payments",
    "overpayment": "bank transactions",
    "receipt": "bank transactions",
    "credit_allocation": "allocations",
    "gateway_fee": "bank transactions",
    "daily_summary": "bank transactions",
}
WRITE_ORDER = ["contacts", "invoices", "payments", "bank transactions", "allocations", "voids"]


def write_floor(sent_by_kind: dict[str, int], overpayments_allocated: int = 0, batch: int = BATCH) -> dict[str, int]:
    """The fewest write calls that can carry these records to one organisation: ceil(n/50) per kind
    (overpayments and receipts counted apart though both are bank transactions), and for credit
    allocations one call per overpayment with allocations waiting (PUT /Overpayments/{id}/Allocations
    takes one overpayment; see xero_accounting.yaml), not one per allocation."""
    floor: dict[str, int] = {}
    for kind, count in sent_by_kind.items():
        if not count:
            continue
        write = KIND_TO_WRITE[kind]
        calls = overpayments_allocated if kind == "credit_allocation" else math.ceil(count / batch)
        floor[write] = floor.get(write, 0) + calls
    return floor


@dataclass
class Calls:
    """One organisation's calls as the sandbox counted them."""

    writes: dict[str, int] = field(default_factory=dict)
    lookups: int = 0
    settings_reads: int = 0
    settings_read: set[str] = field(default_factory=set)  # the settings read at least once (a read each is the floor)
    other: dict[str, int] = field(default_factory=dict)
    total: int = 0
    admitted: int = 0
    rate_limited: dict[str, int] = field(default_factory=dict)
    status_429: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    peak_per_minute: int = 0
    peak_in_flight: int = 0

    @property
    def write_total(self) -> int:
        return sum(self.writes.values())

    @property
    def throttled(self) -> int:
        return self.status_429


def calls_from_stats(tenant: dict) -> Calls:
    """Sort one `tenants` entry of `GET /_sandbox/stats` into writes per kind, look-ups (GETs of
    records after an unclear answer), settings reads (chart, tax rates, currencies) and anything else."""
    calls = Calls(
        total=tenant.get("calls", 0),
        admitted=tenant.get("admitted", 0),
        rate_limited={k: v for k, v in (tenant.get("rate_limited") or {}).items()},
        status_429=int((tenant.get("by_status") or {}).get("429", 0)),
        peak_per_minute=tenant.get("peak_calls_per_minute", 0),
        peak_in_flight=tenant.get("peak_in_flight", 0),
    )
    for endpoint, statuses in (tenant.get("by_endpoint") or {}).items():
        count = sum(statuses.values())
        for status, n in statuses.items():
            if status not in ("200", "429"):
                calls.errors[f"{endpoint} {status}"] = calls.errors.get(f"{endpoint} {status}", 0) + n
        if endpoint in WRITES:
            calls.writes[WRITES[endpoint]] = calls.writes.get(WRITES[endpoint], 0) + count
        elif endpoint in SETTINGS_READS:
            calls.settings_reads += count
            calls.settings_read.add(endpoint)
        elif endpoint.startswith("GET "):
            calls.lookups += count
        else:
            calls.other[endpoint] = calls.other.get(endpoint, 0) + count
    return calls


def merge(many: list[Calls]) -> Calls:
    total = Calls()
    for calls in many:
        for kind, n in calls.writes.items():
            total.writes[kind] = total.writes.get(kind, 0) + n
        for problem, n in calls.rate_limited.items():
            total.rate_limited[problem] = total.rate_limited.get(problem, 0) + n
        for key, n in calls.errors.items():
            total.errors[key] = total.errors.get(key, 0) + n
        for key, n in calls.other.items():
            total.other[key] = total.other.get(key, 0) + n
        total.lookups += calls.lookups
        total.settings_reads += calls.settings_reads
        total.total += calls.total
        total.admitted += calls.admitted
        total.status_429 += calls.status_429
        total.peak_per_minute = max(total.peak_per_minute, calls.peak_per_minute)
        total.peak_in_flight = max(total.peak_in_flight, calls.peak_in_flight)
    return total


def rate_limit_floor_seconds(calls: int, time_scale: float, per_minute: int = XERO_MINUTE_LIMIT) -> float:
    """Real seconds Xero's per-organisation minute limit needs for `calls`: calls / 60 Xero minutes,
    each lasting 60 / time_scale real seconds."""
    return calls / per_minute * 60.0 / time_scale


def ratio(measured: float, floor: float) -> float | None:
    return measured / floor if floor else None


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "mean": statistics.fmean(ordered),
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)],
        "max": ordered[-1],
    }


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def table(rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> str:
    """A Markdown table (it reads well in a terminal too)."""
    cells = [tuple(str(c) for c in headers)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
