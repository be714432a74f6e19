"""People and the protection of their personal data.

A person is shared by every role in the portal (party member, volunteer, grid worker, committee
member, resident), so phones and ID numbers live in this one table: ID numbers encrypted at rest
with a keyed hash for uniqueness, both masked unless the reader holds `view_personal_data`, and
every read of full data recorded in PersonalDataAccess.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .. import pii
from .tree import OrgUnit, phone_validator


class Gender(models.TextChoices):
    MALE = "male", _("male")
    FEMALE = "female", _("female")


class Person(models.Model):
    name = models.CharField(_("name"), max_length=60, db_index=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    phone = models.CharField(
        _("phone"), max_length=20, blank=True, validators=[phone_validator]
    )
    id_number_encrypted = models.TextField(_("ID number (encrypted)"), blank=True, editable=False)
    id_number_hash = models.CharField(
        _("ID number hash"), max_length=64, null=True, blank=True, unique=True, editable=False
    )
    org_unit = models.ForeignKey(
        OrgUnit,
        verbose_name=pgettext_lazy("place", "registered at"),
        on_delete=models.PROTECT,
        related_name="people",
        help_text=_("The unit this person is registered under; it decides who may see them."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        permissions = [("view_personal_data", _("Can view full phone and ID numbers"))]

    def __str__(self):
        return self.name

    @property
    def id_number(self):
        return pii.decrypt(self.id_number_encrypted)

    def set_id_number(self, value):
        """Store a validated ID number encrypted, with its keyed hash; fills birth date/gender."""
        value = pii.normalise_id_number(value)
        if not value:
            self.id_number_encrypted = ""
            self.id_number_hash = None
            return
        pii.validate_id_number(value)
        self.id_number_encrypted = pii.encrypt(value)
        self.id_number_hash = pii.keyed_hash(value)
        self.birth_date = self.birth_date or pii.birth_date_from_id(value)
        self.gender = self.gender or pii.gender_from_id(value)

    @property
    def masked_phone(self):
        return pii.mask_phone(self.phone)

    @property
    def masked_id_number(self):
        return pii.mask_id_number(self.id_number)

    @classmethod
    def hash_of(cls, id_number):
        return pii.keyed_hash(pii.normalise_id_number(id_number))


class PersonalDataAccess(models.Model):
    """Append-only: who read whose full personal data, where and when."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT,
        related_name="+",
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="+"
    )
    fields = models.CharField(_("fields"), max_length=100)
    context = models.CharField(_("where"), max_length=100)
    accessed_at = models.DateTimeField(_("accessed at"), auto_now_add=True, db_index=True)

    scope_path = "person__org_unit"

    class Meta:
        verbose_name = _("personal data access")
        verbose_name_plural = _("personal data access log")
        ordering = ["-accessed_at"]

    def __str__(self):
        return f"{self.user} → {self.person} ({self.accessed_at:%Y-%m-%d %H:%M})"


class AuditEntry(models.Model):
    """Append-only record of changes to the ledgers, whichever route made them."""

    class Action(models.TextChoices):
        CREATE = "create", _("created")
        UPDATE = "update", _("changed")
        DELETE = "delete", _("deleted")
        IMPORT = "import", _("imported")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("organisation unit"), on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    model = models.CharField(_("record type"), max_length=60)
    object_id = models.CharField(_("record id"), max_length=40)
    summary = models.CharField(_("summary"), max_length=300)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("ledger change")
        verbose_name_plural = _("ledger change log")
        ordering = ["-at"]

    def __str__(self):
        return self.summary
