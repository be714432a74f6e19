"""Reusable reads: the one scoping mechanism and the tree queries.

Everything that asks "which rows may this user see" or "what is inside this subtree" goes through
here, so the storage of the tree could change without touching the admin, the API or the exports.
"""

from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import Count, Q

from .models import ALLOWED_CHILDREN, OrgKind, OrgUnit


@dataclass(frozen=True)
class Subtree:
    """The tree columns of a node: enough to filter anything inside its subtree."""

    tree_id: int
    lft: int
    rght: int

    @classmethod
    def of(cls, node):
        return cls(node.tree_id, node.lft, node.rght)

    def q(self, path=""):
        """A range filter for rows whose org unit (reached by `path`) lies in this subtree."""
        prefix = f"{path}__" if path else ""
        return Q(
            **{
                f"{prefix}tree_id": self.tree_id,
                f"{prefix}lft__gte": self.lft,
                f"{prefix}rght__lte": self.rght,
            }
        )

    def contains(self, node):
        return node.tree_id == self.tree_id and self.lft <= node.lft and node.rght <= self.rght


def user_subtrees(user):
    """The subtrees a user is assigned to (cached on the user object for the request)."""
    if user is None or not user.is_authenticated:
        return ()
    cached = getattr(user, "_scope_subtrees", None)
    if cached is not None:
        return cached
    rows = OrgUnit.objects.filter(staff_assignments__user=user).values_list(
        "tree_id", "lft", "rght"
    )
    subtrees = tuple(Subtree(*row) for row in set(rows))
    user._scope_subtrees = subtrees
    return subtrees


def sees_everything(user):
    return bool(user and user.is_authenticated and user.is_superuser)


def scope_q(user, path=""):
    """A Q object for rows (reached through `path` to their OrgUnit) within the user's scope.

    Returns None when the user sees everything.
    """
    if sees_everything(user):
        return None
    subtrees = user_subtrees(user)
    if not subtrees:
        return Q(pk__in=[])
    return reduce(or_, (subtree.q(path) for subtree in subtrees))


_UNDECLARED = object()


def is_scoped_model(model):
    """Whether rows of `model` hang on the tree (declare a scope_path other than None)."""
    return getattr(model, "scope_path", None) is not None


def scoped(user, queryset):
    """Restrict `queryset` to the user's subtrees; the model declares `scope_path`.

    `scope_path = None` marks city-wide reference data (work units), visible to all staff.
    """
    path = getattr(queryset.model, "scope_path", _UNDECLARED)
    if path is _UNDECLARED:
        raise TypeError(f"{queryset.model.__name__} declares no scope_path")
    if path is None:
        return queryset if user and user.is_authenticated else queryset.none()
    q = scope_q(user, path)
    return queryset if q is None else queryset.filter(q)


def in_scope(user, node):
    """Whether the node lies inside one of the user's subtrees."""
    if node is None:
        return sees_everything(user)
    if sees_everything(user):
        return True
    return any(subtree.contains(node) for subtree in user_subtrees(user))


def org_units_for(user):
    return scoped(user, OrgUnit.objects.all())


def subtree_of(node):
    """All nodes in the subtree of `node`, itself included: one range filter."""
    return OrgUnit.objects.filter(Subtree.of(node).q())


def ancestors_of(node, include_self=False):
    return node.get_ancestors(include_self=include_self)


def with_child_counts(queryset):
    return queryset.annotate(children_count=Count("children", distinct=True))


def kind_counts(subtree, established_by=None, active_only=True):
    """Nodes per kind in a subtree: one grouped query."""
    qs = OrgUnit.objects.filter(subtree.q())
    if active_only:
        qs = qs.filter(is_active=True)
    if established_by is not None:
        qs = qs.filter(Q(established_on__isnull=True) | Q(established_on__lte=established_by))
    counts = {kind.value: 0 for kind in OrgKind}
    for row in qs.values("kind").annotate(n=Count("id")).order_by():
        counts[row["kind"]] = row["n"]
    return counts


