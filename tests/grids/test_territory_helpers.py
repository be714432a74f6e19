"""Shared rows and users for the territory tests (no tests here)."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from grids.models import CareFlag, CompoundType
from grids.services import territory as services
from party_org.models import Person, StaffRole
from tests.conftest import _user

PHONE_A = "13812345678"
PHONE_B = "13987654321"


def person(unit, name):
    return Person.objects.create(name=name, org_unit=unit)


def compound(unit, name, compound_type=CompoundType.RESIDENTIAL, **fields):
    fields.setdefault("address", f"{name}路1号")
    fields.setdefault("households", 100)
    fields.setdefault("population", 250)
    return services.create_compound(
        None, name=name, org_unit=unit, compound_type=compound_type, **fields
    )


def building(compound_, number, **fields):
    return services.create_building(None, compound=compound_, number=number, **fields)


def entrance(building_, number, **fields):
    return services.create_entrance(None, building=building_, number=number, **fields)


def household(compound_, room, **fields):
    return services.create_household(None, compound=compound_, room=room, **fields)


def clerk(tree, code="a", username="clerk_a"):
    """Community staff who may keep household files but was given no access to care flags or
    personal data: a read-only role for the scope, plus the model permissions one by one."""
    user = _user(username, StaffRole.AUDITOR, tree[code])
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="grids",
        codename__in=[
            "view_compound", "view_building", "view_entrance", "view_household",
            "add_household", "change_household", "delete_household",
            "view_residentlistentry", "add_residentlistentry",
        ],
    ))
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def world(tree):
    """In community A (branch A2) and community B (branch B1): a compound with a building, an
    entrance, a household file with care flags, a phone and a head, and a list entry."""
    rows = {}
    for code, phone in (("a", PHONE_A), ("b", PHONE_B)):
        unit = tree[f"{code}{'2' if code == 'a' else '1'}"]
        c = compound(unit, f"{code.upper()}小区", floor_area_m2=Decimal("12000.5"),
                     year_built=1998)
        head = person(unit, f"{code.upper()}户主")
        b = building(c, "1号楼", floors=6, building_head=head)
        e = entrance(b, "1单元", entrance_head=head)
        h = household(
            c, "101", building=b, entrance=e, head=head, members_count=3, contact_phone=phone,
            care_flags=[CareFlag.DISABLED, CareFlag.ELDERLY_ALONE],
        )
        entry = services.add_list_entry(
            None, compound=c, kind="special", person=head, household=h
        )
        rows[code] = {"compound": c, "building": b, "entrance": e, "household": h,
                      "residentlistentry": entry, "head": head, "person": head}
    return rows
