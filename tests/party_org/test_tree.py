import itertools

import pytest
from django.db.models import F
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from party_org import services
from party_org.models import ALLOWED_CHILDREN, OrgKind, OrgUnit, StaffRole
from party_org.selectors import tree_problems
from tests.conftest import make

pytestmark = pytest.mark.django_db

# A valid chain to hang a parent of each kind on.
CHAIN = {
    OrgKind.CITY: [],
    OrgKind.DISTRICT: [OrgKind.CITY],
    OrgKind.STREET: [OrgKind.DISTRICT],
    OrgKind.COMMUNITY: [OrgKind.STREET],
    OrgKind.BRANCH: [OrgKind.STREET, OrgKind.COMMUNITY],
    OrgKind.BUILDING_GROUP: [OrgKind.STREET, OrgKind.COMMUNITY, OrgKind.BRANCH],
    OrgKind.HOUSEHOLD: [OrgKind.STREET, OrgKind.COMMUNITY, OrgKind.BRANCH, OrgKind.BUILDING_GROUP],
}


def parent_of_kind(kind):
    node = None
    for i, k in enumerate([*CHAIN[kind], kind]):
        node = make(node, k, f"P{i}-{k.value}")
    return node


EXPECTED = {
    (None, OrgKind.CITY), (None, OrgKind.DISTRICT), (None, OrgKind.STREET),
    (OrgKind.CITY, OrgKind.DISTRICT), (OrgKind.CITY, OrgKind.STREET),
    (OrgKind.DISTRICT, OrgKind.STREET),
    (OrgKind.STREET, OrgKind.COMMUNITY),
    (OrgKind.COMMUNITY, OrgKind.BRANCH),
    (OrgKind.BRANCH, OrgKind.BRANCH), (OrgKind.BRANCH, OrgKind.BUILDING_GROUP),
    (OrgKind.BRANCH, OrgKind.HOUSEHOLD),
    (OrgKind.BUILDING_GROUP, OrgKind.HOUSEHOLD),
}


def test_the_table_is_what_the_design_says():
    actual = {(p, c) for p, children in ALLOWED_CHILDREN.items() for c in children}
    assert actual == EXPECTED


@pytest.mark.parametrize(
    "parent_kind,kind", list(itertools.product([None, *OrgKind], list(OrgKind)))
)
def test_every_placement(parent_kind, kind):
    parent = parent_of_kind(parent_kind) if parent_kind else None
    if (parent_kind, kind) in EXPECTED:
        node = make(parent, kind, "X")
        assert node.parent == parent
        assert tree_problems() == []
    else:
        with pytest.raises(ValidationError) as error:
            make(parent, kind, "X")
        assert "parent" in error.value.message_dict
        assert not OrgUnit.objects.filter(code="X").exists()


def test_a_branch_nests_only_once(tree):
    with pytest.raises(ValidationError, match="nested only once|只能嵌套一层"):
        make(tree["a1a"], OrgKind.BRANCH, "TOO-DEEP")
    # A general branch with branches below cannot itself go under a branch.
    with pytest.raises(ValidationError):
        services.move_org_unit(None, tree["a1"], tree["a2"])
    # A plain branch may go under a branch that sits under a community.
    services.move_org_unit(None, tree["a2"], tree["a1"])
    assert OrgUnit.objects.get(code="A2").parent.code == "A1"
    assert tree_problems() == []


def test_refused_placement_message_is_translated(tree):
    with pytest.raises(ValidationError) as error:
        make(tree["a"], OrgKind.HOUSEHOLD, "H-X")
    message = error.value.message_dict["parent"][0]
    assert "社区党委" in message and "党员中心户" in message


def test_move_carries_the_subtree(tree):
    a = OrgUnit.objects.get(code="A")
    before = set(a.get_descendants().values_list("code", flat=True))
    services.move_org_unit(None, a, tree["s2"])
    a = OrgUnit.objects.get(code="A")
    assert a.parent.code == "S2"
    assert set(a.get_descendants().values_list("code", flat=True)) == before
    s2 = OrgUnit.objects.get(code="S2")
    assert set(s2.get_descendants().values_list("code", flat=True)) >= before
    assert tree_problems() == []


