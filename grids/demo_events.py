"""A year of demo grid events, patrols and household visits for the demo district (seed_demo),
on top of the compounds, grids and workers of `grids.demo`.

Every event goes through the real loop services with explicit times (`at=`), so its log, step
deadlines, case number and handling time are what the portal itself would have recorded: most
closed (some late, some escalated to the community, the street or a department), some still
open at each step, some overdue, some rated (a few badly, which reopened them before they closed
again), a few duplicates, and 12345 hotline calls over two years so the year-on-year figure
means something. Handlers are the demo staff users whose scope covers the compound.

Idempotent: when the demo compounds already hold events (or check-ins, or visits) that part is
skipped; departments and patrol points are looked up by their natural keys.
"""

import datetime as dt
import random

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from party_org.models import OrgUnit

from .models import (
    Compound,
    Department,
    EventCategory,
    EventSource,
    EventStatus,
    GridEvent,
    GridEventLog,
    GridWorker,
    GridWorkerKind,
    Household,
    HouseholdVisit,
    PatrolCheckin,
    PatrolPoint,
)
from .services import events as loop
from .services import gridding
from .services import patrols

S = EventStatus
SRC = EventSource
HOUR = dt.timedelta(hours=1)

# (street code, name, phone, demo users on its staff)
DEPARTMENTS = [
    ("YZ-LX", "城管科", "0351-4040231", ["street_liuxiang"]),
    ("YZ-LX", "住建办", "0351-4040232", []),
    ("YZ-QD", "市场监管所", "0351-4040331", []),
]

# compound -> (user who files, assigns and closes; user who handles). Where no demo grid worker
# or community user has the compound in scope, the street user or the superuser stands in.
STAFF = {
    "文锦苑": ("secretary_wenjin", "community_binhe"),
    "滨河左岸": ("community_binhe", "grid_binhe"),
    "滨花苑": ("community_binhe", "community_binhe"),
    "化工东院": ("street_liuxiang", "street_liuxiang"),
    "南寺城中村安置小区": ("street_liuxiang", "street_liuxiang"),
    "金泽华府": ("community_jinze", "community_jinze"),
    "老园艺小区": ("community_jinze", "community_jinze"),
    "润景园": ("admin", "admin"),
    "省纺院": ("admin", "admin"),
    "向阳小区": ("admin", "admin"),
}

POINT_NAMES = [
    ("消防通道", "通道是否堆放杂物、是否畅通"),
    ("电动车集中充电点", "是否有飞线充电、充电桩是否完好"),
    ("垃圾分类投放点", "是否满溢、是否按时清运"),
    ("地下车库", "照明、积水、消防器材"),
    ("小区出入口", "门岗值守、车辆停放秩序"),
    ("二次供水泵房", "门锁、水箱清洁记录"),
]

# category code -> (descriptions, results)
TEXTS = {
    "environment": (
        ["楼道堆放杂物，影响通行", "垃圾桶满溢未及时清运", "绿化带内有建筑垃圾", "小区内有积存污水异味"],
        ["已联系保洁清理完毕", "已协调环卫增加清运频次", "已清理建筑垃圾并告知业主"],
    ),
    "safety_hazard": (
        ["电动车在楼道内充电", "消防栓无水", "外墙瓷砖松动有坠落风险", "地下室电线老化裸露"],
        ["已劝离电动车并张贴提示", "已报修消防设施并复查", "已拉设警戒并维修完毕"],
    ),
    "property_dispute": (
        ["物业费收费标准有争议", "物业未按约定维修电梯", "停车位管理费用纠纷"],
        ["已组织业主与物业协商达成一致", "物业已承诺并完成维修", "已在议事会上说明并公示"],
    ),
    "neighbour_dispute": (
        ["楼上漏水影响楼下住户", "邻居装修噪音扰民", "公共区域占用引发纠纷"],
        ["已上门调解，双方达成协议", "已约定施工时间并监督执行", "已清理占用物品，双方和解"],
    ),
    "facility_repair": (
        ["单元门禁损坏", "楼道照明灯不亮", "小区道路破损积水", "健身器材损坏"],
        ["已更换门禁设备", "已更换灯具", "已修补路面", "已维修器材并检查"],
    ),
    "public_order": (
        ["夜间有人聚集喧哗", "有陌生人散发小广告", "车辆乱停堵塞消防通道"],
        ["已联系派出所处置", "已清理小广告并加强巡查", "已联系车主挪车并设置标识"],
    ),
    "other": (
        ["居民咨询养老补贴办理", "流浪猫狗较多居民担忧", "居民反映快递柜位置不便"],
        ["已解答并协助办理", "已联系相关机构处置", "已与物业协调调整位置"],
    ),
}

