"""The residents' own pages: the phone + one-time code sign-in (codes shown on the console in
development, hashed, single use, voided after 5 wrong tries, expiring, rate limited, never telling
whether a number is registered), the person's page, the points history, and the points mall with
idempotent redemption and cancelling only one's own."""

import datetime as dt
import re
import time
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from party_org.models import MemberCategory
from tests.conftest import _user
from volunteers import portal_login, selectors
from volunteers.models import (
    Activity,
    ActivitySignup,
    Merchant,
    PointsKind,
    Redemption,
    RedemptionStatus,
    RewardItem,
    ServiceHours,
    SignupStatus,
)
from volunteers.portal import SESSION_KEY
from volunteers.services import ledger
from volunteers.services import mall as mall_services
from volunteers.services import wishes as wish_services

from .conftest import fund, make_member, make_person

pytestmark = pytest.mark.django_db
LOGIN, ME, MALL, POINTS = "/me/login/", "/me/", "/me/mall/", "/me/points/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture(autouse=True)
def _fresh(settings):
    portal_login.outbox.clear()
    settings.VOLUNTEER_SMS_BACKEND = "volunteers.portal_login.memory_sender"
    yield
    portal_login.outbox.clear()


@pytest.fixture
def merchant(tree, users):
    shop = mall_services.save_merchant(
        users["comm_a"], Merchant(org_unit=tree["a"], name="惠民理发店", address="滨河东路3号"))
    return shop


@pytest.fixture
def item(merchant, users):
    return mall_services.save_reward_item(users["comm_a"], RewardItem(
        merchant=merchant, name="理发一次", points_price=Decimal("20"), stock=5,
        discount_note="理发八折", per_person_limit=3,
    ))


def ask(client, phone, meta=None, **extra):
    return client.post(LOGIN, {"step": "request", "phone": phone, **extra}, **(meta or {}))


def enter(client, phone, code, **extra):
    meta = {k: extra.pop(k) for k in list(extra) if k.startswith("HTTP_")}
    return client.post(LOGIN, {"step": "code", "phone": phone, "code": code, **extra}, **meta)


def last_code():
    return portal_login.outbox[-1][1]


def sign_in(client, person, phone=None):
    phone = phone or person.phone
    assert ask(client, phone).status_code == 200
    response = enter(client, phone, last_code())
    assert response.status_code == 302, response.content.decode()[:2000]
    assert client.session[SESSION_KEY] == person.pk
    return response


