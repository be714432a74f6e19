"""A small, realistic district for demonstrations, modelled on the source reports.

Running it again changes nothing: every node is keyed by its code and every demo user by name.
"""

import datetime as dt
from collections import Counter

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from grids import demo as grids_demo
from grids import demo_events as grids_demo_events
from party_org import demo, services
from property_mgmt import demo as property_demo
from volunteers import demo as volunteers_demo
from volunteers.demo import MERCHANT_USERS
from party_org.models import OrgKind, OrgUnit, StaffRole

DEMO_PASSWORD = "Demo@2026"

# (code suffix, name, address, phone, established, children)
# Branch names follow the compound types of seeds 001/004: residential, transitional, old,
# work-unit and new-build compounds; 滨河左岸 is a large compound with a general branch over
# two grid branches (the "compound large, grid small" overlap case of seed 001).
DISTRICT = (
    "YZ", "迎泽区委", "太原市迎泽区迎泽大街", "0351-4040100", "1982-06-01", [
        ("LX", "柳巷街道党工委", "迎泽区柳巷南路12号", "0351-4040200", "1990-03-01", [
            ("BH", "滨河社区党委", "迎泽区滨河东路88号", "0351-4040211", "2001-05-10", [
                ("WJY", "文锦苑小区党支部", "滨河东路文锦苑", "0351-4040212", "2021-07-01", 3),
                ("BHZA", "滨河左岸小区党总支", "滨河东路滨河左岸", "0351-4040213", "2021-07-01", [
                    ("W1", "滨河左岸第一网格党支部", "滨河左岸1-6号楼", "", "2021-09-01", 2),
                    ("W2", "滨河左岸第二网格党支部", "滨河左岸7-12号楼", "", "2021-09-01", 2),
                ]),
                ("BHY", "滨花苑小区党支部", "滨河东路滨花苑", "0351-4040214", "2022-03-15", 2),
            ]),
            ("SEY", "十二院城社区党委", "迎泽区十二院城路5号", "0351-4040221", "2003-08-20", [
                ("HGD", "化工东院小区党支部", "十二院城化工东院（单位型）", "", "2021-06-18", 2),
                ("CZC", "南寺城中村安置小区党支部", "十二院城南寺安置区（过渡型）", "", "2022-01-10", 2),
            ]),
        ]),
        ("QD", "桥东街道党工委", "迎泽区桥东街3号", "0351-4040300", "1992-09-01", [
            ("JZ", "金泽社区党委", "迎泽区金泽路16号", "0351-4040311", "2010-04-01", [
                ("JZHF", "金泽华府小区党支部", "金泽路金泽华府（新建）", "0351-4040312", "2023-05-01", 3),
                ("LYY", "老园艺小区党支部", "金泽路老园艺小区（老旧型）", "", "2021-07-01", 2),
            ]),
            ("RJY", "润景园社区党委", "迎泽区润景路2号", "0351-4040321", "2012-11-01", [
                ("RJ", "润景园小区（网格）党支部", "润景路润景园", "", "2022-04-01", 2),
            ]),
        ]),
        ("LJY", "老军营街道党工委", "迎泽区老军营南街21号", "0351-4040400", "1995-01-01", [
            ("YJ", "一巷社区党委", "老军营一巷9号", "0351-4040411", "2005-02-01", [
                ("SFY", "省纺院小区党支部", "一巷省纺院（单位型）", "", "2021-06-01", 2),
                ("XY", "向阳小区党支部", "一巷向阳小区（老旧型）", "", "2021-08-01", 2),
            ]),
        ]),
    ],
)

KINDS_BY_DEPTH = [
    OrgKind.DISTRICT,
    OrgKind.STREET,
    OrgKind.COMMUNITY,
    OrgKind.BRANCH,
    OrgKind.BRANCH,
]

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"

DEMO_USERS = [
    # username, display name, role, node code (None = superuser)
    ("admin", "系统管理员", None, None),
    ("street_liuxiang", "柳巷街道工作人员", StaffRole.STREET_STAFF, "YZ-LX"),
    ("community_binhe", "滨河社区工作人员", StaffRole.COMMUNITY_STAFF, "YZ-LX-BH"),
    ("community_jinze", "金泽社区工作人员", StaffRole.COMMUNITY_STAFF, "YZ-QD-JZ"),
    ("secretary_wenjin", "文锦苑小区党支部书记", StaffRole.BRANCH_SECRETARY, "YZ-LX-BH-WJY"),
    ("grid_binhe", "滨河社区网格员", StaffRole.GRID_WORKER, "YZ-LX-BH-BHZA"),
    ("auditor_yingze", "迎泽区审计员", StaffRole.AUDITOR, "YZ"),
]


