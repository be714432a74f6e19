"""Excel import of a 180,000-member ledger against django-import-export's row-by-row path.

1. A ledger .xlsx of --rows members (default 180,000; valid ID numbers, realistic names, date
   cells, flags, some households and records held elsewhere) spread over every branch and
   building group of the seed_city tree (built with `build_city("TY", 1.0)` if absent), written
   the way a user's file is (openpyxl, one sheet, the template's columns).
2. Ours: `ledger_io.parse` (the preview) then `ledger_io.commit` (which reads the file again and
   writes everything in one transaction), as a staff user assigned at the city root, so every
   row goes through the scope checks. Timed, with the peak RSS of the process sampled every
   20 ms during the two calls (goal: parse + commit <= 120 s).
3. Baseline: a django-import-export ModelResource for PartyMember (the Person looked up or
   created in `before_import_row` through Person.set_id_number, foreign keys through
   ForeignKeyWidget) importing --sample rows (default 2,000) of the same file format with
   `resource.import_data(dataset, dry_run=False)`, the library's default row-by-row path; rolled
   back afterwards. Its per-row time is scaled linearly to --rows (goal: ours >= 5x faster).
4. Checks: the ledger holds exactly --rows new members; parsing the same file again finds them
   all unchanged (re-importing does not duplicate).

    .venv/bin/python bench/bench_import.py [--rows 180000] [--sample 2000] [--fresh] [--json F]
"""

import datetime as dt
import io
import random
import resource
import sys
import threading
import time

import common

TIME_GOAL_SECONDS = 120.0
SPEEDUP_GOAL = 5.0
CATEGORY = "direct"
# Taiyuan's districts: 小店, 迎泽, 杏花岭, 尖草坪, 万柏林, 晋源.
REGIONS = ("140105", "140106", "140107", "140108", "140109", "140110")
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏"
    "薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段钱汤尹黎易常武"
    "乔贺赖龚文"
)
GIVEN = (
    "建国", "建华", "志强", "秀英", "桂英", "玉兰", "淑珍", "秀兰", "国庆", "红梅", "海燕", "文斌",
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "超",
    "霞", "平", "刚", "明", "华", "婷", "鹏", "宇", "欣", "晨", "浩然", "子涵", "思远", "雅琴",
)
FIRST_DAY = dt.date(1936, 1, 1)
BIRTH_SPAN_DAYS = 23000  # births from 1936 to about 1998


