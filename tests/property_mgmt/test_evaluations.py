"""Service evaluations: one code per household file, the public answer's rules, results per
evaluation and per company, and the red/yellow watch list."""

import datetime as dt
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from grids.models import EventCategory, EventSource, Household
from grids.services import events as event_services
from property_mgmt import services
from property_mgmt.models import (
    DIMENSIONS,
    EvaluationCode,
    EvaluationResponse,
    ServiceEvaluation,
    ServiceMode,
)
from property_mgmt.selectors import company_ranking, evaluation_results, watch_list

from .conftest import D

pytestmark = pytest.mark.django_db

IN_WINDOW = timezone.make_aware(dt.datetime(2026, 10, 15, 20, 0))


def scores(value=4, **overrides):
    values = {dim: value for dim in DIMENSIONS}
    values.update(overrides)
    return values


@pytest.fixture
def survey(places, companies, users):
    services.start_service(users["comm_a"], places["wjy"], mode=ServiceMode.MARKET,
                           company=companies["jinxiu"], started_on=D(2025, 1, 1))
    return services.open_evaluation(users["secretary"], places["wjy"], year=2026,
                                    opens_on=D(2026, 10, 8), closes_on=D(2026, 10, 31))


def test_one_code_per_household_and_the_company_recorded(survey, places, companies, users):
    assert survey.company == companies["jinxiu"]
    codes = list(survey.codes.all())
    assert len(codes) == 4 and len({c.code for c in codes}) == 4
    assert {c.household_id for c in codes} == {h.pk for h in places["wjy_households"]}
    # A household filed later gets its code; the others keep theirs.
    Household.objects.create(compound=places["wjy"], room="701")
    assert services.issue_codes(users["secretary"], survey) == 1
    assert services.issue_codes(users["secretary"], survey) == 0
    assert survey.codes.count() == 5
    with pytest.raises(ValidationError) as excinfo:  # once per period
        services.open_evaluation(users["secretary"], places["wjy"], year=2026,
                                 opens_on=D(2026, 11, 1), closes_on=D(2026, 11, 30))
    assert "quarter" in excinfo.value.message_dict


def test_opening_refusals(places, users):
    with pytest.raises(ValidationError) as excinfo:  # no household files
        services.open_evaluation(users["comm_a"], places["bhza"], year=2026,
                                 opens_on=D(2026, 10, 1), closes_on=D(2026, 10, 31))
    assert "compound" in excinfo.value.message_dict
    for kwargs, field in [
        ({"year": 2026, "quarter": 5}, "quarter"),
        ({"year": "soon"}, "year"),
        ({"year": 2026, "closes_on": D(2026, 9, 1)}, "closes_on"),
    ]:
        kwargs = {"opens_on": D(2026, 10, 1), "closes_on": D(2026, 10, 31), **kwargs}
        with pytest.raises(ValidationError) as excinfo:
            services.open_evaluation(users["comm_a"], places["wjy"], **kwargs)
        assert field in excinfo.value.message_dict
    with pytest.raises(PermissionDenied):
        services.open_evaluation(users["comm_b"], places["wjy"], year=2026,
                                 opens_on=D(2026, 10, 1), closes_on=D(2026, 10, 31))
    assert ServiceEvaluation.objects.count() == 0


def test_one_answer_per_household_code(survey):
    code = survey.codes.first()
    response = services.submit_evaluation(f" {code.code.lower()} ", scores(5, repairs="3"),
                                          comment="维修及时", now=IN_WINDOW)
    assert response.repairs == 3 and response.mean == pytest.approx(4.6)
    code.refresh_from_db()
    assert code.used_at == IN_WINDOW
    with pytest.raises(ValidationError) as excinfo:
        services.submit_evaluation(code.code, scores(), now=IN_WINDOW)
    assert "code" in excinfo.value.message_dict
    assert EvaluationResponse.objects.count() == 1


def test_unknown_code_and_window_refused(survey):
    code = survey.codes.first().code
    for text, now in [
        ("ZZZZZZZZZZ", IN_WINDOW),
        ("", IN_WINDOW),
        (code, timezone.make_aware(dt.datetime(2026, 10, 7, 23, 59))),
        (code, timezone.make_aware(dt.datetime(2026, 11, 1, 0, 1))),
    ]:
        with pytest.raises(ValidationError) as excinfo:
            services.submit_evaluation(text, scores(), now=now)
        assert list(excinfo.value.message_dict) == ["code"]
        assert excinfo.value.message_dict["code"][0]
    assert EvaluationResponse.objects.count() == 0


@pytest.mark.parametrize("bad, field", [
    (scores(0), "cleaning"),
    (scores(security=6), "security"),
    (scores(greenery="good"), "greenery"),
    ({d: 4 for d in DIMENSIONS if d != "attitude"}, "attitude"),
    (scores(beauty=5), "beauty"),
])
def test_scores_outside_one_to_five_or_missing_refused(survey, bad, field):
    with pytest.raises(ValidationError) as excinfo:
        services.submit_evaluation(survey.codes.first().code, bad, now=IN_WINDOW)
    assert field in excinfo.value.message_dict
    assert not EvaluationCode.objects.filter(used_at__isnull=False).exists()


