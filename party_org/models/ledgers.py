"""The four member ledgers (一类一档, 四本台账): one proxy of PartyMember per category.

They exist so the admin can show each ledger as its own list. They add no table and no
permissions of their own: access follows the permissions on PartyMember.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .members import MemberCategory, PartyMember


class LedgerManager(models.Manager):
    def __init__(self, category):
        super().__init__()
        self.category = category

    def get_queryset(self):
        return super().get_queryset().filter(category=self.category)


class DirectMember(PartyMember):
    ledger_category = MemberCategory.DIRECT
    objects = LedgerManager(MemberCategory.DIRECT)

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = _("directly managed member")
        verbose_name_plural = _("ledger of directly managed members")


class MobileMember(PartyMember):
    ledger_category = MemberCategory.MOBILE
    objects = LedgerManager(MemberCategory.MOBILE)

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = _("mobile member")
        verbose_name_plural = _("ledger of mobile members")


class InServiceMember(PartyMember):
    ledger_category = MemberCategory.IN_SERVICE
    objects = LedgerManager(MemberCategory.IN_SERVICE)

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = _("in-service member")
        verbose_name_plural = _("ledger of in-service members")


class RetiredMember(PartyMember):
    ledger_category = MemberCategory.RETIRED
    objects = LedgerManager(MemberCategory.RETIRED)

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = _("retired member")
        verbose_name_plural = _("ledger of retired members")


LEDGER_MODELS = {
    model.ledger_category: model
    for model in (DirectMember, MobileMember, InServiceMember, RetiredMember)
}
