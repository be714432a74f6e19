"""The merchant's own page (商家核销): a merchant login signs in, checks a code, marks it used
once; used, cancelled, expired and other merchants' codes are refused (the last without a
detail); other accounts, staff included, are refused and get no admin either; code checks and
sign-ins are rate-limited; the recent list runs a fixed number of queries. Also the demo merchant
logins of seed_demo and the wish pages' own rate-limit buckets."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from grids.models import EventCategory, GridEvent
from tests.conftest import _user
from tests.grids.conftest import category, open_event  # noqa: F401 - fixtures used here
from volunteers.models import Merchant, MicroWish, Redemption, RedemptionStatus, RewardItem
from volunteers.services import mall
from volunteers.views_merchant import mask_name

from .conftest import fund, make_person

pytestmark = pytest.mark.django_db

HOME, USE, LOGIN = "/merchant/", "/merchant/use/", "/merchant/login/"
PASSWORD = "pw-Secret-123"  # tests.conftest._user's


def _shop(users, tree, name, login, item_name, **item):
    shop = mall.save_merchant(users["comm_a"], Merchant(org_unit=tree["a"], name=name))
    shop.login = _user(login)
    mall.add_merchant_user(users["comm_a"], shop, shop.login)
    item.setdefault("stock", 50)
    shop.item = mall.save_reward_item(users["comm_a"], RewardItem(
        merchant=shop, name=item_name, points_price=Decimal("10"), discount_note="八折", **item))
    return shop


@pytest.fixture
def barber(users, tree):
    return _shop(users, tree, "惠民理发店", "barber", "理发一次")


@pytest.fixture
def grocer(users, tree):
    return _shop(users, tree, "惠民超市", "grocer", "5斤装大米")


@pytest.fixture
def buyer(tree):
    person = make_person(tree["a2"], "张三丰", "13912345678")
    fund(person, 500)
    return person


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def check(client, code):
    return client.post(HOME, {"code": code})


def status_of(redemption):
    redemption.refresh_from_db()
    return redemption.status


# ---- the happy path ----------------------------------------------------------------------------


def test_merchant_signs_in_checks_a_code_and_marks_it_used(barber, buyer):
    redemption = mall.redeem(None, barber.item, buyer, quantity=2)
    client = Client()
    response = client.post(LOGIN, {"username": "barber", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == HOME
    page = client.get(HOME)
    assert page.status_code == 200 and b'name="viewport"' in page.content
    assert "惠民理发店" in page.content.decode()
    # Typed as people do: lower case, with spaces and a dash.
    typed = f"{redemption.code[:4].lower()} {redemption.code[4:8]}-{redemption.code[8:]}"
    response = check(client, typed)
    assert response.status_code == 200
    found = response.context["found"]
    assert (found["item"], found["quantity"], found["status"]) == ("理发一次", 2, "issued")
    assert found["usable"] and response.context["problem"] is None
    html = response.content.decode()
    assert "张**" in html and "张三丰" not in html and buyer.phone not in html
    assert buyer.phone[-4:] not in html
    assert status_of(redemption) == RedemptionStatus.ISSUED  # checking changes nothing
    response = client.post(USE, {"code": redemption.code}, follow=True)
    assert response.redirect_chain == [(HOME, 302)]
    assert [m.level_tag for m in response.context["messages"]] == ["success"]
    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.USED
    assert redemption.used_by == barber.login and redemption.used_at is not None
    # The recent list shows it, with the code cut short.
    rows = response.context["page"].rows
    assert [(r["item"], r["status"], r["person"]) for r in rows] == [("理发一次", "used", "张**")]
    assert redemption.code not in client.get(HOME).content.decode()


def test_a_code_is_marked_used_once_only(barber, buyer):
    redemption = mall.redeem(None, barber.item, buyer)
    client = signed_in(barber.login)
    assert client.post(USE, {"code": redemption.code}).status_code == 302
    used_at = Redemption.objects.get(pk=redemption.pk).used_at
    again = client.post(USE, {"code": redemption.code})
    assert again.status_code == 409
    assert again.context["found"]["status"] == "used" and again.context["problem"]
    assert Redemption.objects.get(pk=redemption.pk).used_at == used_at
    looked = check(client, redemption.code)
    assert looked.status_code == 200
    assert not looked.context["found"]["usable"] and looked.context["problem"]
    assert b'action="/merchant/use/"' not in looked.content


def test_cancelled_and_expired_codes_are_refused_with_their_reason(barber, buyer):
    client = signed_in(barber.login)
    cancelled = mall.redeem(None, barber.item, buyer)
    mall.cancel_redemption(None, cancelled, person=buyer)
    expired = mall.redeem(None, barber.item, buyer)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    RewardItem.objects.filter(pk=barber.item.pk).update(valid_until=yesterday)
    problems = {}
    for name, redemption in (("cancelled", cancelled), ("expired", expired)):
        looked = check(client, redemption.code)
        assert looked.status_code == 200
        assert looked.context["found"]["status"] == name and not looked.context["found"]["usable"]
        problems[name] = looked.context["problem"]
        refused = client.post(USE, {"code": redemption.code})
        assert refused.status_code == 409 and refused.context["problem"] == problems[name]
    assert problems["cancelled"] != problems["expired"]
    assert yesterday.isoformat() in problems["expired"]
    assert status_of(cancelled) == RedemptionStatus.CANCELLED
    assert status_of(expired) == RedemptionStatus.ISSUED


def test_the_service_refuses_an_expired_code_too(barber, buyer):
    redemption = mall.redeem(None, barber.item, buyer)
    RewardItem.objects.filter(pk=barber.item.pk).update(
        valid_until=timezone.localdate() - dt.timedelta(days=1))
    with pytest.raises(ValidationError) as err:
        mall.mark_used(barber.login, redemption.code)
    assert "code" in err.value.message_dict
    assert status_of(redemption) == RedemptionStatus.ISSUED
    # On its last valid day it is still honoured.
    RewardItem.objects.filter(pk=barber.item.pk).update(valid_until=timezone.localdate())
    assert mall.mark_used(barber.login, redemption.code).status == "used"


# ---- other merchants, other accounts -----------------------------------------------------------


def test_another_merchants_code_is_answered_like_an_unknown_one(barber, grocer, buyer):
    theirs = mall.redeem(None, grocer.item, buyer)
    client = signed_in(barber.login)
    unknown = check(client, "ABCDEFGHJKLM")
    other = check(client, theirs.code)
    assert unknown.status_code == other.status_code == 404
    assert other.context["found"] is None
    assert other.context["form"].errors == unknown.context["form"].errors
    html = other.content.decode()
    assert "5斤装大米" not in html and "张*" not in html and "惠民超市" not in html
    refused = client.post(USE, {"code": theirs.code})
    assert refused.status_code == 404 and refused.context["found"] is None
    assert status_of(theirs) == RedemptionStatus.ISSUED
    # Nor does it appear in the recent list.
    assert [r["item"] for r in client.get(HOME).context["page"].rows] == []
    # Its own merchant can use it.
    assert signed_in(grocer.login).post(USE, {"code": theirs.code}).status_code == 302
    assert status_of(theirs) == RedemptionStatus.USED


@pytest.mark.parametrize("who", ["nobody", "comm_a", "admin"])
def test_accounts_without_a_merchant_are_refused(who, users, barber, buyer):
    redemption = mall.redeem(None, barber.item, buyer)
    user = users[who]
    # The sign-in answers as for a wrong password...
    client = Client()
    response = client.post(LOGIN, {"username": user.username, "password": PASSWORD})
    wrong = Client().post(LOGIN, {"username": user.username, "password": "wrong"})
    assert response.status_code == wrong.status_code == 200
    assert response.context["form"].non_field_errors() == wrong.context["form"].non_field_errors()
    assert "_auth_user_id" not in client.session
    # ...and signed in some other way, the page and the marking refuse them.
    client = signed_in(user)
    assert client.get(HOME).status_code == 403
    assert check(client, redemption.code).status_code == 403
    assert client.post(USE, {"code": redemption.code}).status_code == 403
    assert status_of(redemption) == RedemptionStatus.ISSUED


def test_a_login_of_an_inactive_merchant_is_refused(barber):
    Merchant.objects.filter(pk=barber.pk).update(is_active=False)
    assert signed_in(barber.login).get(HOME).status_code == 403


def test_a_merchant_login_gets_no_admin(barber):
    client = signed_in(barber.login)
    for url in ("/admin/", "/admin/volunteers/redemption/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not Client().login(username="barber", password="wrong")
    # The admin's own sign-in refuses it as well.
    response = Client().post("/admin/login/", {"username": "barber", "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in response.wsgi_request.session


def test_anonymous_visitors_are_sent_to_the_sign_in(barber, buyer):
    redemption = mall.redeem(None, barber.item, buyer)
    client = Client()
    response = client.get(HOME)
    assert response.status_code == 302 and response["Location"] == f"{LOGIN}?next=%2Fmerchant%2F"
    response = client.post(USE, {"code": redemption.code})
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert status_of(redemption) == RedemptionStatus.ISSUED
    page = client.get(LOGIN)
    assert page.status_code == 200 and b'name="password"' in page.content
    # Signing in from the redirect comes back to the page.
    response = client.post(LOGIN, {"username": "barber", "password": PASSWORD, "next": HOME})
    assert response["Location"] == HOME
    # Signing out is a POST and ends the session.
    assert client.post("/merchant/logout/").status_code == 302
    assert client.get(HOME).status_code == 302


def test_sign_out_by_get_is_refused(barber):
    assert signed_in(barber.login).get("/merchant/logout/").status_code == 405


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["", "   ", "张三的码", "ABC$%^", "A" * 41, "A" * 17, "\x00AB"])
def test_bad_codes_get_a_message_and_stay_in_the_box(code, barber):
    client = signed_in(barber.login)
    response = check(client, code)
    assert response.status_code == 400
    assert response.context["form"].errors["code"]
    if code.strip() and "\x00" not in code:
        assert response.context["form"]["code"].value() == code
    assert client.post(USE, {"code": code}).status_code == 400
    assert client.get(HOME, {"page": "nonsense"}).status_code == 200


# ---- limits and queries ------------------------------------------------------------------------


def test_code_checks_are_limited_per_login(barber, grocer, buyer, settings):
    settings.VOLUNTEER_MERCHANT_CODE_RATE_LIMIT = "3/600"
    redemption = mall.redeem(None, barber.item, buyer)
    client = signed_in(barber.login)
    assert check(client, "ABCDEFGHJKLM").status_code == 404
    assert check(client, "ABCDEFGHJKLN").status_code == 404
    assert check(client, redemption.code).status_code == 200
    limited = check(client, redemption.code)
    assert limited.status_code == 429 and limited["Retry-After"]
    assert limited.context["found"] is None and limited.context["page_error"]
    assert limited.context["form"]["code"].value() == redemption.code  # nothing typed is lost
    # Marking counts too, and nothing is marked over the limit.
    assert client.post(USE, {"code": redemption.code}).status_code == 429
    assert status_of(redemption) == RedemptionStatus.ISSUED
    # Another login from the same address has its own count; the list still shows.
    assert check(signed_in(grocer.login), "ABCDEFGHJKLM").status_code == 404
    assert client.get(HOME).status_code == 200


def test_sign_in_attempts_are_limited_per_address(barber, settings):
    settings.VOLUNTEER_MERCHANT_LOGIN_RATE_LIMIT = "2/600"
    client = Client()
    for _ in range(2):
        assert client.post(LOGIN, {"username": "barber", "password": "guess"}).status_code == 200
    response = client.post(LOGIN, {"username": "barber", "password": PASSWORD})
    assert response.status_code == 429 and response["Retry-After"]
    assert "_auth_user_id" not in client.session
    assert response.context["form"]["username"].value() == "barber"


def test_recent_list_is_paged_with_a_fixed_number_of_queries(
    barber, grocer, tree, django_assert_num_queries
):
    people = [make_person(tree["a2"], f"居民{n}") for n in range(30)]
    for person in people:
        fund(person, 100)
    client = signed_in(barber.login)
    client.get(HOME)  # warm up (content types, translations)
    for person in people[:2]:
        mall.redeem(None, barber.item, person)
    mall.redeem(None, grocer.item, people[0])
    # Session, user, the login's merchants, the count and the page.
    with django_assert_num_queries(5):
        small = client.get(HOME)
    for person in people[2:]:
        mall.redeem(None, barber.item, person)
    with django_assert_num_queries(5):
        big = client.get(HOME)
    assert len(small.context["page"].rows) == 2
    page = big.context["page"]
    assert len(page.rows) == 20 and page.paginator.count == 30
    assert {r["item"] for r in page.rows} == {"理发一次"}
    assert {r["person"] for r in page.rows} == {"居***"}  # 居民12 and the like
    older = client.get(HOME, {"page": 2})
    assert len(older.context["page"].rows) == 10


def test_mask_name():
    assert [mask_name(n) for n in ("张三", "张三丰", "欧阳娜娜", "李", "", None)] == [
        "张*", "张**", "欧***", "李*", "", ""]


# ---- demo logins (seed_demo) -------------------------------------------------------------------


# ---- the wish pages count apart from the grid reports ------------------------------------------


def test_wish_and_report_forms_have_their_own_limits(client, places, settings):
    settings.VOLUNTEER_WISH_RATE_LIMIT = "1/600"
    settings.GRID_REPORT_RATE_LIMIT = "2/600"
    wish = {"compound": places["wjy"].pk, "category": "errands", "wish": "帮忙取药",
            "contact_phone": "13712345678"}
    report = {"compound": places["wjy"].pk, "description": "楼道灯不亮",
              "category": EventCategory.objects.get(code="environment").pk}
    assert client.post("/wishes/new/", wish).status_code == 302
    assert client.post("/wishes/new/", wish).status_code == 429
    # The wish form's limit is spent; the report form still has its own two.
    assert client.post("/report/", report).status_code == 302
    assert client.post("/report/", report).status_code == 302
    assert client.post("/report/", report).status_code == 429
    assert MicroWish.objects.count() == 1 and GridEvent.objects.count() == 2


def test_wish_and_report_tracking_have_their_own_limits(client, submit, open_event, settings):
    settings.VOLUNTEER_WISH_TRACK_RATE_LIMIT = "1/60"
    settings.GRID_TRACK_RATE_LIMIT = "1/60"
    wish, event = submit(), open_event()
    assert client.get(f"/wishes/track/{wish.tracking_code}/").status_code == 200
    assert client.get(f"/report/track/{event.tracking_code}/").status_code == 200
    assert client.get(f"/wishes/track/{wish.tracking_code}/").status_code == 429
    assert client.get(f"/report/track/{event.tracking_code}/").status_code == 429
