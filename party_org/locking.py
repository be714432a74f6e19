"""Serialised writes to the organisation tree.

django-mptt keeps lft/rght/tree_id in every row and rewrites ranges of them on each insert, move
or delete, so two concurrent writes to one tree can corrupt it. Every tree write therefore runs
inside `tree_write`, which holds a lock per affected tree for the whole transaction:

* PostgreSQL: transaction-scoped advisory locks, one per tree_id (plus one for "a new tree",
  since mptt numbers new trees max(tree_id) + 1), taken in sorted order so writers never deadlock.
* SQLite: the connection opens transactions IMMEDIATE (see settings), so every write transaction
  already holds the database's single write lock from its first statement.

A node's tree_id can change while we wait (another writer moved a root), so the ids are read
again under the lock and the transaction is retried if they moved.
"""

from contextlib import contextmanager

from django.db import connection, transaction

# Advisory locks take two int4 keys: a namespace for this lock family, then the tree id.
LOCK_NAMESPACE = 0x4F52  # "OR"
NEW_TREE_KEY = 0  # mptt tree ids start at 1, so 0 stands for "creating a new tree"


class TreeChanged(Exception):
    """The trees to lock changed between reading and locking; the caller retries."""


@contextmanager
def tree_write(tree_ids, new_tree=False):
    """Open a transaction holding the locks for `tree_ids` (and a new tree, if asked)."""
    keys = sorted({int(t) for t in tree_ids if t} | ({NEW_TREE_KEY} if new_tree else set()))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for key in keys:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, key])
        yield


def run_locked(model, pks, work, new_tree=False, attempts=10):
    """Call `work(nodes)` inside a transaction that holds the locks of the nodes' trees.

    `nodes` maps each pk to a fresh instance read under the lock (mptt computes moves from the
    instance's lft/rght, so stale instances must never be used for a tree write).
    """
    pks = [pk for pk in pks if pk is not None]
    for _attempt in range(attempts):
        expected = dict(model.objects.filter(pk__in=pks).values_list("pk", "tree_id"))
        try:
            with tree_write(expected.values(), new_tree=new_tree):
                nodes = model.objects.in_bulk(pks)
                if {pk: node.tree_id for pk, node in nodes.items()} != expected:
                    raise TreeChanged
                return work(nodes)
        except TreeChanged:
            continue
    raise TreeChanged("the organisation tree kept changing; try again")
