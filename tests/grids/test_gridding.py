"""Grid services: grids and micro-grids, coverage, workers and assignments, with their failure
paths and permission boundaries; and the three overlap cases of seed 001."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from grids.models import (
    Building,
    Compound,
    CompoundType,
    Grid,
    GridAssignment,
    GridCoverage,
    GridWorker,
    GridWorkerKind,
)
from grids.services import gridding as services
from party_org.models import AuditEntry, Person

pytestmark = pytest.mark.django_db

D = dt.date
FULL, PART, AUX = GridWorkerKind.FULL_TIME, GridWorkerKind.PART_TIME, GridWorkerKind.AUXILIARY


def compound(unit, name, buildings=0, **fields):
    row = Compound.objects.create(
        org_unit=unit, name=name, compound_type=fields.pop("compound_type", CompoundType.OLD),
        address=f"{name}路1号", **fields,
    )
    for n in range(1, buildings + 1):
        Building.objects.create(compound=row, number=f"{n}号楼")
    return row


def building(row, n):
    return row.buildings.get(number=f"{n}号楼")


def person(unit, name, phone="13812345678"):
    return Person.objects.create(org_unit=unit, name=name, phone=phone)


@pytest.fixture
def world(tree, users):
    """Community A: 滨河左岸 (two grids over its buildings), 文锦苑 (one to one, with a
    micro-grid), 小院 and 后院 (one grid over both). Community B: 化工东院 and its grid."""
    w = {}
    w["zuoan"] = compound(tree["a1"], "滨河左岸", buildings=2)
    w["wenjin"] = compound(tree["a2"], "文锦苑", buildings=2)
    w["xiaoyuan"] = compound(tree["a"], "小院", buildings=1)
    w["houyuan"] = compound(tree["a"], "后院")
    w["huagong"] = compound(tree["b1"], "化工东院", buildings=1)
    w["g1"] = services.create_grid(None, name="左岸第一网格", code="A-G1", org_unit=tree["a1a"])
    w["g2"] = services.create_grid(None, name="左岸第二网格", code="A-G2", org_unit=tree["a1"])
    w["g3"] = services.create_grid(None, name="文锦苑网格", code="A-G3", org_unit=tree["a2"])
    w["g4"] = services.create_grid(None, name="一巷网格", code="A-G4", org_unit=tree["a"])
    w["m3"] = services.create_grid(
        None, name="文锦苑1号楼微网格", code="A-G3-M1", org_unit=tree["a2"], parent=w["g3"]
    )
    w["gb"] = services.create_grid(None, name="化工东院网格", code="B-G1", org_unit=tree["b1"])
    services.cover(None, w["g1"], w["zuoan"], building(w["zuoan"], 1))
    services.cover(None, w["g2"], w["zuoan"], building(w["zuoan"], 2))
    services.cover(None, w["g3"], w["wenjin"])
    services.cover(None, w["m3"], w["wenjin"], building(w["wenjin"], 1))
    services.cover(None, w["g4"], w["xiaoyuan"])
    services.cover(None, w["g4"], w["houyuan"])
    services.cover(None, w["gb"], w["huagong"])
    w["pa"] = person(tree["a"], "张网格")
    w["pa2"] = person(tree["a2"], "李辅助", "13900001111")
    w["pb"] = person(tree["b"], "王网格")
    w["wa"] = services.register_worker(None, w["pa"], FULL, tree["a"])
    w["wa2"] = services.register_worker(None, w["pa2"], AUX, tree["a2"])
    w["wb"] = services.register_worker(None, w["pb"], FULL, tree["b"])
    w["asg_a"] = services.assign_worker(None, w["wa"], w["g3"], D(2025, 1, 1))
    w["asg_a2"] = services.assign_worker(None, w["wa2"], w["m3"], D(2025, 2, 1))
    w["asg_b"] = services.assign_worker(None, w["wb"], w["gb"], D(2025, 1, 1))
    return w


def messages(error):
    return " ".join(error.value.messages)


# ---- grids -----------------------------------------------------------------------------------


def test_create_grid_records_the_change(world, tree, users):
    grid = services.create_grid(users["comm_a"], name=" 新网格 ", code="A-NEW", org_unit=tree["a2"])
    assert grid.name == "新网格" and not grid.is_micro
    entry = AuditEntry.objects.get(model="grids.grid", object_id=str(grid.pk))
    assert entry.user == users["comm_a"] and entry.org_unit == tree["a2"]
    assert entry.action == AuditEntry.Action.CREATE


@pytest.mark.parametrize("who, unit, error", [
    ("street", "s1", ValidationError),  # a street does not lead a grid
    ("comm_a", "a2g", ValidationError),  # nor a building group
    ("comm_a", "b1", PermissionDenied),  # community B is not A's
    ("comm_b", "a2", PermissionDenied),
    ("nobody", "a2", PermissionDenied),
    ("auditor", "a2", PermissionDenied),  # read-only role
])
def test_create_grid_refusals(world, tree, users, who, unit, error):
    with pytest.raises(error):
        services.create_grid(users[who], name="网格", code="X-1", org_unit=tree[unit])
    assert not Grid.objects.filter(code="X-1").exists()


def test_duplicate_code_is_a_message(world, tree, users):
    with pytest.raises(ValidationError) as error:
        services.create_grid(users["comm_a"], name="网格", code="A-G1", org_unit=tree["a2"])
    assert "code" in error.value.message_dict


def test_micro_grid_rules(world, tree, users):
    user = users["admin"]
    with pytest.raises(ValidationError) as error:
        services.create_grid(user, name="微微", code="X-1", org_unit=tree["a2"], parent=world["m3"])
    assert "parent" in error.value.message_dict
    with pytest.raises(ValidationError) as error:  # parent grid in community B
        services.create_grid(user, name="跨社区", code="X-2", org_unit=tree["a2"],
                             parent=world["gb"])
    assert "parent" in error.value.message_dict
    with pytest.raises(PermissionDenied):  # A's staff cannot pick B's grid
        services.create_grid(users["comm_a"], name="跨", code="X-3", org_unit=tree["a2"],
                             parent=world["gb"])
    with pytest.raises(ValidationError):  # a divided grid cannot become a micro-grid
        services.update_grid(user, world["g3"], parent=world["g4"])
    with pytest.raises(ValidationError):  # a grid cannot divide itself
        services.update_grid(user, world["g4"], parent=world["g4"])
    # A grid becomes a micro-grid only of a grid that covers what it covers.
    with pytest.raises(ValidationError) as error:
        services.update_grid(user, world["g1"], parent=world["g2"])
    assert "parent" in error.value.message_dict
    assert Grid.objects.get(pk=world["g1"].pk).parent_id is None
    services.cover(user, world["g2"], world["zuoan"], building(world["zuoan"], 1))
    services.update_grid(user, world["g1"], parent=world["g2"])
    assert Grid.objects.get(pk=world["g1"].pk).parent_id == world["g2"].pk


def test_grid_cannot_move_away_from_its_micro_grids(world, tree, users):
    with pytest.raises(ValidationError) as error:
        services.update_grid(users["street"], world["g3"], org_unit=tree["b1"])
    assert "org_unit" in error.value.message_dict


def test_deactivating_a_grid(world, users):
    user = users["comm_a"]
    with pytest.raises(ValidationError):  # its micro-grid is still active
        services.update_grid(user, world["g3"], is_active=False)
    services.update_grid(user, world["m3"], is_active=False)
    world["asg_a2"].refresh_from_db()
    assert world["asg_a2"].ended_on == timezone.localdate()
    services.update_grid(user, world["g3"], is_active=False)
    assert GridAssignment.objects.get(pk=world["asg_a"].pk).ended_on == timezone.localdate()
    with pytest.raises(ValidationError):  # no one is assigned to an inactive grid
        services.assign_worker(user, world["wa"], world["g3"], D(2025, 6, 1))


def test_delete_grid(world, users):
    user = users["comm_a"]
    with pytest.raises(ValidationError):
        services.delete_grid(user, world["g3"])  # micro-grids and assignments
    services.delete_grid(user, world["g4"])
    assert not Grid.objects.filter(pk=world["g4"].pk).exists()
    assert not GridCoverage.objects.filter(grid_id=world["g4"].pk).exists()
    with pytest.raises(PermissionDenied):
        services.delete_grid(user, world["gb"])


# ---- coverage --------------------------------------------------------------------------------


def test_cover_refusals(world, tree, users):
    user, admin = users["comm_a"], users["admin"]
    g4, zuoan, wenjin = world["g4"], world["zuoan"], world["wenjin"]
    with pytest.raises(ValidationError) as error:  # a building of another compound
        services.cover(user, g4, zuoan, building(wenjin, 1))
    assert "building" in error.value.message_dict
    with pytest.raises(ValidationError):  # twice
        services.cover(user, g4, world["xiaoyuan"])
    with pytest.raises(ValidationError):  # a building of a compound it covers whole
        services.cover(user, g4, world["xiaoyuan"], building(world["xiaoyuan"], 1))
    with pytest.raises(ValidationError):  # the same building twice
        services.cover(user, world["g1"], zuoan, building(zuoan, 1))
    with pytest.raises(ValidationError):  # whole compound while it covers a building of it
        services.cover(user, world["g1"], zuoan)
    with pytest.raises(PermissionDenied):  # B's compound
        services.cover(user, g4, world["huagong"])
    with pytest.raises(ValidationError) as error:  # outside the grid's community
        services.cover(admin, g4, world["huagong"])
    assert "compound" in error.value.message_dict
    with pytest.raises(ValidationError):  # a micro-grid covers only what its grid covers
        services.cover(admin, world["m3"], zuoan, building(zuoan, 1))
    Compound.objects.filter(pk=zuoan.pk).update(is_active=False)
    zuoan.refresh_from_db()
    with pytest.raises(ValidationError):
        services.cover(admin, g4, zuoan)
    assert GridCoverage.objects.filter(grid=g4).count() == 2


def test_micro_grid_covers_a_building_of_its_grid(world, users):
    coverage = services.cover(users["secretary"], world["m3"], world["wenjin"],
                              building(world["wenjin"], 2))
    assert coverage.grid == world["m3"]
    assert AuditEntry.objects.filter(model="grids.gridcoverage",
                                     object_id=str(coverage.pk)).exists()


def test_uncover(world, users):
    user = users["comm_a"]
    whole = GridCoverage.objects.get(grid=world["g3"])
    with pytest.raises(ValidationError):  # its micro-grid still covers building 1
        services.uncover(user, whole)
    services.uncover(user, GridCoverage.objects.get(grid=world["m3"]))
    services.uncover(user, whole)
    assert not GridCoverage.objects.filter(grid__in=[world["g3"], world["m3"]]).exists()
    with pytest.raises(PermissionDenied):
        services.uncover(user, GridCoverage.objects.get(grid=world["gb"]))


# ---- overlap cases ---------------------------------------------------------------------------


def test_overlap_cases(world):
    cases = services.compound_overlap_cases(
        [world[k].pk for k in ("zuoan", "wenjin", "xiaoyuan", "houyuan", "huagong")]
    )
    assert cases == {
        world["zuoan"].pk: services.ONE_COMPOUND_MANY_GRIDS,
        world["wenjin"].pk: services.ONE_TO_ONE,  # its micro-grid does not make a second grid
        world["xiaoyuan"].pk: services.ONE_GRID_MANY_COMPOUNDS,
        world["houyuan"].pk: services.ONE_GRID_MANY_COMPOUNDS,
        world["huagong"].pk: services.ONE_TO_ONE,
    }
    grids = [world[k] for k in ("g1", "g2", "g3", "m3", "g4", "gb")]
    assert {g.code: c for g in grids for c in [services.grid_overlap_cases(grids).get(g.pk)]} == {
        "A-G1": services.ONE_COMPOUND_MANY_GRIDS,
        "A-G2": services.ONE_COMPOUND_MANY_GRIDS,
        "A-G3": services.ONE_TO_ONE,
        "A-G3-M1": services.ONE_TO_ONE,
        "A-G4": services.ONE_GRID_MANY_COMPOUNDS,
        "B-G1": services.ONE_TO_ONE,
    }
    assert str(services.overlap_label(services.ONE_TO_ONE))
    assert services.overlap_label(None) == ""


def test_overlap_follows_changes(world, tree, users):
    # An inactive grid no longer overlaps; an uncovered compound has no case.
    services.update_grid(users["comm_a"], world["g2"], is_active=False)
    assert services.overlap_case(world["g1"]) == services.ONE_TO_ONE
    assert services.compound_overlap_cases([world["zuoan"].pk]) == {
        world["zuoan"].pk: services.ONE_TO_ONE
    }
    empty = services.create_grid(None, name="空网格", code="A-EMPTY", org_unit=tree["a"])
    assert services.overlap_case(empty) is None
    lone = compound(tree["a"], "空小区")
    assert services.compound_overlap_cases([lone.pk]) == {}
    assert services.compound_overlap_cases([]) == {} and services.grid_overlap_cases([]) == {}


def test_overlap_queries_are_bounded(world, django_assert_num_queries):
    grids = list(Grid.objects.all())
    compounds = list(Compound.objects.values_list("pk", flat=True))
    with django_assert_num_queries(2):
        services.grid_overlap_cases(grids)
    with django_assert_num_queries(2):
        services.compound_overlap_cases(compounds)


# ---- workers and assignments -----------------------------------------------------------------


def test_register_worker(world, tree, users):
    p = person(tree["a2"], "赵兼职")
    worker = services.register_worker(users["comm_a"], p, PART, tree["a2"])
    assert worker.kind == PART and worker.is_active
    with pytest.raises(ValidationError) as error:
        services.register_worker(users["comm_a"], p, FULL, tree["a"])
    assert "person" in error.value.message_dict
    assert GridWorker.objects.filter(person=p).count() == 1


@pytest.mark.parametrize("who, person_unit, kind, unit, error", [
    ("comm_a", "b", FULL, "a", PermissionDenied),  # B's person
    ("comm_a", "a", FULL, "b", PermissionDenied),  # B's unit
    ("comm_a", "a", "boss", "a", ValidationError),
    ("street", "a", FULL, "s1", ValidationError),  # a street
    ("secretary", "a2", FULL, "a", PermissionDenied),  # above the secretary's branch
    ("nobody", "a", FULL, "a", PermissionDenied),
])
def test_register_worker_refusals(world, tree, users, who, person_unit, kind, unit, error):
    p = person(tree[person_unit], "新人")
    with pytest.raises(error):
        services.register_worker(users[who], p, kind, tree[unit])
    assert not GridWorker.objects.filter(person=p).exists()


def test_assign_worker_refusals(world, tree, users):
    user, wa, today = users["comm_a"], world["wa"], timezone.localdate()
    with pytest.raises(ValidationError) as error:  # already open in that grid
        services.assign_worker(user, wa, world["g3"], D(2025, 3, 1))
    assert "worker" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.assign_worker(user, wa, world["g4"], today + dt.timedelta(days=1))
    assert "started_on" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.assign_worker(user, wa, world["g4"], "2025-13-01")
    assert "started_on" in error.value.message_dict
    with pytest.raises(PermissionDenied):
        services.assign_worker(user, wa, world["gb"], D(2025, 3, 1))
    with pytest.raises(PermissionDenied):
        services.assign_worker(user, world["wb"], world["g4"], D(2025, 3, 1))
    with pytest.raises(ValidationError) as error:  # a B worker in an A grid
        services.assign_worker(users["admin"], world["wb"], world["g4"], D(2025, 3, 1))
    assert "worker" in error.value.message_dict
    # A worker of branch A2 may work anywhere in community A: the rule is the community.
    assert services.assign_worker(user, world["wa2"], world["g4"], "2025-03-01").grid == world["g4"]


def test_end_assignment(world, users):
    user, assignment = users["comm_a"], world["asg_a"]
    with pytest.raises(ValidationError):
        services.end_assignment(user, assignment, D(2024, 12, 31))  # before it started
    with pytest.raises(ValidationError):
        services.end_assignment(user, assignment, timezone.localdate() + dt.timedelta(days=1))
    services.end_assignment(user, assignment, D(2025, 6, 30))
    assert GridAssignment.objects.get(pk=assignment.pk).ended_on == D(2025, 6, 30)
    with pytest.raises(ValidationError):
        services.end_assignment(user, assignment, D(2025, 7, 1))
    with pytest.raises(PermissionDenied):
        services.end_assignment(user, world["asg_b"])
    # Ended, the worker may be assigned to the grid again.
    again = services.assign_worker(user, world["wa"], world["g3"], D(2025, 8, 1))
    assert again.pk != assignment.pk


def test_deactivate_worker_ends_assignments(world, users):
    user, wa = users["comm_a"], world["wa"]
    services.assign_worker(user, wa, world["g4"], D(2025, 5, 1))
    with pytest.raises(ValidationError):  # before an assignment started
        services.deactivate_worker(user, wa, D(2025, 4, 1))
    services.deactivate_worker(user, wa, D(2025, 9, 30))
    assert not GridWorker.objects.get(pk=wa.pk).is_active
    assert set(wa.assignments.values_list("ended_on", flat=True)) == {D(2025, 9, 30)}
    with pytest.raises(ValidationError):
        services.deactivate_worker(user, wa)
    with pytest.raises(ValidationError):
        services.assign_worker(user, wa, world["g4"], D(2025, 10, 1))
    services.update_worker(user, wa, is_active=True)
    assert GridWorker.objects.get(pk=wa.pk).is_active
    with pytest.raises(PermissionDenied):
        services.deactivate_worker(user, world["wb"])


def test_update_worker(world, tree, users):
    user = users["street"]
    with pytest.raises(ValidationError) as error:  # still works in A's grid
        services.update_worker(user, world["wa"], org_unit=tree["b"])
    assert "org_unit" in error.value.message_dict
    worker = services.update_worker(user, world["wa"], kind=PART, org_unit=tree["a2"])
    assert (worker.kind, worker.org_unit) == (PART, tree["a2"])
    with pytest.raises(ValidationError):
        services.update_worker(user, world["wa"], kind="boss")
    with pytest.raises(PermissionDenied):
        services.update_worker(users["comm_a"], world["wa"], org_unit=tree["b"])


def test_delete_worker_and_assignment(world, tree, users):
    user = users["comm_a"]
    with pytest.raises(ValidationError):
        services.delete_worker(user, world["wa"])
    services.delete_assignment(user, world["asg_a"])
    services.delete_worker(user, world["wa"])
    assert not GridWorker.objects.filter(pk=world["wa"].pk).exists()
    with pytest.raises(PermissionDenied):
        services.delete_assignment(user, world["asg_b"])
