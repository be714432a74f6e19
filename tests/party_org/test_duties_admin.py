"""The admin of 双报到, posts and emergencies: scoping by every route, saves through the
services, the emergency call list and pinned query counts."""

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from party_org.models import (
    AuditEntry,
    EmergencyAcknowledgement,
    EmergencyActivation,
    EmergencyRole,
    InServiceRegistration,
    Post,
    PostAssignment,
    ServiceRecord,
    WorkUnit,
)
from party_org.services import duties as services
from tests.party_org.test_duties import D, populate, register, world  # noqa: F401

pytestmark = pytest.mark.django_db

ADMIN = "/admin/party_org"


@pytest.fixture
def rows(world):
    """One row of every model in A (community A) and one in B."""
    w = world
    w["reg_a"] = register(w, post=w["legal"])
    w["reg_b"] = register(w, who="wang", branch="b1")
    services.record_service(None, w["reg_a"], D(2025, 4, 1), 2, "巡逻")
    services.record_service(None, w["reg_b"], D(2025, 4, 1), 3, "巡逻")
    services.assign_post(None, w["legal"], w["zhang"], D(2025, 1, 1))
    services.assign_post(None, w["legal_b"], w["wang"], D(2025, 1, 1))
    w["role_a"] = services.set_emergency_role(None, w["zhang"], "patrol", w["a2g"])
    w["role_b"] = services.set_emergency_role(None, w["wang"], "medical", w["b1"])
    w["act_a"] = services.activate_emergency(None, w["a2"], "文锦苑停电")
    w["act_b"] = services.activate_emergency(None, w["b1"], "化工东院停水")
    w["ack_a"] = w["act_a"].acknowledgements.get()
    w["ack_b"] = w["act_b"].acknowledgements.get()
    return w


# model name, key of the A row, key of the B row
SCOPED = [
    ("inserviceregistration", "reg_a", "reg_b"),
    ("post", "legal", "legal_b"),
    ("emergencyrole", "role_a", "role_b"),
    ("emergencyactivation", "act_a", "act_b"),
    ("emergencyacknowledgement", "ack_a", "ack_b"),
]


def listed(response):
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.mark.parametrize("model, mine, theirs", SCOPED)
def test_changelist_shows_only_own_subtree(rows, users, admin_client_for, model, mine, theirs):
    client = admin_client_for(users["comm_a"])
    assert listed(client.get(f"{ADMIN}/{model}/")) == {rows[mine].pk}
    assert listed(admin_client_for(users["street"]).get(f"{ADMIN}/{model}/")) == {
        rows[mine].pk, rows[theirs].pk
    }
    assert listed(admin_client_for(users["comm_b"]).get(f"{ADMIN}/{model}/")) == {
        rows[theirs].pk
    }


@pytest.mark.parametrize("model, mine, theirs", SCOPED)
def test_change_and_delete_pages_of_b_do_not_exist(rows, users, admin_client_for, model, mine,
                                                   theirs):
    client = admin_client_for(users["comm_a"])
    assert client.get(f"{ADMIN}/{model}/{rows[mine].pk}/change/").status_code == 200
    for suffix in ("change", "delete"):
        response = client.get(f"{ADMIN}/{model}/{rows[theirs].pk}/{suffix}/", follow=True)
        if suffix == "delete" and model.startswith("emergencya"):
            assert response.status_code == 403  # history: nobody deletes it, in scope or not
            continue
        assert response.redirect_chain, suffix
        text = " ".join(str(m) for m in response.context["messages"])
        assert "不存在" in text or "exist" in text


