"""Territory services: what they write and log, and every refusal with its message."""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from grids.models import Building, CareFlag, Compound, CompoundType, Household
from grids.services import territory as services
from party_org.models import AuditEntry

from .test_territory_helpers import (
    PHONE_A,
    building,
    clerk,
    compound,
    entrance,
    household,
    person,
    world,  # noqa: F401
)

pytestmark = pytest.mark.django_db


def messages(error):
    return error.value.message_dict if hasattr(error.value, "error_dict") else {
        "__all__": error.value.messages
    }


# ---- compounds -------------------------------------------------------------------------------


def test_create_compound_records_and_logs(tree, users):
    c = services.create_compound(
        users["comm_a"], name=" 文锦苑 ", org_unit=tree["a2"],
        compound_type=CompoundType.OLD, address="文锦路8号", households=320, population=900,
    )
    assert c.name == "文锦苑"
    entry = AuditEntry.objects.get(model="grids.compound", object_id=str(c.pk))
    assert entry.action == "create" and entry.user == users["comm_a"]
    assert entry.org_unit == tree["a2"] and entry.changes["households"] == [None, 320]


@pytest.mark.parametrize("code", ["a2g", "s1", "a2h"])
def test_compound_needs_a_branch_or_community(tree, users, code):
    with pytest.raises(ValidationError) as error:
        services.create_compound(users["street"], name="X", org_unit=tree[code],
                                 compound_type=CompoundType.OLD, address="x")
    assert "支部" in messages(error)["org_unit"][0]
    assert not Compound.objects.exists()


def test_compound_in_community_allowed(tree, users):
    c = services.create_compound(users["comm_a"], name="无支部小区", org_unit=tree["a"],
                                 compound_type=CompoundType.TRANSITIONAL, address="x")
    assert c.org_unit == tree["a"]


def test_compound_refusals(tree, users):
    with pytest.raises(PermissionDenied):
        services.create_compound(users["comm_a"], name="X", org_unit=tree["b1"],
                                 compound_type=CompoundType.OLD, address="x")
    with pytest.raises(PermissionDenied):
        services.create_compound(users["auditor"], name="X", org_unit=tree["a2"],
                                 compound_type=CompoundType.OLD, address="x")
    with pytest.raises(ValidationError) as error:
        services.create_compound(users["comm_a"], name="X", org_unit=tree["a2"],
                                 compound_type="castle", address="x")
    assert "compound_type" in messages(error)
    with pytest.raises(ValidationError) as error:
        services.create_compound(users["comm_a"], name="X", org_unit=tree["a2"],
                                 compound_type=CompoundType.OLD, address="x",
                                 latitude=Decimal("37.8"))
    assert "longitude" in messages(error)
    with pytest.raises(ValidationError) as error:
        services.create_compound(users["comm_a"], name="", org_unit=tree["a2"],
                                 compound_type=CompoundType.OLD, address="x")
    assert "name" in messages(error)
    assert not Compound.objects.exists()


def test_duplicate_compound_name_names_the_unit(tree, users):
    compound(tree["a2"], "文锦苑")
    with pytest.raises(ValidationError) as error:
        services.create_compound(users["comm_a"], name="文锦苑", org_unit=tree["a2"],
                                 compound_type=CompoundType.OLD, address="x")
    assert "文锦苑" in messages(error)["name"][0] and tree["a2"].name in messages(error)["name"][0]
    # The same name under another branch is another compound.
    compound(tree["a1"], "文锦苑")


def test_update_compound_scope_and_log(tree, users, world):
    c = world["a"]["compound"]
    services.update_compound(users["comm_a"], c, population=300, org_unit=tree["a1"])
    c.refresh_from_db()
    assert c.population == 300 and c.org_unit == tree["a1"]
    change = AuditEntry.objects.filter(model="grids.compound", action="update").get()
    assert change.changes["population"] == [250, 300]
    with pytest.raises(PermissionDenied):
        services.update_compound(users["comm_a"], c, org_unit=tree["b1"])
    with pytest.raises(PermissionDenied):
        services.update_compound(users["comm_a"], world["b"]["compound"], population=1)
    # An update that changes nothing writes no log entry.
    services.update_compound(users["comm_a"], c, population=300)
    assert AuditEntry.objects.filter(model="grids.compound", action="update").count() == 1


