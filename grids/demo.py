"""Demo territory and grids for the demo district (OrgUnit codes "YZ-…", made by seed_demo):
compounds of every type with buildings, entrances, building and entrance heads, household files
with care flags, the five lists, grids and micro-grids in all three overlap cases of seed 001,
and grid workers of every kind assigned to them.

Deterministic and idempotent: every row is looked up by its natural key (people by the ID number
derived from their place in the demo), so running it again creates nothing.
"""

import datetime as dt
import random
from decimal import Decimal

from django.db import transaction

from party_org import pii
from party_org.models import OrgUnit, PartyMember, Person
from party_org.selectors import Subtree

from .models import (
    Building,
    CareFlag,
    Compound,
    CompoundType,
    Entrance,
    Grid,
    GridAssignment,
    GridCoverage,
    GridWorker,
    GridWorkerKind,
    Household,
    ResidentList,
    ResidentListEntry,
)
from .services import gridding

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾田董潘袁蔡蒋余杜叶程魏苏吕丁任沈姚卢"
GIVEN = [
    "建国", "建华", "国强", "志刚", "秀英", "桂兰", "玉兰", "淑珍", "丽华", "红梅", "海燕", "春生",
    "文彬", "晓东", "俊峰", "振华", "明亮", "少华", "卫东", "德胜", "晋生", "润生", "爱萍", "翠英",
    "凤英", "喜梅", "宏伟", "晓敏", "雪梅", "鹏飞", "浩然", "子涵", "思远", "嘉怡", "雨涵", "梓萱",
]

# (leading branch code, compound, type, households, population, floor area m², year built,
#  buildings, latitude, longitude). 滨河左岸 hangs on its general branch: its two grid branches
# each lead one grid over part of it.
COMPOUNDS = [
    ("YZ-LX-BH-WJY", "文锦苑", CompoundType.RESIDENTIAL, 420, 1260, "46800.0", 2008, 3,
     "37.857310", "112.578420"),
    ("YZ-LX-BH-BHZA", "滨河左岸", CompoundType.RESIDENTIAL, 1180, 3420, "132500.0", 2012, 4,
     "37.851920", "112.581050"),
    ("YZ-LX-BH-BHY", "滨花苑", CompoundType.RESIDENTIAL, 360, 1010, "38200.0", 2006, 2,
     None, None),
    ("YZ-LX-SEY-HGD", "化工东院", CompoundType.WORK_UNIT, 210, 530, "15600.0", 1986, 2,
     "37.849870", "112.566300"),
    ("YZ-LX-SEY-CZC", "南寺城中村安置小区", CompoundType.TRANSITIONAL, 640, 2150, "71000.0", 2019, 3,
     None, None),
    ("YZ-QD-JZ-JZHF", "金泽华府", CompoundType.NEW_BUILD, 880, 2300, "118000.0", 2022, 4,
     "37.842150", "112.590770"),
    ("YZ-QD-JZ-LYY", "老园艺小区", CompoundType.OLD, 150, 380, "9800.0", 1979, 2, None, None),
    ("YZ-QD-RJY-RJ", "润景园", CompoundType.RESIDENTIAL, 520, 1480, "56400.0", 2010, 3,
     None, None),
    ("YZ-LJY-YJ-SFY", "省纺院", CompoundType.WORK_UNIT, 120, 290, "7600.0", 1983, 2, None, None),
    ("YZ-LJY-YJ-XY", "向阳小区", CompoundType.OLD, 96, 240, "6100.0", 1981, 2, None, None),
]

