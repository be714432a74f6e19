from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


def _sync_role_groups(sender, using="default", **kwargs):
    from .roles import ensure_groups

    ensure_groups()


class PartyOrgConfig(AppConfig):
    name = "party_org"
    verbose_name = _("Party organisation")

    def ready(self):
        # Every app's figures.py registers its statistics; roles follow every migrate.
        autodiscover_modules("figures")
        post_migrate.connect(_sync_role_groups, dispatch_uid="party_org.sync_role_groups")
