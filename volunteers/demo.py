"""Demo micro-wishes, volunteers, activities, the points ledger, the mall and honours for the demo
district (seed_demo), on the compounds of `grids.demo` and the members of `party_org.demo`, in
滨河社区 (文锦苑, 滨河左岸, 滨花苑).

Everything goes through the services with explicit times, so logs and ledger entries are what
the portal itself would have recorded: wishes in every state (one claim that expired and went
back to the wall before another member took it), the teams 60工作室 and 银发志愿服务队, past
activities with approved hours and upcoming ones with a waiting list, a ledger with a retired
member's conversion and an approved adjustment, a mall of two merchants with used and cancelled
redemptions, and approved honours.

Idempotent: volunteers, teams, merchants, items and honours are looked up by their natural keys;
the dated history (wishes, activities, points, redemptions) is made only when the demo compounds
hold no wishes yet.
"""

import datetime as dt
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from grids.models import Compound
from party_org.models import MemberCategory, MemberStatus, OrgUnit, PartyMember, Person, Post
from party_org.selectors import Subtree

from .models import (
    Activity,
    ActivitySignup,
    Honor,
    HonorTitle,
    Merchant,
    MicroWish,
    PointsKind,
    RewardItem,
    TeamMembership,
    Volunteer,
    VolunteerTeam,
    WishCategory,
)
from .services import activities, honours, ledger, mall, people
from .services import wishes as loop

COMMUNITY = "YZ-LX-BH"
STAFF, APPROVER, STREET = "community_binhe", "street_liuxiang", "community_binhe"
MERCHANT_USERS = ("merchant_laowang", "merchant_huimin")
C = WishCategory

SKILLS = [["理发"], ["水电维修"], ["陪伴老人", "读报"], ["辅导作业"], ["跑腿代购"], ["电脑手机"]]

# (compound, category, wish, fate). Fates: how far the wish goes (see _walk).
WISHES = [
    ("文锦苑", C.ELDERLY_COMPANY, "独居老人，希望每周有人陪着聊聊天、读读报", "released"),
    ("文锦苑", C.DAILY_NECESSITIES, "腿脚不便，想请人帮忙买一袋大米和一桶油送上五楼", "rated"),
    ("文锦苑", C.REPAIRS, "卫生间水龙头一直滴水，想请懂水电的党员帮忙看看", "rated"),
    ("滨河左岸", C.TUTORING, "孩子上初二数学跟不上，希望周末有人辅导一下", "rated"),
    ("滨河左岸", C.ERRANDS, "想请人帮忙到医院取一下体检报告", "rated_low"),
    ("滨花苑", C.OTHER, "想学会用手机挂号和视频通话", "fulfilled"),
    ("文锦苑", C.DAILY_NECESSITIES, "希望能有人帮忙换一个楼道灯泡", "fulfilled_old"),
    ("滨河左岸", C.ELDERLY_COMPANY, "老伴住院，想请人陪同去复查", "claimed"),
    ("滨花苑", C.REPAIRS, "阳台晾衣架坏了，想请人帮忙修一修", "claimed"),
    ("文锦苑", C.ERRANDS, "想请人帮忙去社区服务站代交一下材料", "dispatched_member"),
    ("滨河左岸", C.TUTORING, "孩子想学毛笔字，希望有人教一教", "dispatched"),
    ("滨花苑", C.DAILY_NECESSITIES, "冬天到了，想要一床厚棉被", "dispatched_post"),
    ("文锦苑", C.OTHER, "想给小区流浪猫搭个窝", "submitted"),
    ("滨河左岸", C.DAILY_NECESSITIES, "想请人帮忙买降压药", "submitted"),
    ("滨花苑", C.OTHER, "希望帮忙申请一套新房子", "rejected"),
    ("文锦苑", C.ERRANDS, "帮忙取快递（已经让孩子取了）", "withdrawn"),
]


class _Counter(dict):
    def bump(self, key, n=1):
        if n:
            self[key] = self.get(key, 0) + n


def _hour(moment):
    return moment.replace(minute=0, second=0, microsecond=0)


