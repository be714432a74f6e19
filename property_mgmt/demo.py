"""Demo property management on the demo compounds (made by grids.demo), in the shape of Xiaodian
district in seed 003 at small scale: companies of every party formation (三建一派), compounds
served by companies and compounds without one covered the four ways (四个一批) — one subsidised
transition ending this month —, subsidy grants, self-funding income, owners' and property
committees with cross-appointments and one 一肩挑, a service evaluation with answers, a
deliberation at every step of the four-step method (one under public notice now), conventions.

Idempotent: every row is looked up by its natural key before it is made, so running it again
creates nothing. Dates that must be "current" (the subsidy ending, the notice on show) are
counted back from `today`; the rest are fixed.
"""

import datetime as dt
import random
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from grids.models import Compound, GridEvent
from party_org import pii
from party_org.models import CommitteeMembership, CommitteeRole, OrgKind, OrgUnit, Person

from . import services
from .models import (
    DIMENSIONS,
    Committee,
    CommitteeDocument,
    CommitteeKind,
    CommitteeMember,
    CommitteeMemberRole,
    CompanyStaff,
    Convention,
    Deliberation,
    DeliberationStatus,
    EvaluationCode,
    IncomeKind,
    PartyFormation,
    PartyKind,
    PropertyCompany,
    RulesDocument,
    SelfFundingEntry,
    ServiceEvaluation,
    ServiceMode,
    ServicePeriod,
    credit_code_check_char,
)

M = ServiceMode
S = DeliberationStatus
D = dt.date
CHAIR, VICE, MEMBER = (CommitteeMemberRole.CHAIR, CommitteeMemberRole.VICE_CHAIR,
                       CommitteeMemberRole.MEMBER)

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾田董潘袁蔡蒋余杜叶程魏苏吕丁任"
GIVEN = ["建国", "建华", "国强", "志刚", "秀英", "桂兰", "玉兰", "淑珍", "丽华", "红梅", "海燕",
         "春生", "文彬", "晓东", "俊峰", "振华", "明亮", "少华", "卫东", "德胜", "晋生", "润生"]

# (key, name, first 17 characters of the credit code, party formation, red property, phone)
COMPANIES = [
    ("jinxiu", "太原锦绣物业服务有限公司", "91140100MA0K1234X", PartyFormation.STANDALONE, False,
     "0351-4051001"),
    ("hongxing", "山西红星物业管理有限公司", "91140105MA0H7654Q", PartyFormation.INDUSTRY, True,
     "0351-4051002"),
    ("anju", "迎泽安居物业管理有限公司", "91140106MA0L5678Y", PartyFormation.REGIONAL, False,
     "0351-4051003"),
    ("huagong", "山西省化工研究院后勤服务中心", "12140000MB1C2468N", PartyFormation.INSTRUCTOR,
     False, "0351-4051004"),
]

# compound -> [(mode, company key, started on, fee per m²)]; None for a date counted from today.
SERVICE = {
    "文锦苑": [(M.MARKET, "jinxiu", D(2019, 1, 1), "1.20")],
    "滨河左岸": [(M.MARKET, "hongxing", D(2013, 1, 1), "1.50")],
    "滨花苑": [(M.NONE, None, D(2015, 1, 1), "0"), (M.SUBSIDISED, "anju", -5, "0.60")],
    "化工东院": [(M.UNIT_ASSISTED, "huagong", D(2023, 7, 1), "0.30")],
    "南寺城中村安置小区": [(M.NONE, None, D(2020, 1, 1), "0"), (M.SUBSIDISED, "anju", -2, "0.50")],
    "金泽华府": [(M.MARKET, "jinxiu", D(2022, 10, 1), "2.30")],
    "老园艺小区": [(M.NONE, None, D(2018, 1, 1), "0"),
                  (M.RED_PROPERTY, "hongxing", D(2025, 3, 1), "0.50")],
    "润景园": [(M.SELF_MANAGED, None, D(2021, 1, 1), "0")],
    "省纺院": [(M.COMMUNITY_FALLBACK, None, D(2024, 9, 1), "0")],
    "向阳小区": [(M.NONE, None, D(2016, 1, 1), "0")],
}

