"""Territory figures: compounds by type, households, care flags and party coverage, per subtree,
in a fixed number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from grids.figures.territory import territory_figures
from grids.models import CareFlag, CompoundType
from grids.services import territory as services
from party_org.selectors import Subtree
from party_org.statistics import Period, Rate

from .test_territory_helpers import compound, household

pytestmark = pytest.mark.django_db

PERIOD = Period(None, Period.parse().end)


@pytest.fixture
def city(tree):
    a_old = compound(tree["a2"], "老院", CompoundType.OLD, households=200, population=500)
    a_new = compound(tree["a"], "新城", CompoundType.NEW_BUILD, households=50, population=120)
    compound(tree["a1a"], "厂区", CompoundType.WORK_UNIT, households=30, population=70)
    closed = compound(tree["a2"], "拆迁区", CompoundType.TRANSITIONAL, households=99,
                      population=99)
    services.update_compound(None, closed, is_active=False)
    b_res = compound(tree["b1"], "化工东院", CompoundType.RESIDENTIAL, households=400,
                     population=1000)
    household(a_old, "1", care_flags=[CareFlag.LONELY_ELDERLY, CareFlag.ELDERLY_ALONE])
    household(a_old, "2", care_flags=[CareFlag.ELDERLY_ALONE])
    # "elderly_alone" must not be counted for a household of lonely elderly only.
    household(a_new, "1", care_flags=[CareFlag.LONELY_ELDERLY, CareFlag.LOW_INCOME])
    household(a_new, "2")
    household(closed, "1", care_flags=[CareFlag.DISABLED])
    household(b_res, "1", care_flags=[CareFlag.DISABLED, CareFlag.HARDSHIP])
    return tree


def compute(node):
    with CaptureQueriesContext(connection) as queries:
        values = territory_figures(Subtree.of(node), PERIOD)
    assert len(queries) == 2
    return values


def test_community_a(city):
    values = compute(city["a"])
    assert {k: v for k, v in values.items() if k.startswith("compounds.") and not isinstance(
        v, Rate)} == {
        "compounds.residential": 0, "compounds.transitional": 0, "compounds.old": 1,
        "compounds.work_unit": 1, "compounds.new_build": 1, "compounds.total": 3,
        "compounds.households": 280, "compounds.population": 690,
    }
    assert values["households.files"] == 4
    assert {flag: values[f"households.care.{flag}"] for flag in CareFlag.values} == {
        "lonely_elderly": 2, "elderly_alone": 2, "disabled": 0, "pregnant": 0,
        "low_income": 1, "hardship": 0,
    }
    # Two of the three active compounds have a branch of their own.
    coverage = values["compounds.party_coverage"]
    assert (coverage.numerator, coverage.denominator, coverage.value) == (2, 3, 0.6667)


def test_other_subtrees(city):
    street = compute(city["s1"])
    assert street["compounds.total"] == 4 and street["compounds.residential"] == 1
    assert street["households.care.disabled"] == 1 and street["households.files"] == 5
    assert street["compounds.party_coverage"].value == 0.75
    b = compute(city["b"])
    assert b["compounds.total"] == 1 and b["compounds.population"] == 1000
    empty = compute(city["c"])
    assert empty["compounds.total"] == 0 and empty["compounds.households"] == 0
    assert empty["compounds.party_coverage"].value is None


def test_stats_endpoint(city, users, api_for):
    response = api_for(users["comm_a"]).get(
        f"/api/v1/org-units/{city['a'].pk}/stats/", {"figures": "compounds,households"})
    assert response.status_code == 200
    figures = {f["name"]: f for f in response.json()["figures"]}
    assert figures["compounds.total"]["value"] == 3
    assert figures["households.care.elderly_alone"]["value"] == 2
    assert figures["compounds.party_coverage"]["denominator"] == 3
    assert len(figures) == 16
    assert api_for(users["comm_a"]).get(
        f"/api/v1/org-units/{city['b'].pk}/stats/").status_code == 404