def build(now=None):
    """Create the demo volunteers' data in 滨河社区; returns counts of rows created.

    Needs the demo district, compounds and members (party_org.demo, grids.demo) and the demo
    staff users; returns {} when they are missing."""
    now = _hour(now or timezone.now())
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=[STAFF, APPROVER])}
    community = OrgUnit.objects.filter(code=COMMUNITY).first()
    compounds = {c.name: c for c in Compound.objects.filter(org_unit__code__startswith=COMMUNITY)}
    if community is None or len(users) < 2 or len(compounds) < 3:
        return {}
    counter = _Counter()
    with transaction.atomic():
        staff, approver = users[STAFF], users[APPROVER]
        tree = Subtree.of(community)
        members = list(
            PartyMember.objects.filter(tree.q("org_unit"), status=MemberStatus.ACTIVE)
            .select_related("person").order_by("pk")
        )
        retired = [m.person for m in members if m.category == MemberCategory.RETIRED]
        working = [m for m in members if m.category != MemberCategory.RETIRED]
        if len(retired) < 3 or len(working) < 4:
            return {}
        volunteers = _volunteers(staff, tree, retired, now, counter)
        teams = _teams(staff, community, retired, volunteers, now, counter)
        shops = _mall(approver, community, counter)
        if not MicroWish.objects.filter(compound__in=compounds.values()).exists():
            _wishes(staff, compounds, working, retired, volunteers, tree, now, counter)
            _activities(staff, community, teams, retired, volunteers, now, counter)
            _ledger(staff, approver, retired, working, now, counter)
            _redemptions(shops, retired, volunteers, now, counter)
        _honours(staff, compounds, retired, volunteers, working, now, counter)
    return dict(counter)


def _volunteers(staff, tree, retired, now, counter):
    """Six residents who are not members register; five are verified; two retired members too."""
    residents = list(
        Person.objects.filter(tree.q("org_unit"), membership__isnull=True)
        .exclude(phone="").order_by("pk")[:6]
    )
    found = []
    for index, person in enumerate(residents + retired[:2]):
        volunteer = Volunteer.objects.filter(person=person).first()
        if volunteer is None:
            volunteer = people.register_volunteer(
                staff, person=person, org_unit=person.org_unit,
                skills=SKILLS[index % len(SKILLS)], verified=index != 5,
                at=now - dt.timedelta(days=200 - index * 20),
            )
            counter.bump("volunteers")
        found.append(volunteer.person)
    return found


def _teams(staff, community, retired, volunteers, now, counter):
    specs = [
        ("60工作室", retired[0], "退休党员牵头的“60工作室”，为小区老人理发、修小家电、代办事务。",
         retired[:3] + volunteers[:2]),
        ("银发志愿服务队", retired[1], "低龄老人服务高龄老人：陪伴聊天、读报、陪同就医。",
         retired[1:3] + volunteers[2:5]),
    ]
    teams = {}
    for name, leader, description, members in specs:
        team = VolunteerTeam.objects.filter(org_unit=community, name=name).first()
        if team is None:
            team = people.create_team(staff, org_unit=community, name=name, leader=leader,
                                      description=description,
                                      founded_on=(now - dt.timedelta(days=900)).date())
            counter.bump("volunteer teams")
        for person in members:
            if not TeamMembership.objects.filter(team=team, person=person,
                                                 left_on__isnull=True).exists():
                people.add_member(staff, team, person,
                                  joined_on=(now - dt.timedelta(days=300)).date())
                counter.bump("team members")
        teams[name] = team
    return teams


def _wishes(staff, compounds, working, retired, volunteers, tree, now, counter):
    claimants = [m.person for m in working[:3]] + [volunteers[0], retired[2]]
    post = Post.objects.filter(tree.q("org_unit"), is_active=True).order_by("pk").first()
    start = now - dt.timedelta(days=40)
    for index, (where, category, text, fate) in enumerate(WISHES):
        compound = compounds[where]
        submitted = start + dt.timedelta(days=index * 2, hours=index % 5)
        # The open ones are recent (a claim still running, one wish flagged as unclaimed).
        recent = {"claimed": dt.timedelta(hours=20 + index), "fulfilled": dt.timedelta(days=2),
                  "dispatched": dt.timedelta(days=2), "dispatched_post": dt.timedelta(days=1),
                  "dispatched_member": dt.timedelta(days=1),
                  "submitted": dt.timedelta(days=index - 8, hours=2)}
        if fate in recent:
            submitted = now - recent[fate]
        wish = loop.submit_wish(
            None, compound=compound, wish=text, category=category,
            contact_name=f"{'王李张刘陈'[index % 5]}阿姨", contact_phone=f"1370351{index:04d}",
            at=submitted,
        )
        counter.bump("micro-wishes")
        _walk(staff, wish, fate, claimants[index % len(claimants)], working, post, submitted)