# (code, name, leading unit code, parent grid code, [(compound, building numbers or None)]).
# 文锦苑 and the others: one grid, one compound; 滨河左岸: one compound, two grids; 一巷: one
# grid over two small compounds. Micro-grids cover part of their grid.
GRIDS = [
    ("YZ-LX-BH-G01", "文锦苑网格", "YZ-LX-BH-WJY", None, [("文锦苑", None)]),
    ("YZ-LX-BH-G01-M1", "文锦苑1号楼微网格", "YZ-LX-BH-WJY", "YZ-LX-BH-G01", [("文锦苑", [1])]),
    ("YZ-LX-BH-G01-M2", "文锦苑2-3号楼微网格", "YZ-LX-BH-WJY", "YZ-LX-BH-G01",
     [("文锦苑", [2, 3])]),
    ("YZ-LX-BH-G02", "滨河左岸第一网格", "YZ-LX-BH-BHZA-W1", None, [("滨河左岸", [1, 2])]),
    ("YZ-LX-BH-G03", "滨河左岸第二网格", "YZ-LX-BH-BHZA-W2", None, [("滨河左岸", [3, 4])]),
    ("YZ-LX-BH-G03-M1", "滨河左岸4号楼微网格", "YZ-LX-BH-BHZA-W2", "YZ-LX-BH-G03",
     [("滨河左岸", [4])]),
    ("YZ-LX-BH-G04", "滨花苑网格", "YZ-LX-BH-BHY", None, [("滨花苑", None)]),
    ("YZ-LX-SEY-G01", "化工东院网格", "YZ-LX-SEY-HGD", None, [("化工东院", None)]),
    ("YZ-LX-SEY-G02", "南寺安置区网格", "YZ-LX-SEY-CZC", None, [("南寺城中村安置小区", None)]),
    ("YZ-LX-SEY-G02-M1", "南寺安置区1号楼微网格", "YZ-LX-SEY-CZC", "YZ-LX-SEY-G02",
     [("南寺城中村安置小区", [1])]),
    ("YZ-QD-JZ-G01", "金泽华府网格", "YZ-QD-JZ-JZHF", None, [("金泽华府", None)]),
    ("YZ-QD-JZ-G01-M1", "金泽华府1-2号楼微网格", "YZ-QD-JZ-JZHF", "YZ-QD-JZ-G01",
     [("金泽华府", [1, 2])]),
    ("YZ-QD-JZ-G01-M2", "金泽华府3-4号楼微网格", "YZ-QD-JZ-JZHF", "YZ-QD-JZ-G01",
     [("金泽华府", [3, 4])]),
    ("YZ-QD-JZ-G02", "老园艺网格", "YZ-QD-JZ-LYY", None, [("老园艺小区", None)]),
    ("YZ-QD-RJY-G01", "润景园网格", "YZ-QD-RJY-RJ", None, [("润景园", None)]),
    ("YZ-LJY-YJ-G01", "一巷第一网格", "YZ-LJY-YJ", None, [("省纺院", None), ("向阳小区", None)]),
    ("YZ-LJY-YJ-G01-M1", "省纺院微网格", "YZ-LJY-YJ", "YZ-LJY-YJ-G01", [("省纺院", None)]),
    ("YZ-LJY-YJ-G01-M2", "向阳小区微网格", "YZ-LJY-YJ", "YZ-LJY-YJ-G01", [("向阳小区", None)]),
]

CARE_PATTERNS = [
    [CareFlag.LONELY_ELDERLY],
    [CareFlag.ELDERLY_ALONE, CareFlag.LOW_INCOME],
    [CareFlag.DISABLED],
    [CareFlag.PREGNANT],
    [CareFlag.HARDSHIP, CareFlag.LOW_INCOME],
]

ASSIGNED_FROM = dt.date(2024, 3, 1)


class _Counter(dict):
    def bump(self, key, made=True):
        if made:
            self[key] = self.get(key, 0) + 1


