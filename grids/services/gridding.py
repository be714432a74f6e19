"""State changes of grids and micro-grids (网格/微网格), what they cover, grid workers and their
assignments; plus the reads that classify how grids and compounds overlap (the three cases of
seed 001).

Every function takes the acting user first (None for the system), checks the model permission
and that every unit it touches lies in the user's scope, validates with translated messages,
runs in a transaction and writes the change to the ledger change log.
"""

import datetime as dt
from collections import defaultdict

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.deletion import ProtectedError, RestrictedError
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from party_org import audit
from party_org.models import AuditEntry, OrgKind
from party_org.selectors import Subtree, in_scope
from party_org.services.tree import _require, _require_scope

from ..models import Grid, GridAssignment, GridCoverage, GridWorker, GridWorkerKind
from ..models.territory import COMPOUND_UNIT_KINDS

CREATE, UPDATE, DELETE = (
    AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE, AuditEntry.Action.DELETE,
)
GRID_FIELDS = ("name", "code", "org_unit", "parent", "is_active")
COVERAGE_FIELDS = ("grid", "compound", "building")
WORKER_FIELDS = ("person", "kind", "org_unit", "is_active")
ASSIGNMENT_FIELDS = ("worker", "grid", "started_on", "ended_on")

# The three ways grids and compounds overlap (seed 001).
ONE_COMPOUND_MANY_GRIDS = "one_compound_many_grids"
ONE_GRID_MANY_COMPOUNDS = "one_grid_many_compounds"
ONE_TO_ONE = "one_to_one"
OVERLAP_LABELS = {
    ONE_COMPOUND_MANY_GRIDS: gettext_lazy("one compound, many grids"),
    ONE_GRID_MANY_COMPOUNDS: gettext_lazy("one grid, many compounds"),
    ONE_TO_ONE: gettext_lazy("one grid, one compound"),
}


# ---- shared checks ---------------------------------------------------------------------------


def _today():
    return timezone.localdate()


def _as_date(value, field):
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise ValidationError({field: [_("Enter a valid date (YYYY-MM-DD).")]}) from None


def _raise(errors):
    if errors:
        raise ValidationError(errors)


def _record(user, action, obj, org_unit, summary, before=None, fields=()):
    audit.record_change(user, action, obj, org_unit, summary, before=before, fields=fields)


def community_of(node):
    """The community a community or branch (or anything below one) belongs to, else None."""
    if node is None:
        return None
    if node.kind == OrgKind.COMMUNITY:
        return node
    return node.get_ancestors().filter(kind=OrgKind.COMMUNITY).last()


def _same_community(a, b):
    community = community_of(a)
    return community is not None and Subtree.of(community).contains(b)


def _require_in_scope(user, node, message):
    if user is not None and not in_scope(user, node):
        raise PermissionDenied(message)


# ---- grids -----------------------------------------------------------------------------------


def _grid_errors(grid, fresh_parent):
    errors = {}
    unit = grid.org_unit
    if unit.kind not in COMPOUND_UNIT_KINDS:
        errors["org_unit"] = [_("A grid is led by a branch or, while it has none, a community.")]
    elif not unit.is_active:
        errors["org_unit"] = [_("%(unit)s is no longer active.") % {"unit": unit.name}]
    if fresh_parent is not None:
        if fresh_parent.parent_id is not None:
            errors["parent"] = [_("A micro-grid cannot be divided further.")]
        elif grid.pk is not None and fresh_parent.pk == grid.pk:
            errors["parent"] = [_("A grid cannot divide itself.")]
        elif grid.pk is not None and grid.micro_grids.exists():
            errors["parent"] = [
                _("This grid is divided into micro-grids, so it cannot become one itself.")
            ]
        elif "org_unit" not in errors and not _same_community(fresh_parent.org_unit, unit):
            errors["parent"] = [
                _("A micro-grid lies in the same community as the grid it divides.")
            ]
        elif grid.is_active and not fresh_parent.is_active:
            errors["parent"] = [
                _("The grid “%(grid)s” is no longer active.") % {"grid": fresh_parent.name}
            ]
    elif grid.pk is not None and "org_unit" not in errors:
        community = community_of(unit)
        outside = grid.micro_grids.exclude(Subtree.of(community).q("org_unit")) if community else None
        if outside is not None and outside.exists():
            errors["org_unit"] = [
                _("The grid's micro-grids lie in another community; the grid must stay there.")
            ]
    for check in (grid.clean_fields, grid.validate_unique):
        try:
            check(exclude=["org_unit", "parent"])
        except ValidationError as error:
            for field, messages in error.update_error_dict({}).items():
                errors.setdefault(field, []).extend(messages)
    return errors