def _walk(staff, wish, fate, claimant, working, post, t):
    hour = dt.timedelta(hours=1)
    if fate == "submitted":
        return
    if fate == "rejected":
        loop.reject_wish(staff, wish, "住房申请不属于微心愿，请到社区服务站咨询保障房政策。",
                         at=t + 3 * hour)
        return
    if fate == "withdrawn":
        loop.withdraw_wish(None, wish, tracking_code=wish.tracking_code, note="已自行解决",
                           at=t + 2 * hour)
        return
    if fate == "dispatched_member":
        loop.dispatch_wish(staff, wish, member=working[3], at=t + 2 * hour)
        return
    if fate == "dispatched_post" and post is not None:
        loop.dispatch_wish(staff, wish, post=post, at=t + 2 * hour)
        return
    loop.dispatch_wish(staff, wish, unit=wish.org_unit, at=t + 2 * hour)
    if fate in ("dispatched", "dispatched_post"):
        return
    claim_at = t + 5 * hour
    if fate == "released":
        # Nobody came within the claim time: back to the wall, then a second member takes it.
        loop.claim_wish(None, wish, working[2].person, at=claim_at)
        expiry = wish.claim_expires_at + hour
        loop.release_expired_claims(now_=expiry)
        wish.refresh_from_db()
        claim_at = expiry + 3 * hour
    loop.claim_wish(None, wish, claimant, at=claim_at)
    if fate == "claimed":
        return
    fulfilled = claim_at + dt.timedelta(hours=20)
    loop.record_fulfilment(None, wish, note="已上门完成，居民满意。", person=claimant, at=fulfilled)
    if fate == "fulfilled":
        return
    if fate == "fulfilled_old":
        # Unrated past the waiting time: the claimant is paid anyway.
        loop.pay_unrated_after(now_=fulfilled + dt.timedelta(days=8))
        return
    rating, comment = (2, "来得有点晚") if fate == "rated_low" else (5, "非常感谢党员同志！")
    loop.rate_wish(None, wish, rating, comment, tracking_code=wish.tracking_code,
                   at=fulfilled + dt.timedelta(hours=6))


def _activities(staff, community, teams, retired, volunteers, now, counter):
    day = now.replace(hour=9)
    specs = [
        # (title, team, place, days from now, hours long, capacity, points per hour, people)
        ("义务理发进小区", "60工作室", "文锦苑党群服务站", -30, 3, 6, 10,
         retired[:3] + volunteers[:2]),
        ("陪伴高龄老人读报聊天", "银发志愿服务队", "滨河左岸老年活动室", -12, 2, 8, 10,
         retired[1:3] + volunteers[2:5]),
        ("楼道杂物清理", None, "滨花苑1-3号楼", -5, 2, 10, 5, volunteers[:4]),
        ("冬季用电安全宣传", "60工作室", "文锦苑小区广场", 5, 2, 2, 5, volunteers[:4]),
        ("重阳节敬老包饺子", "银发志愿服务队", "滨河社区党群服务中心", 12, 3, 20, 10,
         retired[:2] + volunteers[2:4]),
    ]
    for title, team, place, days, hours, capacity, per_hour, persons in specs:
        if Activity.objects.filter(org_unit=community, title=title).exists():
            continue
        starts = day + dt.timedelta(days=days)
        ends = starts + dt.timedelta(hours=hours)
        activity = activities.create_activity(
            staff, org_unit=community, team=teams[team] if team else None, title=title,
            place=place, starts_at=starts, ends_at=ends, capacity=capacity,
            points_per_hour=Decimal(per_hour),
            description=f"{place}，欢迎志愿者报名参加。",
        )
        counter.bump("activities")
        for index, person in enumerate(persons):
            activities.sign_up(None, activity, person,
                               at=starts - dt.timedelta(days=3, hours=-index))
            counter.bump("activity sign-ups")
        if days > 0:
            continue
        code = activities.issue_checkin_code(staff, activity, now_=starts)
        signups = list(ActivitySignup.objects.filter(activity=activity).order_by("position"))
        if title == "楼道杂物清理":
            signups = signups[:-1]  # the last one signed up did not turn up
        for signup in signups:
            activities.check_in(None, activity, signup.person, code,
                                now_=starts + dt.timedelta(minutes=5))
            signup.refresh_from_db()
            activities.approve_hours(staff, signup, Decimal(hours),
                                     now_=ends + dt.timedelta(hours=2))
            counter.bump("service hours")


