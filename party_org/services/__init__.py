"""State changes of party_org, one module per area; the tree's services are re-exported here."""

from .tree import (  # noqa: F401
    EDITABLE_FIELDS,
    TREE_FIELDS,
    assign_staff,
    create_org_unit,
    delete_org_unit,
    deletion_blockers,
    move_org_unit,
    revoke_staff,
    role_group,
    save_org_unit,
    sync_user_groups,
    update_org_unit,
)
