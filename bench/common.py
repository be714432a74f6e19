"""Shared set-up for the benchmark scripts: a throwaway database, Django, and a timer.

The benchmarks never touch the project's own database:

* by default they use a SQLite file under bench/out/ (gitignored), `bench/out/bench.sqlite3`;
* with BENCH_DATABASE_URL set (e.g. postgres://postgres@127.0.0.1:5432/portal_bench) they use
  that database instead. Creating and dropping it is the caller's job; `--fresh` empties the
  organisation tree (and everything that hangs on it) before the run.

Import this module and call `setup()` before importing anything from the project's apps.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
SQLITE_FILE = OUT_DIR / "bench.sqlite3"

if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))


def database_url():
    """The URL the benchmark runs against (BENCH_DATABASE_URL, else the bench SQLite file)."""
    return os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{SQLITE_FILE}"


def is_sqlite_default():
    return not os.environ.get("BENCH_DATABASE_URL")


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start from an empty organisation tree (SQLite: a new file; "
        "PostgreSQL: TRUNCATE the tree tables)",
    )
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    return p


def setup(fresh=False, verbosity=0):
    """Point Django at the benchmark database, set it up, migrate it (quietly)."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if fresh and is_sqlite_default():
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = Path(f"{SQLITE_FILE}{suffix}")
            if path.exists():
                path.unlink()
    os.environ["DATABASE_URL"] = database_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    hosts = [h for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    for host in ("testserver", "localhost"):
        if host not in hosts:
            hosts.append(host)
    os.environ["ALLOWED_HOSTS"] = ",".join(hosts)
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)
    if fresh and not is_sqlite_default():
        clear_tree()
    # DEBUG (the embedded default) makes every cursor record its queries in
    # connection.queries, which would tax the ORM paths but not a raw cursor. Switch it off
    # for the timings; CaptureQueriesContext still counts queries when asked.
    settings.DEBUG = False


def clear_tree():
    """Empty the organisation tree and every table that refers to it (throwaway DB only)."""
    from django.db import connection, transaction

    from party_org.models import OrgUnit

    table = connection.ops.quote_name(OrgUnit._meta.db_table)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {table} RESTART IDENTITY CASCADE")
        else:
            # Leaves first, so PROTECT never fires; fine for a throwaway database.
            from django.db.models import Max

            while OrgUnit.objects.exists():
                top = OrgUnit.objects.aggregate(m=Max("level"))["m"]
                OrgUnit.objects.filter(level=top)._raw_delete(connection.alias)


def describe_database():
    from django.db import connection

    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version} ({connection.settings_dict['NAME']})"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return f"PostgreSQL {version} ({connection.settings_dict['NAME']})"


def vendor():
    from django.db import connection

    return connection.vendor


class Timing:
    """The times of several runs of one callable, in seconds."""

    def __init__(self, times, result=None):
        self.times = list(times)
        self.result = result

    @property
    def best(self):
        return min(self.times)

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def worst(self):
        return max(self.times)

    def __str__(self):
        return (
            f"median {ms(self.median)}, best {ms(self.best)}, worst {ms(self.worst)}"
            f" over {len(self.times)} runs"
        )


def time_it(func, repeat=1, warmup=0):
    """Call `func` `warmup` times untimed, then `repeat` times timed with perf_counter.

    Returns a Timing (best / median / worst) holding the last call's result.
    """
    result = None
    for _ in range(warmup):
        result = func()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return Timing(times, result)


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def verdict(ok):
    return "PASS" if ok else "FAIL"


def write_json(path, data):
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def checked_tree_problems():
    """`selectors.tree_problems()`, returning (problems, note).

    Older versions of tree_problems() raised IndexError on PostgreSQL: the query
    `... WHERE (rght - lft) % 2 = 0` ran with params=() and psycopg2 then read the `%` as a
    placeholder. If that happens, the same function is run again with an execute wrapper that
    passes params=None for parameterless queries (so `%` is literal), and the note says so.
    """
    from django.db import connection

    from party_org.selectors import tree_problems

    try:
        return tree_problems(), ""
    except IndexError as error:

        def no_empty_params(execute, sql, params, many, context):
            return execute(sql, None if not params and not many else params, many, context)

        with connection.execute_wrapper(no_empty_params):
            problems = tree_problems()
        note = (
            f"tree_problems() raised IndexError({error}) on {connection.vendor}: the "
            "'(rght - lft) % 2' query is run with params=() so the driver reads '%' as a "
            "placeholder; re-run with params=None for parameterless queries"
        )
        return problems, note


class QueryTimer:
    """Context manager listing every query run on the default connection with its duration
    (perf_counter, so sub-millisecond times survive; CaptureQueriesContext rounds to 1 ms)."""

    def __init__(self):
        self.queries = []  # (seconds, sql)

    def _wrapper(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((time.perf_counter() - started, sql))

    def __enter__(self):
        from django.db import connection

        self._cm = connection.execute_wrapper(self._wrapper)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)

    @property
    def total(self):
        return sum(seconds for seconds, _sql in self.queries)


def time_interleaved(funcs, repeat=1, warmup=0):
    """Like time_it for several callables, alternating them run by run so that drift in the
    machine's load hits each of them alike. Returns one Timing per callable."""
    results = [None] * len(funcs)
    for _ in range(warmup):
        for i, func in enumerate(funcs):
            results[i] = func()
    times = [[] for _ in funcs]
    for _ in range(repeat):
        for i, func in enumerate(funcs):
            started = time.perf_counter()
            results[i] = func()
            times[i].append(time.perf_counter() - started)
    return [Timing(t, r) for t, r in zip(times, results)]


def header(name):
    """The first line of a benchmark's output: what runs where, and how busy the machine is."""
    load = ""
    if hasattr(os, "getloadavg"):
        load = f"; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    print(f"== {name} on {describe_database()}{load}", flush=True)
