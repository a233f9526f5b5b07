"""The app's own Celery application (`arena_xero.celery.app`), unchanged, plus measuring: for every task
the worker logs one `BENCH` line with its wall time, database queries and their time, Xero calls and
their time, and the time spent waiting for the rate limiter. Workers run it with
`python -m celery -A bench.worker_app worker`; nothing of the engine changes (`--no-instrument`
starts them with `-A arena_xero` instead)."""

import json
import logging
import time
from collections import Counter

from celery.signals import task_postrun, task_prerun, worker_process_init

from arena_xero.celery import app

__all__ = ["app"]
logger = logging.getLogger("bench")
_task: dict = {}


def _reset() -> None:
    _task.clear()
    _task.update(
        started=time.perf_counter(), queries=0, db_seconds=0.0, xero_calls=0, xero_seconds=0.0, limiter_wait=0.0
    )
    _task["operations"] = Counter()


def _count_query(execute, sql, params, many, context):
    began = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        if _task:
            _task["queries"] += 1
            _task["db_seconds"] += time.perf_counter() - began


def _patch_xero_client() -> None:
    from accounting.xero import client, limits

    original_call, original_acquire = client._call, limits.acquire

    def measured_call(operation, call, **kwargs):
        began = time.perf_counter()
        try:
            return original_call(operation, call, **kwargs)
        finally:
            if _task:
                _task["xero_calls"] += 1
                _task["xero_seconds"] += time.perf_counter() - began
                _task["operations"][operation] += 1

    def measured_acquire(tenant_id, **kwargs):
        began = time.perf_counter()
        try:
            return original_acquire(tenant_id, **kwargs)
        finally:
            if _task:
                _task["limiter_wait"] += time.perf_counter() - began

    client._call = measured_call
    limits.acquire = measured_acquire


@worker_process_init.connect
def _instrument(**kwargs) -> None:
    _patch_xero_client()


@task_prerun.connect
def _task_started(task_id=None, task=None, args=None, **kwargs) -> None:
    from django.db import connection

    _reset()
    if _count_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_query)


@task_postrun.connect
def _task_finished(task_id=None, task=None, args=None, **kwargs) -> None:
    if not _task:
        return
    line = {
        "task": task.name.rsplit(".", 1)[-1] if task else "",
        "args": list(args or []),
        "seconds": round(time.perf_counter() - _task["started"], 4),
        "queries": _task["queries"],
        "db_seconds": round(_task["db_seconds"], 4),
        "xero_calls": _task["xero_calls"],
        "xero_seconds": round(_task["xero_seconds"], 4),
        "limiter_wait": round(_task["limiter_wait"], 4),
        "operations": dict(_task["operations"]),
        "at": time.time(),
    }
    logger.info("BENCH %s", json.dumps(line, sort_keys=True))
    _task.clear()
