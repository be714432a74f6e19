"""Demo ledgers for the demo district: members of all four categories, 双报到, posts, emergency
roles, committees, stations, funds and co-building units, modelled on the seeds.

Deterministic (a seeded random generator) and idempotent: every row is looked up by a natural
key first, so running seed_demo again changes nothing.
"""

import datetime as dt
import random
from decimal import Decimal

from django.db.models import Q

from . import pii
from .models import (
    BranchFundEntry,
    CoBuildingAgreement,
    CommitteeMembership,
    CommitteeRole,
    EmergencyRole,
    EmergencyRoleKind,
    FundCategory,
    InServiceRegistration,
    ListItem,
    ListKind,
    MemberCategory,
    OrgKind,
    OrgUnit,
    PartyMember,
    Person,
    Post,
    PostAssignment,
    PostKind,
    RegistrationEvaluation,
    ServiceRecord,
    ServiceStation,
    StationFunction,
    TopSecretaryEntry,
    TopSecretarySelection,
    WorkUnit,
)
from .models.resources import STANDARD_ITEMS, StationStandard

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = [
    "建国", "建华", "国强", "志刚", "秀英", "桂兰", "玉兰", "淑珍", "丽华", "红梅", "海燕", "春生",
    "文彬", "晓东", "俊峰", "振华", "明亮", "少华", "卫东", "德胜", "晋生", "润生", "爱萍", "翠英",
    "凤英", "喜梅", "宏伟", "晓敏", "雪梅", "鹏飞", "浩然", "子涵", "思远", "嘉怡", "雨涵", "梓萱",
]

WORK_UNITS = [
    ("迎泽区委组织部", WorkUnit.Kind.GOVERNMENT, "中共太原市迎泽区委组织部机关党支部"),
    ("太原市市场监督管理局", WorkUnit.Kind.GOVERNMENT, "太原市市场监督管理局机关党委"),
    ("山西省化工研究院", WorkUnit.Kind.INSTITUTION, "山西省化工研究院党委"),
    ("太钢集团", WorkUnit.Kind.STATE_ENTERPRISE, "太钢集团离退休党委"),
    ("迎泽区人民医院", WorkUnit.Kind.INSTITUTION, "迎泽区人民医院党总支"),
    ("太原市第五中学", WorkUnit.Kind.INSTITUTION, "太原市第五中学党支部"),
]

POSTS = [
    (PostKind.LEGAL, "法律咨询岗", "每月第一个周六在党群服务站为居民提供法律咨询，协助调解邻里纠纷。"),
    (PostKind.HEALTH, "健康咨询岗", "为小区老人测量血压血糖，普及健康知识，联系社区卫生服务站。"),
    (PostKind.POLICY, "政策宣传岗", "在楼栋微信群和宣传栏宣讲惠民政策，收集居民意见建议。"),
    (PostKind.WELFARE, "公益辅助岗", "协助开展环境整治、文明劝导和志愿服务活动。"),
    (PostKind.BUILDING_HEAD, "楼栋长", "联系本楼栋住户，掌握“一户一档”情况，及时上报问题。"),
]

CATEGORY_MIX = [
    MemberCategory.RETIRED, MemberCategory.RETIRED, MemberCategory.RETIRED,
    MemberCategory.IN_SERVICE, MemberCategory.IN_SERVICE,
    MemberCategory.DIRECT, MemberCategory.DIRECT, MemberCategory.MOBILE,
]


def _id_number(rng, birth):
    body = f"140106{birth:%Y%m%d}{rng.randint(100, 999)}"
    return body + pii.id_check_char(body)


def _person(rng, org_unit, used_hashes, birth):
    while True:
        id_number = _id_number(rng, birth)
        digest = pii.keyed_hash(id_number)
        if digest not in used_hashes:
            used_hashes.add(digest)
            break
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    person = Person(
        org_unit=org_unit, name=name,
        phone=f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}",
    )
    person.set_id_number(id_number)
    person.save()
    return person