def _uncovered_by_parent(grid, parent):
    """The first of `grid`'s coverage rows that `parent` does not cover, or None."""
    whole = GridCoverage.objects.filter(grid=parent, building__isnull=True).values("compound_id")
    buildings = GridCoverage.objects.filter(grid=parent, building__isnull=False).values(
        "building_id"
    )
    return (
        grid.coverage.exclude(compound_id__in=whole)
        .exclude(building_id__in=buildings)
        .select_related("compound", "building")
        .first()
    )


def _lock_grid(grid):
    fresh = (
        Grid.objects.select_for_update(of=("self",)).select_related("org_unit", "parent")
        .filter(pk=grid.pk).first()
    )
    if fresh is None:
        raise ValidationError(_("This grid no longer exists."))
    return fresh


def _save_grid(grid):
    try:
        with transaction.atomic():
            grid.save()
    except IntegrityError:
        if Grid.objects.filter(code=grid.code).exclude(pk=grid.pk).exists():
            raise ValidationError(
                {"code": [_("Another grid already uses the code “%(code)s”.") % {"code": grid.code}]}
            ) from None
        raise


def create_grid(user, *, name, code, org_unit, parent=None, is_active=True):
    """A grid led by `org_unit` (a branch or community), or a micro-grid of `parent`."""
    _require(user, "grids.add_grid")
    _require_scope(user, org_unit)
    with transaction.atomic():
        fresh_parent = None
        if parent is not None:
            _require_in_scope(user, parent.org_unit, _("The chosen grid is outside your organisation."))
            fresh_parent = _lock_grid(parent)
        grid = Grid(
            name=(name or "").strip(), code=(code or "").strip(), org_unit=org_unit,
            parent=fresh_parent, is_active=is_active,
        )
        _raise(_grid_errors(grid, fresh_parent))
        _save_grid(grid)
        kind = _("Micro-grid") if fresh_parent else _("Grid")
        _record(user, CREATE, grid, org_unit, _("%(kind)s “%(name)s” created")
                % {"kind": kind, "name": grid.name}, fields=GRID_FIELDS)
    return grid


