"""Bulk build of the city tree versus node-by-node creation through the service layer.

1. `build_city("TY", 1.0)` on an empty database, timed once (goal: under 60 s).
2. A sample of about 1,000 nodes with the city's shape (city_layout at a reduced scale, under a
   separate root "TYN") created one node at a time through `services.create_org_unit(None, ...)`,
   the path the admin and the API take (tree lock, placement checks, full_clean, mptt insert).
   Its per-node time is scaled to the city's node count and compared with the bulk time
   (goal: bulk at least 50x faster).
3. `tree_problems()` after each step must be empty.

Context only (not part of the ratio): the per-node cost of a few node-by-node inserts into the
full-size city tree itself, rolled back afterwards, to show how the per-node cost grows with the
size of the tree an insert lands in.

    .venv/bin/python bench/bench_seed_city.py [--sample 1000] [--fresh] [--json FILE]
"""

import sys
import time

import common

BULK_GOAL_SECONDS = 60.0
SPEEDUP_GOAL = 50.0


def main(argv=None):
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, default=1000, help="nodes created one by one (≈)")
    p.add_argument("--bulk-runs", type=int, default=3, help="build_city runs (median used)")
    p.add_argument(
        "--in-city", type=int, default=20, help="context inserts into the full city (0 = skip)"
    )
    args = p.parse_args(argv)
    # The default SQLite file belongs to the benchmark: always start it empty.
    common.setup(fresh=args.fresh or common.is_sqlite_default())

    from django.db import transaction

    from party_org import services
    from party_org.management.commands.seed_city import FULL_SCALE, build_city, city_layout
    from party_org.models import OrgKind, OrgUnit
    from party_org.selectors import Subtree

    common.header("bench_seed_city")
    existing = OrgUnit.objects.count()
    if existing:
        print(
            f"The database already holds {existing} org units; build_city must start from an "
            "empty tree. Re-run with --fresh (this empties the organisation tree).",
            file=sys.stderr,
        )
        return 2

    # 1. Bulk.
    # Each run starts from an empty tree; the median of --bulk-runs is the figure used.
    bulk_times = []
    for run in range(args.bulk_runs):
        if run:
            common.clear_tree()
        timing = common.time_it(lambda: build_city("TY", 1.0))
        bulk_times.append(timing.best)
    bulk = common.Timing(bulk_times, timing.result)
    root, n_bulk = bulk.result
    x = bulk.median
    check = common.time_it(common.checked_tree_problems)
    problems, note = check.result
    if note:
        print(f"WARNING: {note}")
    print(f"build_city('TY', 1.0): {x:.2f} s for {n_bulk} nodes "
          f"({x / n_bulk * 1e6:.1f} µs/node; median of {len(bulk_times)} runs on an empty tree: "
          f"{', '.join(f'{t:.2f}' for t in bulk_times)} s) — goal < {BULK_GOAL_SECONDS:.0f} s: "
          f"{common.verdict(x < BULK_GOAL_SECONDS)}")
    print(f"tree_problems() after bulk: {len(problems)} problem(s) "
          f"[{common.ms(check.best)}] {problems[:5] if problems else ''}")

    # 2. Node-by-node sample with the same shape, under its own root.
    full_total = 1 + sum(FULL_SCALE.values())
    layout = city_layout("TYN", args.sample / full_total)
    order = []  # (node dict, parent dict) in depth-first pre-order: parents before children

    def walk(node, parent):
        order.append((node, parent))
        for child in node.get("children", ()):
            walk(child, node)

    walk(layout, None)
    shape = {}
    for node, _parent in order:
        shape[node["kind"]] = shape.get(node["kind"], 0) + 1

    created = {}
    per_node = []
    started = time.perf_counter()
    for node, parent in order:
        t0 = time.perf_counter()
        fields = {k: node[k] for k in ("name", "code", "kind", "address") if k in node}
        created[node["code"]] = services.create_org_unit(
            None, parent=created[parent["code"]] if parent else None, **fields
        )
        per_node.append(time.perf_counter() - t0)
    y = time.perf_counter() - started
    m = len(order)
    z = y / m * n_bulk
    r = z / x
    sample_root = OrgUnit.objects.get(code="TYN")
    in_sample = OrgUnit.objects.filter(Subtree.of(sample_root).q()).count()
    problems_after, note_after = common.checked_tree_problems()
    tenth = max(1, m // 10)
    first = sum(per_node[:tenth]) / tenth
    last = sum(per_node[-tenth:]) / tenth
    shape_text = ", ".join(f"{shape.get(k.value, 0)} {k.value}" for k in OrgKind if shape.get(k))
    print(f"node-by-node sample: {m} nodes ({shape_text}); {in_sample} in its subtree")
    median_node = sorted(per_node)[m // 2]
    print(f"  per node: mean {y / m * 1000:.2f} ms, median {median_node * 1000:.2f} ms; "
          f"first tenth {first * 1000:.2f} ms, last tenth {last * 1000:.2f} ms "
          f"(with the median: scaled {median_node * n_bulk:.1f} s, "
          f"{median_node * n_bulk / x:.0f}×)")
    print(f"tree_problems() after node-by-node: {len(problems_after)} problem(s) "
          f"{problems_after[:5] if problems_after else ''}")

    # 3. Context: per-node cost of inserting into the full-size city tree (rolled back).
    in_city = None
    if args.in_city:
        groups = list(
            OrgUnit.objects.filter(tree_id=root.tree_id, kind=OrgKind.BUILDING_GROUP)
            .order_by("lft").values_list("pk", flat=True)
        )
        step = max(1, len(groups) // args.in_city)
        targets = OrgUnit.objects.in_bulk(groups[::step][: args.in_city])
        times = []
        with transaction.atomic():
            for i, target in enumerate(targets.values()):
                t0 = time.perf_counter()
                services.create_org_unit(
                    None, parent=target, name=f"bench {i}", code=f"TY-BENCH-{i}",
                    kind=OrgKind.HOUSEHOLD,
                )
                times.append(time.perf_counter() - t0)
            transaction.set_rollback(True)
        in_city = sum(times) / len(times)
        print(f"context: {len(times)} node-by-node inserts spread over the full city tree "
              f"(rolled back): {in_city * 1000:.2f} ms/node → {in_city * n_bulk:.1f} s if the "
              f"whole city were built at that rate")

    ok_bulk = x < BULK_GOAL_SECONDS
    ok_ratio = r >= SPEEDUP_GOAL
    ok_tree = not problems and not problems_after and in_sample == m
    print(
        f"bulk: {x:.2f} s for {n_bulk} nodes; node-by-node: {y:.2f} s for {m} nodes "
        f"→ scaled {z:.1f} s; speed-up Z/X = {r:.0f}×"
    )
    print(f"speed-up goal ≥ {SPEEDUP_GOAL:.0f}×: {common.verdict(ok_ratio)}; "
          f"bulk < {BULK_GOAL_SECONDS:.0f} s: {common.verdict(ok_bulk)}; "
          f"tree check: {common.verdict(ok_tree)}")
    print("(The sample is scaled linearly from a ~1,000-node tree; an insert's cost grows with "
          "the tree it lands in, so the scaled node-by-node time is a lower bound.)")

    common.write_json(args.json, {
        "database": common.describe_database(),
        "vendor": common.vendor(),
        "bulk_seconds": x,
        "bulk_runs": bulk_times,
        "bulk_nodes": n_bulk,
        "bulk_ok": ok_bulk,
        "sample_seconds": y,
        "sample_nodes": m,
        "sample_ms_per_node": y / m * 1000,
        "scaled_seconds": z,
        "speedup": r,
        "speedup_ok": ok_ratio,
        "in_city_ms_per_node": in_city * 1000 if in_city else None,
        "tree_problems": problems + problems_after,
        "tree_problems_note": note or note_after,
        "tree_ok": ok_tree,
    })
    return 0 if (ok_bulk and ok_ratio and ok_tree) else 1


if __name__ == "__main__":
    sys.exit(main())
