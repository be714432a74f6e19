"""The stats endpoint for the city root versus hand-written SQL and a naive Python loop.

With the city tree built (built here if absent):

* endpoint: GET /api/v1/org-units/{city}/stats/?month=2026-10 through Django's test Client as a
  logged-in superuser (force_login): the whole request (session, auth, DRF, every registered
  figure, JSON rendering); median of --runs after --warmup calls. The queries of one call are
  counted with CaptureQueriesContext.
* SQL: the same org-unit figures from three hand-written queries on a raw cursor (the grouped
  kind count, the branch-parents aggregate and the established-in-period count of
  party_org/figures.py); median of --runs after --warmup calls.
* naive: `root.get_descendants(include_self=True)` iterated in Python counting kinds, plus
  `.get_children()` per branch for the general-branch and coverage figures. Bounded by
  --naive-budget seconds: if the per-branch loop runs out of time, the part done is scaled up and
  the output says so.

Goal: endpoint / SQL ≤ 2×.

    .venv/bin/python bench/bench_stats.py [--runs 20] [--warmup 3] [--show-queries] [--json FILE]
"""

import sys
import time

import common

RATIO_GOAL = 2.0
MONTH = "2026-10"


def main(argv=None):
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--naive-budget", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--show-queries", action="store_true", help="list the endpoint's queries")
    p.add_argument(
        "--no-vacuum", action="store_true", help="PostgreSQL: skip VACUUM ANALYZE before timing"
    )
    args = p.parse_args(argv)
    common.setup(fresh=args.fresh)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from party_org.management.commands.seed_city import build_city
    from party_org.models import OrgKind, OrgUnit
    from party_org.statistics import Period, registry

    common.header("bench_stats")
    root = OrgUnit.objects.filter(code="TY").first()
    if root is None:
        started = time.perf_counter()
        root, count = build_city("TY", 1.0)
        print(f"built the city: {count} nodes in {time.perf_counter() - started:.2f} s")
    subtree_size = (root.rght - root.lft + 1) // 2
    if connection.vendor == "postgresql" and not args.no_vacuum:
        # A freshly bulk-loaded table has no planner statistics, and every mptt insert rewrites
        # lft/rght of the nodes to its right, leaving dead row versions (bench_seed_city's
        # rolled-back inserts into the city leave ~27,000 each). Autovacuum would clean both
        # up in time; do it now so the timings see the steady state.
        table = OrgUnit._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n_live_tup, n_dead_tup, pg_total_relation_size(%s)"
                " FROM pg_stat_user_tables WHERE relname = %s",
                [table, table],
            )
            live, dead, size = cursor.fetchone() or (0, 0, 0)
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(table)}")
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
            (size_after,) = cursor.fetchone()
        print(f"ran VACUUM ANALYZE on {table} (before: {live} live / {dead} dead row versions, "
              f"{size / 2**20:.0f} MB; after: {size_after / 2**20:.0f} MB)")

    period = Period.parse(month=MONTH)
    groups = [(g.module, len(g.figures)) for g in registry._groups]
    print(f"registered figure groups: {', '.join(f'{m} ({n})' for m, n in groups)}")
    other_groups = [m for m, _n in groups if m != "party_org.figures.tree"]
    if other_groups:
        print(f"NOTE: the SQL baseline covers the org_units figures, so the timed endpoint call asks "
              f"for those (figures=org_units); {', '.join(other_groups)} are timed apart below")

    # --- endpoint -------------------------------------------------------------------------
    User = get_user_model()
    admin = User.objects.filter(username="bench-admin").first()
    if admin is None:
        admin = User.objects.create_superuser("bench-admin", "bench@example.invalid", None)
    client = Client()
    client.force_login(admin)
    url = f"/api/v1/org-units/{root.pk}/stats/?month={MONTH}&figures=org_units"

    def call_endpoint():
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}: {response.content[:300]}")
        return response.json()


    # --- hand-written SQL -----------------------------------------------------------------
    table = connection.ops.quote_name(OrgUnit._meta.db_table)
    where = "c.tree_id = %s AND c.lft >= %s AND c.rght <= %s AND c.is_active = %s"
    tree = [root.tree_id, root.lft, root.rght, True]
    established_by = "(c.established_on IS NULL OR c.established_on <= %s)"
    sql_kinds = (
        f"SELECT c.kind, COUNT(*) FROM {table} c WHERE {where} AND {established_by}"
        " GROUP BY c.kind"
    )
    sql_parents = (
        "SELECT COUNT(DISTINCT CASE WHEN c.kind = %s THEN c.parent_id END),"
        " COUNT(DISTINCT CASE WHEN c.kind = %s THEN c.parent_id END)"
        f" FROM {table} c JOIN {table} p ON p.id = c.parent_id"
        f" WHERE {where} AND {established_by} AND p.kind = %s"
    )
    sql_established = (
        f"SELECT COUNT(*) FROM {table} c WHERE {where} AND c.established_on <= %s"
        + (" AND c.established_on >= %s" if period.start else "")
    )

    def run_sql():
        with connection.cursor() as cursor:
            cursor.execute(sql_kinds, [*tree, period.end])
            kinds = dict(cursor.fetchall())
            cursor.execute(
                sql_parents,
                [OrgKind.BRANCH.value, OrgKind.BUILDING_GROUP.value, *tree, period.end,
                 OrgKind.BRANCH.value],
            )
            general, with_groups = cursor.fetchone()
            cursor.execute(
                sql_established,
                [*tree, period.end, *([period.start] if period.start else [])],
            )
            (established,) = cursor.fetchone()
        return summarise(kinds, general, with_groups, established)

    def summarise(kinds, general, with_groups, established):
        values = {f"org_units.{k.value}": kinds.get(k.value, 0) for k in OrgKind}
        values["org_units.general_branches"] = general
        values["org_units.established_in_period"] = established
        branches = kinds.get(OrgKind.BRANCH.value, 0)
        values["org_units.branch_group_coverage"] = (
            round(with_groups / branches, 4) if branches else None
        )
        return values

    # Alternate endpoint and SQL run by run, so load drift on the machine hits both alike.
    endpoint, sql = common.time_interleaved(
        [call_endpoint, run_sql], repeat=args.runs, warmup=args.warmup
    )
    with common.QueryTimer() as sql_timer:
        run_sql()
    with CaptureQueriesContext(connection) as captured, common.QueryTimer() as timer:
        started = time.perf_counter()
        first = call_endpoint()
        one_call = time.perf_counter() - started
    queries = captured.captured_queries
    figures = {f["name"]: f for f in first["figures"]}

    # --- naive loop -----------------------------------------------------------------------
    def naive():
        started = time.perf_counter()
        deadline = started + args.naive_budget

        def counts_now(node):
            if not node.is_active:
                return False
            return node.established_on is None or node.established_on <= period.end

        kinds = {}
        established = 0
        branches = []
        for node in root.get_descendants(include_self=True):
            if counts_now(node):
                kinds[node.kind] = kinds.get(node.kind, 0) + 1
            if (
                node.is_active
                and node.established_on is not None
                and node.established_on <= period.end
                and (period.start is None or node.established_on >= period.start)
            ):
                established += 1
            if node.kind == OrgKind.BRANCH:
                branches.append(node)
        list_seconds = time.perf_counter() - started
        general = with_groups = 0
        done = 0
        loop_started = time.perf_counter()
        for branch in branches:
            child_kinds = {c.kind for c in branch.get_children() if counts_now(c)}
            general += OrgKind.BRANCH in child_kinds
            with_groups += OrgKind.BUILDING_GROUP in child_kinds
            done += 1
            if time.perf_counter() > deadline:
                break
        loop_seconds = time.perf_counter() - loop_started
        sampled = done < len(branches)
        if sampled:
            loop_seconds = loop_seconds / done * len(branches)
            general = round(general / done * len(branches))
            with_groups = round(with_groups / done * len(branches))
        return {
            "seconds": list_seconds + loop_seconds,
            "list_seconds": list_seconds,
            "loop_seconds": loop_seconds,
            "branches": len(branches),
            "branches_done": done,
            "sampled": sampled,
            "values": summarise(kinds, general, with_groups, established),
        }

    naive_runs = [naive()]
    if naive_runs[0]["seconds"] < 10 and not naive_runs[0]["sampled"]:
        naive_runs += [naive(), naive()]
    naive_runs.sort(key=lambda run: run["seconds"])
    naive_result = naive_runs[len(naive_runs) // 2]
    naive_seconds = naive_result["seconds"]

    # --- agreement ------------------------------------------------------------------------
    mismatches = []
    for name, value in sql.result.items():
        got = figures.get(name, {}).get("value")
        if got != value:
            mismatches.append(f"{name}: endpoint {got}, SQL {value}")
        if not naive_result["sampled"] and naive_result["values"][name] != value:
            mismatches.append(f"{name}: naive {naive_result['values'][name]}, SQL {value}")

    # --- every registered figure (informational: no hand-written twin to compare with) ------
    url_all = url.replace("&figures=org_units", "")

    def call_all():
        return client.get(url_all)

    with CaptureQueriesContext(connection) as all_captured:
        all_count = len(call_all().json()["figures"])
    all_queries = all_captured.captured_queries
    full = common.time_it(call_all, repeat=10, warmup=2)

    # --- report ---------------------------------------------------------------------------
    ratio = endpoint.median / sql.median
    naive_ratio = naive_seconds / endpoint.median
    ok = ratio <= RATIO_GOAL
    print(f"city root {root.code} (id {root.pk}): {subtree_size} nodes in its subtree; "
          f"period {period.start}..{period.end}")
    print(f"endpoint: {common.ms(endpoint.median)} median ({endpoint}); "
          f"{len(queries)} queries, {len(first['figures'])} figures")
    print(f"SQL (3 hand-written queries, raw cursor): {common.ms(sql.median)} median ({sql})")
    naive_note = (
        f"SAMPLED: {naive_result['branches_done']} of {naive_result['branches']} branches' "
        "get_children() within the budget, loop time scaled linearly"
        if naive_result["sampled"]
        else f"all {naive_result['branches']} branches' get_children(), "
        f"median of {len(naive_runs)} run(s)"
    )
    print(f"naive loop: {naive_seconds:.3f} s (descendants {naive_result['list_seconds']:.3f} s"
          f" + per-branch children {naive_result['loop_seconds']:.3f} s; {naive_note})")
    print(f"endpoint/SQL = {ratio:.2f}× (goal ≤ {RATIO_GOAL:.0f}×): {common.verdict(ok)}")
    print(f"naive/endpoint = {naive_ratio:.0f}×")
    print(f"endpoint with every registered figure: {common.ms(full.median)} median "
          f"({len(all_queries)} queries, {all_count} figures)")
    print(f"figures agree (endpoint = SQL = naive): "
          f"{'yes' if not mismatches else 'NO: ' + '; '.join(mismatches)}")
    if args.show_queries or not ok:
        print("endpoint queries (one call):")
        for seconds, text in timer.queries:
            print(f"  {seconds * 1000:7.2f} ms  {' '.join(text.split())[:200]}")
        print(f"  {timer.total * 1000:7.2f} ms  in the database of this call's "
              f"{one_call * 1000:.2f} ms (the hand-written queries: {sql_timer.total * 1000:.2f} ms)")

    common.write_json(args.json, {
        "database": common.describe_database(),
        "vendor": common.vendor(),
        "subtree_nodes": subtree_size,
        "endpoint_ms": endpoint.median * 1000,
        "endpoint_best_ms": endpoint.best * 1000,
        "endpoint_queries": len(queries),
        "sql_ms": sql.median * 1000,
        "sql_best_ms": sql.best * 1000,
        "ratio": ratio,
        "ratio_ok": ok,
        "naive_s": naive_seconds,
        "naive_sampled": naive_result["sampled"],
        "naive_ratio": naive_ratio,
        "figures_agree": not mismatches,
        "mismatches": mismatches,
        "other_figure_groups": other_groups,
    })
    return 0 if ok and not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
