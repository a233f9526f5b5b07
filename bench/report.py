"""Printing a run: records synced, write calls against the floor, other calls, 429s, wall time against
the rate-limit floor, peak worker memory, the save-cost ratio and where the workers' time went."""

from . import measure, targets
from .measure import fmt_ratio, table

KIND_NAMES = {
    "contact": "contacts",
    "invoice": "invoices",
    "payment": "payments",
    "overpayment": "overpayments",
    "credit_allocation": "credit allocations",
    "invoice_void": "voids",
    "receipt": "receipts",
}


def _floor_total(organisations) -> int:
    return sum(sum(o.floor.values()) for o in organisations)


def rate_limit_floor(result) -> float:
    """Organisations send side by side, each under its own 60 calls a minute: the slowest one's floor."""
    scale = result.settings["time_scale"]
    return max(
        (measure.rate_limit_floor_seconds(sum(o.floor.values()), scale) for o in result.organisations), default=0
    )


def render(result) -> str:
    out = [f"## {result.scenario}", "", "Settings: " + ", ".join(f"{k}={v}" for k, v in result.settings.items()), ""]
    out += targets.render(result, rate_limit_floor=rate_limit_floor(result))
    organisations = result.organisations
    calls = measure.merge([o.calls for o in organisations])
    sent: dict[str, int] = {}
    for organisation in organisations:
        for kind, n in organisation.sent_by_kind.items():
            sent[kind] = sent.get(kind, 0) + n
    failed = sum(o.failed for o in organisations)
    out.append(
        "Records synced: "
        + ", ".join(f"{KIND_NAMES.get(k, k)} {n}" for k, n in sorted(sent.items(), key=lambda kv: kv[0]))
        + f" (total {sum(sent.values())}; failed {failed})"
    )
    out.append("")
    floor: dict[str, int] = {}
    for organisation in organisations:
        for write, n in organisation.floor.items():
            floor[write] = floor.get(write, 0) + n
    rows = []
    for write in measure.WRITE_ORDER:
        if write in floor or write in calls.writes:
            made, least = calls.writes.get(write, 0), floor.get(write, 0)
            rows.append((write, made, least, fmt_ratio(measure.ratio(made, least))))
    made, least = calls.write_total, sum(floor.values())
    rows.append(("**all writes**", made, least, fmt_ratio(measure.ratio(made, least))))
    out.append(table(rows, ("write calls", "made", "floor", "made/floor")))
    out.append("")
    other = ", ".join(f"{k} {v}" for k, v in sorted(calls.other.items())) or "none"
    out.append(
        f"Other calls: look-ups {calls.lookups}, settings reads (accounts, tax rates, currencies) "
        f"{calls.settings_reads}, other {other}. All calls {calls.total} ({calls.admitted} admitted)."
    )
    problems = ", ".join(f"{k} {v}" for k, v in sorted(calls.rate_limited.items()))
    out.append(f"429s received: {calls.status_429} ({problems}).")
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(calls.errors.items()))
    if errors:
        out.append(f"Other non-200 answers: {errors}.")
    out.append(f"Busiest Xero minute: {calls.peak_per_minute} calls; most in flight at once: {calls.peak_in_flight}.")
    floor_seconds = rate_limit_floor(result)
    wall_ratio = fmt_ratio(measure.ratio(result.wall_seconds, floor_seconds))
    out.append(
        f"Wall time: {result.wall_seconds:.1f} s to the last record in Xero"
        + (f" (billing took {result.billing_seconds:.1f} s of it)" if result.scenario == "burst" else "")
        + f"; rate-limit floor {floor_seconds:.1f} s ({_floor_total(organisations)} floor calls at 60 per Xero "
        f"minute, time scale {result.settings['time_scale']}): {wall_ratio}."
    )
    if result.scenario != "burst" and result.billing_seconds:
        out.append(f"Billing before the sync took {result.billing_seconds:.1f} s (not in the wall time).")
    memory = result.memory
    if memory:
        per_worker = ", ".join(f"{k} {v:.0f}" for k, v in sorted(memory["peak_per_worker_mb"].items()))
        out.append(
            f"Peak worker RSS: {memory['peak_total_mb']:.0f} MB for {memory['workers']} workers with their pool "
            f"children (at start {memory['start_total_mb']:.0f} MB); per worker MB: {per_worker}."
        )
    if result.savecost:
        s = result.savecost
        out.append(
            f"Save cost (issue_invoice): with Xero connected median {s['with_xero_ms']['median']:.1f} ms "
            f"(mean {s['with_xero_ms']['mean']:.1f}, p95 {s['with_xero_ms']['p95']:.1f}), without an accounting "
            f"system median {s['without_ms']['median']:.1f} ms (mean {s['without_ms']['mean']:.1f}, p95 "
            f"{s['without_ms']['p95']:.1f}), n={s['with_xero_ms']['n']} each, interleaved: ratio "
            f"{s['ratio_median']:.2f}x (median), {s['ratio_mean']:.2f}x (mean)."
        )
    else:
        out.append("Save cost: not measured in this scenario (see burst and savecost).")
    if result.latencies:
        latencies = ", ".join(f"{v:.2f}" for v in result.latencies)
        out.append(
            f"Latency from issue_invoice to the invoice in Xero, s: {latencies} (max {max(result.latencies):.2f})."
        )
    if len(organisations) > 1:
        out += ["", organisations_table(organisations), "", fairness_line(organisations)]
    if result.tasks:
        t = result.tasks
        out.append(
            f"Workers: {t['runs']} sync runs ({t['runs_without_calls']} made no call), {t['run_seconds']} s in runs "
            f"for {t['xero_calls']} Xero calls: {t['ms_per_call']} ms per call; {t['queries']} queries "
            f"({t['queries_per_call']} per call) taking {t['db_seconds']} s, HTTP to Xero {t['http_seconds']} s, "
            f"waiting for the rate limiter {t['limiter_wait_seconds']} s, the rest (Python) {t['other_seconds']} s."
        )
    extra = result.extra
    if "busiest_app_minute" in extra:
        out.append(
            f"App-wide: {extra['app_calls']} calls, busiest Xero minute {extra['busiest_app_minute']} of the app's "
            f"{result.settings['app_minute_limit']}; {extra['calls_per_second']} calls a second; each organisation's "
            f"share {extra['share_per_minute']} calls a minute, whose floor for the biggest backlog (its write "
            f"floor and a read of each setting it needs) is {extra['share_floor_seconds']:.0f} s. The workers used "
            f"{extra['engine_cpu_seconds']} s of CPU: "
            f"{extra['engine_cpu_share']:.0%} of the machine's {result.settings.get('cpus', 'all')} cores over the "
            "wall time (the rest idle or PostgreSQL, Redis and the sandbox)."
        )
    for run in extra.get("reconcile", []):
        out.append(
            f"Reconcile, {run['night']}: {run['calls']} calls ({run['differences']} differences); a night's share "
            f"of the day: {extra['day_share']} calls."
        )
    if "imports" in extra:
        i = extra["imports"]
        out.append(
            f"Payments entered in Xero: {i['payments']} read in {i['reads']} call(s) of payments (floor "
            f"{i['read_floor']}: {'met' if i['reads'] <= i['read_floor'] else 'not met'}) and "
            f"{i.get('other_reads', 0)} of the other kinds a read asks for (overpayments, prepayments, credit notes: "
            f"a call each, whatever the number of payments); {i['recorded']} recorded "
            f"({i['arena_payments']} Arena payments from Xero); {i['calls']} calls in all, {i['writes']} writes "
            f"(floor 0: {'met' if i['writes'] == 0 else 'not met'}); {result.wall_seconds:.1f} s."
        )
    for note in result.notes:
        out.append(f"Note: {note}")
    return "\n".join(out) + "\n"