# (compound, kind, amount, received on, note); the duplicate entry is reversed.
INCOME = [
    ("润景园", IncomeKind.PARKING, "3600.00", D(2026, 8, 5), "8月地面停车费"),
    ("润景园", IncomeKind.PARKING, "3720.00", D(2026, 9, 5), "9月地面停车费"),
    ("润景园", IncomeKind.PARKING, "3720.00", D(2026, 9, 6), "9月地面停车费（重复录入）"),
    ("润景园", IncomeKind.SHOPS, "2400.00", D(2026, 9, 30), "临街便民超市季度租金"),
    ("省纺院", IncomeKind.LEASED_SPACE, "1500.00", D(2026, 10, 10), "闲置库房出租"),
]
REVERSED_NOTE = "9月地面停车费（重复录入）"

# Service evaluation of 2026: the centre of each compound's scores.
EVALUATIONS = {"文锦苑": 4.4, "滨河左岸": 3.3, "金泽华府": 4.1, "老园艺小区": 2.8, "化工东院": 3.9}
EVALUATION_OPENS, EVALUATION_CLOSES = D(2026, 10, 8), D(2026, 10, 31)

# (compound, topic, background, days ago for each step taken: propose, discuss, decide,
#  publicise, review)
DELIBERATIONS = [
    ("向阳小区", "引入社区兜底物业服务", "小区无物业，垃圾清运和设施维护无人负责。", [3]),
    ("滨花苑", "财政补贴期满后的物业服务收费标准", "过渡补贴即将期满，需商定后续收费。",
     [25, 10]),
    ("金泽华府", "地下车库加装电动汽车充电桩", "业主反映充电难，飞线充电有安全隐患。",
     [30, 20, 6]),
    ("文锦苑", "小区停车秩序整治方案", "车辆乱停占用消防通道，居民投诉较多。",
     [21, 14, 5, 2]),
    ("老园艺小区", "修订《老园艺小区公约》", "引入红色物业后，公约需补充物业服务和公共收益条款。",
     [70, 60, 50, 49, 40]),
]


class _Counter(dict):
    def bump(self, key, n=1):
        if n:
            self[key] = self.get(key, 0) + n


def _at(day, hour=19):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 30)))


def _person(key, org_unit, counter):
    """The demo person for `key`: the same ID number every run, so found again by its hash."""
    rng = random.Random(f"property-demo:{key}")
    birth = D(rng.randint(1955, 1990), rng.randint(1, 12), rng.randint(1, 28))
    body = f"140106{birth:%Y%m%d}{rng.randint(100, 999)}"
    id_number = body + pii.id_check_char(body)
    existing = Person.objects.filter(id_number_hash=pii.keyed_hash(id_number)).first()
    if existing is not None:
        return existing
    person = Person(org_unit=org_unit, name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                    phone=f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}")
    person.set_id_number(id_number)
    person.full_clean()
    person.save()
    counter.bump("people")
    return person


def _seat(unit, role):
    seat = (CommitteeMembership.objects.filter(org_unit=unit, role=role, ended_on__isnull=True)
            .select_related("person").order_by("pk").first())
    return seat.person if seat else None


def _companies(compounds, counter):
    companies = {}
    for key, name, body, formation, red, phone in COMPANIES:
        company = PropertyCompany.objects.filter(name=name).first()
        if company is None:
            instructor = None
            if formation == PartyFormation.INSTRUCTOR:
                unit = OrgUnit.objects.filter(code="YZ-LX-SEY").first() or compounds[
                    "化工东院"].org_unit
                instructor = _person("instructor:huagong", unit, counter)
            company = services.create_company(
                None, name=name, credit_code=body + credit_code_check_char(body),
                party_formation=formation, instructor=instructor, is_red_property=red,
                contact_name="综合办公室", contact_phone=phone,
            )
            counter.bump("property companies")
        companies[key] = company
    return companies


def _service(compounds, companies, this_month, counter):
    for name, plan in SERVICE.items():
        compound = compounds[name]
        for mode, company_key, start, fee in plan:
            started_on = services.add_months(this_month, start) if isinstance(start, int) else start
            # Keyed by mode, not date: a later run (another month) must not start it again.
            if ServicePeriod.objects.filter(compound=compound, mode=mode).exists():
                continue
            if ServicePeriod.objects.filter(compound=compound, started_on__gte=started_on).exists():
                continue  # a later service was recorded meanwhile: leave the history alone
            services.start_service(None, compound, mode=mode,
                                   company=companies.get(company_key), started_on=started_on,
                                   fee_per_m2=fee)
            counter.bump("service periods")