class PeakRSS:
    """Samples the process's resident set size (Linux /proc) in a thread while active."""

    def __init__(self, interval=0.02):
        self.interval = interval
        self.peak = self.start = self._rss()
        self._stop = threading.Event()

    @staticmethod
    def _rss():
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * resource.getpagesize()
        except OSError:  # not Linux: fall back to the lifetime peak
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _watch(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self.start = self.peak = self._rss()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def mb(n_bytes):
    return n_bytes / (1024 * 1024)


def id_number(i):
    """A distinct valid ID number for each i (birth date, region and sequence from i)."""
    from party_org import pii

    born = FIRST_DAY + dt.timedelta(days=i % BIRTH_SPAN_DAYS)
    rest = i // BIRTH_SPAN_DAYS
    region = REGIONS[rest % len(REGIONS)]
    sequence = 100 + (rest // len(REGIONS)) % 900
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + pii.id_check_char(first17), born


def member_rows(start, count, units, households, seed=20260701):
    """The file's rows for members start..start+count (values by the template's columns)."""
    rng = random.Random(seed + start)
    today = dt.date.today()
    for i in range(start, start + count):
        number, born = id_number(i)
        unit_pk, unit_code = units[i % len(units)]
        try:
            adult = born.replace(year=born.year + 18)
        except ValueError:  # born on 29 February
            adult = born.replace(year=born.year + 18, day=28)
        joined = adult + dt.timedelta(days=rng.randrange(365 * 30))
        if joined > today:
            joined = adult
        household = households.get(unit_pk) if rng.random() < 0.2 else None
        elsewhere = rng.random() < 0.05
        yield [
            rng.choice(SURNAMES) + rng.choice(GIVEN),
            "",  # 性别: blank, read from the ID number
            number,
            f"13{rng.randrange(100000000, 999999999)}",
            unit_code,
            household,
            joined,
            "外地" if elsewhere else "本地",
            "晋中市委组织部" if elsewhere else None,
            None,
            "已去世" if rng.random() < 0.005 else "正常",
            "是" if rng.random() < 0.05 else "否",
            "是" if rng.random() < 0.1 else "否",
            "是" if today.year - joined.year >= 50 and rng.random() < 0.5 else "否",
        ]


def write_ledger(rows):
    from openpyxl import Workbook

    from party_org import ledger_io

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("直管党员台账")
    sheet.append([column.header for column in ledger_io.COLUMNS])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def baseline_resource():
    """django-import-export's default way: a ModelResource, one row at a time."""
    from import_export import fields, resources, widgets

    from party_org import ledger_io, pii
    from party_org.models import OrgUnit, PartyMember, Person, WorkUnit

    class MapWidget(widgets.Widget):
        def __init__(self, mapping, default):
            super().__init__()
            self.mapping, self.default = mapping, default

        def clean(self, value, row=None, **kwargs):
            return self.mapping.get(str(value).strip(), self.default) if value else self.default

    class YesNoWidget(widgets.Widget):
        def clean(self, value, row=None, **kwargs):
            return str(value).strip() == "是"

    def column(attribute, header, widget=None):
        return fields.Field(attribute=attribute, column_name=header, widget=widget)

    class MemberResource(resources.ModelResource):
        person = fields.Field(
            attribute="person", column_name="person", widget=widgets.ForeignKeyWidget(Person)
        )
        org_unit = column("org_unit", "所属组织编码", widgets.ForeignKeyWidget(OrgUnit, "code"))
        household = column("household", "党员中心户编码", widgets.ForeignKeyWidget(OrgUnit, "code"))
        joined_on = column("joined_on", "入党日期", widgets.DateWidget())
        record_location = column(
            "record_location", "党籍所在", MapWidget(ledger_io.RECORD_LOCATIONS, "here")
        )
        record_held_by = column("record_held_by", "党籍存放单位", widgets.CharWidget())
        employer = column("employer", "工作单位", widgets.ForeignKeyWidget(WorkUnit, "name"))
        status = column("status", "状态", MapWidget(ledger_io.STATUSES, "active"))
        is_veteran = column("is_veteran", "退役军人", YesNoWidget())
        is_cadre = column("is_cadre", "干部", YesNoWidget())
        fifty_years = column("fifty_years", "光荣在党50年", YesNoWidget())

        class Meta:
            model = PartyMember
            import_id_fields = ["person"]
            fields = (
                "person", "org_unit", "household", "joined_on", "record_location",
                "record_held_by", "employer", "status", "is_veteran", "is_cadre", "fifty_years",
            )

        def before_import_row(self, row, **kwargs):
            number = pii.normalise_id_number(str(row["身份证号"]))
            person = Person.objects.filter(id_number_hash=pii.keyed_hash(number)).first()
            if person is None:
                person = Person(org_unit=OrgUnit.objects.get(code=row["所属组织编码"]))
            person.name = row["姓名"]
            person.phone = str(row["手机号"] or "")
            person.set_id_number(number)
            person.save()
            row["person"] = person.pk

        def before_save_instance(self, instance, row, **kwargs):
            instance.category = CATEGORY

    return MemberResource()


def run_baseline(data, expected_rows):
    """Import `data` through django-import-export inside a transaction that is rolled back."""
    import tablib
    from django.db import transaction

    from party_org.models import PartyMember

    started = time.perf_counter()
    with transaction.atomic():
        dataset = tablib.Dataset().load(data, format="xlsx")
        dataset.append_col([None] * len(dataset), header="person")
        result = baseline_resource().import_data(dataset, dry_run=False)
        seconds = time.perf_counter() - started
        created = PartyMember.objects.filter(category=CATEGORY).count()
        transaction.set_rollback(True)
    problems = []
    if result.has_errors():
        problems.append(f"{len(result.row_errors())} row error(s): "
                        f"{result.row_errors()[0][1][0].error!r}")
    if result.has_validation_errors():
        problems.append(f"{len(result.invalid_rows)} invalid row(s): "
                        f"{result.invalid_rows[0].error_dict!r}")
    totals = {key: value for key, value in result.totals.items() if value}
    return seconds, created, totals, problems


def remove_previous_run(count):
    """Delete the members (and people) a previous run imported, found by their ID numbers."""
    from django.db import connection, transaction

    from party_org import pii
    from party_org.models import MemberChange, PartyMember, Person

    removed = 0
    with transaction.atomic():
        for start in range(0, count, 2000):
            stop = min(count, start + 2000)
            hashes = [pii.keyed_hash(id_number(i)[0]) for i in range(start, stop)]
            members = PartyMember.objects.filter(person__id_number_hash__in=hashes)
            MemberChange.objects.filter(member__in=members)._raw_delete(connection.alias)
            removed += members._raw_delete(connection.alias)
            Person.objects.filter(id_number_hash__in=hashes)._raw_delete(connection.alias)
    return removed


def main(argv=None):
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=180_000, help="members in the ledger file")
    p.add_argument("--sample", type=int, default=2000, help="rows for the row-by-row baseline")
    p.add_argument("--no-reparse", action="store_true", help="skip the re-import check")
    args = p.parse_args(argv)
    common.setup(fresh=args.fresh)

    from django.contrib.auth import get_user_model
    from django.db import connection

    from party_org import ledger_io, services
    from party_org.management.commands.seed_city import build_city
    from party_org.models import AuditEntry, OrgKind, OrgUnit, PartyMember, Person, StaffRole
    from party_org.selectors import Subtree

    common.header("bench_import")
    root = OrgUnit.objects.filter(code="TY").first()
    if root is None:
        started = time.perf_counter()
        root, nodes = build_city("TY", 1.0)
        print(f"built the city tree: {nodes} units in {time.perf_counter() - started:.1f} s")
    city = Subtree.of(root)
    total_ids = args.rows + args.sample
    removed = remove_previous_run(total_ids)
    if removed:
        print(f"removed {removed} members left by a previous run")

    units = list(
        OrgUnit.objects.filter(city.q(), kind__in=(OrgKind.BRANCH, OrgKind.BUILDING_GROUP),
                               is_active=True)
        .order_by("tree_id", "lft").values_list("pk", "code")
    )
    households = {}
    for parent_id, code in (
        OrgUnit.objects.filter(city.q(), kind=OrgKind.HOUSEHOLD)
        .order_by("lft").values_list("parent_id", "code")
    ):
        households.setdefault(parent_id, code)
    User = get_user_model()
    user, _created = User.objects.get_or_create(username="bench-import")
    services.assign_staff(None, staff_user=user, org_unit=root, role=StaffRole.STREET_STAFF)
    user = User.objects.get(pk=user.pk)

    # 1. The files.
    started = time.perf_counter()
    data = write_ledger(member_rows(0, args.rows, units, households))
    generated = time.perf_counter() - started
    sample = write_ledger(member_rows(args.rows, args.sample, units, households))
    (common.OUT_DIR / f"ledger-{args.rows}.xlsx").write_bytes(data)
    print(f"ledger file: {args.rows:,} members over {len(units):,} branches and building groups, "
          f"{mb(len(data)):.1f} MB (written in {generated:.1f} s; "
          f"bench/out/ledger-{args.rows}.xlsx)")

    # 3 (first, on the same tables ours will fill). The baseline, rolled back.
    base_seconds, base_created, base_totals, base_problems = run_baseline(sample, args.sample)
    base_per_row = base_seconds / args.sample
    scaled = base_per_row * args.rows
    print(f"django-import-export row-by-row: {args.sample:,} rows in {base_seconds:.2f} s "
          f"({base_per_row * 1000:.2f} ms/row; {base_totals}; {base_created} created, rolled "
          f"back) → scaled to {args.rows:,} rows: {scaled:.0f} s")
    if base_problems:
        print(f"WARNING baseline problems: {base_problems}")

    # 2. Ours.
    members_before = PartyMember.objects.count()
    people_before = Person.objects.count()
    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    with PeakRSS() as rss, connection.execute_wrapper(count):
        started = time.perf_counter()
        parsed = ledger_io.parse(data, CATEGORY, user, filename=f"ledger-{args.rows}.xlsx")
        parse_seconds = time.perf_counter() - started
        parse_statements = statements[0]
        if not parsed.ok:
            print(f"parse failed: {parsed.file_error or parsed.errors[:5]}", file=sys.stderr)
            return 2
        started = time.perf_counter()
        summary = ledger_io.commit(parsed, user)
        commit_seconds = time.perf_counter() - started
    ours = parse_seconds + commit_seconds
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ours: parse {parse_seconds:.1f} s ({parse_statements} statements; "
          f"{parsed.new:,} new, {parsed.updated} updated, {parsed.unchanged} unchanged, "
          f"{parsed.error_rows} errors) + commit {commit_seconds:.1f} s "
          f"({statements[0] - parse_statements} statements) = {ours:.1f} s "
          f"({ours / args.rows * 1e6:.0f} µs/row)")
    print(f"memory: RSS {mb(rss.start):.0f} MB before, peak {mb(rss.peak):.0f} MB during parse + "
          f"commit (+{mb(rss.peak - rss.start):.0f} MB; file {mb(len(data)):.1f} MB); "
          f"process lifetime max RSS {maxrss:.0f} MB")

    # 4. Checks.
    added_members = PartyMember.objects.count() - members_before
    added_people = Person.objects.count() - people_before
    entry = AuditEntry.objects.filter(action="import").order_by("-at").first()
    reparse = None
    if not args.no_reparse:
        started = time.perf_counter()
        again = ledger_io.parse(data, CATEGORY, user)
        reparse_seconds = time.perf_counter() - started
        reparse = (again.new, again.updated, again.unchanged, again.error_rows)
        print(f"re-import check: parse of the same file finds {again.unchanged:,} unchanged, "
              f"{again.new} new, {again.updated} updated, {again.error_rows} errors "
              f"({reparse_seconds:.1f} s)")
    checks_ok = (
        summary.new == args.rows
        and added_members == args.rows
        and added_people == args.rows
        and entry is not None and entry.changes.get("new") == args.rows
        and (reparse is None or reparse == (0, 0, args.rows, 0))
        and not base_problems and base_created >= args.sample
    )
    print(f"checks: {added_members:,} members and {added_people:,} people added; audit entry "
          f"{'with' if entry else 'MISSING'} {entry.changes.get('new') if entry else 0:,} new: "
          f"{common.verdict(checks_ok)}")

    speedup = scaled / ours
    time_ok = ours <= TIME_GOAL_SECONDS
    speedup_ok = speedup >= SPEEDUP_GOAL
    print(f"ours {ours:.1f} s for {args.rows:,} rows (goal ≤ {TIME_GOAL_SECONDS:.0f} s): "
          f"{common.verdict(time_ok)}; row-by-row scaled {scaled:.0f} s → speed-up {speedup:.1f}× "
          f"(goal ≥ {SPEEDUP_GOAL:.0f}×): {common.verdict(speedup_ok)}")

    common.write_json(args.json, {
        "database": common.describe_database(),
        "vendor": common.vendor(),
        "rows": args.rows,
        "file_mb": mb(len(data)),
        "parse_seconds": parse_seconds,
        "commit_seconds": commit_seconds,
        "seconds": ours,
        "time_ok": time_ok,
        "rss_before_mb": mb(rss.start),
        "rss_peak_mb": mb(rss.peak),
        "baseline_rows": args.sample,
        "baseline_seconds": base_seconds,
        "baseline_ms_per_row": base_per_row * 1000,
        "baseline_scaled_seconds": scaled,
        "speedup": speedup,
        "speedup_ok": speedup_ok,
        "reparse": reparse,
        "checks_ok": checks_ok,
    })
    return 0 if (time_ok and speedup_ok and checks_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
