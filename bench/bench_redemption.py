"""Redemption throughput on PostgreSQL with 20 concurrent clients, against a bare single-row
UPDATE of the same balances in the same run: the cost of correctness, as a ratio.

* Redemptions: --clients threads, each with its own database connection, call
  `volunteers.services.mall.redeem(None, item, person, idempotency_key=...)` (the person on
  their own page) for --seconds, each time for a random one of --accounts funded people, all on
  ONE item (--items) with stock for every attempt: the item row is locked first and the
  account row second, the stock and the balance move, an append-only ledger entry, the
  redemption with its one-time code and an audit row are written, all in one transaction.
* Baseline: the same threads run `UPDATE volunteers_pointsaccount SET balance = balance - 1
  WHERE id = %s` on a raw cursor in autocommit, on the same accounts, for as long; the
  balances are put back to the sum of their entries afterwards.
  The two phases alternate --rounds times so that drift in the machine's load hits both.
* Checks after the run: no negative balance or balance_after, every balance equals the sum of
  its entries, the item's stock equals its starting stock less the redeemed quantity (and is not
  negative), one spend entry per redemption, as many redemptions as the clients counted.

The database: BENCH_DATABASE_URL when it names a PostgreSQL database (kept; the bench adds its
own units, people and item under a fresh root); otherwise a throwaway database
`portal_bench_redemption` created through BENCH_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/postgres) and dropped at the end (--keep keeps it).
SQLite serialises every writer, so it is not measured.

    .venv/bin/python bench/bench_redemption.py [--clients 20] [--seconds 8] [--rounds 2]
        [--accounts 200] [--items 1] [--keep] [--json FILE]
"""

import os
import random
import secrets
import sys
import threading
import time
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import common

BENCH_DB = "portal_bench_redemption"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
FUNDS = Decimal("1000000")  # far more than any run spends: a refusal would be a bug


# ---- the database ------------------------------------------------------------------------------


def _connect(url):
    import psycopg2

    parts = urlsplit(url)
    conn = psycopg2.connect(
        host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
        user=parts.username or "postgres", password=parts.password,
        dbname=(parts.path or "/postgres").lstrip("/") or "postgres", connect_timeout=5,
    )
    conn.autocommit = True
    return conn


def create_database():
    """Create the throwaway database; returns its URL (or raises OSError-like errors)."""
    server = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER)
    conn = _connect(server)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{BENCH_DB}"')
    finally:
        conn.close()
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, f"/{BENCH_DB}", "", ""))


def drop_database():
    from django.db import connections

    connections.close_all()
    conn = _connect(os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER))
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    finally:
        conn.close()


# ---- the data ----------------------------------------------------------------------------------


def build(accounts, stock, items=1):
    """A branch under a fresh root, `accounts` funded people, a merchant and its items."""
    from party_org import services
    from party_org.models import OrgKind, Person
    from volunteers.models import EntryReason, Merchant, PointsAccount, PointsKind, RewardItem
    from volunteers.services import ledger

    tag = secrets.token_hex(3).upper()
    district = services.create_org_unit(None, parent=None, kind=OrgKind.DISTRICT,
                                        code=f"BR{tag}", name=f"兑换压测区{tag}")
    street = services.create_org_unit(None, parent=district, kind=OrgKind.STREET,
                                      code=f"BR{tag}S", name="兑换压测街道")
    community = services.create_org_unit(None, parent=street, kind=OrgKind.COMMUNITY,
                                         code=f"BR{tag}C", name="兑换压测社区")
    branch = services.create_org_unit(None, parent=community, kind=OrgKind.BRANCH,
                                      code=f"BR{tag}B", name="兑换压测支部")
    people = Person.objects.bulk_create(
        [Person(org_unit=branch, name=f"居民{i}") for i in range(accounts)]
    )
    for person in people:
        account = ledger.account_for(person, PointsKind.COMMUNITY)
        ledger.post_entry(account, FUNDS, EntryReason.EARN_HOURS, f"bench-fund:{tag}:{person.pk}")
    merchant = Merchant.objects.create(org_unit=community, name=f"便民超市{tag}")
    goods = [RewardItem.objects.create(merchant=merchant, name=f"洗衣液{n}", points_price=1,
                                       stock=stock) for n in range(items)]
    account_ids = list(PointsAccount.objects.filter(person__in=people).order_by("pk")
                       .values_list("pk", flat=True))
    return tag, people, goods, account_ids


# ---- the clients -------------------------------------------------------------------------------


