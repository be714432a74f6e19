"""Service periods of a compound, the transition subsidy and its grants, and the self-funding
ledger: the rules, the refusals and the scope of each service."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from party_org.models import AuditEntry
from property_mgmt import services
from property_mgmt.models import SelfFundingEntry, ServiceMode, ServicePeriod, SubsidyGrant
from property_mgmt.selectors import current_period, subsidy_ending

from .conftest import D

pytestmark = pytest.mark.django_db

M = ServiceMode


def errors_of(excinfo):
    return excinfo.value.message_dict


def test_a_new_service_closes_the_running_one_the_day_before(places, companies, users):
    wjy = places["wjy"]
    first = services.start_service(users["comm_a"], wjy, mode=M.NONE, started_on=D(2024, 1, 1))
    second = services.start_service(users["comm_a"], wjy, mode=M.MARKET,
                                    company=companies["jinxiu"], started_on="2025-03-01",
                                    fee_per_m2="1.20")
    first.refresh_from_db()
    assert first.ended_on == D(2025, 2, 28)
    assert second.ended_on is None and second.fee_per_m2 == Decimal("1.20")
    assert current_period(wjy, D(2025, 2, 28)) == first
    assert current_period(wjy, D(2025, 3, 1)) == second
    assert AuditEntry.objects.filter(model="property_mgmt.serviceperiod").count() == 3


def test_a_start_on_or_before_the_running_start_is_refused(places, companies, users):
    wjy = places["wjy"]
    services.start_service(users["comm_a"], wjy, mode=M.NONE, started_on=D(2025, 1, 1))
    for day in (D(2025, 1, 1), D(2024, 12, 1)):
        with pytest.raises(ValidationError) as excinfo:
            services.start_service(users["comm_a"], wjy, mode=M.COMMUNITY_FALLBACK,
                                   started_on=day)
        assert "started_on" in errors_of(excinfo)
    period = ServicePeriod.objects.get()
    services.end_service(users["comm_a"], period, D(2025, 6, 30))
    with pytest.raises(ValidationError) as excinfo:  # overlaps the ended period
        services.start_service(users["comm_a"], wjy, mode=M.SELF_MANAGED, started_on=D(2025, 6, 30))
    assert "started_on" in errors_of(excinfo)
    services.start_service(users["comm_a"], wjy, mode=M.SELF_MANAGED, started_on=D(2025, 7, 1))
    assert current_period(wjy, D(2025, 6, 15)).mode == M.NONE
    with pytest.raises(ValidationError):
        services.end_service(users["comm_a"], period, D(2025, 7, 30))  # ended already


@pytest.mark.parametrize("mode", [M.MARKET, M.RED_PROPERTY, M.UNIT_ASSISTED, M.SUBSIDISED])
def test_modes_with_a_company_need_one(places, companies, users, mode):
    with pytest.raises(ValidationError) as excinfo:
        services.start_service(users["comm_a"], places["wjy"], mode=mode, started_on=D(2025, 1, 1))
    assert "company" in errors_of(excinfo)


@pytest.mark.parametrize("mode", [M.COMMUNITY_FALLBACK, M.SELF_MANAGED, M.NONE])
def test_modes_without_a_company_refuse_one(places, companies, users, mode):
    with pytest.raises(ValidationError) as excinfo:
        services.start_service(users["comm_a"], places["wjy"], mode=mode,
                               company=companies["anju"], started_on=D(2025, 1, 1))
    assert "company" in errors_of(excinfo)


def test_bad_input_is_refused_by_field(places, companies, users):
    wjy = places["wjy"]
    for kwargs, field in [
        ({"mode": "magic"}, "mode"),
        ({"mode": M.NONE, "fee_per_m2": "-1"}, "fee_per_m2"),
        ({"mode": M.NONE, "fee_per_m2": "abc"}, "fee_per_m2"),
        ({"mode": M.NONE, "fee_per_m2": "1.234"}, "fee_per_m2"),
    ]:
        with pytest.raises(ValidationError) as excinfo:
            services.start_service(users["comm_a"], wjy, started_on=D(2025, 1, 1), **kwargs)
        assert field in errors_of(excinfo), kwargs
    with pytest.raises(ValidationError) as excinfo:
        services.start_service(users["comm_a"], wjy, mode=M.NONE, started_on="2025-13-01")
    assert "started_on" in errors_of(excinfo)
    companies["anju"].is_active = False
    companies["anju"].save()
    with pytest.raises(ValidationError) as excinfo:
        services.start_service(users["comm_a"], wjy, mode=M.MARKET, company=companies["anju"],
                               started_on=D(2025, 1, 1))
    assert "company" in errors_of(excinfo)
    assert not ServicePeriod.objects.exists()


def test_subsidy_terms_come_from_the_settings(places, companies, users, settings):
    period = services.start_service(users["comm_a"], places["wjy"], mode=M.SUBSIDISED,
                                    company=companies["anju"], started_on=D(2026, 3, 15))
    assert (period.subsidy_rate, period.subsidy_months) == (Decimal("0.50"), 6)
    # Six calendar months from the start month: March to August.
    assert period.subsidy_ends_on == D(2026, 8, 31)
    # 10,000 m² × 0.5 yuan × 6 months.
    assert services.subsidy_total(period) == Decimal("30000.00")
    settings.PROPERTY_SUBSIDY_RATE = Decimal("0.80")
    settings.PROPERTY_SUBSIDY_MONTHS = 3
    other = services.start_service(users["comm_b"], places["hgd"], mode=M.SUBSIDISED,
                                   company=companies["anju"], started_on=D(2026, 11, 1))
    assert other.subsidy_ends_on == D(2027, 1, 31)
    assert services.subsidy_total(other) == Decimal("20160.00")  # 8,400 × 0.8 × 3
    market = services.start_service(users["comm_b"], places["hgd"], mode=M.MARKET,
                                     company=companies["anju"], started_on=D(2027, 2, 1))
    assert services.subsidy_total(market) == Decimal("0.00")
    assert market.subsidy_rate is None


def test_no_subsidy_without_a_floor_area(places, companies, users):
    places["wjy"].floor_area_m2 = 0
    places["wjy"].save()
    with pytest.raises(ValidationError) as excinfo:
        services.start_service(users["comm_a"], places["wjy"], mode=M.SUBSIDISED,
                               company=companies["anju"], started_on=D(2026, 3, 1))
    assert "mode" in errors_of(excinfo)


def test_grants_month_by_month_once_and_only_within_the_months(places, companies, users):
    period = services.start_service(users["comm_a"], places["wjy"], mode=M.SUBSIDISED,
                                    company=companies["anju"], started_on=D(2026, 3, 15))
    street = users["street"]
    s1 = places["wjy"].org_unit.get_ancestors().get(code="S1")
    assert services.grant_subsidies(street, s1, D(2026, 2, 1)).created == 0  # before the start
    total = Decimal("0")
    for month in range(3, 9):
        run = services.grant_subsidies(street, s1, D(2026, month, 20))
        assert run.created == 1 and run.month == D(2026, month, 1)
        assert run.total == Decimal("5000.00")
        total += run.total
    again = services.grant_subsidies(street, s1, "2026-08-01")
    assert again.created == 0 and len(again.grants) == 1 and again.total == Decimal("5000.00")
    assert services.grant_subsidies(street, s1, D(2026, 9, 1)).created == 0  # months used up
    assert total == services.subsidy_total(period) == Decimal("30000.00")
    assert SubsidyGrant.objects.count() == 6
    assert AuditEntry.objects.filter(model="property_mgmt.subsidygrant").count() == 6


def test_grants_stop_when_the_service_ends(places, companies, users):
    period = services.start_service(users["comm_a"], places["wjy"], mode=M.SUBSIDISED,
                                    company=companies["anju"], started_on=D(2026, 3, 1))
    services.start_service(users["comm_a"], places["wjy"], mode=M.MARKET,
                           company=companies["anju"], started_on=D(2026, 5, 1))
    s1 = places["wjy"].org_unit.get_ancestors().get(code="S1")
    assert services.grant_subsidies(users["street"], s1, D(2026, 4, 1)).created == 1
    assert services.grant_subsidies(users["street"], s1, D(2026, 5, 1)).created == 0
    assert period.grants.count() == 1


def test_street_total_and_scope_of_grants(tree, places, companies, users):
    for key, day in (("wjy", D(2026, 1, 1)), ("bhza", D(2026, 2, 1)), ("hgd", D(2026, 1, 1)),
                     ("jzhf", D(2026, 1, 1))):
        services.start_service(None, places[key], mode=M.SUBSIDISED, company=companies["anju"],
                               started_on=day)
    run = services.grant_subsidies(users["street"], tree["s1"], D(2026, 3, 1))
    # 文锦苑, 滨河左岸 and 化工东院 lie in street S1; 金泽华府 does not.
    assert {g.period.compound.name for g in run.grants} == {"文锦苑", "滨河左岸", "化工东院"}
    assert run.total == Decimal("5000.00") + Decimal("26000.00") + Decimal("4200.00")
    with pytest.raises(PermissionDenied):  # community staff do not pay subsidies
        services.grant_subsidies(users["comm_a"], tree["a"], D(2026, 3, 1))
    with pytest.raises(PermissionDenied):  # nor does one street pay another's
        services.grant_subsidies(users["street"], tree["s2"], D(2026, 3, 1))


def test_subsidy_ending_lists_transitions_due(tree, places, companies, users):
    soon = services.start_service(None, places["wjy"], mode=M.SUBSIDISED,
                                  company=companies["anju"], started_on=D(2026, 6, 1))
    services.start_service(None, places["bhza"], mode=M.SUBSIDISED, company=companies["anju"],
                           started_on=D(2026, 10, 1))
    late = services.start_service(None, places["hgd"], mode=M.SUBSIDISED,
                                  company=companies["anju"], started_on=D(2026, 1, 1))
    today = D(2026, 11, 22)
    assert list(subsidy_ending(tree["s1"], today)) == [late, soon]  # ended 06-30, ends 11-30
    assert list(subsidy_ending(tree["a"], today, within_days=0)) == []
    assert len(subsidy_ending(tree["s1"], today, within_days=200)) == 3


def test_scope_of_service_changes(places, companies, users):
    wjy = places["wjy"]
    with pytest.raises(PermissionDenied):
        services.start_service(users["comm_b"], wjy, mode=M.NONE, started_on=D(2025, 1, 1))
    with pytest.raises(PermissionDenied):
        services.start_service(users["auditor"], wjy, mode=M.NONE, started_on=D(2025, 1, 1))
    with pytest.raises(PermissionDenied):
        services.start_service(users["nobody"], wjy, mode=M.NONE, started_on=D(2025, 1, 1))
    period = services.start_service(users["secretary"], wjy, mode=M.NONE,
                                    started_on=D(2025, 1, 1))
    with pytest.raises(PermissionDenied):
        services.end_service(users["comm_b"], period, D(2025, 6, 1))
    with pytest.raises(PermissionDenied):
        services.record_income(users["comm_b"], wjy, kind="parking", amount="10",
                               received_on=D(2025, 2, 1))


def test_income_ledger_is_append_only(places, companies, users):
    wjy = places["wjy"]
    services.start_service(users["comm_a"], wjy, mode=M.SELF_MANAGED, started_on=D(2025, 1, 1))
    entry = services.record_income(users["secretary"], wjy, kind="parking", amount="1200.00",
                                   received_on=D(2025, 2, 1), note="二月停车费")
    services.record_income(users["secretary"], wjy, kind="shops", amount="800",
                           received_on=D(2025, 2, 3))
    assert services.income_balance(wjy) == Decimal("2000.00")
    reversal = services.reverse_income(users["comm_a"], entry, on=D(2025, 2, 10))
    assert reversal.amount == Decimal("-1200.00") and reversal.reverses == entry
    assert services.income_balance(wjy) == Decimal("800.00")
    with pytest.raises(ValidationError):  # once only
        services.reverse_income(users["comm_a"], entry)
    with pytest.raises(ValidationError):  # a reversal is not reversed
        services.reverse_income(users["comm_a"], reversal)
    with pytest.raises(PermissionDenied):
        services.reverse_income(users["comm_b"], SelfFundingEntry.objects.get(kind="shops"))
    for kwargs, field in [
        ({"kind": "lottery", "amount": "1"}, "kind"),
        ({"kind": "parking", "amount": "0"}, "amount"),
        ({"kind": "parking", "amount": "-5"}, "amount"),
        ({"kind": "parking", "amount": "x"}, "amount"),
    ]:
        with pytest.raises(ValidationError) as excinfo:
            services.record_income(users["secretary"], wjy, received_on=D(2025, 3, 1), **kwargs)
        assert field in errors_of(excinfo)
    with pytest.raises(ValidationError) as excinfo:
        services.record_income(users["secretary"], wjy, kind="parking", amount="1",
                               received_on=D(2099, 1, 1))
    assert "received_on" in errors_of(excinfo)


def test_income_of_a_market_served_compound_is_refused(places, companies, users):
    services.start_service(users["comm_a"], places["wjy"], mode=M.MARKET,
                           company=companies["jinxiu"], started_on=D(2025, 1, 1))
    with pytest.raises(ValidationError) as excinfo:
        services.record_income(users["comm_a"], places["wjy"], kind="parking", amount="100",
                               received_on=D(2025, 5, 1))
    assert "compound" in errors_of(excinfo)
