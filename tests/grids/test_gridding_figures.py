"""Grid figures for a subtree: counts, kinds, staffed share and compound coverage, in a fixed
number of queries."""

import datetime as dt

import pytest

from grids.services import gridding as services
from party_org.selectors import Subtree
from party_org.statistics import Period, registry
from tests.grids.test_gridding import AUX, D, PART, compound, person, world  # noqa: F401
from tests.grids.test_gridding_api import _populate

pytestmark = pytest.mark.django_db

ONLY = ["grids", "grid_workers"]


def figures(node, period=None):
    period = period or Period(None, dt.date.today())
    return {row["name"]: row for row in registry.compute(Subtree.of(node), period, only=ONLY)}


def test_figures_for_community_a(world, tree):
    values = figures(tree["a"])
    assert values["grids.grids"]["value"] == 4 and values["grids.micro_grids"]["value"] == 1
    assert values["grid_workers.full_time"]["value"] == 1
    assert values["grid_workers.auxiliary"]["value"] == 1
    assert values["grid_workers.part_time"]["value"] == 0
    assert values["grid_workers.total"]["value"] == 2
    # 文锦苑网格 and its micro-grid have workers: 2 of 5 grids.
    assert (values["grids.staffed"]["numerator"], values["grids.staffed"]["denominator"]) == (2, 5)
    assert values["grids.compound_coverage"]["value"] == 1.0
    compound(tree["a2"], "没网格的小区")
    assert figures(tree["a"])["grids.compound_coverage"]["denominator"] == 5
    assert figures(tree["a"])["grids.compound_coverage"]["numerator"] == 4


def test_figures_follow_the_subtree_and_the_period(world, tree, users):
    assert figures(tree["b"])["grid_workers.total"]["value"] == 1
    assert figures(tree["s1"])["grids.grids"]["value"] == 5
    assert figures(tree["c"])["grids.staffed"]["value"] is None  # no grids: no rate
    early = figures(tree["a"], Period(None, D(2024, 12, 31)))
    assert early["grids.staffed"]["numerator"] == 0  # nobody assigned before 2025
    services.end_assignment(None, world["asg_a"], D(2025, 3, 1))
    services.deactivate_worker(None, world["wa2"], D(2025, 6, 1))
    after = figures(tree["a"])
    assert after["grids.staffed"]["numerator"] == 0
    assert after["grid_workers.total"]["value"] == 1
    between = figures(tree["a"], Period(None, D(2025, 2, 15)))
    assert between["grids.staffed"]["numerator"] == 2
    services.register_worker(None, person(tree["a"], "兼职"), PART, tree["a"])
    assert figures(tree["a"])["grid_workers.part_time"]["value"] == 1


def test_figure_queries_are_bounded(world, tree, django_assert_num_queries):
    with django_assert_num_queries(3):
        registry.compute(Subtree.of(tree["district"]), Period(None, dt.date.today()), only=ONLY)
    _populate(tree, 5, "多")
    with django_assert_num_queries(3):
        registry.compute(Subtree.of(tree["district"]), Period(None, dt.date.today()), only=ONLY)