def run_clients(clients, seconds, work):
    """`clients` threads, each with its own connection, call `work(thread, i, rng)` until the
    deadline. Returns (operations, elapsed seconds, latencies, refusals, errors)."""
    from django.core.exceptions import ValidationError
    from django.db import connection

    barrier = threading.Barrier(clients + 1)
    lock = threading.Lock()
    done, latencies, refusals, errors = [0], [], [], []
    box = {}

    def client(index):
        rng = random.Random(index)
        mine, times = 0, []
        try:
            connection.ensure_connection()  # connected before the clock starts
            barrier.wait()
            deadline = box["deadline"]
            i = 0
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    work(index, i, rng)
                    mine += 1
                except ValidationError as error:
                    with lock:
                        refusals.append(" ".join(error.messages))
                except Exception as error:  # noqa: BLE001 - counted and shown
                    with lock:
                        errors.append(repr(error))
                times.append(time.perf_counter() - started)
                i += 1
        finally:
            connection.close()
            with lock:
                done[0] += mine
                latencies.extend(times)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    box["deadline"] = time.perf_counter() + seconds
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    return done[0], time.perf_counter() - started, latencies, refusals, errors


def redeem_work(items, people, run_tag):
    from volunteers.services import mall

    def work(thread, i, rng):
        person = people[rng.randrange(len(people))]
        item = items[rng.randrange(len(items))]
        mall.redeem(None, item, person, idempotency_key=f"bench:{run_tag}:{thread}:{i}")

    return work


def update_work(account_ids):
    from django.db import connection

    from volunteers.models import PointsAccount

    table = connection.ops.quote_name(PointsAccount._meta.db_table)
    sql = f"UPDATE {table} SET balance = balance - 1 WHERE id = %s"

    def work(thread, i, rng):
        with connection.cursor() as cursor:
            cursor.execute(sql, [account_ids[rng.randrange(len(account_ids))]])

    return work


def restore_balances(account_ids):
    """Put the baseline's decrements back: each balance is the sum of its entries again."""
    from django.db import connection

    from volunteers.models import PointsAccount, PointsEntry

    accounts = connection.ops.quote_name(PointsAccount._meta.db_table)
    entries = connection.ops.quote_name(PointsEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {accounts} a SET balance = COALESCE("
            f"(SELECT SUM(e.amount) FROM {entries} e WHERE e.account_id = a.id), 0)"
            " WHERE a.id = ANY(%s)", [account_ids])


# ---- checks ------------------------------------------------------------------------------------


def check(items, stock, account_ids, redeemed):
    from django.db.models import Sum

    from volunteers import selectors
    from volunteers.models import EntryReason, PointsAccount, PointsEntry, Redemption, RewardItem

    left = dict(RewardItem.objects.filter(pk__in=[i.pk for i in items])
                .values_list("pk", "stock"))
    rows = Redemption.objects.filter(item__in=items)
    quantity = rows.aggregate(n=Sum("quantity"))["n"] or 0
    by_item = dict(rows.order_by().values("item").annotate(n=Sum("quantity"))
                   .values_list("item", "n"))
    spends = PointsEntry.objects.filter(account_id__in=account_ids, reason=EntryReason.SPEND)
    spent = -(spends.aggregate(n=Sum("amount"))["n"] or 0)
    results = {
        "negative balances": PointsAccount.objects.filter(balance__lt=0).count(),
        "negative balance_after": PointsEntry.objects.filter(balance_after__lt=0).count(),
        "balances not the sum of their entries": len(selectors.ledger_mismatches()),
        "items with stock below zero": sum(1 for n in left.values() if n < 0),
        "items with stock != start - redeemed": sum(
            1 for pk, n in left.items() if n != stock - by_item.get(pk, 0)),
        "redemptions != successes counted": abs(rows.count() - redeemed),
        "spend entries != redemptions": abs(spends.count() - rows.count()),
        "points spent != points of redemptions": int(
            spent != (rows.aggregate(n=Sum("points"))["n"] or 0)),
    }
    return results, sum(left.values()), quantity


# ---- main --------------------------------------------------------------------------------------


def pct(values, q):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv=None):
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=8.0, help="length of each phase (8)")
    p.add_argument("--rounds", type=int, default=2, help="alternations of the two phases (2)")
    p.add_argument("--accounts", type=int, default=200)
    p.add_argument("--items", type=int, default=1,
                   help="items redeemed at random (1: every client queues on one item row)")
    p.add_argument("--keep", action="store_true", help="keep the throwaway database")
    args = p.parse_args(argv)

    url = os.environ.get("BENCH_DATABASE_URL", "")
    throwaway = not url.startswith(("postgres://", "postgresql://"))
    if throwaway:
        if url:
            print(f"BENCH_DATABASE_URL={url} is not PostgreSQL; using a throwaway PostgreSQL "
                  "database instead (SQLite serialises every writer)")
        try:
            os.environ["BENCH_DATABASE_URL"] = create_database()
        except Exception as error:  # noqa: BLE001 - no server: nothing to measure
            print(f"-- bench_redemption skipped: cannot create a PostgreSQL database "
                  f"({error.__class__.__name__}: {str(error).strip()})")
            common.write_json(args.json, {"skipped": str(error).strip()})
            return 0
    try:
        return measure(args)
    finally:
        if throwaway and not args.keep:
            drop_database()


