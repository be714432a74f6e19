from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VolunteersConfig(AppConfig):
    name = "volunteers"
    verbose_name = _("Volunteers and points")

    def ready(self):
        from . import feedback

        # In-service members' points in the employer feedback report of party_org.
        feedback.register()

        from party_org.models import StaffRole
        from party_org.roles import grant, grant_all_roles

        street, community, secretary, grid = (
            StaffRole.STREET_STAFF, StaffRole.COMMUNITY_STAFF, StaffRole.BRANCH_SECRETARY,
            StaffRole.GRID_WORKER,
        )
        # Wishes: everyone who works a compound takes them in; the branch and up dispatch them.
        grant_all_roles("volunteers.microwish", edit=(street, community, secretary, grid))
        for role in (street, community, secretary):
            grant(role, "volunteers.microwish", "custom:dispatch_microwish")
        grant_all_roles("volunteers.wishlog", view=(street, community, secretary, grid))
        for model in ("volunteers.volunteer", "volunteers.volunteerteam",
                      "volunteers.teammembership", "volunteers.activity",
                      "volunteers.activitysignup"):
            grant_all_roles(model, manage=(street, community), edit=(secretary,), view=(grid,))
        for role in (street, community, secretary):
            grant(role, "volunteers.volunteer", "custom:verify_volunteer")
        # Approved hours have paid points: added by the service, never edited.
        grant_all_roles("volunteers.servicehours", view=(street, community, secretary, grid))
        for role in (street, community, secretary):
            grant(role, "volunteers.servicehours", "add")
        # The ledger is append-only: entries are posted by the services, never edited.
        grant_all_roles("volunteers.pointsaccount", view=(street, community, secretary, grid))
        grant_all_roles("volunteers.pointsentry", view=(street, community, secretary, grid))
        for role in (street, community, secretary):
            grant(role, "volunteers.pointsentry", "add")
        # One member of staff asks (add), another approves; a request is never edited.
        grant_all_roles("volunteers.pointsadjustment", view=(street, community, secretary))
        for role in (street, community, secretary):
            grant(role, "volunteers.pointsadjustment", "add")
        for role in (street, community):
            grant(role, "volunteers.pointsadjustment", "custom:approve_pointsadjustment")
        # The mall is run by the street, with communities adding their own merchants.
        for model in ("volunteers.merchant", "volunteers.rewarditem"):
            grant_all_roles(model, manage=(street,), edit=(community,), view=(secretary, grid))
        grant_all_roles("volunteers.redemption", edit=(street, community),
                        view=(secretary, grid))
        grant_all_roles("volunteers.honor", edit=(street, community, secretary), view=(grid,))
        for role in (street, community):
            grant(role, "volunteers.honor", "custom:approve_honor")