def _grants(this_month, counter):
    district = OrgUnit.objects.filter(code="YZ").first()
    if district is None:
        return
    first = (
        ServicePeriod.objects.filter(mode=M.SUBSIDISED,
                                     compound__org_unit__code__startswith="YZ-")
        .order_by("started_on").values_list("started_on", flat=True).first()
    )
    month = first.replace(day=1) if first else this_month
    while month <= this_month:
        counter.bump("subsidy grants", services.grant_subsidies(None, district, month).created)
        month = services.add_months(month, 1)


def _income(compounds, counter):
    for name, kind, amount, day, note in INCOME:
        compound = compounds[name]
        entry = SelfFundingEntry.objects.filter(compound=compound, kind=kind, received_on=day,
                                                amount=Decimal(amount)).first()
        if entry is None:
            entry = services.record_income(None, compound, kind=kind, amount=amount,
                                           received_on=day, note=note)
            counter.bump("income entries")
        if note == REVERSED_NOTE and not SelfFundingEntry.objects.filter(reverses=entry).exists():
            services.reverse_income(None, entry, on=day + dt.timedelta(days=3),
                                    note="冲销重复录入的9月停车费")
            counter.bump("income entries")


def _committee(compound, kind, elected_on, term_ends_on, counter, relative=False):
    """The committee elected on that day, made if missing. `relative`: its dates follow today,
    so any committee of the compound stands for it on a later run."""
    committee = Committee.objects.filter(compound=compound, elected_on=elected_on).first()
    if committee is None and relative:
        committee = Committee.objects.filter(compound=compound).order_by("-elected_on").first()
    if committee is None:
        if Committee.objects.filter(compound=compound, elected_on__gt=elected_on).exists():
            return None
        committee = services.elect_committee(None, compound, kind, elected_on, term_ends_on)
        counter.bump("committees")
    return committee


def _member(committee, person, role, counter):
    if committee is None or person is None or not committee.is_active:
        return
    if CommitteeMember.objects.filter(committee=committee, person=person).exists():
        return
    if role == CHAIR and committee.members.filter(role=CHAIR, ended_on__isnull=True).exists():
        role = MEMBER
    services.add_committee_member(None, committee, person=person, role=role)
    counter.bump("committee members")


def _staff(company, person, compound, role, started_on, counter):
    if person is None or CompanyStaff.objects.filter(company=company, person=person,
                                                     compound=compound).exists():
        return
    services.add_company_staff(None, company=company, person=person, compound=compound,
                               role=role, started_on=started_on)
    counter.bump("company staff")