def measure(args):
    started = time.perf_counter()
    common.setup(fresh=False)
    print(f"migrated in {time.perf_counter() - started:.1f} s")

    common.header("bench_redemption")
    stock = 10_000_000
    tag, people, items, account_ids = build(args.accounts, stock, args.items)
    print(f"{args.accounts} people funded with {FUNDS} community points each; "
          f"{args.items} item(s) of 1 point, stock {stock:,} each; {args.clients} clients, "
          f"{args.rounds} rounds of {args.seconds:g} s per phase")

    totals = {"redeem": [0, 0.0, [], [], []], "update": [0, 0.0, [], [], []]}
    per_round = []
    redeemed = 0
    for n in range(args.rounds):
        ops_u, secs_u, lat_u, ref_u, err_u = run_clients(args.clients, args.seconds,
                                                         update_work(account_ids))
        restore_balances(account_ids)
        ops_r, secs_r, lat_r, ref_r, err_r = run_clients(
            args.clients, args.seconds, redeem_work(items, people, f"{tag}:{n}"))
        redeemed += ops_r
        for key, (ops, secs, lat, ref, err) in (("update", (ops_u, secs_u, lat_u, ref_u, err_u)),
                                                 ("redeem", (ops_r, secs_r, lat_r, ref_r, err_r))):
            totals[key][0] += ops
            totals[key][1] += secs
            totals[key][2].extend(lat)
            totals[key][3].extend(ref)
            totals[key][4].extend(err)
        per_round.append((ops_u / secs_u, ops_r / secs_r))
        print(f"round {n + 1}: bare UPDATE {ops_u / secs_u:,.0f}/s, "
              f"redeem {ops_r / secs_r:,.0f}/s")

    def rate(key):
        return totals[key][0] / totals[key][1]

    updates, redemptions = rate("update"), rate("redeem")
    ratio = updates / redemptions if redemptions else float("inf")
    for key, label in (("update", "bare UPDATE"), ("redeem", "redeem()   ")):
        ops, secs, lat, ref, err = totals[key]
        print(f"-- {label}: {ops:,} in {secs:.1f} s = {ops / secs:,.0f}/s; latency p50 "
              f"{common.ms(pct(lat, 0.5))}, p95 {common.ms(pct(lat, 0.95))}; "
              f"refused {len(ref)}, errors {len(err)}")
        for message in sorted(set(err))[:5] + sorted(set(ref))[:5]:
            print(f"   {message[:200]}")
    print(f"-- cost of correctness: {updates:,.0f} updates/s / {redemptions:,.0f} "
          f"redemptions/s = {ratio:.1f}× (rounds: "
          f"{', '.join(f'{u / r:.1f}×' for u, r in per_round)})")

    results, left, quantity = check(items, stock, account_ids, redeemed)
    bad = {name: n for name, n in results.items() if n}
    clean = not bad and not totals["redeem"][3] and not totals["redeem"][4] \
        and not totals["update"][4]
    print(f"-- checks: {quantity:,} redeemed, stock {stock * len(items):,} → {left:,}; "
          + ("no negative balance, every balance = sum of its entries, stock consistent"
             if not bad else f"PROBLEMS {bad}"))
    print(f"   {common.verdict(clean)}")
    common.write_json(args.json, {
        "database": common.describe_database(), "vendor": common.vendor(),
        "clients": args.clients, "seconds": args.seconds, "rounds": args.rounds,
        "accounts": args.accounts, "items": args.items, "updates_per_s": updates,
        "redemptions_per_s": redemptions,
        "ratio": ratio, "per_round": per_round,
        "redeem_p50_ms": pct(totals["redeem"][2], 0.5) * 1000,
        "redeem_p95_ms": pct(totals["redeem"][2], 0.95) * 1000,
        "update_p50_ms": pct(totals["update"][2], 0.5) * 1000,
        "update_p95_ms": pct(totals["update"][2], 0.95) * 1000,
        "refused": len(totals["redeem"][3]), "errors": len(totals["redeem"][4])
        + len(totals["update"][4]), "checks": results, "checks_ok": clean,
    })
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
