from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = _("Community governance portal")

    def ready(self):
        from django.contrib import admin

        admin.site.site_header = _("Community Governance Portal")
        admin.site.site_title = _("Community Governance Portal")
        admin.site.index_title = _("Party building leads compound governance")
