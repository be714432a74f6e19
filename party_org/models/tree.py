from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from mptt.models import MPTTModel, TreeForeignKey


class OrgKind(models.TextChoices):
    CITY = "city", _("City party committee")
    DISTRICT = "district", _("District party committee")
    STREET = "street", _("Street party working committee")
    COMMUNITY = "community", _("Community party committee")
    BRANCH = "branch", _("Compound (grid) party branch")
    BUILDING_GROUP = "building_group", _("Building party group")
    HOUSEHOLD = "household", _("Member central household")


# The one table of which kind may sit under which. None is "no parent" (a root).
# A branch may sit under a branch once: the general branch (党总支) of a large compound or grid
# with compound/grid branches below it (the overlap cases of seed 001).
ALLOWED_CHILDREN = {
    None: {OrgKind.CITY, OrgKind.DISTRICT, OrgKind.STREET},
    OrgKind.CITY: {OrgKind.DISTRICT, OrgKind.STREET},
    OrgKind.DISTRICT: {OrgKind.STREET},
    OrgKind.STREET: {OrgKind.COMMUNITY},
    OrgKind.COMMUNITY: {OrgKind.BRANCH},
    OrgKind.BRANCH: {OrgKind.BRANCH, OrgKind.BUILDING_GROUP, OrgKind.HOUSEHOLD},
    OrgKind.BUILDING_GROUP: {OrgKind.HOUSEHOLD},
    OrgKind.HOUSEHOLD: set(),
}


def placement_error(kind, parent_kind, parent_parent_kind=None, has_branch_children=False):
    """Why a node of `kind` cannot sit under a parent of `parent_kind`, or None if it may.

    `parent_parent_kind` is the kind of the parent's own parent (for the nest-once rule);
    `has_branch_children` tells whether the node being placed already has branches below it.
    """
    kind = OrgKind(kind)
    if parent_kind is None:
        if kind not in ALLOWED_CHILDREN[None]:
            return _("A %(kind)s cannot be a top-level unit; it needs a parent.") % {
                "kind": kind.label
            }
        return None
    parent_kind = OrgKind(parent_kind)
    if kind not in ALLOWED_CHILDREN[parent_kind]:
        return _("A %(kind)s cannot be placed under a %(parent)s.") % {
            "kind": kind.label,
            "parent": parent_kind.label,
        }
    if kind == OrgKind.BRANCH and parent_kind == OrgKind.BRANCH:
        if parent_parent_kind == OrgKind.BRANCH:
            return _(
                "A branch may be nested only once: its parent branch already sits under a branch."
            )
        if has_branch_children:
            return _(
                "This branch is a general branch with branches below it; it cannot itself be "
                "placed under a branch."
            )
    return None


phone_validator = RegexValidator(
    r"^[0-9+\-() ]{5,20}$", _("Enter a valid phone number (digits, spaces, + - and brackets).")
)
code_validator = RegexValidator(
    r"^[A-Za-z0-9_.\-]+$", _("Use only letters, digits, dots, dashes and underscores.")
)


class OrgUnit(MPTTModel):
    """One node of the organisation tree: every other row in the portal hangs on one."""

    name = models.CharField(_("name"), max_length=120)
    code = models.CharField(
        _("code"),
        max_length=40,
        unique=True,
        validators=[code_validator],
        help_text=_("A unique code, e.g. the organisation code used by the district."),
    )
    # No index of its own: kinds are always counted within a subtree range, and every index
    # here is rewritten whenever mptt shifts lft/rght.
    kind = models.CharField(_("kind"), max_length=20, choices=OrgKind.choices)
    parent = TreeForeignKey(
        "self",
        verbose_name=_("parent unit"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    contact_phone = models.CharField(
        _("contact phone"), max_length=20, blank=True, validators=[phone_validator]
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    established_on = models.DateField(_("established on"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    # How scoped querysets reach the tree columns of this model ("" = the row itself).
    scope_path = ""

    class MPTTMeta:
        order_insertion_by = []

    class Meta:
        verbose_name = _("organisation unit")
        verbose_name_plural = _("organisation units")
        # Subtree filters (tree_id = t AND lft >= l AND rght <= r) range over this index.
        indexes = [models.Index(fields=["tree_id", "lft"], name="orgunit_tree_lft_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(rght__gt=models.F("lft")), name="orgunit_rght_after_lft"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in OrgKind]), name="orgunit_kind_valid"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def descendant_total(self):
        return (self.rght - self.lft - 1) // 2

    def clean(self):
        super().clean()
        error = self.placement_problem(self.parent)
        if error:
            raise ValidationError({"parent": error})

    def placement_problem(self, parent):
        """The reason this node cannot sit under `parent`, or None."""
        if parent is not None and self.pk and parent.pk == self.pk:
            return _("A unit cannot be its own parent.")
        if parent is not None and self.pk and self.lft and parent.tree_id == self.tree_id:
            if self.lft < parent.lft < self.rght:
                return _("A unit cannot be moved below one of its own descendants.")
        has_branch_children = bool(
            self.pk
            and self.kind == OrgKind.BRANCH
            and OrgUnit.objects.filter(parent_id=self.pk, kind=OrgKind.BRANCH).exists()
        )
        grand_kind = None
        if parent is not None and parent.parent_id:
            grand_kind = (
                OrgUnit.objects.filter(pk=parent.parent_id).values_list("kind", flat=True).first()
            )
        if self.pk and self.kind:
            child_kinds = set(
                OrgUnit.objects.filter(parent_id=self.pk).values_list("kind", flat=True)
            )
            for child_kind in child_kinds:
                if OrgKind(child_kind) not in ALLOWED_CHILDREN[OrgKind(self.kind)]:
                    return _("Its existing %(child)s units cannot sit under a %(kind)s.") % {
                        "child": OrgKind(child_kind).label,
                        "kind": OrgKind(self.kind).label,
                    }
        return placement_error(
            self.kind,
            parent.kind if parent is not None else None,
            grand_kind,
            has_branch_children,
        )


class StaffRole(models.TextChoices):
    STREET_STAFF = "street_staff", _("Street staff")
    COMMUNITY_STAFF = "community_staff", _("Community staff")
    BRANCH_SECRETARY = "branch_secretary", _("Branch secretary")
    GRID_WORKER = "grid_worker", _("Grid worker")
    AUDITOR = "auditor", _("Read-only auditor")


class StaffAssignment(models.Model):
    """A staff user's role at a node: they see and change that node's subtree."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="org_assignments",
    )
    org_unit = models.ForeignKey(
        OrgUnit,
        verbose_name=_("organisation unit"),
        on_delete=models.PROTECT,
        related_name="staff_assignments",
    )
    role = models.CharField(_("role"), max_length=20, choices=StaffRole.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("staff assignment")
        verbose_name_plural = _("staff assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "org_unit", "role"], name="staffassignment_unique_role"
            )
        ]

    def __str__(self):
        return f"{self.user} · {self.get_role_display()} · {self.org_unit}"
