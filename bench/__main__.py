"""Invoke like so (from the repository, with PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379):

    .venv/bin/python -m bench --scenario burst
    .venv/bin/python -m bench --scenario all --time-scale 10 --workers 4
    .venv/bin/python -m bench --scenario backfill --invoices 2000 --customers 400   # a smaller backfill

It uses the PostgreSQL database `arena_bench` (and `arena_bench_template`, migrated once) and Redis
database 13, starts the Xero sandbox and the Celery workers itself, and stops them at the end. Each
run's table goes to stdout, and all of them to var/bench/results.json.
"""

import argparse
import dataclasses
import datetime
import os
import platform
import subprocess
import sys

from . import environment
from .environment import Options

SCENARIOS = (
    "burst",
    "mapped",
    "backfill",
    "organisations",
    "single",
    "memory",
    "savecost",
    "billrun",
    "nodes",
    "reconcile",
    "imports",
)
# Xero minutes pass this many times faster (sandbox and limiter alike), unless --time-scale says otherwise.
# 2: Xero's 60 calls a minute (2 a second) binds before the engine (about 5 calls a second on this
# machine); single: real time, since the coalescing window is in real seconds; memory: 20, so that the
# engine, not the limit, sets the pace of 100k records.
# billrun and nodes: real time, with the app-wide minute lowered (--app-minute-limit) so that it binds while the
# engine (8 worker processes on 2 cores) still keeps up; reconcile: 20, to sync the organisation quickly.
DEFAULT_TIME_SCALES = {
    "burst": 2,
    "mapped": 2,
    "backfill": 2,
    "organisations": 2,
    "single": 1,
    "memory": 20,
    "savecost": 2,
    "billrun": 1,
    "nodes": 1,
    "reconcile": 20,
    "imports": 20,
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument(
        "--time-scale", type=float, help="Xero minutes pass this many times faster (default: per scenario, see above)"
    )
    parser.add_argument("--workers", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--database", default="arena_bench", help="PostgreSQL database (dropped and created)")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server URL (no database)")
    parser.add_argument("--redis-db", type=int, default=13, help="Redis database number (not 0-5: the tests')")
    parser.add_argument("--invoices", type=int, help="invoices (burst, backfill) or invoices per organisation")
    parser.add_argument("--customers", type=int, help="customers (per organisation for 'organisations')")
    parser.add_argument("--organisations", type=int, default=50, help="organisations for 'organisations'")
    parser.add_argument(
        "--first-extra", type=int, default=0, help="organisations: this many more invoices for the first one"
    )
    parser.add_argument("--overpay-every", type=int, default=25, help="burst: every n-th payment overpays")
    parser.add_argument("--repeats", type=int, default=5, help="single: invoices, one at a time")
    parser.add_argument("--pairs", type=int, default=300, help="savecost: invoices per whitelabel")
    parser.add_argument(
        "--memory-sizes", default="10000,100000", help="memory: records per run (customers, invoices and payments)"
    )
    parser.add_argument(
        "--app-minute-limit", type=int, help="billrun, nodes: the app-wide calls a minute (default 600; Xero's: 10000)"
    )
    parser.add_argument(
        "--billing-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="billrun, nodes: processes billing the month before the sync (default: one a CPU)",
    )
    parser.add_argument("--node-sizes", default="1,2,4", help="nodes: worker nodes per run")
    parser.add_argument("--no-instrument", action="store_true", help="workers run `-A arena_xero` unmeasured")
    return parser.parse_args(argv)


def _sized(args, **defaults) -> dict:
    return {k: (getattr(args, k) if getattr(args, k, None) is not None else v) for k, v in defaults.items()}


def run(args) -> list:
    base = Options(
        database=args.database,
        postgres=args.postgres,
        redis=args.redis,
        redis_db=args.redis_db,
        workers=args.workers,
        instrument=not args.no_instrument,
    )
    options = base
    template = f"{options.database}_template"
    environment.configure(options, "http://127.0.0.1:1")
    os.environ["LOG_LEVEL"] = "WARNING"  # this process only; the workers log at INFO (their BENCH lines)
    # The template database: migrated once, copied for every scenario.
    environment.database_recreate(dataclasses.replace(options, database=template))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=environment.ROOT,
        env={**os.environ, "DATABASE_URL": f"{options.postgres}/{template}"},
        check=True,
    )
    import django

    django.setup()
    from . import report, scenarios

    chosen = SCENARIOS if args.scenario == "all" else (args.scenario,)
    results = []
    for name in chosen:
        options = dataclasses.replace(base, time_scale=args.time_scale or DEFAULT_TIME_SCALES[name])
        if name == "burst":
            found = [
                scenarios.burst(
                    options,
                    template,
                    **_sized(args, invoices=1000, customers=100),
                    overpay_every=args.overpay_every,
                )
            ]
        elif name == "mapped":
            found = [scenarios.mapped(options, template, **_sized(args, invoices=500, customers=50))]
        elif name == "backfill":
            found = [scenarios.backfill(options, template, **_sized(args, invoices=10000, customers=2000))]
        elif name == "organisations":
            found = [
                scenarios.organisations(
                    options,
                    template,
                    count=args.organisations,
                    first_extra=args.first_extra,
                    **_sized(args, invoices=200, customers=20),
                )
            ]
        elif name == "single":
            found = [scenarios.single(options, template, repeats=args.repeats)]
        elif name == "memory":
            sizes = tuple(int(s) for s in args.memory_sizes.split(","))
            found = scenarios.memory(options, template, sizes=sizes)
        elif name in ("billrun", "nodes"):
            options = dataclasses.replace(
                options,
                app_minute_limit=args.app_minute_limit or 600,
                workers=args.workers if args.workers != 4 else 8,
                billing_processes=args.billing_processes,
            )
            workload = {
                "count": args.organisations if args.organisations != 50 else 200,
                **_sized(args, invoices=1000, customers=100),
            }
            if name == "billrun":
                found = [scenarios.billrun(options, template, **workload)]
            else:
                sizes = tuple(int(s) for s in args.node_sizes.split(","))
                found = scenarios.nodes(options, template, sizes=sizes, **workload)
        elif name == "imports":
            found = [scenarios.imports_calls(options, template, **_sized(args, invoices=1000, customers=100))]
        elif name == "reconcile":
            found = [scenarios.reconcile_calls(options, template, **_sized(args, invoices=50000, customers=1000))]
        else:
            found = [scenarios.savecost(options, template, pairs=args.pairs)]
        for result in found:
            print(report.render(result), flush=True)
        results += found
        scenarios.write_json(results, environment.VAR / "results.json")
    if any(r.scenario.startswith("memory-") for r in results):
        print(memory_comparison([r for r in results if r.scenario.startswith("memory-")]))
    if any(r.scenario.startswith("nodes-") for r in results):
        print(report.nodes_comparison([r for r in results if r.scenario.startswith("nodes-")]))
    environment.database_drop(options, options.database)
    environment.database_drop(options, template)
    return results


def memory_comparison(results) -> str:
    lines = ["## memory", ""]
    for result in results:
        lines.append(
            f"{result.settings['records']} records: peak worker RSS {result.memory['peak_total_mb']:.0f} MB "
            f"({result.memory['workers']} workers; at start {result.memory['start_total_mb']:.0f} MB)"
        )
    if len(results) >= 2:
        small, large = results[0].memory["peak_total_mb"], results[-1].memory["peak_total_mb"]
        lines.append(f"Largest against smallest: {large / small:.2f}x (target: within 1.10x)")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    args = parse_args(argv)
    print(
        f"# arena-xero benchmark, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"Machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; command: "
        f"python -m bench {' '.join(sys.argv[1:] if argv is None else argv)}\n",
        flush=True,
    )
    run(args)


if __name__ == "__main__":
    main()