def _person(key, org_unit, counter, born=(1950, 1995)):
    """The demo person for `key`: the same ID number every run, so found again by its hash."""
    rng = random.Random(f"grids-demo:{key}")
    birth = dt.date(rng.randint(*born), rng.randint(1, 12), rng.randint(1, 28))
    body = f"140106{birth:%Y%m%d}{rng.randint(100, 999)}"
    id_number = body + pii.id_check_char(body)
    existing = Person.objects.filter(id_number_hash=pii.keyed_hash(id_number)).first()
    if existing is not None:
        return existing
    person = Person(
        org_unit=org_unit, name=rng.choice(SURNAMES) + rng.choice(GIVEN),
        phone=f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}",
    )
    person.set_id_number(id_number)
    person.full_clean()
    person.save()
    counter.bump("people")
    return person


def _compound(spec, counter):
    code, name, kind, households, population, area, year, _buildings, lat, lng = spec
    unit = OrgUnit.objects.get(code=code)
    compound = Compound.objects.filter(org_unit=unit, name=name).first()
    if compound is None:
        compound = Compound(
            org_unit=unit, name=name, compound_type=kind, households=households,
            population=population, floor_area_m2=Decimal(area), year_built=year,
            address=unit.address or name, latitude=Decimal(lat) if lat else None,
            longitude=Decimal(lng) if lng else None,
        )
        compound.full_clean()
        compound.save()
        counter.bump("compounds")
    return compound


def _buildings(compound, spec, counter):
    buildings = []
    for n in range(1, spec[7] + 1):
        number = f"{n}号楼"
        building = Building.objects.filter(compound=compound, number=number).first()
        if building is None:
            head = _person(f"{compound.name}:{number}:head", compound.org_unit, counter)
            building = Building(
                compound=compound, number=number, floors=6 if spec[6] < 2000 else 18,
                building_head=head,
            )
            building.full_clean()
            building.save()
            counter.bump("buildings")
        entrances = []
        for m in (1, 2):
            entrance_number = f"{m}单元"
            entrance = Entrance.objects.filter(building=building, number=entrance_number).first()
            if entrance is None:
                head = None
                if m == 1:
                    head = _person(f"{building}:{entrance_number}:head", compound.org_unit,
                                   counter)
                entrance = Entrance(building=building, number=entrance_number,
                                    entrance_head=head)
                entrance.full_clean()
                entrance.save()
                counter.bump("entrances")
            entrances.append(entrance)
        buildings.append((building, entrances))
    return buildings