def _ledger(staff, approver, retired, working, now, counter):
    """A retired member converts 公分 into 党员积分; an approved and a rejected adjustment."""
    person = retired[0]
    balance = ledger.account_for(person, PointsKind.COMMUNITY).balance
    rate = ledger.conversion_rate()
    amount = (balance // rate // 2) * rate
    if amount > 0:
        ledger.convert_community_to_member(None, person, amount, idempotency_key="demo-convert",
                                           at=now - dt.timedelta(days=4))
        counter.bump("points conversions")
    adjustment = ledger.request_adjustment(
        staff, working[0].person, PointsKind.MEMBER, Decimal("5"),
        "参加社区疫苗接种点值守（纸质签到补录）", at=now - dt.timedelta(days=3),
    )
    ledger.approve_adjustment(approver, adjustment, "核对签到表无误",
                              at=now - dt.timedelta(days=2))
    refused = ledger.request_adjustment(
        staff, working[1].person, PointsKind.MEMBER, Decimal("20"), "重复申报的活动积分",
        at=now - dt.timedelta(days=3),
    )
    ledger.reject_adjustment(approver, refused, "该活动已按服务时长计分",
                             at=now - dt.timedelta(days=2))
    counter.bump("points adjustments", 2)


def _mall(user, community, counter):
    User = get_user_model()
    specs = [
        ("老王理发店", MERCHANT_USERS[0], "王师傅", "滨河东路12号", [
            ("理发一次", "男士/女士剪发", 30, PointsKind.COMMUNITY, 20, "理发八折", 2),
            ("染发护理", "", 80, PointsKind.COMMUNITY, 5, "染发七折", 1),
        ]),
        ("惠民超市", MERCHANT_USERS[1], "李经理", "滨河东路30号", [
            ("5斤装大米", "东北大米", 20, PointsKind.COMMUNITY, 50, "", 3),
            ("食用油一桶", "5L花生油", 40, PointsKind.COMMUNITY, 30, "", 2),
            ("党员书籍一本", "党史学习读本", 10, PointsKind.MEMBER, 40, "", None),
        ]),
    ]
    shops = {}
    for name, login, contact, address, items in specs:
        merchant = Merchant.objects.filter(org_unit=community, name=name).first()
        if merchant is None:
            merchant = mall.save_merchant(user, Merchant(
                name=name, org_unit=community, contact_name=contact, address=address,
            ))
            counter.bump("merchants")
        # The merchant's login for marking codes used (/merchant/); made without a password,
        # seed_demo gives it the demo one.
        login_user = User.objects.filter(username=login).first()
        if login_user is None:
            login_user = User(username=login, first_name=name)
            login_user.set_unusable_password()
            login_user.save()
            counter.bump("merchant logins")
        if not merchant.users.filter(pk=login_user.pk).exists():
            mall.add_merchant_user(user, merchant, login_user)
        for item_name, description, price, kind, stock, discount, limit in items:
            if not RewardItem.objects.filter(merchant=merchant, name=item_name).exists():
                mall.save_reward_item(user, RewardItem(
                    merchant=merchant, name=item_name, description=description,
                    points_price=Decimal(price), points_kind=kind, stock=stock,
                    discount_note=discount, per_person_limit=limit,
                ))
                counter.bump("reward items")
        shops[name] = (merchant, login_user)
    return shops


def _redemptions(shops, retired, volunteers, now, counter):
    """Volunteers spend 公分: some codes used at the shop, one cancelled, some still open."""
    rice = RewardItem.objects.get(merchant=shops["惠民超市"][0], name="5斤装大米")
    haircut = RewardItem.objects.get(merchant=shops["老王理发店"][0], name="理发一次")
    plan = [(volunteers[0], rice, "used"), (volunteers[1], haircut, "used"),
            (volunteers[2], rice, "cancelled"), (volunteers[3], rice, "issued"),
            (retired[2], rice, "issued")]
    for index, (person, item, fate) in enumerate(plan):
        account = ledger.account_for(person, item.points_kind)
        account.refresh_from_db()
        if account.balance < item.points_price:
            continue
        at = now - dt.timedelta(days=3, hours=index)
        redemption = mall.redeem(None, item, person, idempotency_key=f"demo-redeem-{index}",
                                 at=at)
        counter.bump("redemptions")
        if fate == "used":
            login = shops[item.merchant.name][1]
            mall.mark_used(login, redemption.code, at=at + dt.timedelta(days=1))
        elif fate == "cancelled":
            mall.cancel_redemption(None, redemption, person=person,
                                   at=at + dt.timedelta(hours=5))


def _honours(staff, compounds, retired, volunteers, working, now, counter):
    year = timezone.localdate(now).year - 1
    specs = [
        (HonorTitle.COMMUNITY_GOOD_PERSON, retired[0], "文锦苑",
         "牵头成立“60工作室”，常年为小区老人义务理发、维修小家电。", True),
        (HonorTitle.COMPOUND_PIONEER, working[0].person, "滨河左岸",
         "带头认领微心愿，全年帮助居民解决急难愁盼十余件。", True),
        (HonorTitle.NEIGHBOUR_HELPER, volunteers[0], "滨花苑",
         "热心邻里事务，主动承担楼道清理和代购跑腿。", False),
    ]
    for title, person, where, citation, approve in specs:
        if Honor.objects.filter(title=title, year=year, person=person).exists():
            continue
        honor = honours.nominate_honor(staff, person=person, title=title, year=year,
                                       citation=citation, compound=compounds[where],
                                       at=now - dt.timedelta(days=20))
        counter.bump("honours")
        if approve:
            honours.approve_honor(staff, honor, at=now - dt.timedelta(days=10))
