"""Staff roles and their permissions, kept as Django groups.

Each app grants its own model permissions to the roles with `grant()` in its AppConfig.ready(),
so this module never needs to know the apps that build on it. The groups are brought in line
after every migrate and whenever a user's assignments change.
"""

from collections import defaultdict

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from .models import StaffRole

_GRANTS = defaultdict(set)  # role -> {(app_label, model, action)}

ALL_ACTIONS = ("view", "add", "change", "delete")


def grant(role, model_label, actions):
    """Give `role` the `actions` ("view add change delete") on `model_label` ("app.model")."""
    app_label, model = model_label.lower().split(".")
    for action in actions.split():
        if action not in ALL_ACTIONS and not action.startswith("custom:"):
            raise ValueError(f"unknown action {action!r}")
        _GRANTS[StaffRole(role)].add((app_label, model, action))


def grant_all_roles(model_label, *, manage=(), edit=(), view=()):
    """Shorthand: roles in `manage` get everything, `edit` view/add/change, `view` view only.

    The read-only auditor always gets view.
    """
    for role in manage:
        grant(role, model_label, "view add change delete")
    for role in edit:
        grant(role, model_label, "view add change")
    for role in (*view, StaffRole.AUDITOR):
        grant(role, model_label, "view")


def group_name(role):
    return f"role:{StaffRole(role).value}"


def codename(model, action):
    if action.startswith("custom:"):
        return action.split(":", 1)[1]
    return f"{action}_{model}"


def ensure_groups():
    """Create the role groups and set exactly their granted permissions. Idempotent."""
    groups = {}
    content_types = {
        (ct.app_label, ct.model): ct.pk for ct in ContentType.objects.all()
    }
    perms = {
        (perm.content_type_id, perm.codename): perm.pk
        for perm in Permission.objects.all().only("pk", "content_type_id", "codename")
    }
    for role in StaffRole:
        group, _created = Group.objects.get_or_create(name=group_name(role))
        wanted = set()
        for app_label, model, action in _GRANTS.get(role, ()):
            ct = content_types.get((app_label, model))
            perm = perms.get((ct, codename(model, action))) if ct else None
            if perm:
                wanted.add(perm)
        current = set(group.permissions.values_list("pk", flat=True))
        if wanted != current:
            group.permissions.set(wanted)
        groups[role.value] = group
    return groups


# The organisation tree itself.
grant_all_roles(
    "party_org.orgunit",
    manage=(StaffRole.STREET_STAFF, StaffRole.COMMUNITY_STAFF),
    edit=(StaffRole.BRANCH_SECRETARY,),
    view=(StaffRole.GRID_WORKER,),
)
grant_all_roles(
    "party_org.staffassignment",
    manage=(StaffRole.STREET_STAFF, StaffRole.COMMUNITY_STAFF),
    view=(StaffRole.BRANCH_SECRETARY,),
)

# People and the ledgers of party_org. Full personal data only for the staff who call people.
_STREET, _COMMUNITY, _SECRETARY, _GRID = (
    StaffRole.STREET_STAFF, StaffRole.COMMUNITY_STAFF, StaffRole.BRANCH_SECRETARY,
    StaffRole.GRID_WORKER,
)
for _model in (
    "party_org.person", "party_org.partymember", "party_org.post", "party_org.postassignment",
    "party_org.emergencyrole", "party_org.inserviceregistration", "party_org.servicerecord",
    "party_org.registrationevaluation", "party_org.servicestation", "party_org.branchfundentry",
    "party_org.cobuildingagreement", "party_org.listitem", "party_org.needmatch",
    "party_org.emergencyacknowledgement",
):
    grant_all_roles(_model, manage=(_STREET, _COMMUNITY), edit=(_SECRETARY,), view=(_GRID,))
for _model in ("party_org.emergencyactivation", "party_org.committeemembership"):
    grant_all_roles(_model, manage=(_STREET, _COMMUNITY), view=(_SECRETARY, _GRID))
for _model in ("party_org.topsecretaryselection", "party_org.topsecretaryentry"):
    grant_all_roles(_model, manage=(_STREET,), view=(_COMMUNITY, _SECRETARY))
grant_all_roles("party_org.workunit", manage=(_STREET,), edit=(_COMMUNITY,), view=(_SECRETARY, _GRID))
for _model in ("party_org.memberchange", "party_org.personaldataaccess", "party_org.auditentry"):
    grant_all_roles(_model, view=(_STREET, _COMMUNITY, _SECRETARY))
for _role in (_STREET, _COMMUNITY, _SECRETARY):
    grant(_role, "party_org.person", "custom:view_personal_data")