def _committees(compounds, companies, this_month, counter):
    def resident(compound, slot):
        return _person(f"{compound.name}:{slot}", compound.org_unit, counter)

    # 文锦苑: owners' committee; the branch's publicity member is its vice chair (双向进入).
    wjy = compounds["文锦苑"]
    committee = _committee(wjy, CommitteeKind.OWNERS, D(2024, 5, 10), D(2029, 5, 9), counter)
    _member(committee, resident(wjy, "chair"), CHAIR, counter)
    _member(committee, _seat(wjy.org_unit, CommitteeRole.PUBLICITY), VICE, counter)
    _member(committee, resident(wjy, "m1"), MEMBER, counter)
    _staff(companies["jinxiu"], resident(wjy, "manager"), wjy, "项目经理", D(2023, 3, 1), counter)

    # 滨河左岸: owners' committee whose term runs out at the end of next month.
    bhza = compounds["滨河左岸"]
    elected = services.add_months(this_month, -59)
    committee = _committee(bhza, CommitteeKind.OWNERS, elected,
                           services.add_months(elected, 60) - dt.timedelta(days=1), counter,
                           relative=True)
    _member(committee, resident(bhza, "chair"), CHAIR, counter)
    _member(committee, resident(bhza, "m1"), MEMBER, counter)

    # 化工东院: a property committee re-elected in 2024; the branch's organisation member sits.
    hgd = compounds["化工东院"]
    old = _committee(hgd, CommitteeKind.PROPERTY, D(2021, 6, 1), D(2024, 5, 31), counter)
    _member(old, resident(hgd, "old-chair"), CHAIR, counter)
    committee = _committee(hgd, CommitteeKind.PROPERTY, D(2024, 6, 15), D(2027, 6, 14), counter)
    _member(committee, resident(hgd, "chair"), CHAIR, counter)
    _member(committee, _seat(hgd.org_unit, CommitteeRole.ORGANISATION), MEMBER, counter)

    # 老园艺小区: 一肩挑 — the branch secretary chairs the property committee; the seven rules.
    lyy = compounds["老园艺小区"]
    committee = _committee(lyy, CommitteeKind.PROPERTY, D(2025, 4, 1), D(2028, 3, 31), counter)
    _member(committee, _seat(lyy.org_unit, CommitteeRole.SECRETARY) or resident(lyy, "chair"),
            CHAIR, counter)
    _member(committee, resident(lyy, "m1"), MEMBER, counter)
    _member(committee, resident(lyy, "m2"), MEMBER, counter)
    if committee is not None:
        for kind in RulesDocument:
            if not CommitteeDocument.objects.filter(committee=committee, kind=kind).exists():
                content = f"%PDF-1.4\n% {lyy.name}物管会{kind.label}\n".encode()
                services.attach_rules_document(
                    None, committee, kind=kind.value, adopted_on=D(2025, 4, 20),
                    file=ContentFile(content, name=f"{kind.value}.pdf"))
                counter.bump("rules documents")
    _staff(companies["hongxing"], resident(lyy, "steward"), lyy, "红色物业管家", D(2025, 3, 1),
           counter)

    # 南寺城中村安置小区: a property committee elected for the transition.
    czc = compounds["南寺城中村安置小区"]
    committee = _committee(czc, CommitteeKind.PROPERTY, D(2026, 3, 1), D(2029, 2, 28), counter)
    _member(committee, resident(czc, "chair"), CHAIR, counter)
    _member(committee, resident(czc, "m1"), MEMBER, counter)

    # 金泽华府: the company's project manager holds a seat on the branch committee (交叉任职).
    jzhf = compounds["金泽华府"]
    committee = _committee(jzhf, CommitteeKind.OWNERS, D(2024, 9, 1), D(2029, 8, 31), counter)
    _member(committee, resident(jzhf, "chair"), CHAIR, counter)
    manager = resident(jzhf, "manager")
    _staff(companies["jinxiu"], manager, jzhf, "项目经理", D(2022, 10, 1), counter)
    if not CommitteeMembership.objects.filter(org_unit=jzhf.org_unit, person=manager).exists():
        CommitteeMembership.objects.create(org_unit=jzhf.org_unit, person=manager,
                                           role=CommitteeRole.MEMBER, started_on=D(2023, 1, 1))
        counter.bump("committee seats")


