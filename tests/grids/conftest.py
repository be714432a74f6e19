"""Shared fixtures for grid events: compounds in three communities, a grid worker user, a
department, and a factory that opens events."""

import pytest

from grids.models import Building, Compound, CompoundType, Department, EventCategory, EventSource
from grids.services import events as event_services
from party_org.models import StaffRole
from tests.conftest import _user


@pytest.fixture
def places(tree):
    """Compounds: 文锦苑 (A2, two buildings), 化工东院 (B1), 金泽华府 (C1, other street)."""
    p = {}
    p["wjy"] = Compound.objects.create(
        org_unit=tree["a2"], name="文锦苑", compound_type=CompoundType.RESIDENTIAL,
        address="滨河东路1号", households=300,
    )
    p["wjy1"] = Building.objects.create(compound=p["wjy"], number="1号楼")
    p["wjy2"] = Building.objects.create(compound=p["wjy"], number="2号楼")
    p["hgd"] = Compound.objects.create(
        org_unit=tree["b1"], name="化工东院", compound_type=CompoundType.WORK_UNIT,
        address="十二院城路5号",
    )
    p["jzhf"] = Compound.objects.create(
        org_unit=tree["c1"], name="金泽华府", compound_type=CompoundType.NEW_BUILD,
        address="金泽路16号",
    )
    return p


@pytest.fixture
def grid_user(tree):
    """A grid worker's login in branch A2 (文锦苑)."""
    return _user("grid_a2", StaffRole.GRID_WORKER, tree["a2"])


@pytest.fixture
def department(tree):
    """城管科 of street S1, with one staff user."""
    dept = Department.objects.create(name="城管科", org_unit=tree["s1"])
    staff = _user("chengguan")
    dept.staff.add(staff)
    dept.staff_user = staff
    return dept


@pytest.fixture
def category():
    return EventCategory.objects.get(code="environment")


@pytest.fixture
def open_event(places, category):
    """Opens an event in 文锦苑 (or another compound) as a resident would."""

    def opener(compound=None, user=None, source=EventSource.RESIDENT, **fields):
        fields.setdefault("description", "3号楼楼道堆放杂物，堵塞消防通道")
        return event_services.report_event(
            user, category=fields.pop("category", category), source=source,
            compound=compound or places["wjy"], **fields,
        )

    return opener