def test_delete_compound(tree, users, world):
    with pytest.raises(ValidationError) as error:
        services.delete_compound(users["comm_a"], world["a"]["compound"])
    assert "A小区" in error.value.messages[0]
    empty = compound(tree["a2"], "空小区")
    with pytest.raises(PermissionDenied):
        services.delete_compound(users["comm_b"], empty)
    services.delete_compound(users["comm_a"], empty)
    assert not Compound.objects.filter(pk=empty.pk).exists()
    assert AuditEntry.objects.filter(model="grids.compound", action="delete").count() == 1


# ---- buildings and entrances -----------------------------------------------------------------


def test_building_numbers_unique_per_compound(tree, users, world):
    c = world["a"]["compound"]
    with pytest.raises(ValidationError) as error:
        services.create_building(users["comm_a"], compound=c, number=" 1号楼 ")
    assert "1号楼" in messages(error)["number"][0] and "A小区" in messages(error)["number"][0]
    services.create_building(users["comm_a"], compound=c, number="2号楼")
    other = compound(tree["a2"], "另一小区")
    services.create_building(users["comm_a"], compound=other, number="1号楼")


def test_building_refusals(tree, users, world):
    with pytest.raises(PermissionDenied):
        services.create_building(users["comm_a"], compound=world["b"]["compound"], number="9")
    with pytest.raises(ValidationError) as error:
        services.create_building(users["comm_a"], compound=world["a"]["compound"], number="9",
                                 building_head=world["b"]["head"])
    assert "building_head" in messages(error)
    with pytest.raises(PermissionDenied):
        services.create_building(users["auditor"], compound=world["a"]["compound"], number="9")
    # A building with household files cannot move to another compound.
    other = compound(tree["a2"], "另一小区")
    with pytest.raises(ValidationError) as error:
        services.update_building(users["comm_a"], world["a"]["building"], compound=other)
    assert "compound" in messages(error)
    with pytest.raises(ValidationError):
        services.delete_building(users["comm_a"], world["a"]["building"])


def test_entrances(tree, users, world):
    b = world["a"]["building"]
    with pytest.raises(ValidationError) as error:
        services.create_entrance(users["comm_a"], building=b, number="1单元")
    assert "1单元" in messages(error)["number"][0]
    e = services.create_entrance(users["comm_a"], building=b, number="2单元")
    with pytest.raises(ValidationError) as error:
        services.update_entrance(users["comm_a"], e, number="1单元")
    assert "number" in messages(error)
    with pytest.raises(PermissionDenied):
        services.update_entrance(users["comm_b"], e, number="3单元")
    services.delete_entrance(users["comm_a"], e)
    assert not b.entrances.filter(number="2单元").exists()


# ---- household files -------------------------------------------------------------------------


def test_household_consistency(tree, users, world):
    a, b = world["a"], world["b"]
    other = compound(tree["a2"], "另一小区")
    other_building = building(other, "8号楼")
    cases = [
        ({"building": other_building}, "building"),
        ({"building": a["building"], "entrance": entrance(other_building, "1单元")}, "entrance"),
        ({"entrance": a["entrance"]}, "entrance"),
        ({"care_flags": ["rich"]}, "care_flags"),
        ({"care_flags": "disabled"}, "care_flags"),
        ({"contact_phone": "call me"}, "contact_phone"),
        ({"head": b["head"]}, "head"),
        ({"room": ""}, "room"),
    ]
    for fields, field in cases:
        values = {"compound": a["compound"], "room": "202", **fields}
        with pytest.raises(ValidationError) as error:
            services.create_household(users["comm_a"], **values)
        assert field in messages(error), (fields, messages(error))
    with pytest.raises(PermissionDenied):
        services.create_household(users["comm_a"], compound=b["compound"], room="202")
    assert Household.objects.count() == 2


def test_duplicate_room(tree, users, world):
    a = world["a"]
    with pytest.raises(ValidationError) as error:
        services.create_household(users["comm_a"], compound=a["compound"], building=a["building"],
                                  entrance=a["entrance"], room="101")
    assert "101" in messages(error)["room"][0]
    # Without a building the database constraint cannot catch it (NULLs differ); the service does.
    services.create_household(users["comm_a"], compound=a["compound"], room="平房3号")
    with pytest.raises(ValidationError):
        services.create_household(users["comm_a"], compound=a["compound"], room="平房3号")


