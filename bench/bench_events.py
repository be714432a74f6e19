"""Grid event figures of the stats endpoint against hand-written SQL, at 100,000 events, and
the events list API under a steady 50 requests/s on gunicorn.

With the city tree of seed_city (built here if absent):

1. Events: --events grid events (default 100,000) inserted with bulk_create over the city's
   branches, one compound each, reported over the last two years: statuses by age (old ones
   almost all closed, recent ones open at every step, a few stuck and overdue), the seven
   categories and six sources with realistic weights (12345 calls falling from the year before
   to the last one), handling times around three days with a long tail (some late), about 12%
   escalated, 1% linked as duplicates. Kept between runs; rebuilt when the count differs or
   with --rebuild-events.
2. Figures: GET /api/v1/org-units/{id}/stats/?from=…&to=…&figures=events (the events figure
   group only: one conditional aggregate and the median) for the city root and for one street,
   through Django's test Client as a superuser, against the same figures from hand-written SQL
   on a raw cursor (one aggregate with FILTER clauses, and percentile_cont on PostgreSQL or
   the middle rows by LIMIT/OFFSET on SQLite), alternated run by run; medians of --runs.
   Goal: endpoint / SQL <= 2x. The full endpoint (every registered figure) is timed as well.
3. Load: gunicorn (--gunicorn-workers sync workers, DEBUG off) on the same database; requests
   to /api/v1/events/ (plain pages and filtered by status, source, category and overdue) with
   token authentication (`manage.py issue_token`) for a superuser and street staff users,
   fired on a fixed schedule of --rate per second for --load-seconds from a thread pool with
   urllib. p50/p95/max of the response times. Goal: p95 <= 200 ms.
   (The list paths: plain pages, status, source, category, overdue, a street's subtree by
   `ancestor`, the last 30 days by `reported_after`.)

    .venv/bin/python bench/bench_events.py [--events 100000] [--runs 20] [--rate 50]
        [--load-seconds 20] [--no-load] [--no-figures] [--rebuild-events] [--json FILE]
"""

import concurrent.futures
import datetime as dt
import math
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import common

RATIO_GOAL = 2.0
P95_GOAL_MS = 200.0
BENCH_MARK = "bench-events"  # the description of every bench event starts with it

# category code -> weight; source -> (weight in the year before, weight in the last year)
CATEGORY_WEIGHTS = {
    "environment": 28, "facility_repair": 20, "safety_hazard": 14, "neighbour_dispute": 12,
    "property_dispute": 10, "public_order": 8, "other": 8,
}
SOURCE_WEIGHTS = {
    "patrol": (22, 27), "resident": (28, 31), "hotline_12345": (20, 12),
    "household_visit": (10, 11), "party_member": (10, 10), "other": (10, 9),
}
OPEN_STEPS = ["reported", "filed", "assigned", "in_progress", "feedback"]


