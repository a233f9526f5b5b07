"""Each scenario's targets, checked against what a run measured and printed as *met* / *not met*, with a
word on the floors that are not what they seem. Pure arithmetic over a `Result` (no Django)."""

from dataclasses import dataclass

from . import measure

HEADROOM = 0.05  # XERO_RATE_LIMIT_HEADROOM's default: the limiter grants 57 of Xero's 60 calls a minute


@dataclass(frozen=True)
class Target:
    what: str
    wanted: str
    measured: str
    met: bool


def _writes(result) -> tuple[int, int]:
    calls = measure.merge([o.calls for o in result.organisations])
    floor = sum(sum(o.floor.values()) for o in result.organisations)
    return calls.write_total, floor


def _429s(result) -> int:
    return measure.merge([o.calls for o in result.organisations]).status_429


def _calls_target(result, bound: float) -> Target:
    made, floor = _writes(result)
    ratio = measure.ratio(made, floor)
    return Target("write calls", f"≤ {bound} × floor", f"{made} / {floor} = {measure.fmt_ratio(ratio)}", ratio <= bound)


def _no_429s(result) -> Target:
    n = _429s(result)
    return Target("429s", "0", str(n), n == 0)


def _wall_target(result, bound: float, floor_seconds: float) -> Target:
    ratio = measure.ratio(result.wall_seconds, floor_seconds)
    measured = f"{result.wall_seconds:.1f} s / {floor_seconds:.1f} s = {measure.fmt_ratio(ratio)}"
    return Target("wall time", f"≤ {bound} × rate-limit floor", measured, ratio <= bound)


def check(result, *, rate_limit_floor: float = 0.0) -> list[Target]:
    name = result.scenario
    if name in ("burst", "mapped"):
        return [_calls_target(result, 1.2), _no_429s(result)]
    if name == "backfill":
        return [_calls_target(result, 1.1), _no_429s(result), _wall_target(result, 1.2, rate_limit_floor)]
    if name == "organisations":
        from .report import fairness

        waited = fairness(result.organisations).get("waited_for_a_whole_backlog", 0)
        return [_no_429s(result), Target("waited for another's whole backlog", "0", str(waited), waited == 0)]
    if name == "single":
        window = result.settings.get("coalesce_seconds", 2.0)
        worst = max(result.latencies, default=0.0)
        return [Target("issue_invoice to Xero", f"≤ {window + 5:.0f} s", f"{worst:.2f} s (worst)", worst <= window + 5)]
    if name == "savecost":
        ratio = result.savecost.get("ratio_median", 0.0)
        return [Target("issue_invoice, Xero on / off", "≤ 1.5 ×", f"{ratio:.2f} × (median)", ratio <= 1.5)]
    if name == "billrun":
        return billrun_targets(result)
    return []


def billrun_targets(result) -> list[Target]:
    """Bill-run day: no 429s, the app-wide minute never past its limit, every organisation within 1.2 × the
    floor of its share of the app-wide limit, and no organisation waiting more than twice as long as another
    of the same size."""
    app_limit = result.settings["app_minute_limit"]
    busiest = result.extra.get("busiest_app_minute", 0)
    share_floor = result.extra.get("share_floor_seconds", 0.0)
    lasts = [o.last_sent for o in result.organisations if o.last_sent is not None]
    slowest = max(lasts, default=0.0)
    by_size: dict[int, list[float]] = {}
    for o in result.organisations:
        if o.last_sent is not None:
            by_size.setdefault(sum(o.sent_by_kind.values()), []).append(o.last_sent)
    spread = max((max(v) / min(v) for v in by_size.values() if min(v) > 0), default=1.0)
    return [
        _no_429s(result),
        Target("busiest app-wide minute", f"≤ {app_limit} calls", f"{busiest} calls", busiest <= app_limit),
        Target(
            "each organisation in Xero",
            "≤ 1.2 × the floor of its share",
            f"slowest {slowest:.0f} s / {share_floor:.0f} s = {measure.fmt_ratio(measure.ratio(slowest, share_floor))}",
            share_floor > 0 and slowest <= 1.2 * share_floor,
        ),
        Target("same size, longest / shortest wait", "≤ 2 ×", f"{spread:.2f} ×", spread <= 2.0),
    ]


FLOOR_NOTES = {
    "single": (
        "Its floors are not its targets: each of the invoices is billed and sent alone on a quiet system (one at a "
        "time, waiting for the last to settle), so its write calls are one per invoice against a floor of one "
        "for all of them together, and its wall time is the invoices' one-after-another latency against 60 calls "
        "a minute. What it measures is the latency."
    ),
    "organisations": (
        "The rate-limit floor is the biggest organisation's (they send side by side); with `--first-extra` the "
        "small ones finish long before it, and records sent before the resync's start (the contacts of the "
        "connection's own run) are not counted, so wall / floor can come out below 1."
    ),
    "backfill": (
        f"The rate-limit floor is Xero's 60 calls a minute; the limiter keeps {HEADROOM:.0%} below it "
        "(XERO_RATE_LIMIT_HEADROOM), so at best wall / floor is 1.05."
    ),
}


def render(result, *, rate_limit_floor: float = 0.0) -> list[str]:
    targets = check(result, rate_limit_floor=rate_limit_floor)
    lines = []
    if targets:
        rows = [(t.what, t.wanted, t.measured, "**met**" if t.met else "**not met**") for t in targets]
        lines += [measure.table(rows, ("target", "wanted", "measured", "")), ""]
    if result.scenario in FLOOR_NOTES:
        lines += [f"About the floors: {FLOOR_NOTES[result.scenario]}", ""]
    return lines
