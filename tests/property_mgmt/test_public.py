"""The public pages: the residents' evaluation form (a good code is answered once; used and
unknown codes, a closed window and a missing score are refused with a message; the rate limit
answers 429 and saves nothing) and the compound's page (names and roles only, the decision under
notice for exactly its period, a fixed number of queries, 404 for unknown or inactive
compounds)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from party_org.models import CommitteeRole, ServiceStation
from property_mgmt import services
from property_mgmt.models import (
    DIMENSIONS,
    CommitteeKind,
    CommitteeMemberRole,
    DeliberationStatus,
    EvaluationResponse,
    ServiceMode,
)

from .conftest import D, person, seat

pytestmark = pytest.mark.django_db

S = DeliberationStatus
TODAY = timezone.localdate()
EVALUATE = "/evaluate/"
SECRETARY_PHONE, CHAIR_PHONE = "13911112222", "13833334444"
ID_NUMBER = "11010519491231002X"


def days(n):
    return TODAY + dt.timedelta(days=n)


def at(day, hour=10):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def scene(tree, places, companies, users):
    """文锦苑: its branch secretary, an owners' committee with its chair, a market company, an
    open survey, a convention and the branch's service station."""
    wjy, user = places["wjy"], users["comm_a"]
    secretary = person(tree["a2"], "王建国")
    secretary.phone = SECRETARY_PHONE
    secretary.save()
    seat(tree["a2"], secretary, role=CommitteeRole.SECRETARY)
    services.start_service(user, wjy, mode=ServiceMode.MARKET, company=companies["jinxiu"],
                           started_on=D(2025, 1, 1))
    committee = services.elect_committee(user, wjy, CommitteeKind.OWNERS, D(2025, 6, 1),
                                         D(2028, 5, 31))
    chair = person(tree["a2"], "李秀英")
    chair.phone = CHAIR_PHONE
    chair.set_id_number(ID_NUMBER)
    chair.save()
    services.add_committee_member(user, committee, person=chair, role=CommitteeMemberRole.CHAIR)
    survey = services.open_evaluation(user, wjy, year=TODAY.year, opens_on=days(-3),
                                      closes_on=days(10))
    services.adopt_convention(user, wjy, title="文锦苑小区公约", text="爱护环境，文明养犬。",
                              adopted_on=days(-40))
    ServiceStation.objects.create(org_unit=tree["a2"], name="文锦苑党群服务站",
                                  address="文锦苑3号楼底商", area_m2=Decimal("120.0"),
                                  functions=["reception", "mediation"],
                                  opening_hours="9:00–17:00")
    return {"compound": wjy, "survey": survey, "codes": list(survey.codes.order_by("pk"))}


def scores(value=4, **overrides):
    values = {dim: value for dim in DIMENSIONS}
    values.update(overrides)
    return values


def answer(client, code, values, comment=""):
    return client.post(EVALUATE, {"stage": "rate", "code": code, "comment": comment, **values})


# ---- the evaluation form ---------------------------------------------------------------------


def test_a_household_answers_once(scene, client):
    assert client.get(EVALUATE).status_code == 200
    code = scene["codes"][0]
    typed = f" {code.code[:5].lower()} {code.code[5:].lower()} "
    step = client.post(EVALUATE, {"stage": "code", "code": typed})
    assert step.status_code == 200
    assert step.context["compound"] == scene["compound"]
    assert step.context["form"]["code"].value() == code.code
    assert "文锦苑" in step.content.decode()
    done = answer(client, code.code, scores(cleaning=5, repairs=2), comment="电梯常坏")
    assert done.status_code == 302 and done.url == "/evaluate/thanks/"
    response = EvaluationResponse.objects.get(code=code)
    assert (response.cleaning, response.repairs, response.attitude, response.comment) == (
        5, 2, 4, "电梯常坏")
    code.refresh_from_db()
    assert code.used_at is not None
    thanks = client.get(done.url)
    assert thanks.status_code == 200 and thanks.context["compound"] == scene["compound"]
    assert f"/compounds/{scene['compound'].pk}/" in thanks.content.decode()
    # The same code again: refused at the code step and on a posted answer; still one answer.
    again = client.post(EVALUATE, {"stage": "code", "code": code.code})
    assert again.status_code == 400 and again.context["form"].errors["code"]
    replay = answer(client, code.code, scores())
    assert replay.status_code == 400 and replay.context["form"].errors["code"]
    assert EvaluationResponse.objects.filter(code=code).count() == 1


def test_a_printed_link_opens_the_ratings(scene, client):
    code = scene["codes"][1].code
    page = client.get(EVALUATE, {"code": code})
    assert page.status_code == 200 and page.context["compound"] == scene["compound"]
    assert page.content.decode().count('type="radio"') == 25


@pytest.mark.parametrize("typed", ["ZZZZZZZZZZ", "", "<script>", "A" * 40, "码码码", "\x00"])
def test_unknown_codes_are_refused_with_a_message(scene, client, typed):
    page = client.post(EVALUATE, {"stage": "code", "code": typed})
    assert page.status_code == 400 and page.context["form"].errors["code"]
    assert client.get(EVALUATE, {"code": typed}).status_code == 400
    assert not EvaluationResponse.objects.exists()


def test_outside_the_window_is_refused(scene, client):
    survey, code = scene["survey"], scene["codes"][0]
    for opens, closes in ((days(-20), days(-1)), (days(1), days(20))):
        survey.opens_on, survey.closes_on = opens, closes
        survey.save()
        page = client.post(EVALUATE, {"stage": "code", "code": code.code})
        assert page.status_code == 400 and page.context["form"].errors["code"]
        late = answer(client, code.code, scores())
        assert late.status_code == 400 and page.context["form"].errors["code"]
    assert not EvaluationResponse.objects.exists()


