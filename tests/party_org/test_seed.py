import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from party_org.management.commands.seed_city import FULL_SCALE, build_city, city_layout
from party_org.models import OrgKind, OrgUnit, StaffAssignment
from party_org.selectors import Subtree, kind_counts, tree_problems

pytestmark = pytest.mark.django_db


def snapshot():
    from party_org.models import (
        BranchFundEntry, InServiceRegistration, PartyMember, Person, ServiceRecord,
    )

    return (
        sorted(Person.objects.values_list("name", "id_number_hash", "phone", "updated_at")),
        sorted(PartyMember.objects.values_list("person__id_number_hash", "category", "org_unit")),
        InServiceRegistration.objects.count(), ServiceRecord.objects.count(),
        BranchFundEntry.objects.count(),
        sorted(OrgUnit.objects.values_list("code", "name", "parent__code", "lft", "rght",
                                           "updated_at")),
        sorted(StaffAssignment.objects.values_list("user__username", "org_unit__code", "role")),
        sorted(get_user_model().objects.values_list("username", "password", "is_superuser")),
    )


def test_seed_demo_twice_changes_nothing(capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "street_liuxiang" in out and "Demo@2026" in out
    # The points mall's merchants sign in with the demo password, on their own page only.
    assert "merchant_laowang" in out and "merchant_huimin" in out
    merchant = Client()
    assert merchant.login(username="merchant_laowang", password="Demo@2026")
    page = merchant.get("/merchant/")
    assert page.status_code == 200 and "老王理发店" in page.content.decode()
    assert page.context["page"].rows  # the demo's used haircut
    assert merchant.get("/admin/").status_code == 302
    # A password changed since is kept by the next run.
    laowang = get_user_model().objects.get(username="merchant_laowang")
    assert not laowang.is_staff and not laowang.is_superuser
    laowang.set_password("Changed@2026")
    laowang.save()
    hashes = dict(get_user_model().objects.values_list("username", "password"))
    first = snapshot()
    call_command("seed_demo")
    assert snapshot() == first
    assert dict(get_user_model().objects.values_list("username", "password")) == hashes
    assert tree_problems() == []
    counts = kind_counts(Subtree.of(OrgUnit.objects.get(code="YZ")))
    assert counts["street"] == 3 and counts["community"] == 5
    # A general branch with grid branches below it: the overlap case of seed 001.
    assert OrgUnit.objects.filter(kind=OrgKind.BRANCH, parent__kind=OrgKind.BRANCH).count() == 2
    assert counts["building_group"] > 10 and counts["household"] > 20
    # Members of all four categories, with 双报到 registrations and service.
    from party_org.models import InServiceRegistration, MemberCategory, PartyMember

    categories = set(PartyMember.objects.values_list("category", flat=True))
    assert categories == set(MemberCategory.values)
    assert InServiceRegistration.objects.exists()
    assert PartyMember.objects.filter(record_location="elsewhere").exists()


def test_demo_users_have_their_roles(client):
    call_command("seed_demo")
    assert client.login(username="community_binhe", password="Demo@2026")
    response = client.get("/admin/party_org/orgunit/")
    assert response.status_code == 200
    names = {o.name for o in response.context["cl"].result_list}
    assert "滨河社区党委" in names and "金泽社区党委" not in names


def test_city_layout_has_the_taiyuan_shape():
    nodes = []

    def walk(node):
        nodes.append(node["kind"])
        for child in node.get("children", ()):
            walk(child)

    walk(city_layout())
    assert nodes.count(OrgKind.STREET) == FULL_SCALE["streets"]
    assert nodes.count(OrgKind.COMMUNITY) == FULL_SCALE["communities"]
    assert nodes.count(OrgKind.BRANCH) == FULL_SCALE["branches"]
    assert nodes.count(OrgKind.BUILDING_GROUP) == FULL_SCALE["building_groups"]
    assert nodes.count(OrgKind.HOUSEHOLD) == FULL_SCALE["households"]


def test_seed_city_builds_a_sound_tree_beside_existing_ones(tree):
    root, count = build_city("TY", scale=0.02)
    assert tree_problems() == []
    counts = kind_counts(Subtree.of(root))
    assert sum(counts.values()) == count
    assert counts["community"] == 20 and counts["household"] == 400
    # The tree beside it is untouched, and new nodes get fresh ids afterwards.
    assert kind_counts(Subtree.of(OrgUnit.objects.get(code="D")))["community"] == 3
    from tests.conftest import make

    street = OrgUnit.objects.filter(kind=OrgKind.STREET, tree_id=root.tree_id).first()
    assert make(street, OrgKind.COMMUNITY, "AFTER-CITY").pk > max(
        OrgUnit.objects.exclude(code="AFTER-CITY").values_list("pk", flat=True)
    )


def test_seed_city_command_is_idempotent(capsys):
    call_command("seed_city", "--scale", "0.01")
    assert "Tree check passed" in capsys.readouterr().out
    total = OrgUnit.objects.count()
    call_command("seed_city", "--scale", "0.01")
    assert OrgUnit.objects.count() == total