def _households(compound, index, buildings, counter):
    rng = random.Random(f"grids-demo:households:{compound.name}")
    households = []
    for n in range(5 + (index * 3) % 6):
        building, entrances = buildings[n % len(buildings)]
        entrance = entrances[(n // len(buildings)) % len(entrances)]
        room = f"{1 + n % 6}0{1 + n % 2}"
        flags = [f.value for f in CARE_PATTERNS[(n + index) % len(CARE_PATTERNS)]] if n % 3 == 0 else []
        members = rng.randint(1, 5)
        household = Household.objects.filter(
            compound=compound, building=building, entrance=entrance, room=room
        ).first()
        if household is None:
            elderly = any(f in flags for f in (CareFlag.LONELY_ELDERLY, CareFlag.ELDERLY_ALONE))
            head = _person(f"{entrance}:{room}", compound.org_unit, counter,
                           born=(1938, 1955) if elderly else (1960, 1996))
            household = Household(
                compound=compound, building=building, entrance=entrance, room=room, head=head,
                members_count=1 if elderly else members, contact_phone=head.phone,
                care_flags=flags,
                note="每周上门探访一次" if elderly else "",
            )
            household.full_clean()
            household.save()
            counter.bump("households")
        households.append(household)
    return households


def _list_entry(compound, kind, person, counter, household=None, note=""):
    if ResidentListEntry.objects.filter(compound=compound, kind=kind, person=person).exists():
        return
    ResidentListEntry.objects.create(
        compound=compound, kind=kind, person=person, household=household, note=note
    )
    counter.bump("list entries")


def _lists(compound, households, counter):
    """A few entries of each of the five lists (seed 002)."""
    for household in households[:3]:
        _list_entry(compound, ResidentList.RESIDENTS, household.head, counter, household)
    cared = [h for h in households if h.care_flags]
    if cared:
        _list_entry(compound, ResidentList.SPECIAL, cared[0].head, counter, cared[0],
                    "重点关爱对象，网格员每周联系")
    _list_entry(compound, ResidentList.KEY, households[-1].head, counter, households[-1],
                "邻里纠纷调解后持续回访")
    outsider = _person(f"{compound.name}:outsider", compound.org_unit, counter, born=(1985, 2000))
    _list_entry(compound, ResidentList.OUTSIDERS, outsider, counter, None, "租住的外来务工人员")
    member = (
        PartyMember.objects.filter(Subtree.of(compound.org_unit).q("org_unit"))
        .select_related("person").order_by("pk").first()
    )
    if member is not None:
        _list_entry(compound, ResidentList.MEMBERS, member.person, counter, None,
                    "亮身份党员，参与楼栋服务")


def _grids(compounds, counter):
    grids = {}
    for code, name, unit_code, parent_code, covers in GRIDS:
        grid = Grid.objects.filter(code=code).first()
        if grid is None:
            grid = gridding.create_grid(
                None, name=name, code=code, org_unit=OrgUnit.objects.get(code=unit_code),
                parent=grids.get(parent_code),
            )
            counter.bump("grids")
        grids[code] = grid
        for compound_name, numbers in covers:
            compound = compounds[compound_name]
            targets = (
                [None] if numbers is None
                else [Building.objects.get(compound=compound, number=f"{n}号楼") for n in numbers]
            )
            for building in targets:
                if not GridCoverage.objects.filter(
                    grid=grid, compound=compound, building=building
                ).exists():
                    gridding.cover(None, grid, compound, building)
                    counter.bump("grid coverage")
    return grids


def _workers(grids, counter):
    """Per community: a full-time worker over its grids, a part-time one on the first grid and
    an auxiliary worker for each micro-grid (seed 001: 专兼辅 three teams)."""
    by_community = {}
    for code, grid in grids.items():
        community = gridding.community_of(grid.org_unit)
        by_community.setdefault(community.code, (community, []))[1].append(grid)
    for community_code, (community, community_grids) in sorted(by_community.items()):
        tops = [g for g in community_grids if g.parent_id is None]
        micros = [g for g in community_grids if g.parent_id is not None]
        plan = [("full", GridWorkerKind.FULL_TIME, tops), ("part", GridWorkerKind.PART_TIME, tops[:1])]
        plan += [(f"aux{i}", GridWorkerKind.AUXILIARY, [g]) for i, g in enumerate(micros, 1)]
        for slot, kind, assigned in plan:
            person = _person(f"worker:{community_code}:{slot}", community, counter,
                             born=(1965, 1998))
            worker = GridWorker.objects.filter(person=person).first()
            if worker is None:
                worker = gridding.register_worker(None, person, kind, community)
                counter.bump("grid workers")
            for grid in assigned:
                if not GridAssignment.objects.filter(worker=worker, grid=grid).exists():
                    gridding.assign_worker(None, worker, grid, ASSIGNED_FROM)
                    counter.bump("grid assignments")


@transaction.atomic
def build():
    """Create the demo territory and grids under the demo district; returns counts created.

    Needs the demo district (party_org's seed_demo); units missing from it are skipped.
    """
    counter = _Counter()
    codes = set(OrgUnit.objects.filter(code__startswith="YZ-").values_list("code", flat=True))
    compounds = {}
    for index, spec in enumerate(COMPOUNDS):
        if spec[0] not in codes:
            continue
        compound = _compound(spec, counter)
        compounds[compound.name] = compound
        buildings = _buildings(compound, spec, counter)
        households = _households(compound, index, buildings, counter)
        _lists(compound, households, counter)
    if all(spec[2] in codes for spec in GRIDS) and len(compounds) == len(COMPOUNDS):
        grids = _grids(compounds, counter)
        _workers(grids, counter)
    return dict(counter)