# Weights: where reports come from and what about (seed 003: patrols and residents first).
SOURCES = [(SRC.RESIDENT, 30), (SRC.PATROL, 25), (SRC.HOTLINE, 14), (SRC.VISIT, 11),
           (SRC.PARTY_MEMBER, 10), (SRC.OTHER, 10)]
CATEGORIES = [("environment", 28), ("facility_repair", 20), ("safety_hazard", 14),
              ("neighbour_dispute", 12), ("property_dispute", 10), ("public_order", 8),
              ("other", 8)]

YEAR_EVENTS = 130          # reported over the last twelve months
RECENT_EVENTS = 10         # the last few days, held at every open step
HOTLINE_YEAR_BEFORE = 30   # 12345 calls in the twelve months before that
DUPLICATES = 6
BAD_RATINGS = 6
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"


class _Counter(dict):
    def bump(self, key, n=1):
        if n:
            self[key] = self.get(key, 0) + n


def _pick(rng, weighted):
    return rng.choices([v for v, _w in weighted], weights=[w for _v, w in weighted])[0]


def _departments(counter):
    User = get_user_model()
    for code, name, phone, staff in DEPARTMENTS:
        unit = OrgUnit.objects.filter(code=code).first()
        if unit is None:
            continue
        dept = Department.objects.filter(org_unit=unit, name=name).first()
        if dept is None:
            dept = Department(org_unit=unit, name=name, contact_phone=phone)
            dept.full_clean()
            dept.save()
            counter.bump("departments")
        for username in staff:
            user = User.objects.filter(username=username).first()
            if user is not None and not dept.staff.filter(pk=user.pk).exists():
                dept.staff.add(user)


