"""State changes of the organisation tree and staff assignments.

Every function takes the acting user (None for the system: management commands, migrations) and
enforces the same rules the admin and the API show: placement by kind, scope, and no silent
cascades. Tree writes run under the per-tree lock of `locking.run_locked`.
"""

from collections import Counter

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import router
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.utils.translation import gettext as _

from .. import roles
from ..locking import run_locked
from ..models import OrgUnit, StaffAssignment
from ..selectors import in_scope

TREE_FIELDS = ("lft", "rght", "tree_id", "level")
EDITABLE_FIELDS = (
    "name",
    "code",
    "kind",
    "contact_phone",
    "address",
    "established_on",
    "is_active",
)


def _require(user, perm):
    if user is not None and not user.has_perm(perm):
        raise PermissionDenied(_("You do not have permission to do this."))


def _require_scope(user, node, *, for_parent=False):
    if user is None:
        return
    if node is None:
        if not user.is_superuser:
            raise PermissionDenied(_("Only a superuser can create or move top-level units."))
        return
    if not in_scope(user, node):
        if for_parent:
            raise PermissionDenied(_("The chosen parent unit is outside your organisation."))
        raise PermissionDenied(_("This unit is outside your organisation."))


def _validate(node, parent):
    problem = node.placement_problem(parent)
    if problem:
        raise ValidationError({"parent": [problem]})
    # Not full_clean(): Model.clean() would check the placement again, against the old parent.
    exclude = {"parent", *TREE_FIELDS}
    errors = {}
    for check in (node.clean_fields, node.validate_unique, node.validate_constraints):
        try:
            check(exclude=exclude)
        except ValidationError as error:
            for field, messages in error.update_error_dict({}).items():
                errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def create_org_unit(user, *, parent=None, **fields):
    """Create a node as the last child of `parent` (a root when parent is None)."""
    _require(user, "party_org.add_orgunit")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")

    def work(nodes):
        fresh_parent = nodes.get(parent.pk) if parent is not None else None
        if parent is not None and fresh_parent is None:
            raise ValidationError({"parent": [_("The parent unit no longer exists.")]})
        _require_scope(user, fresh_parent, for_parent=True)
        node = OrgUnit(parent=fresh_parent, **fields)
        _validate(node, fresh_parent)
        node.save()
        return node

    return run_locked(OrgUnit, [parent.pk if parent else None], work, new_tree=parent is None)


def update_org_unit(user, node, *, parent=..., **fields):
    """Change a node's fields and, when `parent` is given and differs, move its subtree."""
    _require(user, "party_org.change_orgunit")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    moving = parent is not ... and (parent.pk if parent else None) != node.parent_id

    def work(nodes):
        fresh = nodes.get(node.pk)
        if fresh is None:
            raise ValidationError(_("This unit no longer exists."))
        _require_scope(user, fresh)
        for name, value in fields.items():
            setattr(fresh, name, value)
        target = fresh.parent
        if moving:
            target = nodes.get(parent.pk) if parent is not None else None
            if parent is not None and target is None:
                raise ValidationError({"parent": [_("The parent unit no longer exists.")]})
            _require_scope(user, target, for_parent=True)
        _validate(fresh, target)
        fresh.save(update_fields=[*fields, "updated_at"] if fields else ["updated_at"])
        if moving:
            fresh.move_to(target, "last-child")
            fresh.refresh_from_db()
        return fresh

    pks = [node.pk, parent.pk if moving and parent is not None else None]
    return run_locked(OrgUnit, pks, work, new_tree=moving and parent is None)


def move_org_unit(user, node, new_parent):
    """Move a node and its whole subtree under `new_parent` (last child)."""
    return update_org_unit(user, node, parent=new_parent)


def save_org_unit(user, node):
    """Persist an instance edited by a form: create it, or update its fields and move it."""
    fields = {name: getattr(node, name) for name in EDITABLE_FIELDS}
    if node.pk is None:
        return create_org_unit(user, parent=node.parent, **fields)
    return update_org_unit(user, node, parent=node.parent, **fields)


def deletion_blockers(node):
    """What still hangs on a node: {label: count}. Empty means it may be deleted."""
    blockers = Counter()
    children = node.get_children().count()
    if children:
        blockers[str(OrgUnit._meta.verbose_name_plural)] += children
        return blockers
    collector = Collector(using=router.db_for_write(OrgUnit))
    try:
        collector.collect([node])
    except (ProtectedError, RestrictedError) as error:
        objs = getattr(error, "protected_objects", None) or getattr(error, "restricted_objects")
        for obj in objs:
            blockers[str(obj._meta.verbose_name_plural)] += 1
    return blockers


def delete_org_unit(user, node):
    """Delete a leaf that nothing refers to; anything else is refused with the reason."""
    _require(user, "party_org.delete_orgunit")

    def work(nodes):
        fresh = nodes.get(node.pk)
        if fresh is None:
            return
        _require_scope(user, fresh)
        blockers = deletion_blockers(fresh)
        if blockers:
            detail = "、".join(f"{label} {count}" for label, count in blockers.items())
            raise ValidationError(
                _("“%(name)s” cannot be deleted while these still belong to it: %(detail)s.")
                % {"name": fresh.name, "detail": detail}
            )
        fresh.delete()

    run_locked(OrgUnit, [node.pk], work)


def assign_staff(user, *, staff_user, org_unit, role):
    """Give `staff_user` a role at `org_unit`: staff status and the role's permission group."""
    _require(user, "party_org.add_staffassignment")
    _require_scope(user, org_unit)
    if user is not None and not user.is_superuser and staff_user.is_superuser:
        raise PermissionDenied(_("Only a superuser can change another superuser's roles."))
    assignment, _created = StaffAssignment.objects.get_or_create(
        user=staff_user, org_unit=org_unit, role=role
    )
    sync_user_groups(staff_user)
    return assignment


def revoke_staff(user, assignment):
    _require(user, "party_org.delete_staffassignment")
    _require_scope(user, assignment.org_unit)
    staff_user = assignment.user
    assignment.delete()
    sync_user_groups(staff_user)


def sync_user_groups(staff_user):
    """Make the user's role groups and staff flag follow their assignments."""
    role_groups = roles.ensure_groups()
    held = set(staff_user.org_assignments.values_list("role", flat=True))
    for role, group in role_groups.items():
        if role in held:
            staff_user.groups.add(group)
        else:
            staff_user.groups.remove(group)
    if held and not staff_user.is_staff:
        staff_user.is_staff = True
        staff_user.save(update_fields=["is_staff"])
    staff_user._scope_subtrees = None
    for cache in ("_perm_cache", "_group_perm_cache", "_user_perm_cache"):
        if hasattr(staff_user, cache):
            delattr(staff_user, cache)


def role_group(role):
    return Group.objects.get(name=roles.group_name(role))