def nodes_comparison(results) -> str:
    """Throughput with more worker nodes, until Xero's limits bind."""
    rows = [
        (
            r.settings["nodes"],
            r.extra.get("app_calls", 0),
            f"{r.wall_seconds:.0f}",
            r.extra.get("calls_per_second"),
            r.extra.get("busiest_app_minute"),
            f"{r.extra.get('engine_cpu_share') or 0:.0%}",
        )
        for r in results
    ]
    headers = ("nodes", "calls", "wall, s", "calls/s", "busiest app minute", "workers' CPU")
    return "## nodes\n\n" + table(rows, headers) + "\n"


def organisations_table(organisations) -> str:
    rows = []
    for o in sorted(organisations, key=lambda o: o.first_sent if o.first_sent is not None else 1e9):
        least = sum(o.floor.values())
        rows.append(
            (
                o.slug,
                sum(o.sent_by_kind.values()),
                f"{o.calls.write_total}/{least}",
                o.calls.status_429,
                f"{o.first_sent:.1f}" if o.first_sent is not None else "-",
                f"{o.last_sent:.1f}" if o.last_sent is not None else "-",
            )
        )
    return table(rows, ("whitelabel", "records", "writes/floor", "429s", "first in Xero, s", "last in Xero, s"))


def fairness(organisations) -> dict:
    firsts = sorted(o.first_sent for o in organisations if o.first_sent is not None)
    lasts = sorted(o.last_sent for o in organisations if o.last_sent is not None)
    if not firsts or not lasts:
        return {}
    biggest = max(organisations, key=lambda o: sum(o.sent_by_kind.values()))
    sizes = [sum(o.sent_by_kind.values()) for o in organisations]
    biggest_last = biggest.last_sent if biggest.last_sent is not None else float("inf")
    return {
        "latest_first": firsts[-1],
        "earliest_last": lasts[0],
        "median_first": firsts[len(firsts) // 2],
        "median_last": lasts[len(lasts) // 2],
        "latest_last": lasts[-1],
        "waited_for_a_whole_backlog": sum(1 for f in firsts if f > lasts[0]),
        "waited_for_the_biggest": sum(
            1 for o in organisations if o is not biggest and o.first_sent is not None and o.first_sent > biggest_last
        ),
        "biggest": biggest.slug,
        "biggest_is_bigger": sum(biggest.sent_by_kind.values()) > 2 * sorted(sizes)[len(sizes) // 2],
    }


def fairness_line(organisations) -> str:
    f = fairness(organisations)
    if not f:
        return ""
    return (
        f"First record in Xero: median {f['median_first']:.1f} s, latest {f['latest_first']:.1f} s. Last record: "
        f"earliest {f['earliest_last']:.1f} s, median {f['median_last']:.1f} s, latest {f['latest_last']:.1f} s. "
        f"Organisations whose first record came after another organisation's whole backlog was in Xero: "
        f"{f['waited_for_a_whole_backlog']}"
        + (
            f"; after the biggest backlog ({f['biggest']}) was all in Xero: {f['waited_for_the_biggest']}."
            if f["biggest_is_bigger"]
            else "."
        )
    )