def test_move_to_another_tree_and_back():
    d1 = make(None, OrgKind.DISTRICT, "D1")
    d2 = make(None, OrgKind.DISTRICT, "D2")
    street = make(d1, OrgKind.STREET, "ST")
    make(street, OrgKind.COMMUNITY, "CM")
    services.move_org_unit(None, street, OrgUnit.objects.get(code="D2"))
    assert OrgUnit.objects.get(code="CM").tree_id == OrgUnit.objects.get(code="D2").tree_id
    services.move_org_unit(None, OrgUnit.objects.get(code="ST"), None)
    assert OrgUnit.objects.get(code="ST").is_root_node()
    assert tree_problems() == []
    assert d2.pk


def test_cannot_move_below_own_descendant(tree):
    with pytest.raises(ValidationError):
        services.move_org_unit(None, tree["s1"], tree["a"])
    with pytest.raises(ValidationError):
        services.move_org_unit(None, tree["a"], tree["a"])
    assert tree_problems() == []


def test_move_refused_where_kinds_do_not_fit(tree):
    with pytest.raises(ValidationError):
        services.move_org_unit(None, tree["a2g"], tree["c"])  # group under a community
    with pytest.raises(ValidationError):
        services.move_org_unit(None, tree["a"], None)  # a community cannot be a root
    assert OrgUnit.objects.get(code="A2G").parent.code == "A2"


def test_kind_change_must_fit_children(tree):
    with pytest.raises(ValidationError):
        services.update_org_unit(None, tree["a2"], kind=OrgKind.BUILDING_GROUP)
    services.update_org_unit(None, tree["a2h"], name="改名后的中心户")
    assert OrgUnit.objects.get(code="A2H").name == "改名后的中心户"


def test_delete_with_children_is_refused(tree):
    with pytest.raises(ValidationError) as error:
        services.delete_org_unit(None, tree["a2"])
    assert "文锦苑小区党支部" in " ".join(error.value.messages)
    assert OrgUnit.objects.filter(code="A2G").exists()
    assert tree_problems() == []


def test_delete_with_data_is_refused(tree, django_user_model):
    user = django_user_model.objects.create_user("worker")
    services.assign_staff(None, staff_user=user, org_unit=tree["c1"], role=StaffRole.GRID_WORKER)
    with pytest.raises(ValidationError):
        services.delete_org_unit(None, tree["c1"])
    assert OrgUnit.objects.filter(code="C1").exists()
    assert tree_problems() == []


def test_delete_a_leaf(tree):
    services.delete_org_unit(None, tree["a2h"])
    assert not OrgUnit.objects.filter(code="A2H").exists()
    assert tree_problems() == []


def test_codes_are_unique(tree):
    with pytest.raises(ValidationError) as error:
        make(tree["a"], OrgKind.BRANCH, "A1")
    assert "code" in error.value.message_dict


def test_check_tree_finds_corruption(tree, capsys):
    call_command("check_tree")
    assert "Tree OK" in capsys.readouterr().out
    # (A database constraint refuses rght <= lft, so corrupt within what it lets through.)
    OrgUnit.objects.filter(code="A2").update(lft=F("lft") + 1)
    assert tree_problems()
    with pytest.raises(CommandError, match="problem"):
        call_command("check_tree")
    call_command("check_tree", "--rebuild")
    assert tree_problems() == []


def test_check_tree_finds_wrong_kinds_and_levels(tree):
    OrgUnit.objects.filter(code="A2H").update(kind=OrgKind.STREET)
    OrgUnit.objects.filter(code="B1G").update(level=7)
    problems = " ".join(tree_problems())
    assert "street node(s) under a building_group" in problems
    assert "not nested inside its parent" in problems


def test_nightly_task_reports_problems(tree):
    from party_org.tasks import verify_org_tree

    assert verify_org_tree.delay().get() == 0
    OrgUnit.objects.filter(code="A2").update(rght=F("rght") + 2)
    assert verify_org_tree.delay().get() > 0