@pytest.mark.parametrize("model, mine, theirs", SCOPED)
def test_export_contains_only_scope(rows, users, admin_client_for, model, mine, theirs):
    client = admin_client_for(users["comm_a"])
    response = client.post(
        f"{ADMIN}/{model}/",
        {"action": "export_xlsx", "_selected_action": [rows[mine].pk, rows[theirs].pk]},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet_rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert len(sheet_rows) == 2  # the header and A's row
    text = " ".join(str(c) for c in sheet_rows[1] if c is not None)
    assert "王志强" not in text and "化工东院" not in text


def test_b_rows_cannot_be_changed_or_deleted_by_post(rows, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    post_b = rows["legal_b"]
    client.post(f"{ADMIN}/post/{post_b.pk}/change/",
                {"kind": "health_advice", "name": "篡改", "duties": "x", "is_active": "on"})
    client.post(f"{ADMIN}/post/{post_b.pk}/delete/", {"post": "yes"})
    client.post(f"{ADMIN}/emergencyactivation/{rows['act_b'].pk}/change/",
                {"_end_emergency": "1"})
    client.post(f"{ADMIN}/emergencyactivation/{rows['act_b'].pk}/change/",
                {"_acknowledge": str(rows["ack_b"].pk)})
    post_b.refresh_from_db()
    assert post_b.name == "法律咨询岗"
    assert EmergencyActivation.objects.get(pk=rows["act_b"].pk).ended_at is None
    assert EmergencyAcknowledgement.objects.get(pk=rows["ack_b"].pk).acknowledged_at is None


def choices(response, field):
    return set(response.context["adminform"].form.fields[field].queryset)


def test_foreign_key_choices_are_scoped(rows, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    w = rows
    form = client.get(f"{ADMIN}/inserviceregistration/add/")
    assert choices(form, "member") == {w["zhang"], w["li"], w["zhao"]}  # in service, active, in A
    assert choices(form, "branch") == {w["a1"], w["a1a"], w["a2"]}
    assert choices(form, "post") == {w["legal"]}
    form = client.get(f"{ADMIN}/emergencyrole/add/")
    assert w["wang"] not in choices(form, "member") and w["direct"] in choices(form, "member")
    assert w["b1"] not in choices(form, "place") and w["a2g"] in choices(form, "place")
    assert w["s1"] not in choices(form, "place")
    form = client.get(f"{ADMIN}/emergencyactivation/add/")
    assert w["b"] not in choices(form, "org_unit") and w["a"] in choices(form, "org_unit")
    form = client.get(f"{ADMIN}/post/add/")
    assert choices(form, "org_unit") == {w["a1"], w["a1a"], w["a2"]}
    # The assignment inline offers only members of the post's branch subtree.
    page = client.get(f"{ADMIN}/post/{w['legal'].pk}/change/")
    inline = page.context["inline_admin_formsets"][0].formset
    assert set(inline.empty_form.fields["member"].queryset) == {w["zhang"], w["zhao"], w["direct"]}


def test_list_filter_choices_are_scoped(rows, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    for model in ("inserviceregistration", "post", "emergencyrole", "emergencyactivation"):
        html = client.get(f"{ADMIN}/{model}/").content.decode()
        assert "化工东院" not in html, model


def test_search_does_not_reach_b(rows, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    assert listed(client.get(f"{ADMIN}/inserviceregistration/", {"q": "王志强"})) == set()
    assert listed(client.get(f"{ADMIN}/emergencyacknowledgement/", {"q": "停水"})) == set()


# ---- saves through the services --------------------------------------------------------------


def registration_form(w, **extra):
    return {
        "member": w["zhao"].pk, "work_unit": w["coal"].pk, "branch": w["a2"].pk,
        "registered_on": "2025-03-01", "commitment": "亮身份、践承诺", "post": w["legal"].pk,
        **extra,
    }


def test_add_registration_goes_through_the_service(rows, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/inserviceregistration/add/", registration_form(rows))
    assert response.status_code == 302, response.context["adminform"].form.errors
    registration = InServiceRegistration.objects.get(member=rows["zhao"])
    assert AuditEntry.objects.filter(
        model="party_org.inserviceregistration", object_id=str(registration.pk),
        user=users["comm_a"], action="create",
    ).exists()
    # The same member again with the same branch: the form says why, nothing is saved.
    response = client.post(f"{ADMIN}/inserviceregistration/add/", registration_form(rows))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "赵丽华" in " ".join(errors["member"])
    assert InServiceRegistration.objects.filter(member=rows["zhao"]).count() == 1
    # The service's other checks show on the form too.
    response = client.post(
        f"{ADMIN}/inserviceregistration/add/",
        registration_form(rows, member=rows["li"].pk, branch=rows["a1a"].pk,
                          registered_on="2999-01-01"),
    )
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"registered_on", "post"}
    assert not InServiceRegistration.objects.filter(member=rows["li"]).exists()


def test_service_refusal_after_the_form_is_a_message(rows, users, admin_client_for,
                                                     monkeypatch):
    # E.g. a race: the form was valid, the service refuses under its lock.
    def refuse(*args, **kwargs):
        from django.core.exceptions import ValidationError

        raise ValidationError("已被他人抢先登记")

    monkeypatch.setattr(services, "register_in_service", refuse)
    response = admin_client_for(users["comm_a"]).post(
        f"{ADMIN}/inserviceregistration/add/",
        registration_form(rows, member=rows["li"].pk, branch=rows["a1a"].pk, post=""),
        follow=True,
    )
    assert response.status_code == 200
    assert "已被他人抢先登记" in [str(m) for m in response.context["messages"]]
    assert not InServiceRegistration.objects.filter(member=rows["li"]).exists()


def inline_data(registration, records=(), evaluations=()):
    data = {
        "work_unit": registration.work_unit_id,
        "registered_on": registration.registered_on.isoformat(),
        "commitment": registration.commitment,
        "post": registration.post_id or "",
    }
    existing = list(registration.service_records.order_by("-served_on", "-pk"))
    data.update({
        "service_records-TOTAL_FORMS": len(existing) + len(records),
        "service_records-INITIAL_FORMS": len(existing),
        "service_records-MIN_NUM_FORMS": 0, "service_records-MAX_NUM_FORMS": 1000,
        "evaluations-TOTAL_FORMS": len(evaluations), "evaluations-INITIAL_FORMS": 0,
        "evaluations-MIN_NUM_FORMS": 0, "evaluations-MAX_NUM_FORMS": 1000,
    })
    for i, record in enumerate(existing):
        data.update({
            f"service_records-{i}-id": record.pk,
            f"service_records-{i}-registration": registration.pk,
            f"service_records-{i}-served_on": record.served_on.isoformat(),
            f"service_records-{i}-hours": str(record.hours),
            f"service_records-{i}-activity": record.activity,
        })
    for j, (served_on, hours, activity) in enumerate(records, start=len(existing)):
        data.update({
            f"service_records-{j}-registration": registration.pk,
            f"service_records-{j}-served_on": served_on, f"service_records-{j}-hours": hours,
            f"service_records-{j}-activity": activity,
        })
    for k, (year, rating, comment) in enumerate(evaluations):
        data.update({
            f"evaluations-{k}-registration": registration.pk, f"evaluations-{k}-year": year,
            f"evaluations-{k}-rating": rating, f"evaluations-{k}-comment": comment,
        })
    return data


def test_inline_service_and_evaluation_are_saved_by_the_services(rows, users, admin_client_for):
    client = admin_client_for(users["secretary"])
    registration = rows["reg_a"]
    url = f"{ADMIN}/inserviceregistration/{registration.pk}/change/"
    response = client.post(url, inline_data(
        registration, records=[("2025-04-12", "1.5", "义诊")],
        evaluations=[(2025, "good", "积极")],
    ))
    assert response.status_code == 302, response.context and [
        f.errors for f in response.context["inline_admin_formsets"][0].formset.forms
    ]
    record = ServiceRecord.objects.get(activity="义诊")
    assert record.recorded_by == users["secretary"]
    assert registration.evaluations.get().rating == "good"
    assert AuditEntry.objects.filter(model="party_org.servicerecord", user=users["secretary"]).exists()
    # Bad inline rows come back as form errors, and nothing is saved.
    response = client.post(url, inline_data(registration, records=[("2999-01-01", "30", "x")]))
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert set(formset.forms[-1].errors) >= {"served_on", "hours"}
    assert ServiceRecord.objects.filter(registration=registration).count() == 2


def test_changelist_annotates_service(rows, users, admin_client_for):
    services.record_service(None, rows["reg_a"], D(2025, 4, 3), "1.5", "x")
    response = admin_client_for(users["comm_a"]).get(f"{ADMIN}/inserviceregistration/")
    [row] = response.context["cl"].result_list
    assert (row.service_total, row.hours_total) == (2, 3.5)


def test_end_registrations_action(rows, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    client.post(f"{ADMIN}/inserviceregistration/", {
        "action": "end_selected", "_selected_action": [rows["reg_a"].pk, rows["reg_b"].pk],
    })
    assert InServiceRegistration.objects.get(pk=rows["reg_a"].pk).status == "ended"
    assert InServiceRegistration.objects.get(pk=rows["reg_b"].pk).status == "active"


def test_post_admin_creates_and_assigns_through_services(rows, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/post/add/", {
        "org_unit": rows["a2"].pk, "kind": "health_advice", "name": "健康咨询岗",
        "duties": "每周三测血压", "is_active": "on",
    })
    assert response.status_code == 302
    post = Post.objects.get(name="健康咨询岗")
    assert AuditEntry.objects.filter(model="party_org.post", object_id=str(post.pk)).exists()
    data = {
        "kind": "health_advice", "name": "健康咨询岗", "duties": "每周三测血压", "is_active": "on",
        "assignments-TOTAL_FORMS": 1, "assignments-INITIAL_FORMS": 0,
        "assignments-MIN_NUM_FORMS": 0, "assignments-MAX_NUM_FORMS": 1000,
        "assignments-0-post": post.pk, "assignments-0-member": rows["zhao"].pk,
        "assignments-0-started_on": "2025-02-01", "assignments-0-ended_on": "",
    }
    response = client.post(f"{ADMIN}/post/{post.pk}/change/", data)
    assert response.status_code == 302
    assert PostAssignment.objects.get(post=post).member == rows["zhao"]
    # A member from another branch is not a valid choice.
    data["assignments-0-member"] = rows["li"].pk
    response = client.post(f"{ADMIN}/post/{post.pk}/change/", data)
    assert response.status_code == 200
    assert PostAssignment.objects.filter(post=post).count() == 1


def test_deleting_a_used_post_is_refused_with_a_message(rows, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/post/{rows['legal'].pk}/delete/", {"post": "yes"})
    assert response.status_code == 200 and response.context["protected"]
    assert Post.objects.filter(pk=rows["legal"].pk).exists()
    unused = services.create_post(None, org_unit=rows["a2"], kind="other", name="临时岗",
                                  duties="x")
    response = client.post(f"{ADMIN}/post/{unused.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Post.objects.filter(pk=unused.pk).exists()
    assert AuditEntry.objects.filter(model="party_org.post", action="delete").exists()


def test_emergency_role_admin_saves_through_the_service(rows, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/emergencyrole/add/", {
        "member": rows["direct"].pk, "kind": "supplies", "place": rows["a2"].pk, "duties": "物资",
    })
    assert response.status_code == 302
    role = EmergencyRole.objects.get(member=rows["direct"])
    assert AuditEntry.objects.filter(model="party_org.emergencyrole", object_id=str(role.pk)).exists()


# ---- the emergency call list -----------------------------------------------------------------


def test_start_an_emergency_and_work_the_call_list(rows, users, admin_client_for):
    services.set_emergency_role(None, rows["direct"], "supplies", rows["a2"])
    services.set_emergency_role(None, rows["li"], "care", rows["a1a"])
    services.end_emergency(None, rows["act_a"])
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/emergencyactivation/add/", {
        "org_unit": rows["a"].pk, "title": "暴雨红色预警", "reason": "防汛",
    }, follow=True)
    assert response.status_code == 200
    activation = EmergencyActivation.objects.get(title="暴雨红色预警")
    assert activation.started_by == users["comm_a"]
    url = f"{ADMIN}/emergencyactivation/{activation.pk}/change/"

    def call_list():
        page = client.get(url)
        assert page.status_code == 200
        formset = page.context["inline_admin_formsets"][0].formset
        return page, {f.instance.member.person.name: f.instance for f in formset.forms}

    page, called = call_list()
    assert set(called) == {"张建国", "刘德明", "李秀英"}
    assert all(ack.acknowledged_at is None for ack in called.values())
    assert 'name="_acknowledge"' in page.content.decode()
    ack = called["刘德明"]
    response = client.post(url, {"_acknowledge": str(ack.pk), f"_note_{ack.pk}": "已到岗"})
    assert response.status_code == 302
    page, called = call_list()
    assert called["刘德明"].acknowledged_at is not None and called["刘德明"].note == "已到岗"
    assert {n for n, a in called.items() if a.acknowledged_at is None} == {"张建国", "李秀英"}
    assert list(called)[-1] == "刘德明"  # who has not answered comes first
    # The list filter separates open and ended activations.
    assert activation.pk in listed(client.get(f"{ADMIN}/emergencyactivation/", {"state": "open"}))
    client.post(url, {"_end_emergency": "1"})
    activation.refresh_from_db()
    assert activation.ended_at is not None
    assert activation.pk in listed(client.get(f"{ADMIN}/emergencyactivation/", {"state": "ended"}))
    assert activation.pk not in listed(
        client.get(f"{ADMIN}/emergencyactivation/", {"state": "open"})
    )
    page, _called = call_list()
    assert 'name="_acknowledge"' not in page.content.decode()


def test_overlapping_activation_in_the_admin_is_a_message(rows, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/emergencyactivation/add/", {
        "org_unit": rows["a"].pk, "title": "重复启动",
    }, follow=True)
    assert any("文锦苑停电" in str(m) for m in response.context["messages"])
    assert not EmergencyActivation.objects.filter(title="重复启动").exists()


def test_acknowledge_action_on_the_call_list(rows, users, admin_client_for):
    client = admin_client_for(users["secretary"])
    client.post(f"{ADMIN}/emergencyacknowledgement/", {
        "action": "acknowledge_selected", "_selected_action": [rows["ack_a"].pk, rows["ack_b"].pk],
    })
    assert EmergencyAcknowledgement.objects.get(pk=rows["ack_a"].pk).acknowledged_at is not None
    assert EmergencyAcknowledgement.objects.get(pk=rows["ack_b"].pk).acknowledged_at is None
    pending = listed(client.get(f"{ADMIN}/emergencyacknowledgement/", {"acknowledged": "no"}))
    assert pending == set()


def test_secretary_cannot_start_or_end_an_emergency(rows, users, admin_client_for):
    client = admin_client_for(users["secretary"])
    assert client.get(f"{ADMIN}/emergencyactivation/add/").status_code == 403
    page = client.get(f"{ADMIN}/emergencyactivation/{rows['act_a'].pk}/change/")
    assert 'name="_end_emergency"' not in page.content.decode()
    client.post(f"{ADMIN}/emergencyactivation/{rows['act_a'].pk}/change/", {"_end_emergency": "1"})
    assert EmergencyActivation.objects.get(pk=rows["act_a"].pk).ended_at is None


def test_auditor_reads_but_cannot_add(rows, users, admin_client_for):
    client = admin_client_for(users["auditor"])
    assert client.get(f"{ADMIN}/inserviceregistration/").status_code == 200
    assert client.get(f"{ADMIN}/inserviceregistration/add/").status_code == 403
    # The work unit's contact phone is masked for readers without the personal-data permission.
    WorkUnit.objects.filter(pk=rows["tax"].pk).update(contact_phone="13912345678")
    html = client.get(f"{ADMIN}/workunit/").content.decode()
    assert "13912345678" not in html and "139****5678" in html


# ---- query counts ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", [
    "workunit", "inserviceregistration", "post", "emergencyrole", "emergencyactivation",
    "emergencyacknowledgement",
])
def test_changelist_query_count_does_not_grow(world, users, admin_client_for, model):
    client = admin_client_for(users["comm_a"])
    populate(world, 2, "小")
    url = f"{ADMIN}/{model}/"
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        first = client.get(url)
    populate(world, 18, "大")
    with CaptureQueriesContext(connection) as big:
        second = client.get(url)
    assert len(second.context["cl"].result_list) >= 20 > len(first.context["cl"].result_list)
    assert len(small) == len(big), [q["sql"] for q in big]
