"""The admin of stations, funds, co-building units, the three lists, committees and the top ten:
forms that go through the services, the refusals they show, the scoping matrix and query counts."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from party_org.admin.resources import BranchFundEntryAdmin
from party_org.models import (
    BranchFundEntry,
    CoBuildingAgreement,
    CommitteeMembership,
    FundCategory,
    ListItem,
    ListKind,
    NeedMatch,
    OrgKind,
    ServiceStation,
    StaffRole,
    TopSecretarySelection,
)
from party_org.selectors import Subtree
from party_org.services import resources as services
from tests.conftest import _user, make

from .test_resources_helpers import (
    EIGHT,
    complete_branch,
    person,
    seat,
    station,
    work_unit,
)

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
D = lambda days_ago: TODAY - dt.timedelta(days=days_ago)  # noqa: E731
ADMIN = "/admin/party_org"


def listed(response):
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def message_texts(response):
    return [str(m) for m in response.context["messages"]]


def export_rows(client, model, pks, action="export_xlsx"):
    response = client.post(f"{ADMIN}/{model}/", {"action": action, "_selected_action": pks})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    return list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))


@pytest.fixture
def world(tree):
    """One row of every model of this area in community A and one in community B."""
    rows = {}
    rows["servicestation"] = (station(tree["a2"], name="文锦苑服务站"),
                              station(tree["b1"], name="化工东院服务站"))
    rows["branchfundentry"] = tuple(
        services.record_fund_entry(None, tree[code], D(30), FundCategory.WORK_FUNDS, "5000",
                                   f"{code}年度工作经费") for code in ("a2", "b1"))
    units = (work_unit("A供电公司"), work_unit("B自来水公司"))
    rows["cobuildingagreement"] = tuple(
        services.sign_agreement(None, unit, tree[code], D(100))
        for unit, code in zip(units, ("a", "b")))
    needs = tuple(services.add_list_item(None, tree[code], ListKind.NEED, f"{code}助餐")
                  for code in ("a2", "b1"))
    resources = tuple(services.add_list_item(None, tree[code], ListKind.RESOURCE, f"{code}食堂",
                                             work_unit=unit)
                      for code, unit in zip(("a2", "b1"), units))
    rows["listitem"] = needs
    rows["needmatch"] = tuple(services.match_need(None, n, r) for n, r in zip(needs, resources))
    rows["committeemembership"] = tuple(
        seat(tree[code], person(tree[code], f"{code}书记")) for code in ("a2", "b1"))
    rows["units"] = units
    rows["resources"] = resources
    return rows


MATRIX = ["servicestation", "branchfundentry", "cobuildingagreement", "listitem", "needmatch",
          "committeemembership"]
EXPORT_ACTION = {"branchfundentry": "export_fund_ledger"}


@pytest.mark.parametrize("model", MATRIX)
def test_scoping_matrix(tree, users, admin_client_for, world, model):
    own, other = world[model]
    Model = type(own)
    in_a = {o.pk for o in Model.objects.filter(Subtree.of(tree["a"]).q(Model.scope_path))}
    in_b = {o.pk for o in Model.objects.filter(Subtree.of(tree["b"]).q(Model.scope_path))}
    assert own.pk in in_a and other.pk in in_b
    client = admin_client_for(users["comm_a"])
    assert {obj.pk for obj in listed(client.get(f"{ADMIN}/{model}/"))} == in_a
    # Community B's staff see B's rows only; the street sees both.
    assert {o.pk for o in listed(admin_client_for(users["comm_b"]).get(f"{ADMIN}/{model}/"))} \
        == in_b
    assert {o.pk for o in listed(admin_client_for(users["street"]).get(f"{ADMIN}/{model}/"))} \
        == in_a | in_b
    assert client.get(f"{ADMIN}/{model}/{own.pk}/change/").status_code == 200
    for url in (f"{ADMIN}/{model}/{other.pk}/change/", f"{ADMIN}/{model}/{other.pk}/delete/"):
        response = client.get(url, follow=True)
        if response.status_code == 403:  # rows that are never deleted
            continue
        assert response.redirect_chain, url
        assert any("不存在" in m or "exist" in m for m in message_texts(response))
    client.post(f"{ADMIN}/{model}/{other.pk}/delete/", {"post": "yes"})
    assert type(other).objects.filter(pk=other.pk).exists()
    rows = export_rows(client, model, [own.pk, other.pk], EXPORT_ACTION.get(model, "export_xlsx"))
    assert len(rows) == 2  # the header and A's row
    rows = export_rows(client, model, list(in_a | in_b), EXPORT_ACTION.get(model, "export_xlsx"))
    assert len(rows) == 1 + len(in_a)


def test_fk_choices_and_autocomplete_are_scoped(tree, users, admin_client_for, world):
    client = admin_client_for(users["comm_a"])
    for model, field in [("servicestation", "org_unit"), ("branchfundentry", "org_unit"),
                         ("listitem", "org_unit"), ("committeemembership", "org_unit")]:
        response = client.get("/admin/autocomplete/", {
            "app_label": "party_org", "model_name": model, "field_name": field, "term": ""})
        names = {item["text"] for item in response.json()["results"]}
        assert "文锦苑小区党支部" in names and "化工东院小区党支部" not in names, model
    form = client.get(f"{ADMIN}/committeemembership/add/").context["adminform"].form
    assert not form.fields["person"].queryset.filter(org_unit=tree["b1"]).exists()
    # Posting B's ids anyway is refused by the form.
    b_person = person(tree["b1"], "乙")
    response = client.post(f"{ADMIN}/committeemembership/add/", {
        "org_unit": tree["a2"].pk, "person": b_person.pk, "role": "member",
        "started_on": D(1).isoformat()})
    assert response.status_code == 200 and "person" in response.context["adminform"].form.errors
    response = client.post(f"{ADMIN}/servicestation/add/", {
        "org_unit": tree["b1"].pk, "name": "x", "address": "y", "area_m2": "10",
        "standard": "eight_haves"})
    assert "org_unit" in response.context["adminform"].form.errors
    # The match form offers A's resources only.
    response = client.post(f"{ADMIN}/listitem/", {
        "action": "match_to_resource", "_selected_action": [world["listitem"][0].pk]})
    offered = response.context["form"].fields["resource"].queryset
    assert set(offered) == {world["resources"][0]}
    # Filters on foreign keys list A's units only.
    services.sign_agreement(None, work_unit("A燃气公司"), tree["a2"], D(3))
    response = client.get(f"{ADMIN}/cobuildingagreement/")
    filter_choices = " ".join(str(c) for spec in response.context["cl"].filter_specs
                              for c in getattr(spec, "lookup_choices", []))
    assert "A供电公司" in filter_choices and "B自来水公司" not in filter_choices


def test_top_ten_scoping(tree, users, admin_client_for):
    street2 = _user("street2", StaffRole.STREET_STAFF, tree["s2"])
    s1 = TopSecretarySelection.objects.create(org_unit=tree["s1"], month=D(40).replace(day=1))
    s2 = TopSecretarySelection.objects.create(org_unit=tree["s2"], month=D(40).replace(day=1))
    client = admin_client_for(users["street"])
    assert [s.pk for s in listed(client.get(f"{ADMIN}/topsecretaryselection/"))] == [s1.pk]
    assert [s.pk for s in listed(admin_client_for(street2).get(
        f"{ADMIN}/topsecretaryselection/"))] == [s2.pk]
    assert client.get(f"{ADMIN}/topsecretaryselection/{s2.pk}/change/").status_code == 302
    form = client.get(f"{ADMIN}/topsecretaryselection/add/").context["adminform"].form
    assert list(form.fields["org_unit"].queryset) == [tree["s1"]]
    response = client.get("/admin/autocomplete/", {
        "app_label": "party_org", "model_name": "topsecretaryentry", "field_name": "branch",
        "term": "小区"})
    names = {item["text"] for item in response.json()["results"]}
    assert "文锦苑小区党支部" in names and "金泽华府小区党支部" not in names
    # Community staff only read; they see nothing above their community.
    assert admin_client_for(users["comm_a"]).get(
        f"{ADMIN}/topsecretaryselection/add/").status_code == 403


# ---- stations and the 五有 page --------------------------------------------------------------


def test_station_admin_checkboxes_and_list(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    page = client.get(f"{ADMIN}/servicestation/add/").content.decode()
    assert 'type="checkbox" name="functions" value="mediation"' in page
    assert 'type="checkbox" name="checklist" value="flag_oath"' in page
    data = {"org_unit": tree["a2"].pk, "name": "文锦苑党群服务站", "address": "1号楼",
            "area_m2": "85.5", "standard": "eight_haves", "opening_hours": "9:00—17:00",
            "functions": ["reception", "mediation", "culture"], "checklist": EIGHT[:6]}
    response = client.post(f"{ADMIN}/servicestation/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    created = ServiceStation.objects.get()
    assert created.functions == ["reception", "mediation", "culture"]
    # A checklist item of the other standard is a form error, not a 500.
    response = client.post(f"{ADMIN}/servicestation/{created.pk}/change/",
                           {**data, "checklist": ["code", "flag_oath"]})
    assert response.status_code == 200
    assert "checklist" in response.context["adminform"].form.errors
    station(tree["a1"], checklist=EIGHT, name="滨河左岸服务站")
    response = client.get(f"{ADMIN}/servicestation/")
    html = response.content.decode()
    assert "6/8" in html and "8/8" in html and "85.5" in html
    assert html.count('alt="True"') == 1 and html.count('alt="False"') == 1
    assert "five-haves/" in html
    rows = export_rows(client, "servicestation", [s.pk for s in ServiceStation.objects.all()])
    assert len(rows) == 3 and "6/8" in rows[1] + rows[2]


def test_five_haves_page(tree, users, admin_client_for):
    complete_branch(tree["a2"], tree["a2g"])
    client = admin_client_for(users["comm_a"])
    response = client.get(f"{ADMIN}/servicestation/five-haves/")
    assert response.status_code == 200
    assert response.context["node"] == tree["a"]  # their own unit by default
    assert [row.code for row in response.context["rows"]] == ["A1", "A1a", "A2"]
    html = response.content.decode()
    assert html.count("✓") == 5 and html.count("✗") == 10
    assert response.context["summary"]["all_five"] == 1
    # A street user may pick any unit in their scope; B's branch is shown to them.
    street = admin_client_for(users["street"])
    response = street.get(f"{ADMIN}/servicestation/five-haves/", {"org_unit": tree["b"].pk})
    assert [row.code for row in response.context["rows"]] == ["B1"]
    # Community A's staff cannot ask for B: a form error, no rows.
    response = client.get(f"{ADMIN}/servicestation/five-haves/", {"org_unit": tree["b"].pk})
    assert response.context["form"].errors["org_unit"] and response.context["rows"] == []
    response = client.get(f"{ADMIN}/servicestation/five-haves/",
                          {"org_unit": tree["a"].pk, "as_of": "not-a-date"})
    assert response.status_code == 200 and response.context["form"].errors["as_of"]
    # The branch secretary's own branch is on offer to them.
    response = admin_client_for(users["secretary"]).get(f"{ADMIN}/servicestation/five-haves/")
    assert [row.code for row in response.context["rows"]] == ["A2"]
    assert admin_client_for(users["nobody"]).get(
        f"{ADMIN}/servicestation/five-haves/").status_code in (302, 403)


def _queries(client, url, params=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_five_haves_page_query_count(tree, users, admin_client_for):
    client = admin_client_for(users["street"])
    url = f"{ADMIN}/servicestation/five-haves/"
    client.get(url, {"org_unit": tree["b"].pk})
    few = _queries(client, url, {"org_unit": tree["b"].pk})
    for n in range(6):
        branch = make(tree["b"], OrgKind.BRANCH, f"BX{n}")
        complete_branch(branch, make(branch, OrgKind.BUILDING_GROUP, f"BX{n}G"), name=f"B{n}")
    many = _queries(client, url, {"org_unit": tree["b"].pk})
    assert few == many == 8, (few, many)


# ---- branch funds ----------------------------------------------------------------------------


def test_fund_admin_add_and_refusals(tree, users, admin_client_for):
    client = admin_client_for(users["secretary"])
    add = f"{ADMIN}/branchfundentry/add/"
    entry = {"org_unit": tree["a2"].pk, "entry_date": D(20).isoformat(),
             "category": FundCategory.WORK_FUNDS, "amount": "3000", "description": "年度经费"}
    assert client.post(add, entry).status_code == 302
    response = client.post(add, {**entry, "category": FundCategory.ACTIVITIES,
                                 "amount": "3000.01", "description": "活动"}, follow=True)
    assert any("3000.00" in m for m in message_texts(response))
    assert BranchFundEntry.objects.count() == 1
    # The refused entry leaves no "added" line in the admin's history either.
    from django.contrib.admin.models import LogEntry

    assert LogEntry.objects.filter(content_type__model="branchfundentry").count() == 1
    response = client.post(add, {**entry, "amount": "-5"})
    assert "amount" in response.context["adminform"].form.errors
    client.post(add, {**entry, "category": FundCategory.VENUE, "amount": "800",
                      "description": "桌椅"})
    assert BranchFundEntry.objects.get(category=FundCategory.VENUE).amount == Decimal("-800.00")
    # Append-only: the change page is read-only, posting to it or deleting is forbidden.
    saved = BranchFundEntry.objects.get(category=FundCategory.VENUE)
    page = client.get(f"{ADMIN}/branchfundentry/{saved.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert client.post(f"{ADMIN}/branchfundentry/{saved.pk}/change/",
                       {**entry, "amount": "1"}).status_code == 403
    assert client.post(f"{ADMIN}/branchfundentry/{saved.pk}/delete/",
                       {"post": "yes"}).status_code == 403
    saved.refresh_from_db()
    assert saved.amount == Decimal("-800.00")


def test_fund_admin_reverse_action_and_running_balance(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    income = services.record_fund_entry(None, tree["a2"], D(30), FundCategory.WORK_FUNDS, "1000",
                                        "经费")
    wrong = services.record_fund_entry(None, tree["a2"], D(20), FundCategory.ACTIVITIES, "300",
                                       "录错")
    services.record_fund_entry(None, tree["a1"], D(25), FundCategory.SPECIAL, "70", "专项")
    response = client.post(f"{ADMIN}/branchfundentry/", {
        "action": "reverse_entries", "_selected_action": [wrong.pk]}, follow=True)
    assert any("1" in m for m in message_texts(response))
    reversal = BranchFundEntry.objects.get(reverses=wrong)
    # Reversing again is refused with a message.
    response = client.post(f"{ADMIN}/branchfundentry/", {
        "action": "reverse_entries", "_selected_action": [wrong.pk]}, follow=True)
    assert BranchFundEntry.objects.filter(reverses=wrong).count() == 1
    # Filtered to one category, the balances are still those of the whole ledger.
    rows = listed(client.get(f"{ADMIN}/branchfundentry/",
                             {"category__exact": FundCategory.ACTIVITIES}))
    assert {r.pk: r.running_balance for r in rows} == {
        wrong.pk: Decimal("700.00"), reversal.pk: Decimal("1000.00")}
    html = client.get(f"{ADMIN}/branchfundentry/").content.decode()
    assert f"{wrong.pk}" in html and "1000.00" in html
    rows = export_rows(client, "branchfundentry", [income.pk, wrong.pk, reversal.pk],
                       "export_fund_ledger")
    column = BranchFundEntryAdmin.list_display.index("running_balance")
    assert sorted(Decimal(str(row[column])) for row in rows[1:]) == [
        Decimal("700"), Decimal("1000"), Decimal("1000")]


def test_fund_admin_list_query_count(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    url = f"{ADMIN}/branchfundentry/"
    services.record_fund_entry(None, tree["a2"], D(60), FundCategory.WORK_FUNDS, "100000", "经费")
    services.record_fund_entry(None, tree["a1"], D(60), FundCategory.WORK_FUNDS, "100", "经费")
    client.get(url)
    few = _queries(client, url)
    for n in range(20):
        entry = services.record_fund_entry(None, tree["a2"], D(50 - n), FundCategory.ACTIVITIES,
                                           "10", f"活动{n}")
        if n % 5 == 0:
            services.reverse_fund_entry(None, entry)
    many = _queries(client, url)
    assert few == many == 10, (few, many)
    assert _queries(client, url, {"category__exact": "activities"}) == 10


# ---- co-building, lists, matches -------------------------------------------------------------


def test_agreement_admin(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    unit = work_unit()
    data = {"work_unit": unit.pk, "org_unit": tree["a"].pk, "signed_on": D(10).isoformat(),
            "liaison": "张"}
    assert client.post(f"{ADMIN}/cobuildingagreement/add/", data).status_code == 302
    agreement = CoBuildingAgreement.objects.get()
    response = client.post(f"{ADMIN}/cobuildingagreement/add/", data)
    assert response.status_code == 200  # the pair exists: a form error
    response = client.post(f"{ADMIN}/cobuildingagreement/{agreement.pk}/change/",
                           {"liaison": "李"})
    assert response.status_code == 302
    agreement.refresh_from_db()
    assert agreement.liaison == "李" and agreement.org_unit == tree["a"]
    client.post(f"{ADMIN}/cobuildingagreement/", {"action": "end_agreements",
                                                 "_selected_action": [agreement.pk]})
    agreement.refresh_from_db()
    assert not agreement.is_active
    client.post(f"{ADMIN}/cobuildingagreement/", {"action": "sign_again",
                                                 "_selected_action": [agreement.pk]})
    agreement.refresh_from_db()
    assert agreement.is_active and agreement.signed_on == TODAY


def test_list_item_admin_add_match_and_close(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    unit = work_unit()
    add = f"{ADMIN}/listitem/add/"
    resource = {"org_unit": tree["a2"].pk, "kind": "resource", "work_unit": unit.pk,
                "title": "免费义诊", "description": ""}
    response = client.post(add, resource, follow=True)
    assert any("共建" in m or "co-building" in m for m in message_texts(response))
    assert not ListItem.objects.exists()
    response = client.post(add, {**resource, "kind": "need"})
    assert "work_unit" in response.context["adminform"].form.errors
    services.sign_agreement(None, unit, tree["a"], D(10))
    assert client.post(add, resource).status_code == 302
    for title in ("老人助餐", "理发"):
        client.post(add, {"org_unit": tree["a2"].pk, "kind": "need", "title": title})
    needs = list(ListItem.objects.filter(kind=ListKind.NEED))
    offered = ListItem.objects.get(kind=ListKind.RESOURCE)
    # Step 1: the action shows the form; step 2: applying it matches every selected need.
    response = client.post(f"{ADMIN}/listitem/", {
        "action": "match_to_resource", "_selected_action": [n.pk for n in needs]})
    assert response.status_code == 200 and "老人助餐" in response.content.decode()
    response = client.post(f"{ADMIN}/listitem/", {
        "action": "match_to_resource", "_selected_action": [n.pk for n in needs],
        "apply": "1", "resource": offered.pk, "note": "每周三"}, follow=True)
    assert NeedMatch.objects.count() == 2
    assert set(ListItem.objects.filter(kind="need").values_list("status", flat=True)) == {
        "matched"}
    client.post(f"{ADMIN}/listitem/", {"action": "close_items",
                                       "_selected_action": [needs[0].pk]})
    assert ListItem.objects.get(pk=needs[0].pk).status == "done"
    # Matches are read-only in the admin.
    assert client.get(f"{ADMIN}/needmatch/add/").status_code == 403
    match = NeedMatch.objects.first()
    assert 'name="_save"' not in client.get(
        f"{ADMIN}/needmatch/{match.pk}/change/").content.decode()


# ---- committees and the top ten --------------------------------------------------------------


def test_committee_admin_second_secretary_and_ending(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    first, second = person(tree["a2"], "王建国"), person(tree["a2"], "李红")
    add = f"{ADMIN}/committeemembership/add/"
    data = {"org_unit": tree["a2"].pk, "person": first.pk, "role": "secretary",
            "started_on": D(100).isoformat()}
    assert client.post(add, data).status_code == 302
    response = client.post(add, {**data, "person": second.pk})
    assert response.status_code == 200
    assert "王建国" in " ".join(response.context["adminform"].form.errors["role"])
    held = CommitteeMembership.objects.get()
    response = client.post(f"{ADMIN}/committeemembership/{held.pk}/change/",
                           {"ended_on": D(5).isoformat()})
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.ended_on == D(5)
    assert client.post(add, {**data, "person": second.pk}).status_code == 302
    assert client.post(f"{ADMIN}/committeemembership/{held.pk}/delete/",
                       {"post": "yes"}).status_code == 403


def _inline(prefix, rows, initial=0):
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "10"}
    for n, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{n}-{key}"] = value
    return data


def test_top_ten_admin_inline_publish_and_unpublish(tree, users, admin_client_for):
    month = D(40).replace(day=1)
    secretaries = {}
    for code in ("a2", "b1"):
        secretaries[code] = person(tree[code], f"{code}书记")
        seat(tree[code], secretaries[code], started_on=month - dt.timedelta(days=30))
    client = admin_client_for(users["street"])
    add = f"{ADMIN}/topsecretaryselection/add/"
    header = {"org_unit": tree["s1"].pk, "month": month.isoformat()}
    bad = [{"rank": "1", "person": secretaries["a2"].pk, "branch": tree["a2"].pk},
           {"rank": "3", "person": secretaries["b1"].pk, "branch": tree["b1"].pk}]
    response = client.post(add, {**header, **_inline("entries", bad)})
    assert response.status_code == 200
    errors = " ".join(str(e) for formset in response.context["inline_admin_formsets"]
                      for e in formset.formset.non_form_errors())
    assert "1, 3" in errors
    assert not TopSecretarySelection.objects.exists()
    good = [{**bad[0]}, {**bad[1], "rank": "2", "citation": "带头办实事"}]
    response = client.post(add, {**header, **_inline("entries", good)})
    assert response.status_code == 302
    selection = TopSecretarySelection.objects.get()
    assert list(selection.entries.values_list("rank", "person__name")) == [(1, "a2书记"),
                                                                          (2, "b1书记")]
    assert not selection.published
    # Community staff may not publish; street staff may.
    response = admin_client_for(users["comm_a"]).post(
        f"{ADMIN}/topsecretaryselection/", {"action": "publish",
                                            "_selected_action": [selection.pk]})
    selection.refresh_from_db()
    assert not selection.published
    client.post(f"{ADMIN}/topsecretaryselection/", {"action": "publish",
                                                  "_selected_action": [selection.pk]})
    selection.refresh_from_db()
    assert selection.published
    page = client.get(f"{ADMIN}/topsecretaryselection/{selection.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    client.post(f"{ADMIN}/topsecretaryselection/", {"action": "unpublish",
                                                  "_selected_action": [selection.pk]})
    selection.refresh_from_db()
    assert not selection.published
    page = client.get(f"{ADMIN}/topsecretaryselection/{selection.pk}/change/").content.decode()
    assert 'name="_save"' in page