class _Maker:
    """Reports one event and takes it through the loop at planned times, never past `now`."""

    def __init__(self, rng, now, users, compounds, categories, counter):
        self.rng, self.now, self.users = rng, now, users
        self.compounds, self.categories, self.counter = compounds, categories, counter
        self.buildings = {c.pk: list(c.buildings.all()) for c in compounds}
        self.weights = [max(c.households, 50) for c in compounds]

    # -- reporting ----------------------------------------------------------------------------

    def report(self, at, *, compound=None, code=None, source=None):
        rng = self.rng
        compound = compound or rng.choices(self.compounds, weights=self.weights)[0]
        code = code or _pick(rng, CATEGORIES)
        source = source or _pick(rng, SOURCES)
        filer, handler = self.staff(compound)
        building = rng.choice(self.buildings[compound.pk]) if self.buildings[compound.pk] else None
        fields = {}
        if source in (SRC.RESIDENT, SRC.PARTY_MEMBER):
            user = None  # on the public page
            fields["reporter_name"] = rng.choice(SURNAMES) + rng.choice(["女士", "先生"])
            fields["reporter_phone"] = f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
        elif source in (SRC.PATROL, SRC.VISIT):
            user = handler
        else:
            user = filer  # a 12345 ticket or another channel entered by staff
        event = loop.report_event(
            user, category=self.categories[code], source=source, compound=compound,
            building=building, description=rng.choice(TEXTS[code][0]),
            location=f"{building.number}" if building else "", at=at, **fields,
        )
        self.counter.bump("grid events")
        return event

    def staff(self, compound):
        filer, handler = STAFF[compound.name]
        return self.users[filer], self.users[handler]

    # -- the loop -----------------------------------------------------------------------------

    def plan(self, event, late=False):
        """Times of file, assign, start, feedback, close: each step a share of its deadline."""
        category = event.category
        scale = self.rng.uniform(1.15, 2.2) if late else self.rng.uniform(0.12, 0.7)
        times, at = [], event.reported_at
        for status in (S.REPORTED, S.FILED, S.ASSIGNED, S.IN_PROGRESS, S.FEEDBACK):
            at = at + dt.timedelta(
                hours=max(0.25, category.hours_for(status) * scale * self.rng.uniform(0.6, 1.4))
            )
            times.append(at)
        return times

    def run(self, event, times, *, stop=None, escalation=None, send_back=False):
        """Take the steps whose time has come (up to `stop`); returns the event."""
        filer, handler = self.staff(event.compound)
        t_file, t_assign, t_start, t_feedback, t_close = times
        steps = [
            (t_file, S.FILED, lambda t: loop.file_event(filer, event, at=t)),
            (t_assign, S.ASSIGNED, lambda t: loop.assign_event(filer, event, handler, at=t)),
            (t_start, S.IN_PROGRESS, lambda t: loop.start_event(handler, event, at=t)),
        ]
        if escalation:
            middle = t_start + (t_feedback - t_start) * 0.3
            steps.append((middle, None, lambda t: self.escalate(
                event, handler, escalation, t, before=min(t_feedback, self.now))))
        results = TEXTS[event.category.code][1]
        if send_back:
            first = t_start + (t_feedback - t_start) * 0.6
            steps += [
                (first, None,
                 lambda t: loop.report_result(handler, event, self.rng.choice(results), at=t)),
                (first + (t_feedback - first) / 2, None,
                 lambda t: loop.send_back(filer, event, "现场复核未处理到位，请继续跟进", at=t)),
            ]
        steps += [
            (t_feedback, S.FEEDBACK,
             lambda t: loop.report_result(handler, event, self.rng.choice(results), at=t)),
            (t_close, S.CLOSED, lambda t: loop.close_event(filer, event, at=t)),
        ]
        for at, _status, step in steps:
            if at > self.now or (stop is not None and event.status == stop):
                break
            step(at)
        return event

    def escalate(self, event, handler, kind, at, before):
        if kind == "department":
            departments = list(loop.departments_for(event))
            if not departments:
                kind = "community"
            else:
                department = self.rng.choice(departments)
                loop.escalate(handler, event, department=department,
                              note="需职能部门执法处置", at=at)
                # The department reports before the handler reports the result.
                ack_at = at + min(dt.timedelta(hours=self.rng.uniform(1, 8)), (before - at) / 2)
                if ack_at < before:
                    staff = department.staff.first() or self.users["admin"]
                    loop.acknowledge(staff, event, note="已派员到场", at=ack_at)
                return
        targets = loop.escalation_targets(event)
        target = targets[0] if kind == "community" or len(targets) == 1 else targets[1]
        loop.escalate(handler, event, to_unit=target, note="网格内无法解决，提请上级协调",
                      at=at)

    def rate(self, event, at, rating, comment=""):
        if at <= self.now:
            loop.rate_event(None, event, rating, comment, at=at)
            self.counter.bump("ratings")


