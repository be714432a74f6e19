from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PropertyMgmtConfig(AppConfig):
    name = "property_mgmt"
    verbose_name = _("Property management")

    def ready(self):
        from party_org.models import StaffRole
        from party_org.roles import grant, grant_all_roles

        street, community, secretary, grid = (
            StaffRole.STREET_STAFF, StaffRole.COMMUNITY_STAFF, StaffRole.BRANCH_SECRETARY,
            StaffRole.GRID_WORKER,
        )
        # Companies serve many streets: kept by the streets, read by everyone else.
        grant_all_roles("property_mgmt.propertycompany", manage=(street,),
                        view=(community, secretary, grid))
        for model in ("property_mgmt.companystaff", "property_mgmt.serviceperiod",
                      "property_mgmt.committee", "property_mgmt.committeemember",
                      "property_mgmt.committeedocument", "property_mgmt.serviceevaluation",
                      "property_mgmt.deliberation", "property_mgmt.deliberationattendance",
                      "property_mgmt.convention"):
            grant_all_roles(model, manage=(street, community), edit=(secretary,), view=(grid,))
        # Subsidies are paid out by the street; the others read them.
        grant_all_roles("property_mgmt.subsidygrant", manage=(street,),
                        view=(community, secretary, grid))
        # Append-only ledger: entries are added (a mistake is reversed), never changed.
        grant_all_roles("property_mgmt.selffundingentry", view=(grid,))
        for role in (street, community, secretary):
            grant(role, "property_mgmt.selffundingentry", "view add")
        # Written only by the services: codes when a survey opens, responses by residents, the
        # deliberation log by each step.
        for model in ("property_mgmt.evaluationcode", "property_mgmt.evaluationresponse",
                      "property_mgmt.deliberationlog"):
            grant_all_roles(model, view=(street, community, secretary, grid))
