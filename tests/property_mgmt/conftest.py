"""Shared fixtures for property management: compounds with household files in three
communities, people, companies with valid credit codes."""

import datetime as dt
from decimal import Decimal

import pytest

from grids.models import Compound, CompoundType, Household
from party_org.models import CommitteeMembership, CommitteeRole, Person
from property_mgmt.models import PartyFormation, PropertyCompany, credit_code_check_char

D = dt.date


def credit_code(body17):
    """A valid unified social credit code for 17 characters."""
    return body17 + credit_code_check_char(body17)


def person(unit, name):
    return Person.objects.create(org_unit=unit, name=name)


def seat(unit, who, role=CommitteeRole.MEMBER, started_on=D(2024, 1, 1), ended_on=None):
    return CommitteeMembership.objects.create(org_unit=unit, person=who, role=role,
                                              started_on=started_on, ended_on=ended_on)


def households(compound, n):
    return [Household.objects.create(compound=compound, room=f"{100 + i}") for i in range(n)]


@pytest.fixture
def places(tree):
    """文锦苑 (A2, 10,000 m², 4 household files), 滨河左岸 (A1a), 化工东院 (B1), 金泽华府 (C1)."""
    p = {}
    p["wjy"] = Compound.objects.create(
        org_unit=tree["a2"], name="文锦苑", compound_type=CompoundType.RESIDENTIAL,
        address="滨河东路1号", floor_area_m2=Decimal("10000.0"),
    )
    p["bhza"] = Compound.objects.create(
        org_unit=tree["a1a"], name="滨河左岸", compound_type=CompoundType.RESIDENTIAL,
        address="滨河东路9号", floor_area_m2=Decimal("52000.0"),
    )
    p["hgd"] = Compound.objects.create(
        org_unit=tree["b1"], name="化工东院", compound_type=CompoundType.WORK_UNIT,
        address="十二院城路5号", floor_area_m2=Decimal("8400.0"),
    )
    p["jzhf"] = Compound.objects.create(
        org_unit=tree["c1"], name="金泽华府", compound_type=CompoundType.NEW_BUILD,
        address="金泽路16号", floor_area_m2=Decimal("118000.0"),
    )
    p["wjy_households"] = households(p["wjy"], 4)
    p["hgd_households"] = households(p["hgd"], 2)
    return p


@pytest.fixture
def companies(tree):
    return {
        "jinxiu": PropertyCompany.objects.create(
            name="太原锦绣物业服务有限公司", credit_code=credit_code("91140100MA0K1234X"),
            party_formation=PartyFormation.STANDALONE, is_red_property=True,
        ),
        "anju": PropertyCompany.objects.create(
            name="迎泽安居物业管理有限公司", credit_code=credit_code("91140106MA0L5678Y"),
        ),
    }