def test_missing_or_wrong_scores_are_refused(scene, client):
    code = scene["codes"][0].code
    values = scores()
    del values["greenery"]
    missing = answer(client, code, values)
    assert missing.status_code == 400
    form = missing.context["form"]
    assert list(form.errors) == ["greenery"] and form["code"].value() == code
    assert "pm-missing" in missing.content.decode()
    wrong = answer(client, code, scores(security="9"))
    assert wrong.status_code == 400 and list(wrong.context["form"].errors) == ["security"]
    long = answer(client, code, scores(), comment="长" * 501)
    assert long.status_code == 400 and "comment" in long.context["form"].errors
    assert not EvaluationResponse.objects.exists()


def test_the_rate_limit_answers_429_and_saves_nothing(scene, client, settings):
    settings.PROPERTY_EVALUATION_RATE_LIMIT = "2/600"
    codes = scene["codes"]
    assert client.post(EVALUATE, {"stage": "code", "code": "WRONGCODE1"}).status_code == 400
    assert client.get(EVALUATE, {"code": "WRONGCODE2"}).status_code == 400
    blocked = answer(client, codes[0].code, scores())
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) > 0
    assert not EvaluationResponse.objects.exists()
    codes[0].refresh_from_db()
    assert codes[0].used_at is None
    # Another address is not held back.
    other = client.post(EVALUATE, {"stage": "rate", "code": codes[1].code, **scores()},
                        REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 302 and EvaluationResponse.objects.count() == 1


def test_the_home_page_links_to_the_survey(tree, client):
    assert 'href="/evaluate/"' in client.get("/").content.decode()


# ---- the compound's page ---------------------------------------------------------------------


def page_of(client, compound):
    return client.get(f"/compounds/{compound.pk}/")


def test_the_compound_page_shows_names_and_roles_only(scene, client, companies, tree):
    page = page_of(client, scene["compound"])
    assert page.status_code == 200
    text = page.content.decode()
    for shown in ("文锦苑", "滨河东路1号", tree["a2"].name, "王建国", "李秀英",
                  companies["jinxiu"].name, "文锦苑小区公约", "文锦苑党群服务站",
                  "文锦苑3号楼底商", 'href="/evaluate/"'):
        assert shown in text, shown
    for hidden in (SECRETARY_PHONE, CHAIR_PHONE, SECRETARY_PHONE[-4:], CHAIR_PHONE[-4:],
                   "****", ID_NUMBER, ID_NUMBER[-6:]):
        assert hidden not in text, hidden


def test_a_decision_is_on_the_page_for_its_notice_period(scene, users, client, monkeypatch):
    secretary = users["secretary"]
    d = services.propose(secretary, compound=scene["compound"], topic="小区停车秩序整治",
                         at=at(days(-9)))
    d = services.discuss(secretary, d, minutes="各方同意", at=at(days(-8)),
                         attendance=[("branch", "王建国"), ("company", "张经理")])
    d = services.decide(secretary, d, decision="施划停车位，一车一位，外来车辆限时停放。",
                        votes_for=11, votes_against=1, votes_abstain=0, at=at(days(-4)))
    assert "小区停车秩序整治" not in page_of(client, scene["compound"]).content.decode()
    d = services.publicise(secretary, d, days=7, start=days(-3), at=at(days(-4)))
    assert (d.publicised_from, d.publicised_until) == (days(-3), days(3))
    shown = page_of(client, scene["compound"])
    assert [n.pk for n in shown.context["notices"]] == [d.pk]
    text = shown.content.decode()
    assert "小区停车秩序整治" in text and "施划停车位，一车一位" in text
    assert days(-3).strftime("%Y-%m-%d") in text and days(3).strftime("%Y-%m-%d") in text
    # Reviewed during its notice it stays up; the day after the period it is gone.
    services.review(secretary, d, satisfied=50, unsatisfied=2, at=at(days(-1)))
    assert [n.pk for n in page_of(client, scene["compound"]).context["notices"]] == [d.pk]
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: days(4))
    gone = page_of(client, scene["compound"])
    assert gone.context["notices"] == [] and "小区停车秩序整治" not in gone.content.decode()


def test_unknown_and_inactive_compounds_are_not_found(scene, client, places):
    assert client.get("/compounds/999999/").status_code == 404
    assert client.get("/compounds/abc/").status_code == 404
    assert client.get(f"/compounds/{2**64}/").status_code == 404
    compound = places["hgd"]
    compound.is_active = False
    compound.save()
    assert page_of(client, compound).status_code == 404


def test_a_compound_with_nothing_recorded_still_has_a_page(places, client):
    page = page_of(client, places["jzhf"])
    assert page.status_code == 200
    assert page.context["period"] is None and page.context["committee"] is None


def test_the_compound_page_runs_a_fixed_number_of_queries(scene, users, client,
                                                          django_assert_num_queries):
    with django_assert_num_queries(9):
        assert page_of(client, scene["compound"]).status_code == 200
    secretary = users["secretary"]
    for i in range(4):
        d = services.propose(secretary, compound=scene["compound"], topic=f"议题{i}",
                             at=at(days(-3)))
        d = services.discuss(secretary, d, minutes="同意", at=at(days(-3), 11),
                             attendance=[("branch", "王建国"), ("company", "张经理")])
        d = services.decide(secretary, d, decision=f"决定{i}", votes_for=5, votes_against=0,
                            votes_abstain=0, at=at(days(-2)))
        services.publicise(secretary, d, days=7, start=days(-1), at=at(days(-1)))
    with django_assert_num_queries(9):
        page = page_of(client, scene["compound"])
    assert len(page.context["notices"]) == 4
