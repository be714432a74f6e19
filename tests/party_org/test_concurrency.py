"""Concurrent tree writes: 20 threads inserting and moving at once leave a sound tree.

Real concurrency needs PostgreSQL (SQLite serialises every writer on one file lock), so this runs
in CI's PostgreSQL pass and is skipped on SQLite.
"""

import random
import threading

import pytest
from django.db import connection, connections

from party_org import services
from party_org.models import OrgKind, OrgUnit
from party_org.selectors import tree_problems

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]

THREADS = 20
ROUNDS = 8


def test_twenty_threads_insert_and_move():
    district = services.create_org_unit(None, parent=None, kind=OrgKind.DISTRICT, code="D", name="D")
    other = services.create_org_unit(None, parent=None, kind=OrgKind.DISTRICT, code="E", name="E")
    streets = [
        services.create_org_unit(None, parent=root, kind=OrgKind.STREET, code=f"S{i}", name=f"S{i}")
        for i, root in enumerate([district, district, other])
    ]
    communities = [
        services.create_org_unit(
            None, parent=streets[i % 3], kind=OrgKind.COMMUNITY, code=f"C{i}", name=f"C{i}"
        )
        for i in range(6)
    ]
    community_pks = [c.pk for c in communities]
    street_pks = [s.pk for s in streets]
    errors = []
    barrier = threading.Barrier(THREADS)

    def worker(n):
        rng = random.Random(n)
        try:
            barrier.wait()
            mine = []
            for r in range(ROUNDS):
                parent = OrgUnit.objects.get(pk=rng.choice(community_pks))
                branch = services.create_org_unit(
                    None, parent=parent, kind=OrgKind.BRANCH, code=f"T{n}-{r}", name="b"
                )
                services.create_org_unit(
                    None, parent=branch, kind=OrgKind.BUILDING_GROUP, code=f"T{n}-{r}-g",
                    name="g",
                )
                mine.append(branch.pk)
                # Move one of this thread's branches (with its group) to another community,
                # and now and then a whole community to another street, across trees too.
                target = OrgUnit.objects.get(pk=rng.choice(community_pks))
                services.move_org_unit(None, OrgUnit.objects.get(pk=rng.choice(mine)), target)
                if r % 3 == n % 3:
                    community = OrgUnit.objects.get(pk=rng.choice(community_pks))
                    street = OrgUnit.objects.get(pk=rng.choice(street_pks))
                    services.move_org_unit(None, community, street)
        except Exception as error:  # noqa: BLE001 - collected and reported below
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert tree_problems() == []
    assert OrgUnit.objects.filter(kind=OrgKind.BRANCH).count() == THREADS * ROUNDS
    assert OrgUnit.objects.filter(kind=OrgKind.BUILDING_GROUP).count() == THREADS * ROUNDS
    # Every group still sits under its own branch.
    for group in OrgUnit.objects.filter(kind=OrgKind.BUILDING_GROUP).select_related("parent"):
        assert group.parent.code == group.code[:-2]
        assert group.tree_id == group.parent.tree_id
