"""Review of the resources area: defects found in review, each pinned by a test.

- a person's name out of scope must not show through the committee / top-ten person fields;
- id filters with values beyond the database's integer range answer 400/empty, not 500;
- an ended co-building agreement can be signed again through the API (as in the admin);
- moving a selection with entries to another month re-checks its entries;
- every admin list and API list of the area runs a fixed number of queries.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from party_org.models import (
    CoBuildingAgreement,
    CommitteeRole,
    FundCategory,
    ListKind,
    OrgKind,
    TopSecretarySelection,
)
from party_org.services import resources as services
from tests.conftest import make

from .test_resources_helpers import person, seat, station, work_unit

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
D = lambda days_ago: TODAY - dt.timedelta(days=days_ago)  # noqa: E731
API = "/api/v1"
ADMIN = "/admin/party_org"
HUGE = "9" * 25


# ---- privacy: names of people outside the scope ----------------------------------------------


def test_committee_form_does_not_name_a_person_outside_the_scope(tree, users, admin_client_for):
    hidden = person(tree["b1"], "十二院城的某人")
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/committeemembership/add/", {
        "org_unit": tree["a2"].pk, "person": hidden.pk, "role": CommitteeRole.MEMBER,
        "started_on": D(10).isoformat()})
    assert response.status_code == 200
    assert "person" in response.context["adminform"].form.errors
    assert "十二院城的某人" not in response.content.decode()
    # In scope the chosen person is shown again after a refusal of another field.
    own = person(tree["a2"], "文锦苑的人")
    response = client.post(f"{ADMIN}/committeemembership/add/", {
        "org_unit": tree["a2"].pk, "person": own.pk, "role": "nonsense",
        "started_on": D(10).isoformat()})
    assert response.status_code == 200 and "文锦苑的人" in response.content.decode()


def test_top_ten_inline_does_not_name_a_person_outside_the_scope(tree, users, admin_client_for):
    hidden = person(tree["c"], "金泽社区的某人")
    selection = services.save_top_ten_selection(
        None, TopSecretarySelection(org_unit=tree["s1"], month=D(40)))
    response = admin_client_for(users["street"]).post(
        f"{ADMIN}/topsecretaryselection/{selection.pk}/change/", {
            "org_unit": tree["s1"].pk, "month": selection.month.isoformat(),
            "entries-TOTAL_FORMS": "1", "entries-INITIAL_FORMS": "0",
            "entries-MIN_NUM_FORMS": "0", "entries-MAX_NUM_FORMS": "10",
            "entries-0-rank": "1", "entries-0-person": hidden.pk,
            "entries-0-branch": tree["a2"].pk})
    assert response.status_code == 200
    assert "金泽社区的某人" not in response.content.decode()
    assert not selection.entries.exists()


# ---- bad input: never a 500 ------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    f"fund-entries/?org_unit={HUGE}", f"stations/?org_unit={HUGE}",
    f"co-building/?work_unit={HUGE}", f"co-building/?org_unit={HUGE}",
    f"list-items/?org_unit={HUGE}", f"committee-seats/?org_unit={HUGE}",
    f"top-ten/?org_unit={HUGE}", f"stations/?ancestor={HUGE}", "stations/?org_unit=-1",
    "stations/?org_unit=1.5",
])
def test_id_filters_out_of_range_are_not_a_server_error(tree, users, api_for, query):
    station(tree["a2"])
    response = api_for(users["comm_a"]).get(f"{API}/{query}")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        assert response.json()["results"] == []


# ---- co-building: an ended agreement is signed again -----------------------------------------


def test_api_signs_an_ended_agreement_again(tree, users, api_for):
    client = api_for(users["comm_a"])
    unit = work_unit()
    data = {"work_unit": unit.pk, "org_unit": tree["a"].pk, "signed_on": D(300).isoformat()}
    first = client.post(f"{API}/co-building/", data)
    assert first.status_code == 201, first.content
    # While active, a second signing is refused with the service's own message.
    again = client.post(f"{API}/co-building/", data)
    assert again.status_code == 400
    assert unit.name in str(again.json())
    assert client.post(f"{API}/co-building/{first.json()['id']}/end/").status_code == 200
    response = client.post(f"{API}/co-building/", {**data, "signed_on": D(5).isoformat(),
                                                   "liaison": "张联络"})
    assert response.status_code == 201, response.content
    assert response.json()["id"] == first.json()["id"] and response.json()["is_active"]
    agreement = CoBuildingAgreement.objects.get()
    assert agreement.signed_on == D(5) and agreement.liaison == "张联络"


# ---- the top ten: a selection moved to another month -----------------------------------------


def test_moving_a_selection_to_another_month_rechecks_its_entries(tree):
    month = D(40).replace(day=1)
    secretary = person(tree["a2"], "a2书记")
    seat(tree["a2"], secretary, started_on=month, ended_on=month + dt.timedelta(days=40))
    selection = services.save_top_ten_selection(
        None, TopSecretarySelection(org_unit=tree["s1"], month=month))
    services.set_top_ten_entries(
        None, selection, [{"rank": 1, "person": secretary, "branch": tree["a2"]}])
    earlier = (month - dt.timedelta(days=1)).replace(day=1)
    selection.month = earlier
    with pytest.raises(services.ValidationError) as error:
        services.save_top_ten_selection(None, selection)
    assert "a2书记" in " ".join(error.value.messages)
    assert TopSecretarySelection.objects.get().month == month
    # A month in which the seat was held is accepted.
    selection.month = (month + dt.timedelta(days=35)).replace(day=1)
    services.save_top_ten_selection(None, selection)
    assert TopSecretarySelection.objects.get().month == selection.month


def test_admin_moves_a_selection_to_another_month_with_new_entries(tree, users,
                                                                  admin_client_for):
    march, april = dt.date(2025, 3, 1), dt.date(2025, 4, 1)
    old = person(tree["a2"], "三月书记")
    seat(tree["a2"], old, started_on=march, ended_on=dt.date(2025, 3, 31))
    new = person(tree["b1"], "四月书记")
    seat(tree["b1"], new, started_on=april)
    selection = services.save_top_ten_selection(
        None, TopSecretarySelection(org_unit=tree["s1"], month=march),
        [{"rank": 1, "person": old, "branch": tree["a2"]}])
    entry = selection.entries.get()
    client = admin_client_for(users["street"])
    url = f"{ADMIN}/topsecretaryselection/{selection.pk}/change/"
    form = {"org_unit": tree["s1"].pk, "month": april.isoformat(),
            "entries-TOTAL_FORMS": "1", "entries-INITIAL_FORMS": "1",
            "entries-MIN_NUM_FORMS": "0", "entries-MAX_NUM_FORMS": "10",
            "entries-0-id": entry.pk, "entries-0-selection": selection.pk,
            "entries-0-rank": "1", "entries-0-branch": tree["b1"].pk}
    # The old entry does not fit April: refused, nothing changes.
    response = client.post(url, {**form, "entries-0-person": old.pk})
    assert response.status_code == 200
    selection.refresh_from_db()
    assert selection.month == march
    # Month and entries changed together are checked together.
    response = client.post(url, {**form, "entries-0-person": new.pk})
    assert response.status_code == 302, response.context and response.context["errors"]
    selection.refresh_from_db()
    assert selection.month == april
    assert list(selection.entries.values_list("person__name", flat=True)) == ["四月书记"]


def test_admin_add_refused_by_the_service_saves_nothing(tree, users, admin_client_for,
                                                        monkeypatch):
    month = dt.date(2025, 3, 1)
    secretary = person(tree["a2"], "a2书记")
    seat(tree["a2"], secretary, started_on=month)

    def refuse(*args, **kwargs):  # e.g. the seat ended in another session meanwhile
        raise services.ValidationError("refused")

    monkeypatch.setattr(services, "set_top_ten_entries", refuse)
    response = admin_client_for(users["street"]).post(
        f"{ADMIN}/topsecretaryselection/add/", {
            "org_unit": tree["s1"].pk, "month": month.isoformat(),
            "entries-TOTAL_FORMS": "1", "entries-INITIAL_FORMS": "0",
            "entries-MIN_NUM_FORMS": "0", "entries-MAX_NUM_FORMS": "10",
            "entries-0-rank": "1", "entries-0-person": secretary.pk,
            "entries-0-branch": tree["a2"].pk}, follow=True)
    assert response.status_code == 200
    assert any("refused" in str(m) for m in response.context["messages"])
    assert not TopSecretarySelection.objects.exists()


# ---- query counts of every list --------------------------------------------------------------


def _rows(tree, n, start):
    """n rows of every model of the area under A2 (and one top-ten selection per month)."""
    for k in range(start, start + n):
        station(tree["a2"], name=f"站{k}")
        services.record_fund_entry(None, tree["a2"], D(200 - k), FundCategory.WORK_FUNDS, "10",
                                   f"经费{k}")
        unit = work_unit(f"共建单位{k}")
        services.sign_agreement(None, unit, tree["a2"], D(300))
        need = services.add_list_item(None, tree["a2"], ListKind.NEED, f"需求{k}")
        resource = services.add_list_item(None, tree["a2"], ListKind.RESOURCE, f"资源{k}",
                                          work_unit=unit)
        services.match_need(None, need, resource)
        branch = make(tree["a"], OrgKind.BRANCH, f"QB{k}", f"支部{k}")
        secretary = person(branch, f"书记{k}")
        seat(branch, secretary, started_on=dt.date(2019, 1, 1))
        month = dt.date(2020, 1, 1) + dt.timedelta(days=31 * k)
        selection = services.save_top_ten_selection(
            None, TopSecretarySelection(org_unit=tree["s1"], month=month.replace(day=1)))
        services.set_top_ten_entries(
            None, selection, [{"rank": 1, "person": secretary, "branch": branch}])


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


ADMIN_LISTS = ["servicestation", "branchfundentry", "cobuildingagreement", "listitem",
               "needmatch", "committeemembership", "topsecretaryselection"]
API_LISTS = ["stations", "fund-entries", "co-building", "list-items", "committee-seats",
             "top-ten"]


def test_admin_and_api_lists_run_a_fixed_number_of_queries(tree, users, admin_client_for,
                                                           api_for):
    def measure():
        user = type(users["street"]).objects.get(pk=users["street"].pk)
        admin, api = admin_client_for(user), api_for(user)
        counts = {}
        for model in ADMIN_LISTS:
            admin.get(f"{ADMIN}/{model}/")
            counts[model] = _count(admin, f"{ADMIN}/{model}/")
        for endpoint in API_LISTS:
            counts[endpoint] = _count(api, f"{API}/{endpoint}/")
        return counts

    _rows(tree, 2, 0)
    few = measure()
    _rows(tree, 18, 2)
    many = measure()
    assert few == many, (few, many)


@pytest.mark.parametrize("model, user", [("committeemembership", "comm_a"),
                                         ("topsecretaryentry", "street")])
def test_person_autocomplete_is_scoped(tree, users, admin_client_for, model, user):
    person(tree["a2"], "文锦苑张三")
    person(tree["c"], "金泽张三")
    response = admin_client_for(users[user]).get("/admin/autocomplete/", {
        "app_label": "party_org", "model_name": model, "field_name": "person", "term": "张三"})
    assert response.status_code == 200
    assert [row["text"] for row in response.json()["results"]] == ["文锦苑张三"]
