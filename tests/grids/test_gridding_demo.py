"""The grids demo data: idempotent, every compound type, all three overlap cases, every kind
of grid worker, valid people."""

import pytest
from django.core.management import call_command

from grids import demo
from grids.models import (
    Building,
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
from grids.services import gridding as services
from party_org import pii
from party_org.models import Person

pytestmark = pytest.mark.django_db


def _counts():
    return {
        model.__name__: model.objects.count()
        for model in (Compound, Building, Entrance, Household, ResidentListEntry, Grid,
                      GridCoverage, GridWorker, GridAssignment, Person)
    }


@pytest.fixture(scope="module")
def _seeded_once(django_db_setup, django_db_blocker):
    """seed_demo once for the module (it takes seconds), inside a transaction rolled back at the
    end; each test runs in a savepoint within it."""
    import io

    from django.db import transaction

    with django_db_blocker.unblock():
        block = transaction.atomic()
        block.__enter__()
        try:
            call_command("seed_demo", stdout=io.StringIO())
        except BaseException:
            block.__exit__(None, None, None)
            raise
    yield
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        block.__exit__(None, None, None)


@pytest.fixture
def demo_data(_seeded_once, db):
    return None


def test_seed_demo_builds_the_grids_once(demo_data):
    assert Compound.objects.count() == len(demo.COMPOUNDS)
    assert Grid.objects.count() == len(demo.GRIDS)
    before = _counts()
    assert demo.build() == {}
    assert _counts() == before


def test_every_compound_type_and_the_demo_branch_names(demo_data):
    types = dict(Compound.objects.values_list("name", "compound_type"))
    assert set(types.values()) == set(CompoundType.values)
    assert types["化工东院"] == CompoundType.WORK_UNIT
    assert types["南寺城中村安置小区"] == CompoundType.TRANSITIONAL
    assert types["老园艺小区"] == CompoundType.OLD
    assert types["金泽华府"] == CompoundType.NEW_BUILD
    assert types["文锦苑"] == CompoundType.RESIDENTIAL
    assert Compound.objects.get(name="滨河左岸").org_unit.code == "YZ-LX-BH-BHZA"


def test_buildings_households_and_lists(demo_data):
    for compound in Compound.objects.all():
        buildings = compound.buildings.all()
        assert 2 <= len(buildings) <= 4
        assert all(b.building_head_id for b in buildings)
        assert Entrance.objects.filter(building__compound=compound).count() == 2 * len(buildings)
        households = compound.household_files.all()
        assert 5 <= len(households) <= 10
        assert all(h.head_id for h in households)
        assert any(h.care_flags for h in households)
        for household in households:
            household.full_clean()
    kinds = set(ResidentListEntry.objects.values_list("kind", flat=True))
    assert kinds == set(ResidentList.values)
    for person in Person.objects.filter(headed_households__isnull=False)[:20]:
        assert pii.id_number_problem(person.id_number) is None


def test_all_three_overlap_cases(demo_data):
    cases = services.compound_overlap_cases(Compound.objects.values_list("pk", flat=True))
    by_name = {Compound.objects.get(pk=pk).name: case for pk, case in cases.items()}
    assert by_name["滨河左岸"] == services.ONE_COMPOUND_MANY_GRIDS
    assert by_name["省纺院"] == by_name["向阳小区"] == services.ONE_GRID_MANY_COMPOUNDS
    assert by_name["文锦苑"] == services.ONE_TO_ONE
    assert len(by_name) == len(demo.COMPOUNDS)  # every compound is covered
    grid_cases = services.grid_overlap_cases(Grid.objects.all())
    assert set(grid_cases.values()) == {
        services.ONE_COMPOUND_MANY_GRIDS, services.ONE_GRID_MANY_COMPOUNDS, services.ONE_TO_ONE
    }
    assert Grid.objects.filter(parent__isnull=False).count() >= 5


def test_workers_of_every_kind_are_assigned(demo_data):
    kinds = set(GridWorker.objects.values_list("kind", flat=True))
    assert kinds == set(GridWorkerKind.values)
    assert not GridWorker.objects.filter(assignments__isnull=True).exists()
    # every active grid has someone working in it
    assert not Grid.objects.exclude(assignments__ended_on__isnull=True).exists()