class Command(BaseCommand):
    help = "Load the demo district (idempotent) and the demo staff users."

    def handle(self, *args, **options):
        with transaction.atomic():
            created = self._node(DISTRICT, None, "", 0)
            users = self._users()
            ledgers = Counter(demo.build())  # update() adds the counts of the same kind
            ledgers.update(grids_demo.build())
            ledgers.update(grids_demo_events.build())
            ledgers.update(property_demo.build())
            ledgers.update(volunteers_demo.build())
            merchants = self._merchant_logins()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {created} new organisation units, {users} new users "
                f"({OrgUnit.objects.count()} units in all)."
            )
        )
        made = ", ".join(f"{n} {what}" for what, n in ledgers.items() if n)
        self.stdout.write(f"Demo ledgers: {made or 'nothing new'}.")
        self.stdout.write("Demo logins (password for all: %s):" % DEMO_PASSWORD)
        for username, display, role, code in DEMO_USERS:
            where = f" @ {code}" if code else ""
            label = role.label if role else _("superuser")
            self.stdout.write(f"  {username:<18} {display} ({label}{where})")
        merchant_page = reverse("volunteers_public:merchant")
        for user in merchants:
            self.stdout.write(
                f"  {user.username:<18} {user.first_name} ({_('merchant login')}: {merchant_page})"
            )

    def _node(self, spec, parent, prefix, depth):
        suffix, name, address, phone, established, children = spec
        code = f"{prefix}-{suffix}" if prefix else suffix
        kind = KINDS_BY_DEPTH[depth]
        created = 0
        node = OrgUnit.objects.filter(code=code).first()
        if node is None:
            node = services.create_org_unit(
                None,
                parent=parent,
                name=name,
                code=code,
                kind=kind,
                address=address,
                contact_phone=phone,
                established_on=dt.date.fromisoformat(established),
            )
            created += 1
        if isinstance(children, int):
            created += self._building_groups(node, children)
        else:
            for child in children:
                created += self._node(child, node, code, depth + 1)
        return created

    def _building_groups(self, branch, count):
        created = 0
        for number in range(1, count + 1):
            code = f"{branch.code}-B{number:02d}"
            group = OrgUnit.objects.filter(code=code).first()
            if group is None:
                group = services.create_org_unit(
                    None,
                    parent=branch,
                    name=f"{branch.name.split('小区')[0].split('（')[0]}{number}号楼党小组",
                    code=code,
                    kind=OrgKind.BUILDING_GROUP,
                    address=f"{branch.address}{number}号楼",
                    established_on=branch.established_on,
                )
                created += 1
            for h in range(1, 3):
                hcode = f"{code}-H{h}"
                if not OrgUnit.objects.filter(code=hcode).exists():
                    surname = SURNAMES[(len(branch.code) * 7 + number * 3 + h) % len(SURNAMES)]
                    services.create_org_unit(
                        None,
                        parent=group,
                        name=f"{surname}家党员中心户（{number}号楼{h}单元）",
                        code=hcode,
                        kind=OrgKind.HOUSEHOLD,
                        address=f"{group.address}{h}单元",
                        established_on=group.established_on,
                    )
                    created += 1
        return created

    def _users(self):
        User = get_user_model()
        created = 0
        for username, display, role, code in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username, first_name=display, is_staff=True)
                user.is_superuser = role is None
                user.set_password(DEMO_PASSWORD)
                user.save()
                created += 1
            if role is not None:
                node = OrgUnit.objects.get(code=code)
                if not user.org_assignments.filter(org_unit=node, role=role).exists():
                    services.assign_staff(None, staff_user=user, org_unit=node, role=role)
        return created

    def _merchant_logins(self):
        """volunteers.demo makes the merchant logins without a password; give them the demo
        password once (a password set since is kept, so running again changes nothing)."""
        logins = list(
            get_user_model().objects.filter(username__in=MERCHANT_USERS).order_by("username")
        )
        for user in logins:
            if not user.has_usable_password():
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
        return logins
