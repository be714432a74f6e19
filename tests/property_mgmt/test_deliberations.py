"""Deliberation by the four-step method (支部提、多方议、集体决、群众评): every step, every illegal
step, the public notice period, linked grid events, and conventions."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from grids.models import EventCategory, EventSource
from grids.services import events as event_services
from property_mgmt import services
from property_mgmt.models import (
    ONE_PLUS_THREE_PLUS_N,
    Convention,
    Deliberation,
    DeliberationLog,
    DeliberationStatus,
    PartyKind,
)
from property_mgmt.selectors import current_convention, current_notices

from .conftest import D

pytestmark = pytest.mark.django_db

S = DeliberationStatus


def at(day, hour=10):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


ATTENDANCE = [
    (PartyKind.BRANCH, "王书记"),
    (PartyKind.COMMITTEE, "李主任"),
    (PartyKind.COMPANY, "张经理"),
    {"party": PartyKind.REPRESENTATIVES, "name": "赵大妈"},
]


def walk(user, d, until, day=D(2026, 11, 1)):
    """Take `d` through the steps up to status `until`."""
    order = [S.PROPOSED, S.DISCUSSING, S.DECIDED, S.PUBLICISED, S.REVIEWED]
    for n, status in enumerate(order[order.index(d.status) + 1: order.index(until) + 1]):
        when = at(day + dt.timedelta(days=n))
        if status == S.DISCUSSING:
            d = services.discuss(user, d, minutes="各方意见一致", attendance=ATTENDANCE, at=when)
        elif status == S.DECIDED:
            d = services.decide(user, d, decision="划线停车", votes_for=9, votes_against=2,
                                votes_abstain=1, at=when)
        elif status == S.PUBLICISED:
            d = services.publicise(user, d, days=7, at=when)
        else:
            d = services.review(user, d, satisfied=120, unsatisfied=8,
                                at=when + dt.timedelta(days=7))
    return d


@pytest.fixture
def proposal(places, users):
    return services.propose(users["secretary"], compound=places["wjy"], topic=" 小区停车秩序整治 ",
                            background="车辆乱停占用消防通道", at=at(D(2026, 10, 30)))


def test_every_step_in_order(proposal, users, places, tree):
    d = proposal
    assert (d.status, d.org_unit, d.topic) == (S.PROPOSED, tree["a2"], "小区停车秩序整治")
    assert d.parties == ONE_PLUS_THREE_PLUS_N  # 1+3+N by default
    d = services.discuss(users["secretary"], d, minutes="各方意见", attendance=ATTENDANCE,
                         at=at(D(2026, 11, 1)))
    assert d.status == S.DISCUSSING and d.attendance.count() == 4
    d = services.decide(users["secretary"], d, decision="施划停车位，实行一车一位",
                        votes_for="9", votes_against=2, votes_abstain=0, at=at(D(2026, 11, 2)))
    assert (d.status, d.votes_for, d.decided_at) == (S.DECIDED, 9, at(D(2026, 11, 2)))
    d = services.publicise(users["secretary"], d, days=7, start=D(2026, 11, 3),
                           at=at(D(2026, 11, 2)))
    assert (d.publicised_from, d.publicised_until) == (D(2026, 11, 3), D(2026, 11, 9))
    d = services.review(users["comm_a"], d, satisfied=130, unsatisfied=6, at=at(D(2026, 11, 10)))
    assert (d.status, d.satisfied, d.unsatisfied) == (S.REVIEWED, 130, 6)
    steps = list(d.logs.values_list("from_status", "to_status"))
    assert steps == [("", S.PROPOSED), (S.PROPOSED, S.DISCUSSING), (S.DISCUSSING, S.DECIDED),
                     (S.DECIDED, S.PUBLICISED), (S.PUBLICISED, S.REVIEWED)]
    assert services.allowed_steps(users["secretary"], d) == []


STEP_CALLS = {
    "discuss": lambda u, d: services.discuss(u, d, minutes="纪要", attendance=ATTENDANCE),
    "decide": lambda u, d: services.decide(u, d, decision="决定", votes_for=3, votes_against=0,
                                           votes_abstain=0),
    "publicise": lambda u, d: services.publicise(u, d),
    "review": lambda u, d: services.review(u, d, satisfied=1, unsatisfied=0),
}
LEGAL = {S.PROPOSED: "discuss", S.DISCUSSING: "decide", S.DECIDED: "publicise",
         S.PUBLICISED: "review", S.REVIEWED: None}


@pytest.mark.parametrize("status", list(LEGAL))
def test_every_illegal_step_is_refused(proposal, users, status):
    d = proposal if status == S.PROPOSED else walk(users["secretary"], proposal, status)
    legal = [LEGAL[status]] if LEGAL[status] else []
    assert services.allowed_steps(users["secretary"], d) == legal
    logs = DeliberationLog.objects.count()
    for step, call in STEP_CALLS.items():
        if step == LEGAL[status]:
            continue
        with pytest.raises(ValidationError) as excinfo:
            call(users["secretary"], d)
        assert excinfo.value.messages[0]
        assert Deliberation.objects.get(pk=d.pk).status == status
    assert DeliberationLog.objects.count() == logs


def test_step_input_is_checked(proposal, users):
    user = users["secretary"]
    for attendance in ([], [(PartyKind.BRANCH, "王书记")], [("aliens", "某某"), (PartyKind.BRANCH, "王")],
                       [(PartyKind.BRANCH, ""), (PartyKind.COMPANY, "张")], ["王书记"]):
        with pytest.raises(ValidationError) as excinfo:
            services.discuss(user, proposal, minutes="纪要", attendance=attendance)
        assert "attendance" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        services.discuss(user, proposal, minutes="  ", attendance=ATTENDANCE)
    assert "minutes" in excinfo.value.message_dict
    d = services.discuss(user, proposal, minutes="纪要", attendance=ATTENDANCE)
    for kwargs, field in [
        ({"votes_for": 5, "votes_against": 5, "votes_abstain": 0}, "votes_for"),  # a tie
        ({"votes_for": 2, "votes_against": 5, "votes_abstain": 9}, "votes_for"),
        ({"votes_for": 0, "votes_against": 0, "votes_abstain": 3}, "votes_for"),
        ({"votes_for": -1, "votes_against": 0, "votes_abstain": 0}, "votes_for"),
        ({"votes_for": "many", "votes_against": 0, "votes_abstain": 0}, "votes_for"),
        ({"votes_for": 5, "votes_against": 0, "votes_abstain": None}, "votes_abstain"),
    ]:
        with pytest.raises(ValidationError) as excinfo:
            services.decide(user, d, decision="决定", **kwargs)
        assert field in excinfo.value.message_dict, kwargs
    with pytest.raises(ValidationError) as excinfo:
        services.decide(user, d, decision="", votes_for=3, votes_against=0, votes_abstain=0)
    assert "decision" in excinfo.value.message_dict
    d = services.decide(user, d, decision="决定", votes_for=3, votes_against=0, votes_abstain=0,
                        at=at(D(2026, 11, 5)))
    for days in (0, 91, "a week"):
        with pytest.raises(ValidationError) as excinfo:
            services.publicise(user, d, days=days)
        assert "days" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        services.publicise(user, d, start=D(2026, 11, 1))  # before the decision
    assert "start" in excinfo.value.message_dict
    d = services.publicise(user, d, start=D(2026, 11, 20), at=at(D(2026, 11, 6)))
    with pytest.raises(ValidationError):  # the notice is not up yet
        services.review(user, d, satisfied=3, unsatisfied=0, at=at(D(2026, 11, 19)))
    with pytest.raises(ValidationError) as excinfo:
        services.review(user, d, satisfied=0, unsatisfied=0, at=at(D(2026, 11, 21)))
    assert "satisfied" in excinfo.value.message_dict


def test_proposals_are_checked(places, users, tree):
    for kwargs, field in [
        ({"topic": ""}, "topic"),
        ({"topic": "议题", "parties": ["branch"]}, "parties"),
        ({"topic": "议题", "parties": ["branch", "mafia"]}, "parties"),
        ({"topic": "议题", "parties": "branch"}, "parties"),
        ({"topic": "议题", "org_unit": tree["a1"]}, "compound"),  # 文锦苑 is not under A1
    ]:
        with pytest.raises(ValidationError) as excinfo:
            services.propose(users["comm_a"], compound=places["wjy"], **kwargs)
        assert field in excinfo.value.message_dict
    d = services.propose(users["comm_a"], org_unit=tree["a"], compound=places["wjy"],
                         topic="议题", parties=["committee", "branch"])
    assert d.parties == ["branch", "committee"] and d.org_unit == tree["a"]


def test_scope_of_every_step(proposal, places, users, tree):
    with pytest.raises(PermissionDenied):
        services.propose(users["comm_b"], compound=places["wjy"], topic="议题")
    with pytest.raises(PermissionDenied):
        services.propose(users["auditor"], compound=places["wjy"], topic="议题")
    d = proposal
    for status, step in [(S.PROPOSED, "discuss"), (S.DISCUSSING, "decide"),
                         (S.DECIDED, "publicise"), (S.PUBLICISED, "review")]:
        if d.status != status:
            d = walk(users["secretary"], d, status)
        assert services.allowed_steps(users["comm_b"], d) == []
        with pytest.raises(PermissionDenied):
            STEP_CALLS[step](users["comm_b"], d)
    with pytest.raises(PermissionDenied):
        services.link_events(users["comm_b"], d, [])
    with pytest.raises(PermissionDenied):
        services.adopt_convention(users["comm_b"], places["wjy"], title="公约", text="条款",
                                  adopted_on=D(2026, 1, 1))


def test_a_publicised_decision_is_noticed_for_its_period_only(proposal, places, users, tree):
    d = walk(users["secretary"], proposal, S.DECIDED)
    services.publicise(users["secretary"], d, days=7, start=D(2026, 11, 18))
    branch_wide = services.propose(users["secretary"], org_unit=tree["a2"], topic="支部通知")
    # Publicised on the third day of the walk: 17 to 23 November.
    branch_wide = walk(users["secretary"], branch_wide, S.PUBLICISED, day=D(2026, 11, 15))
    other = services.propose(users["comm_a"], compound=places["bhza"], topic="别的小区")
    walk(users["comm_a"], other, S.PUBLICISED, day=D(2026, 11, 15))
    wjy = places["wjy"]
    assert list(current_notices(wjy, D(2026, 11, 16))) == []
    assert list(current_notices(wjy, D(2026, 11, 17))) == [branch_wide]
    assert list(current_notices(wjy, D(2026, 11, 18))) == [d, branch_wide]
    assert list(current_notices(wjy, D(2026, 11, 24))) == [d]
    assert list(current_notices(wjy, D(2026, 11, 25))) == []
    # Reviewed during its notice, it stays up until the notice ends.
    services.review(users["secretary"], d, satisfied=10, unsatisfied=1, at=at(D(2026, 11, 20)))
    assert list(current_notices(wjy, D(2026, 11, 21))) == [d, branch_wide]


def test_linking_the_events_a_decision_resolves(proposal, places, users, tree):
    category = EventCategory.objects.get(code="property_dispute")

    def event(compound):
        return event_services.report_event(None, category=category, source=EventSource.RESIDENT,
                                           compound=compound, description="乱停车")

    mine, neighbour, far = event(places["wjy"]), event(places["bhza"]), event(places["hgd"])
    assert services.link_events(users["secretary"], proposal, [mine]) == [mine]
    assert services.link_events(users["secretary"], proposal, [mine]) == []  # once
    with pytest.raises(ValidationError) as excinfo:  # outside the secretary's scope
        services.link_events(users["secretary"], proposal, [far])
    assert "events" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:  # in scope but another compound
        services.link_events(users["comm_a"], proposal, [neighbour])
    assert "events" in excinfo.value.message_dict
    assert list(proposal.events.all()) == [mine]
    assert list(mine.deliberations.all()) == [proposal]


def test_conventions_are_numbered_versions(proposal, places, users):
    first = services.adopt_convention(users["secretary"], places["wjy"], title="文锦苑小区公约",
                                      text="爱护环境，文明停车。", adopted_on=D(2025, 5, 1))
    with pytest.raises(ValidationError) as excinfo:  # not decided yet
        services.adopt_convention(users["secretary"], places["wjy"], title="修订", text="条款",
                                  adopted_on=D(2026, 11, 3), deliberation=proposal)
    assert "deliberation" in excinfo.value.message_dict
    d = walk(users["secretary"], proposal, S.DECIDED)
    second = services.adopt_convention(users["secretary"], places["wjy"], title="修订",
                                       text="条款", adopted_on=D(2026, 11, 3), deliberation=d)
    assert (first.version, second.version) == (1, 2)
    assert current_convention(places["wjy"]) == second
    other = services.propose(users["comm_a"], compound=places["bhza"], topic="别的")
    other = walk(users["comm_a"], other, S.DECIDED)
    for kwargs, field in [
        ({"title": "", "text": "x", "adopted_on": D(2026, 1, 1)}, "title"),
        ({"title": "x", "text": "", "adopted_on": D(2026, 1, 1)}, "text"),
        ({"title": "x", "text": "x", "adopted_on": D(2099, 1, 1)}, "adopted_on"),
        ({"title": "x", "text": "x", "adopted_on": D(2026, 1, 1), "deliberation": other},
         "deliberation"),
    ]:
        with pytest.raises(ValidationError) as excinfo:
            services.adopt_convention(users["comm_a"], places["wjy"], **kwargs)
        assert field in excinfo.value.message_dict
    assert Convention.objects.count() == 2