def wrong(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


# ---- the code ----------------------------------------------------------------------------------


def test_console_code_signs_in_and_the_page_shows_balances(client, volunteer, settings, capsys):
    del settings.VOLUNTEER_SMS_BACKEND  # the default: the console
    fund(volunteer, 120)
    response = ask(client, "139 0000 0003")
    assert response.status_code == 200 and response.context["sent"]
    assert b'id="code-sent"' in response.content
    out = capsys.readouterr().out
    found = re.search(r"Login code for 139\*{4}0003: (\d{6})", out)
    assert found, out
    response = enter(client, "139 0000 0003", found.group(1))
    assert response.status_code == 302 and response["Location"] == ME
    page = client.get(ME)
    assert page.status_code == 200
    rows = {row["kind"]: row for row in page.context["points"]}
    assert list(rows) == [PointsKind.COMMUNITY]  # a volunteer, not a member: 公分 only
    assert rows["community"]["balance"] == Decimal("120.00") and rows["community"]["stars"] == 2
    html = page.content.decode()
    assert volunteer.name in html and "139****0003" in html and "13900000003" not in html
    assert "★★" in html


def test_the_code_is_stored_hashed_and_is_six_digits(client, volunteer):
    if not isinstance(caches["default"], LocMemCache):
        pytest.skip("reads the local-memory cache's store")
    ask(client, volunteer.phone)
    code = last_code()
    assert re.fullmatch(r"\d{6}", code)
    store = list(caches["default"]._cache.items())  # pickled values
    assert store and not any(code.encode() in value for _key, value in store)
    assert not any(volunteer.phone in key or volunteer.phone.encode() in value
                   for key, value in store)


def test_member_sees_member_points_and_stars(client, member):
    ledger.earn(member, Decimal("60"), "earn_post", "duty:1")
    sign_in(client, member)
    rows = {row["kind"]: row for row in client.get(ME).context["points"]}
    assert list(rows) == [PointsKind.MEMBER]
    assert rows["member"]["balance"] == Decimal("60.00") and rows["member"]["stars"] == 1


def test_wrong_code_says_so_and_the_right_one_still_works(client, volunteer):
    ask(client, volunteer.phone)
    code = last_code()
    response = enter(client, volunteer.phone, wrong(code))
    assert response.status_code == 400
    assert response.context["code_form"].errors["code"]
    assert SESSION_KEY not in client.session
    assert enter(client, volunteer.phone, code).status_code == 302


def test_expired_code_is_refused(client, volunteer, settings, monkeypatch):
    settings.VOLUNTEER_LOGIN_CODE_TTL = 60
    ask(client, volunteer.phone)
    code = last_code()
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    response = enter(client, volunteer.phone, code, **EN)
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_a_code_works_once(client, volunteer):
    ask(client, volunteer.phone)
    code = last_code()
    assert enter(client, volunteer.phone, code).status_code == 302
    client.post("/me/logout/")
    assert SESSION_KEY not in client.session
    response = enter(client, volunteer.phone, code)
    assert response.status_code == 400 and SESSION_KEY not in client.session


def test_a_new_code_replaces_the_last(client, volunteer):
    ask(client, volunteer.phone)
    first = last_code()
    ask(client, volunteer.phone)
    second = last_code()
    if first != second:
        assert enter(client, volunteer.phone, first).status_code == 400
    assert enter(client, volunteer.phone, second).status_code == 302


def test_five_wrong_tries_void_the_code(client, volunteer):
    ask(client, volunteer.phone)
    code = last_code()
    for attempt in range(portal_login.MAX_TRIES):
        response = enter(client, volunteer.phone, wrong(code), **EN)
        assert response.status_code == 400
    assert "Too many wrong codes" in response.content.decode()
    response = enter(client, volunteer.phone, code)
    assert response.status_code == 400 and SESSION_KEY not in client.session


@pytest.mark.parametrize("phone", ["13912345678", "139 1234 5678"])
def test_unknown_number_gets_the_same_answer(client, volunteer, tree, phone):
    known = ask(client, volunteer.phone)
    unknown = ask(Client(), phone)
    assert unknown.status_code == known.status_code == 200
    assert unknown.context["sent"] and b'id="code-sent"' in unknown.content
    assert len(portal_login.outbox) == 1  # only the known number got a code
    # Even its wrong tries run out the same way.
    other = Client()
    for _ in range(portal_login.MAX_TRIES):
        response = enter(other, phone, "000000", **EN)
    assert response.status_code == 400 and "Too many wrong codes" in response.content.decode()


def test_a_person_who_is_not_a_volunteer_member_or_points_holder_gets_no_code(client, tree):
    make_person(tree["a2"], "路人甲", "13955555555")
    assert ask(client, "13955555555").status_code == 200
    assert portal_login.outbox == []


def test_a_points_holder_may_sign_in_and_a_shared_number_prefers_the_volunteer(client, tree):
    holder = make_person(tree["a2"], "钱家老人", "13966666666")
    fund(holder, 10)
    assert ask(client, "13966666666").status_code == 200 and portal_login.outbox
    # The same number, written differently, on a volunteer registered later.
    helper = make_member(tree["a2"], "钱小宝", MemberCategory.DIRECT, "+86 139-6666-6666")
    assert portal_login.person_for_phone("13966666666") == helper
    sign_in(client, helper, "13966666666")


def test_codes_per_number_are_limited_without_telling_who_is_registered(client, volunteer,
                                                                        settings):
    settings.VOLUNTEER_LOGIN_PHONE_RATE_LIMIT = "2/3600"
    for phone in (volunteer.phone, "13977777777"):
        assert ask(client, phone).status_code == 200
        assert ask(client, phone).status_code == 200
        response = ask(client, phone)
        assert response.status_code == 429 and int(response["Retry-After"]) > 0
        assert response.context["phone_form"].non_field_errors()
        assert response.context["phone_form"]["phone"].value() == phone  # kept
    assert len(portal_login.outbox) == 2


def test_codes_per_address_are_limited(client, tree, settings):
    settings.VOLUNTEER_LOGIN_ADDRESS_RATE_LIMIT = (3, 3600)
    for n in range(3):
        assert ask(client, f"1390000100{n}").status_code == 200
    assert ask(client, "13900001009").status_code == 429
    assert ask(client, "13900001009", {"REMOTE_ADDR": "10.0.0.9"}).status_code == 200


def test_sign_in_attempts_per_address_are_limited(client, volunteer, settings):
    settings.VOLUNTEER_LOGIN_VERIFY_RATE_LIMIT = "3/600"
    ask(client, volunteer.phone)
    code = last_code()
    for _ in range(3):
        assert enter(client, volunteer.phone, wrong(code)).status_code == 400
    response = enter(client, volunteer.phone, code)
    assert response.status_code == 429 and SESSION_KEY not in client.session


@pytest.mark.parametrize("data", [
    {"step": "request", "phone": ""}, {"step": "request", "phone": "abc"},
    {"step": "request", "phone": "12345"}, {"step": "request", "phone": "1" * 40},
    {"step": "request", "phone": "\x00139"}, {"step": "request"},
    {"step": "code", "phone": "13900000003", "code": ""},
    {"step": "code", "phone": "13900000003", "code": "12ab56"},
    {"step": "code", "phone": "13900000003", "code": "1234567"},
    {"step": "code", "phone": "x", "code": "123456"}, {"step": "code"},
])
def test_bad_input_gets_a_message_never_a_500(client, volunteer, data):
    response = client.post(LOGIN, data)
    assert response.status_code == 400
    form = response.context["code_form"] or response.context["phone_form"]
    assert form.errors


def test_the_forms_are_csrf_protected(volunteer):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(LOGIN, {"step": "request", "phone": volunteer.phone}).status_code == 403
    assert portal_login.outbox == []
    page = strict.get(LOGIN)
    assert b"csrfmiddlewaretoken" in page.content


@pytest.mark.parametrize("next_url, expected", [
    ("/me/mall/", "/me/mall/"),
    ("/wishes/?category=errands", "/wishes/?category=errands"),
    ("https://evil.example/", ME), ("//evil.example/x", ME), ("javascript:alert(1)", ME),
    ("/me/login/", ME), ("", ME),
])
def test_next_is_honoured_only_for_local_urls(client, volunteer, next_url, expected):
    ask(client, volunteer.phone, next=next_url)
    response = enter(client, volunteer.phone, last_code(), next=next_url)
    assert response.status_code == 302 and response["Location"] == expected


def test_signed_out_pages_send_to_the_sign_in_page(client, item, volunteer):
    for url in (ME, POINTS, MALL):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{LOGIN}?next={url.replace('/', '%2F')}"
    assert client.post(f"/me/mall/{item.pk}/redeem/", {"quantity": 1}).status_code == 302
    assert client.post("/me/redemptions/1/cancel/").status_code == 302
    assert Redemption.objects.count() == 0
    # Signing in then sends a form's URL back as a GET: it lands on the page the form was on.
    sign_in(client, volunteer)
    assert client.get(f"/me/mall/{item.pk}/redeem/")["Location"] == MALL
    assert client.get("/me/redemptions/1/cancel/")["Location"] == f"{ME}#redemptions"
    assert client.get("/me/logout/").status_code == 405


def test_sign_out_ends_the_session_and_login_page_redirects_when_signed_in(client, volunteer):
    sign_in(client, volunteer)
    assert client.get(LOGIN)["Location"] == ME
    response = client.post("/me/logout/")
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert client.get(ME).status_code == 302


# ---- the page ----------------------------------------------------------------------------------


@pytest.fixture
def history(volunteer, item, tree, places, submit, users):
    """Points, a redemption, an activity with a sign-up and approved hours, a claimed wish."""
    fund(volunteer, 200)
    redemption = mall_services.redeem(None, item, volunteer, idempotency_key="h1")
    start = timezone.now() - dt.timedelta(days=3)
    activity = Activity.objects.create(org_unit=tree["a"], title="清理楼道", place="文锦苑",
                                       starts_at=start, ends_at=start + dt.timedelta(hours=2),
                                       capacity=10)
    ActivitySignup.objects.create(activity=activity, person=volunteer, position=1,
                                  status=SignupStatus.CONFIRMED, signed_up_at=start)
    ServiceHours.objects.create(activity=activity, person=volunteer, hours=Decimal("2"),
                                approved_at=timezone.now())
    wish = submit()
    wish_services.dispatch_wish(users["comm_a"], wish, unit=tree["a2"])
    wish_services.claim_wish(None, wish, volunteer)
    return {"redemption": redemption, "activity": activity, "wish": wish}


def test_the_page_shows_history_redemptions_activities_and_wishes(client, volunteer, history):
    sign_in(client, volunteer)
    response = client.get(ME)
    html = response.content.decode()
    assert history["redemption"].code in html and "理发一次" in html
    assert "清理楼道" in html and history["wish"].wish[:10] in html
    assert response.context["hours_total"] == Decimal("2")
    assert [e.amount for e in response.context["entries"]] == [Decimal("-20.00"),
                                                                Decimal("200.00")]
    # The resident who made the wish stays private.
    assert history["wish"].contact_phone not in html


def test_points_history_pages_and_filters_by_kind(client, member):
    for n in range(35):
        ledger.earn(member, Decimal("1"), "earn_post", f"duty:{n}")
    fund(member, 5, PointsKind.COMMUNITY)
    sign_in(client, member)
    first = client.get(POINTS)
    assert first.status_code == 200 and len(first.context["page"].object_list) == 30
    assert first.context["page"].paginator.count == 36
    member_only = client.get(POINTS, {"kind": "member", "page": 2})
    assert len(member_only.context["page"].object_list) == 5
    community = client.get(POINTS, {"kind": "community"})
    assert community.context["page"].paginator.count == 1
    assert client.get(POINTS, {"kind": "bogus", "page": "x"}).status_code == 200


def _count(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_me_query_count_is_pinned(client, volunteer, history, item, django_assert_num_queries):
    sign_in(client, volunteer)
    # session, person, accounts, lifetime points, member?, entries, redemptions, sign-ups,
    # hours, hours total, wishes
    with django_assert_num_queries(11):
        assert client.get(ME).status_code == 200
    # More of everything costs no more queries.
    before = _count(client, ME)
    for n in range(2):
        mall_services.redeem(None, item, volunteer, idempotency_key=f"more{n}")
    for n in range(4):
        ledger.earn(volunteer, Decimal("3"), "earn_post", f"more:{n}")
    assert _count(client, ME) == before


def test_mall_query_count_is_pinned(client, volunteer, merchant, users, django_assert_num_queries):
    fund(volunteer, 50)
    for n in range(3):
        mall_services.save_reward_item(users["comm_a"], RewardItem(
            merchant=merchant, name=f"商品{n}", points_price=Decimal("5"), stock=3,
            per_person_limit=2 if n else None))
    sign_in(client, volunteer)
    # session, person, community, count, items, taken against limits, balances
    with django_assert_num_queries(7):
        assert client.get(MALL).status_code == 200
    before = _count(client, MALL)
    for n in range(5):
        mall_services.save_reward_item(users["comm_a"], RewardItem(
            merchant=merchant, name=f"更多{n}", points_price=Decimal("5"), stock=3,
            per_person_limit=1))
    assert _count(client, MALL) == before


# ---- the mall ----------------------------------------------------------------------------------


def mall_item(client, item):
    return next(i for i in client.get(MALL).context["items"] if i.pk == item.pk)


def test_mall_lists_items_of_the_area_in_stock_and_valid(client, volunteer, item, tree, users):
    other = mall_services.save_merchant(users["admin"], Merchant(org_unit=tree["c"], name="金泽超市"))
    far = mall_services.save_reward_item(users["admin"], RewardItem(
        merchant=other, name="大米一袋", points_price=Decimal("10"), stock=9))
    street = mall_services.save_merchant(users["admin"], Merchant(org_unit=tree["s1"], name="街道书店"))
    near = mall_services.save_reward_item(users["admin"], RewardItem(
        merchant=street, name="图书", points_price=Decimal("10"), stock=9))
    gone = mall_services.save_reward_item(users["admin"], RewardItem(
        merchant=street, name="售罄", points_price=Decimal("10"), stock=0))
    stale = mall_services.save_reward_item(users["admin"], RewardItem(
        merchant=street, name="过期", points_price=Decimal("10"), stock=9,
        valid_until=timezone.localdate() - dt.timedelta(days=1)))
    sign_in(client, volunteer)
    response = client.get(MALL)
    listed = {i.pk for i in response.context["items"]}
    assert listed == {item.pk, near.pk}
    assert not {far.pk, gone.pk, stale.pk} & listed
    html = response.content.decode()
    assert "理发八折" in html and "惠民理发店" in html
    # An item of another area cannot be redeemed by its id either.
    fund(volunteer, 100)
    response = client.post(f"/me/mall/{far.pk}/redeem/", {"quantity": 1, "key": "k" * 32})
    assert response.status_code == 404 and Redemption.objects.count() == 0


def test_redeeming_twice_with_the_same_key_pays_once(client, volunteer, item):
    fund(volunteer, 100)
    sign_in(client, volunteer)
    key = mall_item(client, item).key
    for _ in range(2):
        response = client.post(f"/me/mall/{item.pk}/redeem/", {"quantity": 2, "key": key})
        assert response.status_code == 302 and response["Location"] == f"{ME}#redemptions"
    redemption = Redemption.objects.get()
    assert redemption.person == volunteer and redemption.quantity == 2
    assert selectors.balances(volunteer)["community"] == Decimal("60.00")
    item.refresh_from_db()
    assert item.stock == 3
    assert redemption.code in client.get(ME).content.decode()
    # A fresh key is a new redemption.
    response = client.post(f"/me/mall/{item.pk}/redeem/",
                           {"quantity": 1, "key": mall_item(client, item).key})
    assert response.status_code == 302 and Redemption.objects.count() == 2


def test_insufficient_points_stock_and_limit_get_clear_messages(client, volunteer, item, tree):
    fund(volunteer, 30)
    sign_in(client, volunteer)
    url = f"/me/mall/{item.pk}/redeem/"
    response = client.post(url, {"quantity": 2, "key": "a" * 32}, **EN)
    assert response.status_code == 400
    card = next(i for i in response.context["items"] if i.pk == item.pk)
    assert card.problems and "Not enough points" in card.problems[0]
    assert card.quantity == "2" and card.key == "a" * 32  # what was typed is kept
    assert Redemption.objects.count() == 0
    assert selectors.balances(volunteer)["community"] == Decimal("30.00")
    fund(volunteer, 100, key="more")
    response = client.post(url, {"quantity": 4, "key": "b" * 32}, **EN)
    assert response.status_code == 400 and "At most 3 per person" in response.content.decode()
    # Someone else takes the rest of the stock: the item leaves the list, the message stays.
    other = make_person(tree["a2"], "孙六")
    fund(other, 100)
    mall_services.redeem(None, item, other, quantity=3, idempotency_key="o1")
    mall_services.redeem(None, item, volunteer, quantity=2, idempotency_key="o2")
    response = client.post(url, {"quantity": 1, "key": "c" * 32}, **EN)
    assert response.status_code == 400
    assert "Not enough left in stock" in " ".join(response.context["problems"])


@pytest.mark.parametrize("data", [
    {"quantity": "", "key": "k" * 32}, {"quantity": "0", "key": "k" * 32},
    {"quantity": "abc", "key": "k" * 32}, {"quantity": "999", "key": "k" * 32},
    {"quantity": "1", "key": ""}, {"quantity": "1", "key": "<script>"}, {"quantity": "1"},
])
def test_bad_redeem_input_is_refused_with_a_message(client, volunteer, item, data):
    fund(volunteer, 100)
    sign_in(client, volunteer)
    response = client.post(f"/me/mall/{item.pk}/redeem/", data)
    assert response.status_code == 400
    card = next(i for i in response.context["items"] if i.pk == item.pk)
    assert card.problems and re.fullmatch(r"[0-9a-zA-Z-]{8,40}", card.key)
    assert Redemption.objects.count() == 0


def test_one_cannot_see_or_cancel_anothers_redemption(client, volunteer, member, item):
    fund(volunteer, 100)
    theirs = mall_services.redeem(None, item, volunteer, idempotency_key="v1")
    sign_in(client, member)
    assert theirs.code not in client.get(ME).content.decode()
    response = client.post(f"/me/redemptions/{theirs.pk}/cancel/")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == RedemptionStatus.ISSUED
    assert selectors.balances(volunteer)["community"] == Decimal("80.00")


def test_cancelling_ones_own_unused_redemption_returns_points_and_stock(client, volunteer, item):
    fund(volunteer, 100)
    mine = mall_services.redeem(None, item, volunteer, idempotency_key="v1")
    sign_in(client, volunteer)
    response = client.post(f"/me/redemptions/{mine.pk}/cancel/")
    assert response.status_code == 302
    mine.refresh_from_db()
    item.refresh_from_db()
    assert mine.status == RedemptionStatus.CANCELLED and item.stock == 5
    assert selectors.balances(volunteer)["community"] == Decimal("100.00")
    # Twice: a message, not an error page; the cancel button is gone.
    response = client.post(f"/me/redemptions/{mine.pk}/cancel/", follow=True)
    assert response.status_code == 200
    assert list(response.context["messages"])
    assert f"/me/redemptions/{mine.pk}/cancel/" not in response.content.decode()
    assert selectors.balances(volunteer)["community"] == Decimal("100.00")


def test_a_used_code_cannot_be_cancelled(client, volunteer, item):
    fund(volunteer, 100)
    mine = mall_services.redeem(None, item, volunteer, idempotency_key="v1")
    login = _user("barber")
    item.merchant.users.add(login)
    mall_services.mark_used(login, mine.code)
    sign_in(client, volunteer)
    assert mine.code not in client.get(ME).content.decode()  # only issued codes are shown
    response = client.post(f"/me/redemptions/{mine.pk}/cancel/")
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.status == RedemptionStatus.USED
    assert selectors.balances(volunteer)["community"] == Decimal("80.00")