def tree_problems():
    """Everything wrong with the stored tree, found with set-based queries (never a node loop).

    Returns a list of human-readable strings; an empty list means the tree is sound.
    """
    from django.db import connection

    table = connection.ops.quote_name(OrgUnit._meta.db_table)
    problems = []

    def rows(sql):
        # No parameters: executed as is, so "%" needs no escaping on any backend.
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    for pk, lft, rght in rows(f"SELECT id, lft, rght FROM {table} WHERE rght <= lft LIMIT 20"):
        problems.append(f"node {pk}: rght {rght} is not after lft {lft}")
    for pk, lft, rght in rows(
        f"SELECT id, lft, rght FROM {table} WHERE (rght - lft) % 2 = 0 LIMIT 20"
    ):
        problems.append(f"node {pk}: rght - lft = {rght - lft} is even")
    for pk, lft, level in rows(
        f"SELECT id, lft, level FROM {table} WHERE parent_id IS NULL AND (lft <> 1 OR level <> 0)"
        " LIMIT 20"
    ):
        problems.append(f"root {pk}: lft {lft}, level {level} (expected 1 and 0)")
    for tree_id, n, min_lft, max_rght in rows(
        f"SELECT tree_id, COUNT(*), MIN(lft), MAX(rght) FROM {table} GROUP BY tree_id"
    ):
        if min_lft != 1 or max_rght != 2 * n:
            problems.append(
                f"tree {tree_id}: {n} nodes span lft {min_lft}..rght {max_rght}"
                f" (expected 1..{2 * n})"
            )
    for tree_id, roots in rows(
        f"SELECT tree_id, COUNT(*) FROM {table} WHERE parent_id IS NULL GROUP BY tree_id"
        " HAVING COUNT(*) <> 1"
    ):
        problems.append(f"tree {tree_id}: {roots} roots")
    for tree_id, edge, n in rows(
        f"SELECT tree_id, edge, COUNT(*) FROM ("
        f" SELECT tree_id, lft AS edge FROM {table} UNION ALL"
        f" SELECT tree_id, rght AS edge FROM {table}) edges"
        " GROUP BY tree_id, edge HAVING COUNT(*) > 1 LIMIT 20"
    ):
        problems.append(f"tree {tree_id}: value {edge} used {n} times")
    for pk, parent_pk in rows(
        f"SELECT c.id, p.id FROM {table} c JOIN {table} p ON c.parent_id = p.id"
        " WHERE c.tree_id <> p.tree_id OR c.lft <= p.lft OR c.rght >= p.rght"
        " OR c.level <> p.level + 1 LIMIT 20"
    ):
        problems.append(f"node {pk}: not nested inside its parent {parent_pk}")
    # Kinds: the distinct (parent kind, kind) pairs are few, so check them in Python.
    for parent_kind, kind, n in rows(
        f"SELECT p.kind, c.kind, COUNT(*) FROM {table} c JOIN {table} p ON c.parent_id = p.id"
        " GROUP BY p.kind, c.kind"
    ):
        if OrgKind(kind) not in ALLOWED_CHILDREN.get(OrgKind(parent_kind), set()):
            problems.append(f"{n} {kind} node(s) under a {parent_kind}")
    for n, in rows(
        f"SELECT COUNT(*) FROM {table} c JOIN {table} p ON c.parent_id = p.id"
        f" JOIN {table} g ON p.parent_id = g.id"
        " WHERE c.kind = 'branch' AND p.kind = 'branch' AND g.kind = 'branch'"
    ):
        if n:
            problems.append(f"{n} branch(es) nested more than once")
    for kind, n in rows(
        f"SELECT kind, COUNT(*) FROM {table} WHERE parent_id IS NULL GROUP BY kind"
    ):
        if OrgKind(kind) not in ALLOWED_CHILDREN[None]:
            problems.append(f"{n} root(s) of kind {kind}, which needs a parent")
    return problems
