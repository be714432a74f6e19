"""The property demo: on the demo district and compounds, every mode and all four ways, a
transition ending soon, committees of both kinds with cross-appointments and one 一肩挑, answered
evaluations, a deliberation at every step (one under notice now); idempotent."""

import pytest
from django.utils import timezone

from governance.management.commands.seed_demo import DISTRICT, Command
from grids import demo as grids_demo
from grids.models import Compound
from party_org import demo as party_demo
from party_org.models import OrgUnit
from party_org.statistics import Period, registry
from party_org.selectors import Subtree
from property_mgmt import demo
from property_mgmt.models import (
    FOUR_WAYS,
    Committee,
    CommitteeDocument,
    CommitteeMember,
    CompanyStaff,
    Convention,
    Deliberation,
    DeliberationStatus,
    EvaluationResponse,
    PropertyCompany,
    SelfFundingEntry,
    ServiceMode,
    ServicePeriod,
    SubsidyGrant,
    validate_credit_code,
)
from property_mgmt.selectors import (
    cross_appointments,
    current_notices,
    one_shoulder,
    subsidy_ending,
    terms_ending,
    watch_list,
)

pytestmark = pytest.mark.django_db

MODELS = (PropertyCompany, ServicePeriod, SubsidyGrant, SelfFundingEntry, Committee,
          CommitteeMember, CommitteeDocument, CompanyStaff, EvaluationResponse, Deliberation,
          Convention)


@pytest.fixture
def built(db, settings, tmp_path):
    """The demo district, its ledgers and territory (what seed_demo builds before this demo),
    then the property demo."""
    settings.MEDIA_ROOT = tmp_path
    Command()._node(DISTRICT, None, "", 0)
    party_demo.build()
    grids_demo.build()
    return demo.build()


def _counts():
    return {model.__name__: model.objects.count() for model in MODELS}


def test_demo_is_idempotent(built):
    assert built["service periods"] and built["deliberations"]
    before = _counts()
    assert demo.build() == {}
    assert _counts() == before


def test_demo_has_the_shape_of_xiaodian(built):
    today = timezone.localdate()
    district = OrgUnit.objects.get(code="YZ")
    for company in PropertyCompany.objects.all():
        validate_credit_code(company.credit_code)
    assert set(ServicePeriod.objects.values_list("mode", flat=True)) == set(ServiceMode.values)
    current = set(
        ServicePeriod.objects.filter(ended_on__isnull=True).values_list("mode", flat=True))
    assert set(FOUR_WAYS) <= current
    assert subsidy_ending(district, today).exists()
    assert SubsidyGrant.objects.exists() and SelfFundingEntry.objects.filter(
        reverses__isnull=False).count() == 1
    assert set(Committee.objects.values_list("kind", flat=True)) == {"owners", "property"}
    assert terms_ending(district, today).exists()
    compounds = Compound.objects.all()
    assert sum(1 for people in cross_appointments(compounds).values() if people) >= 3
    assert [c.name for c in Compound.objects.filter(pk__in=one_shoulder(compounds))] == ["老园艺小区"]
    assert CommitteeDocument.objects.count() == 7
    statuses = set(Deliberation.objects.values_list("status", flat=True))
    assert statuses == set(DeliberationStatus.values)
    assert [d.topic for d in current_notices(Compound.objects.get(name="文锦苑"), today)] == [
        "小区停车秩序整治方案"]
    assert Convention.objects.filter(deliberation__isnull=False).exists()
    levels = {e.compound.name: e.level for e in watch_list(district, today)}
    assert levels.get("老园艺小区") == "red" and levels.get("滨河左岸") == "yellow"
    figures = {row["name"]: row["value"] for row in registry.compute(
        Subtree.of(district), Period(None, today), only=["property"])}
    assert figures["property.market"] == 3
    assert figures["property.without_company.none"] == 1
    assert figures["property.subsidy_ending"] == 1
    assert figures["property.one_shoulder"] == 1
    assert figures["property.evaluation_response_rate"] > 0.5