def _year_of_events(maker, rng, now, counter):
    year_start = now - dt.timedelta(days=365)
    events = []
    # Reported over the year, in time order.
    moments = sorted(
        year_start + dt.timedelta(days=rng.uniform(0, 360), hours=rng.uniform(0, 1))
        for _ in range(YEAR_EVENTS)
    )
    for index, moment in enumerate(moments):
        at = timezone.localtime(moment).replace(hour=rng.randint(7, 20), minute=rng.randint(0, 59))
        event = maker.report(at)
        late = rng.random() < 0.12
        roll = rng.random()
        escalation = (
            "department" if roll < 0.06 else "community" if roll < 0.15
            else "street" if roll < 0.19 else None
        )
        # An old event now and then stuck at a step: overdue.
        stop = rng.choice([S.REPORTED, S.FILED, S.ASSIGNED, S.IN_PROGRESS]) if index % 25 == 7 \
            else None
        maker.run(event, maker.plan(event, late=late), stop=stop, escalation=escalation,
                  send_back=rng.random() < 0.04)
        events.append(event)
    # The last few days: held at each open step (and not yet overdue, mostly).
    open_steps = [S.REPORTED, S.FILED, S.ASSIGNED, S.IN_PROGRESS, S.FEEDBACK]
    for index in range(RECENT_EVENTS):
        stop = open_steps[index % len(open_steps)]
        reported = now - dt.timedelta(hours=rng.uniform(6, 40))
        event = maker.report(reported)
        span = (now - reported) / 6
        times = [reported + span * (k + 1) for k in range(5)]
        maker.run(event, times, stop=stop)
        events.append(event)
    return events


def _ratings(maker, rng, events):
    """Residents rate about half of their closed reports; a few are unhappy, which reopens the
    event, and it closes again after more work."""
    closed = [e for e in events if e.status == S.CLOSED and e.reporter_user_id is None]
    unhappy = set(rng.sample(range(len(closed)), min(BAD_RATINGS, len(closed))))
    for index, event in enumerate(closed):
        at = event.closed_at + dt.timedelta(hours=rng.uniform(2, 48))
        if index in unhappy:
            maker.rate(event, at, rng.choice([1, 2]), "问题没有彻底解决")
            if event.status != S.IN_PROGRESS:
                continue
            filer, handler = maker.staff(event.compound)
            fixed = at + dt.timedelta(hours=rng.uniform(12, 60))
            if fixed <= maker.now:
                loop.report_result(handler, event, "已再次上门处理并回访", at=fixed)
                closed_again = fixed + dt.timedelta(hours=rng.uniform(2, 20))
                if closed_again <= maker.now:
                    loop.close_event(filer, event, at=closed_again)
                    maker.rate(event, closed_again + dt.timedelta(hours=6), 4, "这次解决了")
        elif rng.random() < 0.5:
            maker.rate(event, at, rng.choice([5, 5, 5, 4, 4, 3]))


def _duplicates(maker, rng, events):
    """The same problem reported twice: the later report is linked to the first."""
    originals = [e for e in events if e.duplicate_of_id is None]
    for original in rng.sample(originals[:-RECENT_EVENTS], DUPLICATES):
        at = original.reported_at + dt.timedelta(hours=rng.uniform(1, 6))
        dup = maker.report(at, compound=original.compound, code=original.category.code,
                           source=rng.choice([SRC.RESIDENT, SRC.HOTLINE]))
        filer, _handler = maker.staff(original.compound)
        loop.link_duplicate(filer, dup, original, note="同一问题重复上报", at=at + HOUR)
        maker.counter.bump("duplicates")


def _hotline_year_before(maker, rng, now):
    """12345 calls in the twelve months before the demo year, all closed: more than this year,
    so the year-on-year figure shows the fall the reports describe."""
    start = now - dt.timedelta(days=730)
    for _ in range(HOTLINE_YEAR_BEFORE):
        at = timezone.localtime(start + dt.timedelta(days=rng.uniform(0, 364)))
        at = at.replace(hour=rng.randint(8, 19), minute=rng.randint(0, 59))
        event = maker.report(at, source=SRC.HOTLINE)
        maker.run(event, maker.plan(event, late=rng.random() < 0.2),
                  escalation="community" if rng.random() < 0.2 else None)