def test_long_comment_refused(survey):
    with pytest.raises(ValidationError) as excinfo:
        services.submit_evaluation(survey.codes.first().code, scores(), comment="好" * 501,
                                   now=IN_WINDOW)
    assert "comment" in excinfo.value.message_dict


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_answers_at_once_count_once(tree, places, companies):
    services.start_service(None, places["wjy"], mode=ServiceMode.MARKET,
                           company=companies["jinxiu"], started_on=D(2025, 1, 1))
    survey = services.open_evaluation(None, places["wjy"], year=2026, opens_on=D(2026, 10, 8),
                                      closes_on=D(2026, 10, 31))
    code = survey.codes.first().code
    outcomes = []

    def answer():
        try:
            services.submit_evaluation(code, scores(), now=IN_WINDOW)
            outcomes.append("ok")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=answer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    assert EvaluationResponse.objects.count() == 1


def _answer(survey, values):
    for code, value in zip(survey.codes.order_by("pk"), values):
        services.submit_evaluation(code.code, value, now=IN_WINDOW)


def test_results_and_company_ranking(tree, survey, places, companies, users,
                                     django_assert_num_queries):
    _answer(survey, [scores(5), scores(4, cleaning=2), scores(3)])
    services.start_service(None, places["hgd"], mode=ServiceMode.MARKET,
                           company=companies["anju"], started_on=D(2025, 1, 1))
    other = services.open_evaluation(None, places["hgd"], year=2026, opens_on=D(2026, 10, 8),
                                     closes_on=D(2026, 10, 31))
    _answer(other, [scores(2), scores(2)])
    with django_assert_num_queries(1):
        results = evaluation_results(ServiceEvaluation.objects.order_by("pk"))
    first, second = results
    assert (first["codes"], first["responses"], first["response_rate"]) == (4, 3, 0.75)
    assert first["means"]["cleaning"] == pytest.approx((5 + 2 + 3) / 3, abs=0.01)
    assert first["means"]["attitude"] == 4.0
    assert first["mean"] == pytest.approx((25 + 18 + 15) / 15, abs=0.01)
    assert (second["response_rate"], second["mean"]) == (1.0, 2.0)
    ranking = company_ranking(tree["s1"], 2026)
    assert [(r["rank"], r["company"]) for r in ranking] == [
        (1, companies["jinxiu"]), (2, companies["anju"])]
    assert ranking[0]["responses"] == 3 and ranking[0]["response_rate"] == 0.75
    assert company_ranking(tree["b"], 2026)[0]["company"] == companies["anju"]
    assert company_ranking(tree["s1"], 2025) == []


def test_watch_list_low_scores_and_rising_complaints(tree, places, companies, users):
    today = D(2026, 11, 22)
    survey = services.open_evaluation(None, places["wjy"], year=2026, opens_on=D(2026, 10, 8),
                                      closes_on=D(2026, 10, 31))
    _answer(survey, [scores(3), scores(3, cleaning=4)])  # 3.1: yellow
    hgd = services.open_evaluation(None, places["hgd"], year=2026, opens_on=D(2026, 10, 8),
                                   closes_on=D(2026, 10, 31))
    _answer(hgd, [scores(2)])  # 2.0: red
    category = EventCategory.objects.get(code="property_dispute")
    other = EventCategory.objects.get(code="environment")

    def report(compound, days_ago, cat=category):
        at = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=days_ago),
                                                     dt.time(10)))
        return event_services.report_event(None, category=cat, source=EventSource.RESIDENT,
                                           compound=compound, description="物业不作为", at=at)

    # 滨河左岸: property complaints rose (2 recent, 1 before); other categories do not count.
    for days in (3, 80):
        report(places["bhza"], days)
    report(places["bhza"], 120)
    for days in (5, 6, 7):
        report(places["bhza"], days, other)
    entries = {e.compound.name: e for e in watch_list(tree["s1"], today)}
    assert entries["化工东院"].level == "red" and entries["化工东院"].reasons == ["low_score"]
    assert entries["文锦苑"].level == "yellow" and entries["文锦苑"].mean == 3.1
    assert entries["滨河左岸"].level == "yellow"
    assert (entries["滨河左岸"].recent_complaints, entries["滨河左岸"].earlier_complaints) == (2, 1)
    assert entries["滨河左岸"].street_name == tree["s1"].name
    # A complaint on top of 文锦苑's yellow score makes it red.
    report(places["wjy"], 1)
    assert {e.compound.name: e.level for e in watch_list(tree["a"], today)} == {
        "文锦苑": "red", "滨河左岸": "yellow"}
    assert watch_list(tree["c"], today) == []