def build(today=None):
    """Create the demo ledgers under the demo district; returns counts of rows created."""
    today = today or dt.date(2026, 11, 1)
    rng = random.Random(2026)
    created = {}

    def bump(key, n=1):
        created[key] = created.get(key, 0) + n

    units = {}
    for name, kind, party_org in WORK_UNITS:
        unit, made = WorkUnit.objects.get_or_create(
            name=name, defaults={"kind": kind, "party_organisation": party_org}
        )
        units[name] = unit
        bump("work units", made)

    used_hashes = set(Person.objects.exclude(id_number_hash=None).values_list(
        "id_number_hash", flat=True))
    # Branches that hold members directly (not general branches with sub-branches).
    branches = list(
        OrgUnit.objects.filter(code__startswith="YZ-", kind=OrgKind.BRANCH)
        .exclude(children__kind=OrgKind.BRANCH).order_by("code")
    )
    for index, branch in enumerate(branches):
        if PartyMember.objects.filter(org_unit__tree_id=branch.tree_id,
                                      org_unit__lft__gte=branch.lft,
                                      org_unit__rght__lte=branch.rght).exists():
            continue
        groups = list(branch.get_children().filter(kind=OrgKind.BUILDING_GROUP))
        households = list(OrgUnit.objects.filter(
            kind=OrgKind.HOUSEHOLD, tree_id=branch.tree_id,
            lft__gt=branch.lft, rght__lt=branch.rght))
        members = []
        for n in range(6 + index % 4):
            category = CATEGORY_MIX[(n + index) % len(CATEGORY_MIX)]
            if category == MemberCategory.RETIRED:
                birth = dt.date(rng.randint(1938, 1962), rng.randint(1, 12), rng.randint(1, 28))
            else:
                birth = dt.date(rng.randint(1965, 1998), rng.randint(1, 12), rng.randint(1, 28))
            person = _person(rng, branch, used_hashes, birth)
            joined = dt.date(birth.year + rng.randint(19, 30), rng.randint(1, 12), 1)
            joined = min(joined, today - dt.timedelta(days=400))
            group = groups[n % len(groups)] if groups and n % 3 else None
            household = None
            if group is not None:
                household = next((h for h in households if h.parent_id == group.pk), None)
                if household is not None:
                    households.remove(household)
            member = PartyMember(
                person=person, category=category, org_unit=group or branch,
                household=household, joined_on=joined,
                fifty_years=joined <= dt.date(today.year - 50, 7, 1),
                is_veteran=n % 5 == 4, is_cadre=category == MemberCategory.RETIRED and n % 4 == 0,
            )
            if category == MemberCategory.IN_SERVICE:
                member.employer = units[WORK_UNITS[(n + index) % len(WORK_UNITS)][0]]
            if category == MemberCategory.RETIRED and n % 3 == 2:
                # Seed 004: a retired member whose membership record is kept by the old employer.
                member.record_location = "elsewhere"
                member.record_held_by = "太钢集团离退休党委"
            member.full_clean()
            member.save()
            members.append(member)
        bump("party members", len(members))

        # Committee: the first retired member is secretary (seed 001: retired cadres lead).
        secretary = next(m for m in members if m.category == MemberCategory.RETIRED)
        CommitteeMembership.objects.create(
            org_unit=branch, person=secretary.person, role=CommitteeRole.SECRETARY,
            started_on=branch.established_on or dt.date(2021, 7, 1))
        others = [m for m in members if m is not secretary][:2]
        for member, role in zip(others, (CommitteeRole.ORGANISATION, CommitteeRole.PUBLICITY)):
            CommitteeMembership.objects.create(
                org_unit=branch, person=member.person, role=role,
                started_on=branch.established_on or dt.date(2021, 7, 1))
        bump("committee seats", 1 + len(others))

        # Posts and duties (seed 000): each branch sets up three or four posts.
        posts = []
        for kind, name, duties in POSTS[: 3 + index % 3]:
            posts.append(Post.objects.create(org_unit=branch, kind=kind, name=name, duties=duties))
        for post, member in zip(posts, members[1:]):
            PostAssignment.objects.create(post=post, member=member, started_on=dt.date(2025, 3, 1))
        bump("posts", len(posts))

        # 双报到: in-service members report to the branch where they live, and serve.
        for member in members:
            if member.category != MemberCategory.IN_SERVICE:
                continue
            registration = InServiceRegistration.objects.create(
                member=member, work_unit=member.employer, branch=branch,
                registered_on=dt.date(2025, rng.randint(1, 12), rng.randint(1, 28)),
                commitment="亮身份、践承诺、作表率，每季度至少参加一次小区志愿服务。",
                post=posts[-1] if posts else None,
            )
            for month in range(5, 11):
                ServiceRecord.objects.create(
                    registration=registration,
                    served_on=dt.date(2026, month, rng.randint(1, 28)),
                    hours=Decimal(rng.choice(["1.5", "2.0", "2.5", "3.0"])),
                    activity=rng.choice(["环境整治", "文明劝导", "普法宣传", "关爱独居老人",
                                         "安全隐患排查", "政策宣讲"]),
                )
            RegistrationEvaluation.objects.create(
                registration=registration, year=2025,
                rating=rng.choice(["excellent", "good", "good"]),
                comment="积极参加小区活动，服务群众热情。",
            )
            bump("in-service registrations")

        # 平急结合: about half the members have a pre-assigned emergency role.
        kinds = list(EmergencyRoleKind)
        for n, member in enumerate(members):
            if n % 2 == 0:
                EmergencyRole.objects.create(
                    member=member, kind=kinds[n % (len(kinds) - 1)], place=member.org_unit,
                    duties="急时到岗，负责本楼栋人员联络和物资分发。")
                bump("emergency roles")

        # Branch funds (seed 001: 5,000 yuan a year from the district, returned party fees).
        for entry_date, category, amount, text in [
            (dt.date(2026, 1, 15), FundCategory.WORK_FUNDS, "5000.00", "区财政年度小区党支部工作经费"),
            (dt.date(2026, 3, 10), FundCategory.RETURNED_FEES, "860.00", "离退休党员党费返还"),
            (dt.date(2026, 4, 20), FundCategory.ACTIVITIES, "-1200.00", "主题党日活动及学习资料"),
            (dt.date(2026, 9, 8), FundCategory.SERVICES, "-650.00", "为独居老人购买中秋慰问品"),
        ]:
            BranchFundEntry.objects.create(org_unit=branch, entry_date=entry_date, category=category,
                                           amount=Decimal(amount), description=text)
        bump("fund entries", 4)

        # Service stations (seed 002: the seven functions and the "eight haves").
        if index % 2 == 0:
            items = [code for code, _label in STANDARD_ITEMS[StationStandard.EIGHT_HAVES]]
            ServiceStation.objects.create(
                org_unit=branch, name=f"{branch.name.replace('党支部', '')}党群服务站",
                address=branch.address or "小区物业用房一层", area_m2=Decimal(rng.choice(["36.0", "48.5", "60.0", "120.0"])),
                functions=[f.value for f in StationFunction][: 5 + index % 3],
                opening_hours="周一至周六 9:00—17:00", standard=StationStandard.EIGHT_HAVES,
                checklist=items[: 6 + index % 3], opened_on=dt.date(2022, 6, 1),
            )
            bump("service stations")

    # General branches (党总支) are led by a retired member from one of their grid branches.
    for general in OrgUnit.objects.filter(code__startswith="YZ-", kind=OrgKind.BRANCH,
                                          children__kind=OrgKind.BRANCH).distinct():
        if CommitteeMembership.objects.filter(org_unit=general, role=CommitteeRole.SECRETARY,
                                              ended_on__isnull=True).exists():
            continue
        leader = PartyMember.objects.filter(
            category=MemberCategory.RETIRED, org_unit__tree_id=general.tree_id,
            org_unit__lft__gt=general.lft, org_unit__rght__lt=general.rght,
        ).exclude(person__committee_seats__role=CommitteeRole.SECRETARY).order_by("pk").first()
        if leader is not None:
            CommitteeMembership.objects.create(
                org_unit=general, person=leader.person, role=CommitteeRole.SECRETARY,
                started_on=general.established_on or dt.date(2021, 7, 1))
            bump("committee seats")

    # Co-building units and the three lists (seed 004).
    for community in OrgUnit.objects.filter(code__startswith="YZ-", kind=OrgKind.COMMUNITY):
        if CoBuildingAgreement.objects.filter(org_unit=community).exists():
            continue
        unit = units["山西省化工研究院"] if "SEY" in community.code else units["迎泽区人民医院"]
        CoBuildingAgreement.objects.create(work_unit=unit, org_unit=community,
                                           signed_on=dt.date(2024, 5, 1), liaison="联络员")
        ListItem.objects.create(org_unit=community, kind=ListKind.RESOURCE, work_unit=unit,
                                title="专业志愿者每月进小区服务", description="义诊、健康讲座或技术咨询")
        ListItem.objects.create(org_unit=community, kind=ListKind.NEED,
                                title="独居老人定期健康随访", description="小区内独居老人需要定期上门随访")
        ListItem.objects.create(org_unit=community, kind=ListKind.PROBLEM,
                                title="老旧楼栋楼道照明不足")
        bump("co-building agreements")

    # 十佳小区党组织书记 of 柳巷街道, October 2026 (seed 003).
    street = OrgUnit.objects.filter(code="YZ-LX").first()
    if street and not TopSecretarySelection.objects.filter(org_unit=street).exists():
        selection = TopSecretarySelection.objects.create(
            org_unit=street, month=dt.date(2026, 10, 1), published=True)
        seats = CommitteeMembership.objects.filter(
            Q(role=CommitteeRole.SECRETARY, ended_on__isnull=True),
            org_unit__tree_id=street.tree_id, org_unit__lft__gt=street.lft,
            org_unit__rght__lt=street.rght,
        ).select_related("person", "org_unit").order_by("org_unit__code")[:10]
        for rank, seat in enumerate(seats, start=1):
            TopSecretaryEntry.objects.create(
                selection=selection, rank=rank, person=seat.person, branch=seat.org_unit,
                citation="带领党员群众解决小区急难愁盼问题，居民满意度高。")
        bump("top-ten entries", len(seats))
    return created