def _evaluations(compounds, counter):
    for name, centre in EVALUATIONS.items():
        compound = compounds[name]
        evaluation = ServiceEvaluation.objects.filter(compound=compound, year=2026,
                                                      quarter=0).first()
        if evaluation is None:
            if not compound.household_files.exists():
                continue
            evaluation = services.open_evaluation(None, compound, year=2026,
                                                  opens_on=EVALUATION_OPENS,
                                                  closes_on=EVALUATION_CLOSES)
            counter.bump("service evaluations")
        codes = list(EvaluationCode.objects.filter(evaluation=evaluation).order_by("household_id"))
        answering = codes[: max(1, len(codes) * 7 // 10)]
        for n, code in enumerate(answering):
            # Whole scores whose running mean stays at the compound's centre.
            ks = [n * len(DIMENSIONS) + i for i in range(len(DIMENSIONS))]
            scores = {dim: int(centre * (k + 1)) - int(centre * k)
                      for dim, k in zip(DIMENSIONS, ks)}
            if code.used_at is not None:
                continue
            services.submit_evaluation(code.code, scores, comment="" if n % 3 else "希望继续保持",
                                       now=_at(EVALUATION_OPENS + dt.timedelta(days=n % 20), 20))
            counter.bump("evaluation answers")


def _attendance(compound, counter):
    rows = [(PartyKind.BRANCH, (_seat(compound.org_unit, CommitteeRole.SECRETARY) or _person(
        f"{compound.name}:secretary", compound.org_unit, counter)))]
    rows.append((PartyKind.RESIDENTS_COMMITTEE, None))
    rows.append((PartyKind.COMMITTEE, None))
    rows.append((PartyKind.REPRESENTATIVES, _person(f"{compound.name}:representative",
                                                    compound.org_unit, counter)))
    labels = {PartyKind.RESIDENTS_COMMITTEE: "社区居委会代表",
              PartyKind.COMMITTEE: "业委会（物管会）代表"}
    served = services.current_period(compound)
    if served is not None and served.company_id:
        rows.append((PartyKind.COMPANY, None))
        labels[PartyKind.COMPANY] = f"{served.company.name}项目负责人"
    rows.append((PartyKind.POLICE, None))
    labels[PartyKind.POLICE] = "社区民警"
    return [(party, person.name if person else labels[party], person) for party, person in rows]


def _deliberations(compounds, today, counter):
    steps = [S.DISCUSSING, S.DECIDED, S.PUBLICISED, S.REVIEWED]
    for name, topic, background, days in DELIBERATIONS:
        compound = compounds[name]
        d = Deliberation.objects.filter(compound=compound, topic=topic).first()
        if d is None:
            d = services.propose(None, compound=compound, topic=topic, background=background,
                                 at=_at(today - dt.timedelta(days=days[0])))
            counter.bump("deliberations")
        for status, ago in zip(steps, days[1:]):
            if list(S).index(d.status) >= list(S).index(status):
                continue
            when = _at(today - dt.timedelta(days=ago))
            if status == S.DISCUSSING:
                d = services.discuss(None, d, attendance=_attendance(compound, counter), at=when,
                                     minutes=f"围绕“{topic}”，各方逐一发表意见，形成初步方案。")
            elif status == S.DECIDED:
                d = services.decide(None, d, decision=f"同意{topic}，由小区党支部牵头组织实施。",
                                    votes_for=11, votes_against=1, votes_abstain=1, at=when)
            elif status == S.PUBLICISED:
                d = services.publicise(None, d, days=7, start=when.date(), at=when)
            else:
                d = services.review(None, d, satisfied=146, unsatisfied=9, at=when)
        complaints = GridEvent.objects.filter(compound=compound, category__is_property=True)
        if d.status == S.REVIEWED and complaints.exists() and not d.events.exists():
            services.link_events(None, d, complaints.order_by("pk")[:1])


def _conventions(compounds, counter):
    wanted = [
        ("文锦苑", 1, "文锦苑小区公约", D(2023, 3, 15), None),
        ("老园艺小区", 1, "老园艺小区公约", D(2025, 5, 20), None),
        ("老园艺小区", 2, "老园艺小区公约（修订）", None, "修订《老园艺小区公约》"),
    ]
    for name, version, title, adopted_on, topic in wanted:
        compound = compounds[name]
        if Convention.objects.filter(compound=compound, version__gte=version).exists():
            continue
        deliberation = None
        if topic:
            deliberation = Deliberation.objects.filter(compound=compound, topic=topic).first()
            if deliberation is None or deliberation.decided_at is None:
                continue
            adopted_on = timezone.localtime(deliberation.decided_at).date()
        services.adopt_convention(
            None, compound, title=title, adopted_on=adopted_on, deliberation=deliberation,
            text="一、爱护公共环境，垃圾分类投放。\n二、车辆有序停放，不占用消防通道。\n"
                 "三、共有部位收益公开，用于小区公共设施维护。\n四、邻里互助，文明养犬。",
        )
        counter.bump("conventions")


@transaction.atomic
def build(today=None):
    """Create the demo property data on the demo compounds; returns counts of rows created.

    Needs the demo district and compounds (party_org's and grids' demo); skipped without them.
    """
    today = today or timezone.localdate()
    this_month = today.replace(day=1)
    counter = _Counter()
    compounds = {
        c.name: c for c in Compound.objects.filter(
            org_unit__code__startswith="YZ-", org_unit__kind__in=(OrgKind.BRANCH,
                                                                  OrgKind.COMMUNITY),
            name__in=list(SERVICE)).select_related("org_unit")
    }
    if len(compounds) < len(SERVICE):
        return dict(counter)
    companies = _companies(compounds, counter)
    _service(compounds, companies, this_month, counter)
    _grants(this_month, counter)
    _income(compounds, counter)
    _committees(compounds, companies, this_month, counter)
    _evaluations(compounds, counter)
    _deliberations(compounds, today, counter)
    _conventions(compounds, counter)
    return dict(counter)