def build_events(root, count, rng):
    """Insert `count` events over the city's branches (and a compound per branch)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from grids.models import Compound, CompoundType, EventCategory, GridEvent
    from party_org.models import OrgKind, OrgUnit
    from party_org.selectors import Subtree

    subtree = Subtree.of(root)
    with transaction.atomic():
        GridEvent.objects.filter(subtree.q("org_unit"), duplicate_of__isnull=False).delete()
        GridEvent.objects.filter(subtree.q("org_unit")).delete()
        branches = list(
            OrgUnit.objects.filter(subtree.q(), kind=OrgKind.BRANCH)
            .values_list("pk", "parent_id", "parent__parent_id")
        )
        have = set(Compound.objects.filter(subtree.q("org_unit")).values_list("org_unit_id",
                                                                             flat=True))
        types = list(CompoundType.values)
        Compound.objects.bulk_create(
            [Compound(org_unit_id=pk, name=f"小区{pk}", compound_type=types[pk % len(types)],
                      address=f"{pk}号", households=300 + pk % 700)
             for pk, _p, _g in branches if pk not in have],
            batch_size=2000,
        )
        compounds = dict(Compound.objects.filter(subtree.q("org_unit")).values_list(
            "org_unit_id", "pk"))
        handler = get_user_model().objects.filter(username="bench-handler").first()
        if handler is None:
            handler = get_user_model().objects.create_user("bench-handler", None, None)
        categories = list(EventCategory.objects.filter(code__in=CATEGORY_WEIGHTS))
        weights = [CATEGORY_WEIGHTS[c.code] for c in categories]
        sources = list(SOURCE_WEIGHTS)
        now = timezone.now()
        year_ago = now - dt.timedelta(days=365)
        rows = []
        for i in range(count):
            branch, community, street = branches[rng.randrange(len(branches))]
            category = rng.choices(categories, weights)[0]
            reported = now - dt.timedelta(days=rng.uniform(0, 730))
            period = 0 if reported < year_ago else 1
            source = rng.choices(sources, [SOURCE_WEIGHTS[s][period] for s in sources])[0]
            total = category.total_hours
            age_hours = (now - reported).total_seconds() / 3600
            handling = math.exp(rng.gauss(math.log(60), 0.8)) * 3600  # median 60 h
            if age_hours > 480:
                closed = rng.random() < 0.97
            else:
                closed = handling < age_hours * 3600 * 0.9
            event = GridEvent(
                org_unit_id=branch, compound_id=compounds[branch], category=category,
                source=source, description=f"{BENCH_MARK} {i}", reported_at=reported,
                final_due_at=reported + dt.timedelta(hours=total),
            )
            if closed:
                event.status = "closed"
                event.handling_seconds = int(min(handling, age_hours * 3600))
                event.closed_at = reported + dt.timedelta(seconds=event.handling_seconds)
                event.status_changed_at = event.closed_at
                if rng.random() < 0.3:
                    event.rating = rng.choices([5, 4, 3, 2, 1], [55, 28, 9, 5, 3])[0]
                    event.rated_at = event.closed_at + dt.timedelta(hours=rng.uniform(1, 48))
            else:
                event.status = rng.choice(OPEN_STEPS)
                step = OPEN_STEPS.index(event.status)
                event.status_changed_at = reported + dt.timedelta(
                    hours=min(age_hours, rng.uniform(0.5, 12) * step))
                event.due_at = event.status_changed_at + dt.timedelta(
                    hours=category.hours_for(event.status))
            if event.status != "reported":
                event.case_number = f"BE{i:09d}"
            if event.status not in ("reported", "filed"):
                event.handler_id = handler.pk
            if rng.random() < 0.12:
                event.was_escalated = True
                event.escalated_to_id = community if rng.random() < 0.7 else street
            rows.append(event)
        GridEvent.objects.bulk_create(rows, batch_size=2000)
        # 1% duplicates: linked to the event before them, closed, without a handling time.
        table = connection.ops.quote_name(GridEvent._meta.db_table)
        ids = list(GridEvent.objects.filter(subtree.q("org_unit"), status="closed")
                   .order_by("pk").values_list("pk", flat=True))
        dup_ids = ids[1::100]
        with connection.cursor() as cursor:
            for start in range(0, len(dup_ids), 500):
                chunk = dup_ids[start:start + 500]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(
                    f"UPDATE {table} SET duplicate_of_id = id - 1, handling_seconds = NULL"
                    f" WHERE id IN ({marks})", chunk)
    return len(rows)


def analyze(tables):
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(table)}")


NOW = object()


class HandSQL:
    """The events figure group in hand-written SQL: one aggregate and the median."""

    def __init__(self, node, period):
        from django.db import connection

        from grids.figures.events import STANDARD_CATEGORIES, shifted_year_back
        from grids.models import EventCategory, EventSource, EventStatus, GridEvent
        from party_org.models import OrgUnit

        ops = connection.ops
        q = ops.quote_name
        self.vendor = connection.vendor
        self.statuses = list(EventStatus.values)
        self.sources = list(EventSource.values)
        self.codes = list(STANDARD_CATEGORIES)
        before = shifted_year_back(period)

        def window(column, p):
            sql, params = f"{column} < %s", [ops.adapt_datetimefield_value(p.end_datetime)]
            if p.start is not None:
                sql += f" AND {column} >= %s"
                params.append(ops.adapt_datetimefield_value(p.start_datetime))
            return f"({sql})", params

        reported, rp = window("e.reported_at", period)
        closed_at, cp = window("e.closed_at", period)
        closed, cp = f"(e.status = 'closed' AND {closed_at})", cp
        hot_before, hp = window("e.reported_at", before)
        hot_before = f"(e.source = 'hotline_12345' AND {hot_before})"
        self.adapt = ops.adapt_datetimefield_value
        now = NOW  # filled in at each run, as the endpoint reads the clock at each call
        open_list = ", ".join(f"'{s}'" for s in self.statuses if s != "closed")
        overdue, op = f"(e.status IN ({open_list}) AND e.due_at < %s)", [now]
        columns, params = [f"COUNT(*) FILTER (WHERE {reported})"], [*rp]
        for s in self.statuses:
            columns.append(f"COUNT(*) FILTER (WHERE {reported} AND e.status = %s)")
            params += [*rp, s]
        for s in self.sources:
            columns.append(f"COUNT(*) FILTER (WHERE {reported} AND e.source = %s)")
            params += [*rp, s]
        for code in self.codes:
            columns.append(f"COUNT(*) FILTER (WHERE {reported} AND c.code = %s)")
            params += [*rp, code]
        columns += [
            f"COUNT(*) FILTER (WHERE {closed})",
            f"COUNT(e.handling_seconds) FILTER (WHERE {closed})",
            f"COUNT(*) FILTER (WHERE {closed} AND e.closed_at <= e.final_due_at)",
            f"COUNT(*) FILTER (WHERE {closed} AND NOT e.was_escalated)",
            f"COUNT(*) FILTER (WHERE {overdue})",
            f"COUNT(*) FILTER (WHERE {hot_before})",
        ]
        params += [*cp, *cp, *cp, *cp, *op, *hp]
        unit = q(OrgUnit._meta.db_table)
        event = q(GridEvent._meta.db_table)
        category = q(EventCategory._meta.db_table)
        tree = "u.tree_id = %s AND u.lft >= %s AND u.rght <= %s AND e.duplicate_of_id IS NULL"
        tree_params = [node.tree_id, node.lft, node.rght]
        self.counts_sql = (
            f"SELECT {', '.join(columns)} FROM {event} e"
            f" JOIN {unit} u ON u.id = e.org_unit_id"
            f" JOIN {category} c ON c.id = e.category_id"
            f" WHERE {tree} AND ({reported} OR {closed} OR {hot_before} OR {overdue})"
        )
        self.counts_params = [*params, *tree_params, *rp, *cp, *hp, *op]
        base = f"FROM {event} e JOIN {unit} u ON u.id = e.org_unit_id WHERE {tree} AND {closed}"
        self.base_params = [*tree_params, *cp]
        if self.vendor == "postgresql":
            self.median_sql = (
                f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY e.handling_seconds) {base}"
            )
        else:
            self.median_sql = (
                f"SELECT e.handling_seconds {base} AND e.handling_seconds IS NOT NULL"
                " ORDER BY e.handling_seconds LIMIT %s OFFSET %s"
            )

    def run(self):
        from django.db import connection
        from django.utils import timezone

        now = self.adapt(timezone.now())
        params = [now if p is NOW else p for p in self.counts_params]
        with connection.cursor() as cursor:
            cursor.execute(self.counts_sql, params)
            row = list(cursor.fetchone())
            timed = row[1 + len(self.statuses) + len(self.sources) + len(self.codes) + 1]
            if self.vendor == "postgresql":
                cursor.execute(self.median_sql, self.base_params)
                median = cursor.fetchone()[0]
            else:
                size = 2 if timed and timed % 2 == 0 else 1
                offset = max(0, (timed - 1) // 2)
                cursor.execute(self.median_sql, [*self.base_params, size, offset])
                middle = [r[0] for r in cursor.fetchall()]
                median = sum(middle) / len(middle) if middle else None
        return self.summarise(row, median)

    def summarise(self, row, median):
        def rate(n, d):
            return round(n / d, 4) if d else None

        it = iter(row)
        values = {"events.reported": next(it)}
        for s in self.statuses:
            values[f"events.status.{s}"] = next(it)
        for s in self.sources:
            values[f"events.source.{s}"] = next(it)
        for code in self.codes:
            values[f"events.category.{code}"] = next(it)
        closed, _timed, on_time, in_grid, overdue, hot_before = it
        reported = values["events.reported"]
        values["events.category.added"] = reported - sum(
            values[f"events.category.{c}"] for c in self.codes)
        hotline = values["events.source.hotline_12345"]
        values.update({
            "events.closure_rate": rate(values["events.status.closed"], reported),
            "events.closed": closed,
            "events.on_time_rate": rate(on_time, closed),
            "events.resolved_in_grid": rate(in_grid, closed),
            "events.median_handling_hours": (
                round(median / 3600, 2) if median is not None else None),
            "events.overdue": overdue,
            "events.hotline.count": hotline,
            "events.hotline.year_before": hot_before,
            "events.hotline.change": rate(hotline - hot_before, hot_before),
        })
        return values


def time_figures(client, node, period, args, label):
    """Endpoint (events group) vs hand-written SQL for `node`; the full endpoint too."""
    params = f"from={period.start}&to={period.end}"
    url = f"/api/v1/org-units/{node.pk}/stats/?{params}&figures=events"

    def call(u=url):
        response = client.get(u)
        if response.status_code != 200:
            raise SystemExit(f"GET {u} answered {response.status_code}: "
                             f"{response.content[:300]}")
        return response.json()

    sql = HandSQL(node, period)
    endpoint, hand = common.time_interleaved([call, sql.run], repeat=args.runs,
                                             warmup=args.warmup)
    # An execute wrapper, not CaptureQueriesContext: request_started resets the query log.
    with common.QueryTimer() as captured:
        first = call()
    figures = {f["name"]: f["value"] for f in first["figures"]}
    mismatches = [
        f"{name}: endpoint {figures.get(name)}, SQL {value}"
        for name, value in hand.result.items() if figures.get(name) != value
    ]
    full_url = f"/api/v1/org-units/{node.pk}/stats/?{params}"
    with common.QueryTimer() as full_captured:
        full_count = len(call(full_url)["figures"])
    full = common.time_it(lambda: call(full_url), repeat=args.full_runs)
    ratio = endpoint.median / hand.median
    ok = ratio <= RATIO_GOAL
    size = (node.rght - node.lft + 1) // 2
    print(f"-- {label} {node.code} ({size} nodes; {figures['events.reported']} events reported,"
          f" {figures['events.closed']} closed in the period; median handling "
          f"{figures['events.median_handling_hours']} h; 12345: {figures['events.hotline.count']}"
          f" vs {figures['events.hotline.year_before']} a year before)")
    print(f"   endpoint (figures=events): {common.ms(endpoint.median)} median ({endpoint}); "
          f"{len(captured.queries)} queries")
    print(f"   hand-written SQL (2 queries, raw cursor): {common.ms(hand.median)} median ({hand})")
    print(f"   endpoint/SQL = {ratio:.2f}× (goal ≤ {RATIO_GOAL:.0f}×): {common.verdict(ok)}")
    print(f"   figures agree: {'yes' if not mismatches else 'NO: ' + '; '.join(mismatches)}")
    print(f"   full endpoint (every registered figure): {common.ms(full.median)} median "
          f"({len(full_captured.queries)} queries, {full_count} figures; "
          f"{full} after one untimed call)")
    return {
        "node": node.code, "subtree_nodes": size,
        "events_reported": figures["events.reported"],
        "endpoint_ms": endpoint.median * 1000, "endpoint_best_ms": endpoint.best * 1000,
        "endpoint_queries": len(captured.queries),
        "sql_ms": hand.median * 1000, "sql_best_ms": hand.best * 1000,
        "ratio": ratio, "ratio_ok": ok, "figures_agree": not mismatches,
        "mismatches": mismatches, "full_ms": full.median * 1000,
        "full_queries": len(full_captured.queries), "full_figures": full_count,
    }


# ---- the load test ---------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(workers, port, workdir):
    env = dict(os.environ)
    for name in ("SQLITE_PATH", "CSRF_TRUSTED_ORIGINS", "SECURE_HSTS_SECONDS", "REDIS_URL"):
        env.pop(name, None)
    env.update({
        "DATABASE_URL": common.database_url(),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "FIELD_ENCRYPTION_KEY": secrets.token_urlsafe(32),
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "XDG_RUNTIME_DIR": workdir,  # gunicorn's control socket, not a shared ~/.gunicorn
    })
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    log = open(os.path.join(workdir, "gunicorn.log"), "wb")
    process = subprocess.Popen(
        [gunicorn, "governance.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", str(workers),
         "--timeout", "60"],
        cwd=str(common.PROJECT_DIR), env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited during start-up; see {log.name}")
        try:
            urllib.request.urlopen(f"{base}/api/v1/", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # it answers
        except OSError:
            time.sleep(0.3)
    else:
        process.terminate()
        raise SystemExit("gunicorn did not answer within 60 s")
    return process, base


def stop_gunicorn(process):
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def load_tokens(root):
    """Tokens of a superuser and of staff users of four streets (issue_token)."""
    import io

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from party_org import services
    from party_org.models import OrgKind, OrgUnit, StaffRole
    from party_org.selectors import Subtree

    User = get_user_model()
    names = ["bench-admin"]
    if not User.objects.filter(username="bench-admin").exists():
        User.objects.create_superuser("bench-admin", "bench@example.invalid", None)
    streets = OrgUnit.objects.filter(Subtree.of(root).q(), kind=OrgKind.STREET).order_by("lft")
    for index, street in enumerate(streets[:4]):
        name = f"bench-street-{index + 1}"
        user = User.objects.filter(username=name).first()
        if user is None:
            user = User.objects.create_user(name, None, None, is_staff=True)
        if not user.org_assignments.filter(org_unit=street).exists():
            services.assign_staff(None, staff_user=user, org_unit=street,
                                  role=StaffRole.STREET_STAFF)
        names.append(name)
    tokens = []
    for name in names:
        out = io.StringIO()
        call_command("issue_token", name, stdout=out)
        tokens.append(out.getvalue().strip())
    return tokens


def fire(base, token, path):
    request = urllib.request.Request(
        base + path, headers={"Authorization": f"Token {token}", "Accept": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        body = error.read()
        status = error.code
    except OSError:
        return None, time.perf_counter() - started, 0
    return status, time.perf_counter() - started, len(body)


def load_test(root, street, period, args):
    tokens = load_tokens(root)
    paths = [
        f"/api/v1/events/?ancestor={street.pk}",
        f"/api/v1/events/?reported_after={period.end - dt.timedelta(days=30)}",
        "/api/v1/events/", "/api/v1/events/?page=2", "/api/v1/events/?status=closed",
        "/api/v1/events/?status=in_progress", "/api/v1/events/?source=hotline_12345",
        "/api/v1/events/?category=environment", "/api/v1/events/?overdue=true",
        "/api/v1/events/?status=reported",
    ]
    workdir = tempfile.mkdtemp(prefix="bench-events-")
    process, base = start_gunicorn(args.gunicorn_workers, free_port(), workdir)
    try:
        probe, _t, _n = fire(base, tokens[0], paths[0])
        if probe == 404:
            print("-- load: GET /api/v1/events/ answers 404: the events list API is not there "
                  "yet; load test skipped")
            return {"skipped": "404"}
        if probe != 200:
            print(f"-- load: GET /api/v1/events/ answers {probe}; load test skipped "
                  f"(see {workdir}/gunicorn.log)")
            return {"skipped": str(probe)}
        for token in tokens:  # warm every worker's caches
            for path in paths:
                fire(base, token, path)
        total = int(args.rate * args.load_seconds)
        rng = random.Random(7)
        plan = [(i / args.rate, tokens[i % len(tokens)], rng.choice(paths)) for i in range(total)]
        started = time.perf_counter() + 0.2
        lags = []

        def scheduled(item):
            offset, token, path = item
            wait = started + offset - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            lags.append(max(0.0, -wait))
            return fire(base, token, path)

        with concurrent.futures.ThreadPoolExecutor(max_workers=args.threads) as pool:
            results = list(pool.map(scheduled, plan))
        elapsed = time.perf_counter() - started
    finally:
        stop_gunicorn(process)
    times = sorted(t for status, t, _n in results if status == 200)
    statuses = {}
    for status, _t, _n in results:
        statuses[status] = statuses.get(status, 0) + 1
    if not times:
        print(f"-- load: no successful response ({statuses}); see {workdir}/gunicorn.log")
        return {"skipped": f"no 200: {statuses}"}
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)]
    worst = times[-1]
    achieved = len(results) / elapsed
    ok = p95 * 1000 <= P95_GOAL_MS and statuses.get(200, 0) == len(results)
    print(f"-- load: {len(results)} requests at {args.rate:g}/s for {args.load_seconds:g} s "
          f"(achieved {achieved:.1f}/s) on gunicorn -w {args.gunicorn_workers}, "
          f"{len(tokens)} tokens, {len(paths)} list URLs; statuses {statuses}")
    print(f"   p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {worst * 1000:.1f} ms; "
          f"client start lag p95 {sorted(lags)[int(0.95 * (len(lags) - 1))] * 1000:.1f} ms")
    print(f"   p95 goal ≤ {P95_GOAL_MS:.0f} ms: {common.verdict(ok)}")
    return {
        "requests": len(results), "rate": args.rate, "achieved_rate": achieved,
        "statuses": {str(k): v for k, v in statuses.items()}, "p50_ms": p50 * 1000,
        "p95_ms": p95 * 1000, "max_ms": worst * 1000, "p95_ok": ok,
        "gunicorn_workers": args.gunicorn_workers,
    }


def main(argv=None):
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--rebuild-events", action="store_true")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--full-runs", type=int, default=3,
                   help="timed calls of the full endpoint (default 3)")
    p.add_argument("--no-load", action="store_true", help="skip the gunicorn load test")
    p.add_argument("--no-figures", action="store_true", help="skip the stats endpoint part")
    p.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    p.add_argument("--load-seconds", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=32, help="client threads (default 32)")
    p.add_argument("--gunicorn-workers", type=int, default=2 * (os.cpu_count() or 1))
    args = p.parse_args(argv)
    common.setup(fresh=args.fresh)

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from grids.models import GridEvent
    from party_org.management.commands.seed_city import build_city
    from party_org.models import OrgKind, OrgUnit
    from party_org.selectors import Subtree
    from party_org.statistics import Period

    common.header("bench_events")
    root = OrgUnit.objects.filter(code="TY").first()
    if root is None:
        started = time.perf_counter()
        root, count = build_city("TY", 1.0)
        print(f"built the city: {count} nodes in {time.perf_counter() - started:.2f} s")
    have = GridEvent.objects.filter(Subtree.of(root).q("org_unit")).count()
    if args.rebuild_events or have != args.events:
        started = time.perf_counter()
        made = build_events(root, args.events, random.Random(20261122))
        print(f"inserted {made} grid events (bulk_create) in "
              f"{time.perf_counter() - started:.2f} s")
    else:
        print(f"reusing the {have} grid events under {root.code}")
    analyze([GridEvent._meta.db_table, OrgUnit._meta.db_table])

    today = timezone.localdate()
    period = Period(today - dt.timedelta(days=364), today)
    print(f"period {period.start}..{period.end} (the last twelve months; the year before for "
          "12345 calls)")
    User = get_user_model()
    admin = User.objects.filter(username="bench-admin").first()
    if admin is None:
        admin = User.objects.create_superuser("bench-admin", "bench@example.invalid", None)
    client = Client()
    client.force_login(admin)
    street = (OrgUnit.objects.filter(Subtree.of(root).q(), kind=OrgKind.STREET)
              .order_by("lft").first())
    results = {
        "database": common.describe_database(), "vendor": common.vendor(),
        "events": GridEvent.objects.filter(Subtree.of(root).q("org_unit")).count(),
    }
    if not args.no_figures:
        results["root"] = time_figures(client, root, period, args, "city root")
        results["street"] = time_figures(client, street, period, args, "street")
    results["load"] = None if args.no_load else load_test(root, street, period, args)
    common.write_json(args.json, results)
    ok = all(results[k]["ratio_ok"] and results[k]["figures_agree"]
             for k in ("root", "street") if k in results)
    load = results["load"]
    if load and "p95_ok" in load:
        ok = ok and load["p95_ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
