"""Run every benchmark and print a summary table (markdown) to paste into the README.

    .venv/bin/python bench/run_all.py [--fresh] [--strict]          (make bench)
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python bench/run_all.py --fresh

Each benchmark runs in its own process (a clean Django set-up) against the same throwaway
database: bench_seed_city.py first (it builds the city), then bench_stats.py on that city, then
bench_import.py (a 180,000-member ledger import on that city), then bench_events.py (100,000
grid events: their figures against SQL, and the events list under load on gunicorn), then
bench_redemption.py (points-mall redemptions by 20 concurrent clients against a bare UPDATE of
the same balances; always on PostgreSQL: BENCH_DATABASE_URL if it is PostgreSQL, else a
throwaway database on 127.0.0.1:5432, and skipped when no server answers).
Their full output is shown as it comes; the table at the end sums it up.

Exit status: 0 when both ran (a missed goal is reported in the table, not as a failure);
with --strict, 1 when a goal was missed; 2 when a benchmark crashed.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"


def run(script, args, json_path):
    if json_path.exists():
        json_path.unlink()
    command = [sys.executable, str(BENCH_DIR / script), *args, "--json", str(json_path)]
    shown = [f"bench/{script}", *args, "--json", str(json_path.relative_to(BENCH_DIR.parent))]
    print(f"\n$ python {' '.join(shown)}", flush=True)
    returncode = subprocess.call(command, cwd=BENCH_DIR.parent)
    data = json.loads(json_path.read_text()) if json_path.exists() else None
    return returncode, data


def verdict(ok):
    return "PASS" if ok else "**FAIL**"


def table(seed, stats, imported=None, events=None, redemption=None):
    rows = [
        "| Benchmark | Database | Measured | Baseline (same run) | Ratio | Goal | Result |",
        "|---|---|---|---|---|---|---|",
    ]
    if seed:
        db = seed["database"].split(" (")[0]
        rows.append(
            f"| `build_city(\"TY\", 1.0)`, {seed['bulk_nodes']:,} nodes, empty DB | {db} "
            f"| {seed['bulk_seconds']:.2f} s | – | – | < 60 s | {verdict(seed['bulk_ok'])} |"
        )
        rows.append(
            f"| bulk vs node-by-node `create_org_unit` | {db} | bulk {seed['bulk_seconds']:.2f} s "
            f"| {seed['sample_nodes']:,} nodes in {seed['sample_seconds']:.2f} s "
            f"({seed['sample_ms_per_node']:.2f} ms/node) → {seed['scaled_seconds']:.0f} s scaled "
            f"| {seed['speedup']:.0f}× | ≥ 50× | {verdict(seed['speedup_ok'])} |"
        )
        rows.append(
            f"| `tree_problems()` after both | {db} | "
            f"{len(seed['tree_problems'])} problems | – | – | none | {verdict(seed['tree_ok'])} |"
        )
    if stats:
        db = stats["database"].split(" (")[0]
        rows.append(
            f"| stats endpoint, city root ({stats['subtree_nodes']:,} nodes) vs hand-written SQL "
            f"| {db} | {stats['endpoint_ms']:.1f} ms ({stats['endpoint_queries']} queries) "
            f"| {stats['sql_ms']:.1f} ms | {stats['ratio']:.2f}× | ≤ 2× "
            f"| {verdict(stats['ratio_ok'])} |"
        )
        sampled = " (sampled, scaled)" if stats["naive_sampled"] else ""
        rows.append(
            f"| naive Python loop vs stats endpoint | {db} | {stats['naive_s']:.2f} s{sampled} "
            f"| {stats['endpoint_ms']:.1f} ms | {stats['naive_ratio']:.0f}× | – | info |"
        )
    if imported:
        db = imported["database"].split(" (")[0]
        ok = imported["time_ok"] and imported["speedup_ok"] and imported["checks_ok"]
        rows.append(
            f"| ledger import, {imported['rows']:,} members (`parse` + `commit`) | {db} "
            f"| {imported['seconds']:.1f} s, peak RSS {imported['rss_peak_mb']:.0f} MB "
            f"| django-import-export row by row: {imported['baseline_ms_per_row']:.2f} ms/row "
            f"→ {imported['baseline_scaled_seconds']:.0f} s scaled | {imported['speedup']:.1f}× "
            f"| ≤ 120 s and ≥ 5× | {verdict(ok)} |"
        )
    if events:
        db = events["database"].split(" (")[0]
        for key, label in (("root", "city root"), ("street", "one street")):
            part = events.get(key)
            if part:
                rows.append(
                    f"| event figures at {events['events']:,} events, {label} vs hand-written SQL "
                    f"| {db} | {part['endpoint_ms']:.1f} ms ({part['endpoint_queries']} queries) "
                    f"| {part['sql_ms']:.1f} ms | {part['ratio']:.2f}× | ≤ 2× "
                    f"| {verdict(part['ratio_ok'] and part['figures_agree'])} |"
                )
        load = events.get("load") or {}
        if "p95_ms" in load:
            rows.append(
                f"| `GET /api/v1/events/` on gunicorn, {load['rate']:.0f} req/s asked "
                f"({load['achieved_rate']:.1f} achieved) | {db} | p95 {load['p95_ms']:.0f} ms, "
                f"p50 {load['p50_ms']:.0f} ms | – | – | p95 ≤ 200 ms | {verdict(load['p95_ok'])} |"
            )
    if redemption and "ratio" in redemption:
        db = redemption["database"].split(" (")[0]
        rows.append(
            f"| `mall.redeem()`, {redemption['clients']} clients, {redemption['items']} item(s) "
            f"vs bare `UPDATE balance = balance - 1` | {db} "
            f"| {redemption['redemptions_per_s']:,.0f} redemptions/s "
            f"(p95 {redemption['redeem_p95_ms']:.0f} ms) "
            f"| {redemption['updates_per_s']:,.0f} updates/s | {redemption['ratio']:.1f}× "
            f"| ledger checks after the run | {verdict(redemption['checks_ok'])} |"
        )
    elif redemption:
        rows.append(f"| `mall.redeem()` throughput | – | skipped: {redemption.get('skipped')} "
                    "| – | – | – | – |")
    return "\n".join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--fresh", action="store_true",
        help="let bench_seed_city empty the tree first (needed on a reused PostgreSQL database)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = p.parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    tag = "postgresql" if os.environ.get("BENCH_DATABASE_URL") else "sqlite"

    seed_rc, seed = run(
        "bench_seed_city.py", ["--fresh"] if args.fresh else [], OUT_DIR / f"seed-{tag}.json"
    )
    stats_rc, stats = run("bench_stats.py", [], OUT_DIR / f"stats-{tag}.json")
    import_rc, imported = run("bench_import.py", [], OUT_DIR / f"import-{tag}.json")
    events_rc, events = run("bench_events.py", [], OUT_DIR / f"events-{tag}.json")
    redemption_rc, redemption = run("bench_redemption.py", [], OUT_DIR / "redemption.json")

    print("\n## Benchmark summary\n")
    if hasattr(os, "getloadavg"):
        print(f"<!-- load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
              f" on {os.cpu_count()} CPUs -->")
    print(table(seed, stats, imported, events, redemption))
    crashed = [
        name for name, rc, data in (("bench_seed_city", seed_rc, seed), ("bench_stats", stats_rc,
                                                                          stats),
                                    ("bench_import", import_rc, imported),
                                    ("bench_events", events_rc, events),
                                    ("bench_redemption", redemption_rc, redemption))
        if data is None or rc not in (0, 1)
    ]
    if crashed:
        print(f"\nDid not finish: {', '.join(crashed)} (see the output above).")
        return 2
    missed = (seed_rc, stats_rc, import_rc, events_rc, redemption_rc) != (0, 0, 0, 0, 0)
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
