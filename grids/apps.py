from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GridsConfig(AppConfig):
    name = "grids"
    verbose_name = _("Grids and grid events")

    def ready(self):
        from party_org.models import StaffRole
        from party_org.roles import grant, grant_all_roles

        street, community, secretary, grid = (
            StaffRole.STREET_STAFF, StaffRole.COMMUNITY_STAFF, StaffRole.BRANCH_SECRETARY,
            StaffRole.GRID_WORKER,
        )
        for model in ("grids.compound", "grids.building", "grids.entrance", "grids.grid",
                      "grids.gridcoverage", "grids.gridworker", "grids.gridassignment"):
            grant_all_roles(model, manage=(street, community), edit=(secretary,), view=(grid,))
        for model in ("grids.household", "grids.residentlistentry"):
            grant_all_roles(model, manage=(street, community), edit=(secretary, grid))
        # Care flags (health, disability, hardship) only for the staff who look after people.
        for role in (street, community, secretary, grid):
            grant(role, "grids.household", "custom:view_care_flags")
        for model in ("grids.gridevent",):
            grant_all_roles(model, edit=(street, community, secretary, grid))
            for role in (street, community, secretary):
                grant(role, model, "custom:file_gridevent")
        for model in ("grids.gridevent", "grids.grideventlog", "grids.grideventphoto",
                      "grids.eventcategory"):
            grant_all_roles(model, view=(street, community, secretary, grid))
        grant_all_roles("grids.grideventphoto", edit=(street, community, secretary, grid))
        grant_all_roles("grids.department", manage=(street,), view=(community, secretary, grid))
        grant_all_roles("grids.patrolpoint", manage=(street, community), edit=(secretary,),
                        view=(grid,))
        for model in ("grids.patrolcheckin", "grids.householdvisit"):
            grant_all_roles(model, manage=(street, community), edit=(secretary, grid))