def update_grid(user, grid, **fields):
    """Change a grid's name, code, leading unit, grid it divides, or active flag.

    Deactivating a grid ends its open assignments; it is refused while active micro-grids
    still divide it.
    """
    unknown = set(fields) - set(GRID_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    _require(user, "grids.change_grid")
    with transaction.atomic():
        fresh = _lock_grid(grid)
        _require_scope(user, fresh.org_unit)
        before = audit.snapshot(fresh, GRID_FIELDS)
        if "org_unit" in fields and fields["org_unit"].pk != fresh.org_unit_id:
            _require_scope(user, fields["org_unit"])
        new_parent = fields.get("parent", fresh.parent)
        if "parent" in fields and (new_parent.pk if new_parent else None) != fresh.parent_id:
            if new_parent is not None:
                _require_in_scope(
                    user, new_parent.org_unit, _("The chosen grid is outside your organisation.")
                )
                new_parent = _lock_grid(new_parent)
        for name, value in fields.items():
            if name in ("name", "code"):
                value = (value or "").strip()
            setattr(fresh, name, value)
        fresh.parent = new_parent
        errors = _grid_errors(fresh, new_parent)
        if new_parent is not None and not errors:
            outside = _uncovered_by_parent(fresh, new_parent)
            if outside is not None:
                errors["parent"] = [
                    _("A micro-grid covers only what its grid “%(grid)s” covers, and it does "
                      "not cover %(what)s.")
                    % {"grid": new_parent.name,
                       "what": _coverage_label(outside.compound, outside.building)}
                ]
        ending = before["is_active"] and not fresh.is_active
        if ending and fresh.micro_grids.filter(is_active=True).exists():
            errors.setdefault("is_active", []).append(
                _("Deactivate the grid's micro-grids first.")
            )
        _raise(errors)
        _save_grid(fresh)
        _record(user, UPDATE, fresh, fresh.org_unit, _("Grid “%(name)s” changed")
                % {"name": fresh.name}, before=before, fields=GRID_FIELDS)
        if ending:
            for assignment in fresh.assignments.filter(ended_on__isnull=True).select_related(
                "worker__person"
            ):
                _end(user, assignment, fresh, max(assignment.started_on, _today()))
    return fresh


def save_grid(user, grid):
    """Persist a grid edited by a form: create it, or update it."""
    fields = {name: getattr(grid, name) for name in GRID_FIELDS}
    if grid.pk is None:
        return create_grid(user, **fields)
    return update_grid(user, grid, **fields)


def delete_grid(user, grid):
    """Delete a grid entered by mistake; one with micro-grids or assignments is deactivated
    instead (its history stays)."""
    _require(user, "grids.delete_grid")
    _require_scope(user, grid.org_unit)
    with transaction.atomic():
        fresh = _lock_grid(grid)
        blockers = []
        if fresh.micro_grids.exists():
            blockers.append(_("it is divided into micro-grids"))
        if fresh.assignments.exists():
            blockers.append(_("grid workers have been assigned to it"))
        if blockers:
            raise ValidationError(
                _("“%(name)s” cannot be deleted because %(why)s; deactivate it instead.")
                % {"name": fresh.name, "why": "、".join(str(b) for b in blockers)}
            )
        _record(user, DELETE, fresh, fresh.org_unit, _("Grid “%(name)s” deleted")
                % {"name": fresh.name}, fields=GRID_FIELDS)
        try:
            fresh.delete()
        except (ProtectedError, RestrictedError):
            raise ValidationError(
                _("“%(name)s” is still referred to; deactivate it instead.") % {"name": fresh.name}
            ) from None


# ---- coverage --------------------------------------------------------------------------------


def _coverage_label(compound, building):
    return str(building) if building is not None else compound.name


def cover(user, grid, compound, building=None):
    """The grid covers the whole compound, or one building of it.

    A micro-grid covers only what its grid covers; nothing is covered twice by one grid.
    """
    _require(user, "grids.add_gridcoverage")
    _require_scope(user, grid.org_unit)
    _require_in_scope(user, compound.org_unit, _("This compound is outside your organisation."))
    with transaction.atomic():
        fresh = _lock_grid(grid)
        errors = {}
        if not compound.is_active:
            errors["compound"] = [
                _("The compound “%(name)s” is no longer active.") % {"name": compound.name}
            ]
        elif not _same_community(fresh.org_unit, compound.org_unit):
            errors["compound"] = [_("The compound lies outside the grid's community.")]
        if building is not None and building.compound_id != compound.pk:
            errors["building"] = [_("The building is in another compound.")]
        _raise(errors)
        rows = GridCoverage.objects.filter(grid=fresh, compound=compound)
        label = _coverage_label(compound, building)
        if rows.filter(building__isnull=True).exists():
            raise ValidationError(
                {"compound": [_("“%(grid)s” already covers the whole of %(what)s.")
                              % {"grid": fresh.name, "what": compound.name}]}
            )
        if building is None and rows.exists():
            raise ValidationError(
                {"compound": [_("“%(grid)s” already covers buildings of %(what)s; remove those "
                                "first to cover the whole compound.")
                              % {"grid": fresh.name, "what": compound.name}]}
            )
        if building is not None and rows.filter(building=building).exists():
            raise ValidationError(
                {"building": [_("“%(grid)s” already covers %(what)s.")
                              % {"grid": fresh.name, "what": label}]}
            )
        if fresh.parent_id is not None:
            parent_rows = GridCoverage.objects.filter(grid_id=fresh.parent_id, compound=compound)
            whole = parent_rows.filter(building__isnull=True).exists()
            if not whole and (building is None or not parent_rows.filter(building=building).exists()):
                raise ValidationError(
                    {"building" if building is not None else "compound": [
                        _("A micro-grid covers only what its grid “%(grid)s” covers, and it does "
                          "not cover %(what)s.") % {"grid": fresh.parent.name, "what": label}
                    ]}
                )
        coverage = GridCoverage.objects.create(grid=fresh, compound=compound, building=building)
        _record(user, CREATE, coverage, fresh.org_unit, _("“%(grid)s” now covers %(what)s")
                % {"grid": fresh.name, "what": label}, fields=COVERAGE_FIELDS)
    return coverage


def uncover(user, coverage):
    """The grid no longer covers that compound or building (refused while its micro-grids do)."""
    _require(user, "grids.delete_gridcoverage")
    grid = coverage.grid
    _require_scope(user, grid.org_unit)
    with transaction.atomic():
        fresh = _lock_grid(grid)
        row = GridCoverage.objects.select_related("compound", "building").filter(
            pk=coverage.pk
        ).first()
        if row is None:
            return
        below = GridCoverage.objects.filter(grid__parent=fresh, compound_id=row.compound_id)
        if row.building_id is not None:
            below = below.filter(building_id=row.building_id)
        first = below.select_related("grid").first()
        if first is not None:
            raise ValidationError(
                _("The micro-grid “%(micro)s” still covers part of this; remove that first.")
                % {"micro": first.grid.name}
            )
        label = _coverage_label(row.compound, row.building)
        _record(user, DELETE, row, fresh.org_unit, _("“%(grid)s” no longer covers %(what)s")
                % {"grid": fresh.name, "what": label}, fields=COVERAGE_FIELDS)
        row.delete()


# ---- overlap cases (reads) -------------------------------------------------------------------


def _family_rows(queryset):
    # A micro-grid's coverage counts for the grid it divides: micro-grids subdivide, they do
    # not make a second grid over the compound.
    return (
        queryset.filter(grid__is_active=True)
        .annotate(top=Coalesce("grid__parent_id", "grid_id"))
        .values_list("top", "compound_id")
        .distinct()
        .order_by()
    )


def _case(compounds_of_grid, grids_of_compound):
    if compounds_of_grid > 1:
        return ONE_GRID_MANY_COMPOUNDS
    if grids_of_compound > 1:
        return ONE_COMPOUND_MANY_GRIDS
    return ONE_TO_ONE


def compound_overlap_cases(compound_ids):
    """{compound id: case} for the given compounds covered by an active grid (two queries).

    A compound covered by several grids is "one compound, many grids"; one whose only grid
    covers other compounds too is "one grid, many compounds"; else "one to one".
    """
    compound_ids = list(compound_ids)
    if not compound_ids:
        return {}
    pairs = list(_family_rows(GridCoverage.objects.filter(compound_id__in=compound_ids)))
    grids_of = defaultdict(set)
    for top, compound in pairs:
        grids_of[compound].add(top)
    tops = {top for top, _compound in pairs}
    compounds_of = defaultdict(set)
    for top, compound in _family_rows(
        GridCoverage.objects.filter(Q(grid_id__in=tops) | Q(grid__parent_id__in=tops))
    ):
        compounds_of[top].add(compound)
    cases = {}
    for compound, tops_ in grids_of.items():
        if len(tops_) > 1:
            cases[compound] = ONE_COMPOUND_MANY_GRIDS
        else:
            cases[compound] = _case(len(compounds_of[next(iter(tops_))]), 1)
    return cases


def grid_overlap_cases(grids):
    """{grid id: case} for the given grids (a micro-grid takes its grid's case); grids that
    cover nothing are left out. Two queries, whatever the number of grids."""
    top_of = {grid.pk: grid.parent_id or grid.pk for grid in grids}
    if not top_of:
        return {}
    tops = set(top_of.values())
    compounds_of = defaultdict(set)
    for top, compound in _family_rows(
        GridCoverage.objects.filter(Q(grid_id__in=tops) | Q(grid__parent_id__in=tops))
    ):
        compounds_of[top].add(compound)
    compounds = {c for found in compounds_of.values() for c in found}
    grids_of = defaultdict(set)
    for top, compound in _family_rows(GridCoverage.objects.filter(compound_id__in=compounds)):
        grids_of[compound].add(top)
    by_top = {}
    for top, found in compounds_of.items():
        if not found:
            continue
        shared = max(len(grids_of[c]) for c in found)
        by_top[top] = _case(len(found), shared)
    return {pk: by_top[top] for pk, top in top_of.items() if top in by_top}


def overlap_case(grid):
    """The overlap case of one grid (or its grid, for a micro-grid); None when it covers
    nothing."""
    return grid_overlap_cases([grid]).get(grid.pk)


def overlap_label(case):
    return OVERLAP_LABELS.get(case, "")


# ---- grid workers ----------------------------------------------------------------------------


def _worker_errors(kind, org_unit):
    errors = {}
    if kind not in GridWorkerKind.values:
        errors["kind"] = [_("Choose full-time, part-time or auxiliary.")]
    if org_unit.kind not in (OrgKind.COMMUNITY, OrgKind.BRANCH):
        errors["org_unit"] = [_("A grid worker works for a community or a branch.")]
    elif not org_unit.is_active:
        errors["org_unit"] = [_("%(unit)s is no longer active.") % {"unit": org_unit.name}]
    return errors


def register_worker(user, person, kind, org_unit):
    """Register a person as a grid worker (专职/兼职/辅助) of a community or branch."""
    _require(user, "grids.add_gridworker")
    _require_in_scope(user, person.org_unit, _("This person is outside your organisation."))
    _require_scope(user, org_unit)
    _raise(_worker_errors(kind, org_unit))
    existing = GridWorker.objects.filter(person=person).select_related("org_unit").first()
    if existing is not None:
        raise ValidationError(
            {"person": [_("%(name)s is already registered as a grid worker (%(unit)s).")
                        % {"name": person.name, "unit": existing.org_unit.name}]}
        )
    with transaction.atomic():
        worker = GridWorker(person=person, kind=kind, org_unit=org_unit)
        try:
            with transaction.atomic():
                worker.save()
        except IntegrityError:
            raise ValidationError(
                {"person": [_("%(name)s is already registered as a grid worker.")
                            % {"name": person.name}]}
            ) from None
        _record(user, CREATE, worker, org_unit, _("%(name)s registered as a %(kind)s grid worker")
                % {"name": person.name, "kind": worker.get_kind_display()}, fields=WORKER_FIELDS)
    return worker


def _lock_worker(worker):
    fresh = (
        GridWorker.objects.select_for_update(of=("self",)).select_related("person", "org_unit")
        .filter(pk=worker.pk).first()
    )
    if fresh is None:
        raise ValidationError(_("This grid worker no longer exists."))
    return fresh


def update_worker(user, worker, *, kind=None, org_unit=None, is_active=None):
    """Change a worker's kind or unit; `is_active` False deactivates them (see
    deactivate_worker), True takes them back."""
    _require(user, "grids.change_gridworker")
    _require_scope(user, worker.org_unit)
    if org_unit is not None and org_unit.pk != worker.org_unit_id:
        _require_scope(user, org_unit)
    with transaction.atomic():
        if is_active is False and worker.is_active:
            deactivate_worker(user, worker)
        fresh = _lock_worker(worker)
        before = audit.snapshot(fresh, WORKER_FIELDS)
        fresh.kind = kind if kind is not None else fresh.kind
        fresh.org_unit = org_unit if org_unit is not None else fresh.org_unit
        if is_active:
            fresh.is_active = True
        errors = _worker_errors(fresh.kind, fresh.org_unit)
        community = community_of(fresh.org_unit) if "org_unit" not in errors else None
        if community is not None and fresh.org_unit_id != before["org_unit"]:
            open_grid = fresh.assignments.filter(ended_on__isnull=True).exclude(
                Subtree.of(community).q("grid__org_unit")
            ).select_related("grid").first()
            if open_grid is not None:
                errors["org_unit"] = [
                    _("%(name)s still works in “%(grid)s”, outside that community; end the "
                      "assignment first.") % {"name": fresh.person.name, "grid": open_grid.grid.name}
                ]
        _raise(errors)
        fresh.save()
        _record(user, UPDATE, fresh, fresh.org_unit, _("Grid worker %(name)s changed")
                % {"name": fresh.person.name}, before=before, fields=WORKER_FIELDS)
    return fresh


def deactivate_worker(user, worker, on=None):
    """The worker stops: open assignments end on `on` (today by default)."""
    _require(user, "grids.change_gridworker")
    _require_scope(user, worker.org_unit)
    on = _as_date(on, "ended_on") if on else _today()
    with transaction.atomic():
        fresh = _lock_worker(worker)
        if not fresh.is_active:
            raise ValidationError(
                _("%(name)s is no longer an active grid worker.") % {"name": fresh.person.name}
            )
        open_ = list(fresh.assignments.filter(ended_on__isnull=True).select_related("grid"))
        errors = {}
        _end_date_errors(on, [a.started_on for a in open_], errors)
        _raise(errors)
        before = audit.snapshot(fresh, WORKER_FIELDS)
        fresh.is_active = False
        fresh.save(update_fields=["is_active"])
        _record(user, UPDATE, fresh, fresh.org_unit, _("%(name)s stopped working as a grid worker")
                % {"name": fresh.person.name}, before=before, fields=WORKER_FIELDS)
        for assignment in open_:
            assignment.worker = fresh
            _end(user, assignment, assignment.grid, on)
    worker.is_active = False
    return fresh


def delete_worker(user, worker):
    """Delete a worker registered by mistake; one with assignments is deactivated instead."""
    _require(user, "grids.delete_gridworker")
    _require_scope(user, worker.org_unit)
    with transaction.atomic():
        fresh = _lock_worker(worker)
        if fresh.assignments.exists():
            raise ValidationError(
                _("%(name)s has been assigned to grids; deactivate the worker instead.")
                % {"name": fresh.person.name}
            )
        _record(user, DELETE, fresh, fresh.org_unit, _("Grid worker %(name)s deleted")
                % {"name": fresh.person.name}, fields=WORKER_FIELDS)
        fresh.delete()


# ---- assignments -----------------------------------------------------------------------------


def _end_date_errors(ended_on, started, errors):
    if ended_on > _today():
        errors.setdefault("ended_on", []).append(_("The date cannot be in the future."))
    elif any(ended_on < start for start in started):
        errors.setdefault("ended_on", []).append(
            _("An assignment cannot end before it started.")
        )


def assign_worker(user, worker, grid, started_on):
    """The worker works in the grid from `started_on` (not twice at once in one grid)."""
    _require(user, "grids.add_gridassignment")
    _require_scope(user, grid.org_unit)
    _require_in_scope(user, worker.org_unit, _("This grid worker is outside your organisation."))
    started_on = _as_date(started_on, "started_on")
    with transaction.atomic():
        fresh_worker = _lock_worker(worker)
        fresh_grid = _lock_grid(grid)
        errors = {}
        if not fresh_worker.is_active:
            errors["worker"] = [_("%(name)s is no longer an active grid worker.")
                                % {"name": fresh_worker.person.name}]
        elif not _same_community(fresh_worker.org_unit, fresh_grid.org_unit):
            errors["worker"] = [_("%(name)s works for another community.")
                                % {"name": fresh_worker.person.name}]
        if not fresh_grid.is_active:
            errors["grid"] = [_("The grid “%(grid)s” is no longer active.")
                              % {"grid": fresh_grid.name}]
        if started_on > _today():
            errors["started_on"] = [_("The date cannot be in the future.")]
        _raise(errors)
        if fresh_worker.assignments.filter(grid=fresh_grid, ended_on__isnull=True).exists():
            raise ValidationError(
                {"worker": [_("%(name)s already works in “%(grid)s”.")
                            % {"name": fresh_worker.person.name, "grid": fresh_grid.name}]}
            )
        assignment = GridAssignment.objects.create(
            worker=fresh_worker, grid=fresh_grid, started_on=started_on
        )
        _record(user, CREATE, assignment, fresh_grid.org_unit, _("%(name)s assigned to “%(grid)s”")
                % {"name": fresh_worker.person.name, "grid": fresh_grid.name},
                fields=ASSIGNMENT_FIELDS)
    return assignment


def _end(user, assignment, grid, ended_on):
    before = audit.snapshot(assignment, ASSIGNMENT_FIELDS)
    assignment.ended_on = ended_on
    assignment.save(update_fields=["ended_on"])
    _record(user, UPDATE, assignment, grid.org_unit, _("%(name)s left “%(grid)s”")
            % {"name": assignment.worker.person.name, "grid": grid.name},
            before=before, fields=ASSIGNMENT_FIELDS)


def end_assignment(user, assignment, ended_on=None):
    _require(user, "grids.change_gridassignment")
    grid = assignment.grid
    _require_scope(user, grid.org_unit)
    ended_on = _as_date(ended_on, "ended_on") if ended_on else _today()
    with transaction.atomic():
        fresh = (
            GridAssignment.objects.select_for_update(of=("self",))
            .select_related("worker__person", "grid__org_unit").filter(pk=assignment.pk).first()
        )
        if fresh is None:
            raise ValidationError(_("This assignment no longer exists."))
        if fresh.ended_on is not None:
            raise ValidationError(_("This assignment has already ended."))
        errors = {}
        _end_date_errors(ended_on, [fresh.started_on], errors)
        _raise(errors)
        _end(user, fresh, fresh.grid, ended_on)
    assignment.ended_on = fresh.ended_on
    return fresh


def delete_assignment(user, assignment):
    """Remove an assignment entered by mistake (an ended one stays as history: end it)."""
    _require(user, "grids.delete_gridassignment")
    grid = assignment.grid
    _require_scope(user, grid.org_unit)
    with transaction.atomic():
        fresh = GridAssignment.objects.select_related("worker__person").filter(
            pk=assignment.pk
        ).first()
        if fresh is None:
            return
        _record(user, DELETE, fresh, grid.org_unit, _("Assignment of %(name)s to “%(grid)s” deleted")
                % {"name": fresh.worker.person.name, "grid": grid.name}, fields=ASSIGNMENT_FIELDS)
        fresh.delete()


def with_grid_counts(queryset):
    """Grids annotated with micro_grid_count, compound_count and worker_count (current
    assignments): correlated subqueries, so a page of grids costs one query."""
    def counted(qs, field):
        sub = qs.order_by().values(field).annotate(n=Count("pk", distinct=True)).values("n")
        return Coalesce(Subquery(sub, output_field=IntegerField()), 0)

    compounds = (
        GridCoverage.objects.filter(grid=OuterRef("pk")).order_by().values("grid")
        .annotate(n=Count("compound", distinct=True)).values("n")
    )
    return queryset.annotate(
        micro_grid_count=counted(Grid.objects.filter(parent=OuterRef("pk")), "parent"),
        compound_count=Coalesce(Subquery(compounds, output_field=IntegerField()), 0),
        worker_count=counted(
            GridAssignment.objects.filter(grid=OuterRef("pk"), ended_on__isnull=True), "grid"
        ),
    )