def _patrols(rng, now, compounds, counter):
    """Two or three patrol points per compound; the community's grid workers check in at each
    about every three weeks over the year."""
    points = []
    for index, compound in enumerate(compounds):
        for name, description in (POINT_NAMES * 2)[index % 4:index % 4 + 2 + index % 2]:
            point = PatrolPoint.objects.filter(compound=compound, name=name).first()
            if point is None:
                point = patrols.create_patrol_point(None, compound=compound, name=name,
                                                    description=description)
                counter.bump("patrol points")
            points.append(point)
    if PatrolCheckin.objects.filter(point__compound__in=compounds).exists():
        return
    # Rows straight in (a year of rounds through check_in() would cost seconds): each is what
    # check_in() accepts, a worker of the compound's community at a past time.
    workers = _workers_by_community(compounds)
    notes = ["正常", "正常", "正常", "已提醒住户清理杂物", "照明损坏已报修"]
    rows = []
    for point in points:
        crew = workers.get(gridding.community_of(point.compound.org_unit).pk)
        if not crew:
            continue
        at = now - dt.timedelta(days=365 - rng.uniform(0, 20))
        while at < now - HOUR:
            moment = timezone.localtime(at).replace(hour=rng.randint(8, 17),
                                                    minute=rng.randint(0, 59))
            if moment < now:
                rows.append(PatrolCheckin(point=point, worker=rng.choice(crew), at=moment,
                                          note=rng.choice(notes)))
            at += dt.timedelta(days=rng.uniform(16, 26))
    PatrolCheckin.objects.bulk_create(rows)
    counter.bump("patrol check-ins", len(rows))


def _visits(rng, now, compounds, counter):
    """Each household file visited every two to three months; the vulnerable more often."""
    if HouseholdVisit.objects.filter(household__compound__in=compounds).exists():
        return
    workers = _workers_by_community(compounds)
    findings = ["家中一切正常", "老人身体状况良好，已登记需求", "反映楼道照明问题，已转报",
                "宣传垃圾分类政策", "了解到家庭困难，已对接救助政策"]
    today = timezone.localdate(now)
    households = Household.objects.filter(compound__in=compounds).select_related(
        "compound__org_unit")
    rows = []
    for household in households:
        crew = workers.get(gridding.community_of(household.compound.org_unit).pk)
        if not crew:
            continue
        gap = (30, 50) if household.care_flags else (60, 100)
        day = today - dt.timedelta(days=365 - rng.randint(0, 30))
        while day < today:
            rows.append(HouseholdVisit(household=household, worker=rng.choice(crew),
                                       visited_on=day, findings=rng.choice(findings)))
            day += dt.timedelta(days=rng.randint(*gap))
    HouseholdVisit.objects.bulk_create(rows)
    counter.bump("household visits", len(rows))


def _workers_by_community(compounds):
    """Active full- and part-time workers per community (auxiliary ones keep to micro-grids)."""
    crews = {}
    for worker in GridWorker.objects.filter(
        is_active=True, kind__in=[GridWorkerKind.FULL_TIME, GridWorkerKind.PART_TIME]
    ).select_related("org_unit", "person"):
        crews.setdefault(worker.org_unit_id, []).append(worker)
    return crews


@transaction.atomic
def build(now=None):
    """Create the demo year of events, patrols and visits; returns the counts created.

    Needs `grids.demo` (the compounds and workers) and the demo users of seed_demo; without
    them it creates nothing.
    """
    counter = _Counter()
    now = now or timezone.now()
    names = list(STAFF)
    compounds = list(
        Compound.objects.filter(name__in=names, org_unit__code__startswith="YZ-")
        .select_related("org_unit").order_by("pk")
    )
    usernames = {u for pair in STAFF.values() for u in pair}
    users = {u.username: u for u in get_user_model().objects.filter(username__in=usernames)}
    if len(compounds) != len(names) or set(users) != usernames:
        return {}
    _departments(counter)
    rng = random.Random("grids-demo-events")
    if not GridEvent.objects.filter(compound__in=compounds).exists():
        categories = {c.code: c for c in EventCategory.objects.filter(code__in=TEXTS)}
        maker = _Maker(rng, now, users, compounds, categories, counter)
        _hotline_year_before(maker, rng, now)
        events = _year_of_events(maker, rng, now, counter)
        _duplicates(maker, rng, events)
        _ratings(maker, rng, events)
        counter.bump("event log entries",
                     GridEventLog.objects.filter(event__compound__in=compounds).count())
    _patrols(rng, now, compounds, counter)
    _visits(rng, now, compounds, counter)
    return dict(counter)