def test_care_flags_are_normalised_and_logged_masked(tree, users, world):
    h = services.create_household(
        users["comm_a"], compound=world["a"]["compound"], room="303", contact_phone=PHONE_A,
        care_flags=[CareFlag.HARDSHIP, CareFlag.DISABLED, CareFlag.HARDSHIP],
    )
    assert h.care_flags == [CareFlag.DISABLED, CareFlag.HARDSHIP]
    services.update_household(users["comm_a"], h, care_flags=[CareFlag.LOW_INCOME])
    h.refresh_from_db()
    assert h.care_flags == [CareFlag.LOW_INCOME]
    logged = json.dumps(
        list(AuditEntry.objects.filter(model="grids.household").values_list("changes", flat=True)),
        ensure_ascii=False,
    )
    for flag in CareFlag.values:
        assert flag not in logged
    assert PHONE_A not in logged and "138****5678" in logged
    assert AuditEntry.objects.filter(
        model="grids.household", object_id=str(h.pk), action="update"
    ).get().changes == {"care_flags": ["***", "***"]}


def test_care_flags_need_the_permission(tree, users, world):
    user = clerk(tree)
    a = world["a"]
    with pytest.raises(PermissionDenied):
        services.create_household(user, compound=a["compound"], room="404",
                                  care_flags=[CareFlag.DISABLED])
    h = services.create_household(user, compound=a["compound"], room="404", members_count=2)
    # Passing the stored flags back is refused too: an answer that depended on them would
    # reveal them.
    with pytest.raises(PermissionDenied):
        services.update_household(user, a["household"], care_flags=list(a["household"].care_flags))
    services.update_household(user, a["household"], members_count=5, note="新生儿")
    a["household"].refresh_from_db()
    assert a["household"].members_count == 5
    assert a["household"].care_flags == [CareFlag.ELDERLY_ALONE, CareFlag.DISABLED]
    assert h.care_flags == []


def test_delete_household(tree, users, world):
    with pytest.raises(ValidationError) as error:  # on a list
        services.delete_household(users["comm_a"], world["a"]["household"])
    assert error.value.messages
    h = household(world["a"]["compound"], "505")
    with pytest.raises(PermissionDenied):
        services.delete_household(users["comm_b"], h)
    services.delete_household(users["comm_a"], h)
    assert not Household.objects.filter(pk=h.pk).exists()


# ---- the five lists --------------------------------------------------------------------------


def test_list_entries(tree, users, world):
    a, b = world["a"], world["b"]
    with pytest.raises(ValidationError) as error:
        services.add_list_entry(users["comm_a"], compound=a["compound"], kind="special",
                                person=a["head"])
    assert a["head"].name in messages(error)["person"][0]
    # Once per list, but on several lists.
    services.add_list_entry(users["comm_a"], compound=a["compound"], kind="residents",
                            person=a["head"])
    with pytest.raises(ValidationError) as error:
        services.add_list_entry(users["comm_a"], compound=a["compound"], kind="key",
                                person=b["head"])
    assert "person" in messages(error)
    with pytest.raises(PermissionDenied):
        services.add_list_entry(users["comm_a"], compound=b["compound"], kind="key",
                                person=a["head"])
    with pytest.raises(ValidationError) as error:
        services.add_list_entry(users["comm_a"], compound=a["compound"], kind="vip",
                                person=person(tree["a2"], "张三"))
    assert "kind" in messages(error)
    other = compound(tree["a2"], "另一小区")
    with pytest.raises(ValidationError) as error:
        services.add_list_entry(users["comm_a"], compound=other, kind="key",
                                person=a["head"], household=a["household"])
    assert "household" in messages(error)
    entry = a["residentlistentry"]
    services.update_list_entry(users["comm_a"], entry, note="每周探访")
    entry.refresh_from_db()
    assert entry.note == "每周探访"
    with pytest.raises(TypeError):
        services.update_list_entry(users["comm_a"], entry, kind="key")
    with pytest.raises(PermissionDenied):
        services.remove_list_entry(users["comm_b"], entry)
    services.remove_list_entry(users["comm_a"], entry)
    assert AuditEntry.objects.filter(model="grids.residentlistentry", action="delete").exists()


def test_with_community_annotation(tree, world):
    compound(tree["a"], "社区直管小区")
    names = dict(services.with_community(Compound.objects.all()).values_list(
        "name", "community_name"))
    assert names == {"A小区": tree["a"].name, "B小区": tree["b"].name,
                     "社区直管小区": tree["a"].name}
    assert Building.objects.count() == 2
