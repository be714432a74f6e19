"""Micro-wishes: 群众点单 → 社区派单 → 党员接单 → 群众评单, rejection, withdrawal, claim expiry,
self-dealing, rating-gated points, bad input and who may take each step."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from party_org.models import MemberCategory, PartyMember, Post, PostKind
from tests.conftest import _user
from volunteers import selectors, tasks
from volunteers.models import (
    EntryReason,
    MicroWish,
    PointsEntry,
    PointsKind,
    Volunteer,
    WishAction,
    WishCategory,
    WishLog,
    WishStatus,
)
from volunteers.services import ledger
from volunteers.services import wishes as services

from .conftest import T0, make_member, make_person

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def png(name="p.png"):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def points_of(person, kind):
    return selectors.balances(person)[kind]


def actions(wish):
    return list(WishLog.objects.filter(wish=wish).values_list("action", flat=True))


def test_a_wish_goes_round_the_loop_and_pays_once_rated(submit, users, tree, member):
    wish = submit(photo=png())
    assert wish.status == WishStatus.SUBMITTED and len(wish.tracking_code) == 12
    assert wish.org_unit == tree["a2"] and wish.photo.name.startswith("wishes/")
    assert selectors.wish_by_code(wish.tracking_code.lower()) == wish

    services.dispatch_wish(users["secretary"], wish, unit=tree["a2"], at=T0 + H)
    assert wish.status == WishStatus.DISPATCHED and wish.dispatched_to_unit == tree["a2"]
    assert [w["pk"] for w in selectors.wish_wall(compound=wish.compound)] == [wish.pk]

    services.claim_wish(None, wish, member, at=T0 + 2 * H)
    assert wish.status == WishStatus.CLAIMED and wish.claimed_by == member
    assert wish.claim_expires_at == T0 + 2 * H + dt.timedelta(hours=48)
    assert list(selectors.wish_wall()) == []
    assert list(selectors.wishes_for_person(member)) == [wish]

    services.record_fulfilment(None, wish, note="已送大米一袋", photo=png(), person=member,
                               at=T0 + 5 * H)
    assert wish.status == WishStatus.FULFILLED and wish.fulfilment_photo
    # No points before the rating.
    assert points_of(member, PointsKind.MEMBER) == 0 and not wish.points_paid

    services.rate_wish(None, wish, 5, "很及时", tracking_code=wish.tracking_code, at=T0 + 6 * H)
    assert wish.status == WishStatus.RATED and wish.rating == 5 and wish.points_paid
    # An in-service member earns 党员积分.
    assert points_of(member, PointsKind.MEMBER) == Decimal("10.00")
    assert points_of(member, PointsKind.COMMUNITY) == 0
    assert actions(wish) == [
        WishAction.SUBMIT, WishAction.DISPATCH, WishAction.CLAIM, WishAction.FULFIL,
        WishAction.RATE, WishAction.PAY,
    ]
    for step in (WishLog.objects.filter(wish=wish)):
        assert step.at is not None
    wish.refresh_from_db()
    for stamp in ("submitted_at", "dispatched_at", "claimed_at", "fulfilled_at", "rated_at",
                  "points_paid_at"):
        assert getattr(wish, stamp) is not None

    # Never twice: not by rating again, not by the periodic payment, not by the ledger.
    with pytest.raises(ValidationError):
        services.rate_wish(None, wish, 4, tracking_code=wish.tracking_code)
    assert services.pay_unrated_after(T0 + 30 * D) == 0
    assert ledger.earn_for_wish(wish).replayed
    assert PointsEntry.objects.filter(reason=EntryReason.EARN_WISH).count() == 1
    assert points_of(member, PointsKind.MEMBER) == Decimal("10.00")


def test_a_volunteer_earns_community_points(submit, users, tree, volunteer):
    wish = submit()
    services.dispatch_wish(users["comm_a"], wish, unit=tree["a"])
    services.claim_wish(None, wish, volunteer)
    services.record_fulfilment(None, wish, note="修好了水龙头", person=volunteer)
    services.rate_wish(None, wish, 3, tracking_code=wish.tracking_code)
    assert points_of(volunteer, PointsKind.COMMUNITY) == Decimal("10.00")


def test_rejection_needs_a_reason_the_resident_sees(submit, users):
    wish = submit()
    with pytest.raises(ValidationError) as err:
        services.reject_wish(users["secretary"], wish, "  ")
    assert "rejection_reason" in err.value.message_dict
    services.reject_wish(users["secretary"], wish, "属于物业维修范围，已转物业")
    assert wish.status == WishStatus.REJECTED
    assert selectors.wish_by_code(wish.tracking_code).rejection_reason.startswith("属于")
    with pytest.raises(ValidationError):
        services.dispatch_wish(users["secretary"], wish, unit=wish.org_unit)
    with pytest.raises(ValidationError):
        services.withdraw_wish(None, wish, tracking_code=wish.tracking_code)
    assert actions(wish) == [WishAction.SUBMIT, WishAction.REJECT]


def test_withdrawal_needs_the_tracking_code(submit, users, member):
    wish = submit()
    with pytest.raises(PermissionDenied):
        services.withdraw_wish(None, wish, tracking_code="WRONGCODE234")
    with pytest.raises(PermissionDenied):
        services.withdraw_wish(None, wish)
    services.dispatch_wish(users["secretary"], wish, unit=wish.org_unit)
    services.claim_wish(None, wish, member)
    services.withdraw_wish(None, wish, tracking_code=f" {wish.tracking_code[:6]}-"
                           f"{wish.tracking_code[6:].lower()} ")
    assert wish.status == WishStatus.WITHDRAWN and wish.withdrawn_at is not None
    with pytest.raises(ValidationError):
        services.record_fulfilment(None, wish, note="done", person=member)

    done = submit()
    services.dispatch_wish(users["secretary"], done, unit=done.org_unit)
    services.claim_wish(None, done, member)
    services.record_fulfilment(None, done, note="done", person=member)
    with pytest.raises(ValidationError):
        services.withdraw_wish(None, done, tracking_code=done.tracking_code)


def test_an_expired_claim_goes_back_to_the_wall(submit, users, tree, member, volunteer):
    wish = submit()
    someone = PartyMember.objects.get(person=member)
    services.dispatch_wish(users["secretary"], wish, member=someone, at=T0)
    # Sent by name: not on the wall, and nobody else may claim it.
    assert list(selectors.wish_wall()) == []
    with pytest.raises(ValidationError):
        services.claim_wish(None, wish, volunteer, at=T0 + H)
    services.claim_wish(None, wish, member, at=T0 + H)
    # One claim locks it.
    with pytest.raises(ValidationError):
        services.claim_wish(None, wish, volunteer, at=T0 + 2 * H)

    assert services.release_expired_claims(T0 + 48 * H) == 0
    # Past the expiry and not yet released: the claimant can no longer record it.
    with pytest.raises(ValidationError):
        services.record_fulfilment(None, wish, note="晚了", person=member, at=T0 + 50 * H)
    assert tasks.release_expired_claims((T0 + 50 * H).isoformat()) == 1
    wish.refresh_from_db()
    assert wish.status == WishStatus.DISPATCHED and wish.claimed_by is None
    assert wish.dispatched_to_member is None and wish.dispatched_to_unit == tree["a2"]
    assert [w["pk"] for w in selectors.wish_wall()] == [wish.pk]
    assert actions(wish)[-1] == WishAction.RELEASE
    assert WishLog.objects.filter(wish=wish).last().actor_label != ""
    services.claim_wish(None, wish, volunteer, at=T0 + 51 * H)
    assert wish.claimed_by == volunteer
    assert services.release_expired_claims(T0 + 52 * H) == 0


def test_nobody_claims_a_wish_of_their_own_household(submit, users, household, volunteer):
    # The household is found from the phone the resident gave.
    wish = submit(contact_phone="13800000009", building=household.building)
    assert wish.household == household
    services.dispatch_wish(users["secretary"], wish, unit=wish.org_unit)
    son = household.son  # a party member listed in the household
    with pytest.raises(ValidationError) as err:
        services.claim_wish(None, wish, son)
    assert "person" in err.value.message_dict
    # Sending it to him by name is refused too.
    with pytest.raises(ValidationError) as err:
        services.dispatch_wish(users["secretary"], wish, member=son.membership)
    assert "member" in err.value.message_dict
    # The head of household, made a verified volunteer, is refused as well.
    Volunteer.objects.create(person=household.head, org_unit=household.head.org_unit,
                             registered_at=T0, verified=True, verified_at=T0)
    with pytest.raises(ValidationError):
        services.claim_wish(None, wish, household.head)
    services.claim_wish(None, wish, volunteer)
    assert wish.status == WishStatus.CLAIMED


def test_a_claimant_with_the_wish_s_phone_is_refused(submit, users, tree):
    helper = make_member(tree["a2"], "周强", MemberCategory.DIRECT, "137-0000-0000")
    wish = submit(contact_phone="13700000000")
    services.dispatch_wish(users["secretary"], wish, unit=wish.org_unit)
    with pytest.raises(ValidationError):
        services.claim_wish(None, wish, helper)


def test_only_members_and_verified_volunteers_claim(submit, users, tree):
    wish = submit()
    services.dispatch_wish(users["secretary"], wish, unit=wish.org_unit)
    resident = make_person(tree["a2"], "路人")
    with pytest.raises(ValidationError):
        services.claim_wish(None, wish, resident)
    Volunteer.objects.create(person=resident, org_unit=tree["a2"], registered_at=T0)
    with pytest.raises(ValidationError):
        services.claim_wish(None, wish, resident)
    with pytest.raises(ValidationError):
        services.claim_wish(None, wish, None)
    gone = make_member(tree["a2"], "已转出")
    PartyMember.objects.filter(person=gone).update(status="transferred_out")
    with pytest.raises(ValidationError):
        services.claim_wish(None, wish, gone)


def test_points_after_n_days_unrated_and_never_twice(submit, users, retired, settings):
    settings.VOLUNTEER_WISH_PAY_UNRATED_DAYS = 7
    wish = submit()
    services.dispatch_wish(users["secretary"], wish, unit=wish.org_unit, at=T0)
    services.claim_wish(None, wish, retired, at=T0 + H)
    services.record_fulfilment(None, wish, note="陪老人聊天两小时", person=retired, at=T0 + 2 * H)
    assert services.pay_unrated_after(T0 + 6 * D) == 0
    assert points_of(retired, PointsKind.COMMUNITY) == 0
    assert tasks.pay_unrated_wishes((T0 + 8 * D).isoformat()) == 1
    wish.refresh_from_db()
    assert wish.points_paid and wish.status == WishStatus.FULFILLED
    # A retired member earns 公分.
    assert points_of(retired, PointsKind.COMMUNITY) == Decimal("10.00")
    assert services.pay_unrated_after(T0 + 9 * D) == 0
    # A late rating is still recorded, and pays nothing more.
    services.rate_wish(None, wish, 4, tracking_code=wish.tracking_code, at=T0 + 10 * D)
    assert wish.status == WishStatus.RATED
    assert points_of(retired, PointsKind.COMMUNITY) == Decimal("10.00")
    assert PointsEntry.objects.count() == 1


@pytest.mark.parametrize("rating", [0, 6, "x", None, "3.5"])
def test_a_rating_is_1_to_5(submit, users, member, rating):
    wish = submit()
    services.dispatch_wish(users["secretary"], wish, unit=wish.org_unit)
    services.claim_wish(None, wish, member)
    services.record_fulfilment(None, wish, note="ok", person=member)
    with pytest.raises(ValidationError) as err:
        services.rate_wish(None, wish, rating, tracking_code=wish.tracking_code)
    assert "rating" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.rate_wish(None, wish, 5, "长" * 301, tracking_code=wish.tracking_code)
    assert "rating_comment" in err.value.message_dict
    with pytest.raises(PermissionDenied):
        services.rate_wish(None, wish, 5, tracking_code="AAAAAAAAAAAA")
    assert points_of(member, PointsKind.MEMBER) == 0


def test_a_wish_is_rated_only_once_fulfilled(submit, users, member):
    wish = submit()
    with pytest.raises(ValidationError):
        services.rate_wish(None, wish, 5, tracking_code=wish.tracking_code)
    services.dispatch_wish(users["secretary"], wish, unit=wish.org_unit)
    services.claim_wish(None, wish, member)
    with pytest.raises(ValidationError):
        services.rate_wish(None, wish, 5, tracking_code=wish.tracking_code)


def test_only_the_claimant_records_the_fulfilment(submit, users, member, volunteer):
    wish = submit()
    services.dispatch_wish(users["secretary"], wish, unit=wish.org_unit)
    services.claim_wish(None, wish, member)
    with pytest.raises(PermissionDenied):
        services.record_fulfilment(None, wish, note="不是我接的", person=volunteer)
    with pytest.raises(PermissionDenied):
        services.record_fulfilment(users["comm_b"], wish, note="别的社区")
    with pytest.raises(ValidationError) as err:
        services.record_fulfilment(None, wish, note=" ", person=member)
    assert "fulfilment_note" in err.value.message_dict
    bad = SimpleUploadedFile("x.png", b"<svg onload=alert(1)>", content_type="image/png")
    with pytest.raises(ValidationError) as err:
        services.record_fulfilment(None, wish, note="ok", person=member, photo=bad)
    assert "fulfilment_photo" in err.value.message_dict
    services.record_fulfilment(users["secretary"], wish, note="电话确认已完成")
    assert wish.status == WishStatus.FULFILLED


@pytest.mark.parametrize(
    "fields, key",
    [
        ({"wish": "  "}, "wish"),
        ({"wish": "长" * 501}, "wish"),
        ({"category": "weapons"}, "category"),
        ({"contact_phone": ""}, "contact_phone"),
        ({"contact_phone": "call me <b>"}, "contact_phone"),
        ({"contact_name": "名" * 41}, "contact_name"),
        ({"compound": None}, "compound"),
        ({"photo": SimpleUploadedFile("a.html", b"<html>", content_type="text/html")}, "photo"),
    ],
)
def test_bad_input_on_the_public_form_is_refused_by_field(submit, fields, key):
    with pytest.raises(ValidationError) as err:
        submit(**fields)
    assert key in err.value.message_dict
    assert MicroWish.objects.count() == 0


def test_the_place_must_hang_together(submit, places, household):
    with pytest.raises(ValidationError) as err:
        submit(compound=places["hgd"], building=places["wjy1"])
    assert "building" in err.value.message_dict
    # Residents do not pick household files; staff may, in the same compound only.
    with pytest.raises(ValidationError) as err:
        submit(household=household)
    assert "household" in err.value.message_dict
    places["hgd"].is_active = False
    places["hgd"].save()
    with pytest.raises(ValidationError) as err:
        submit(compound=places["hgd"])
    assert "compound" in err.value.message_dict


def test_staff_enter_wishes_in_their_scope_only(submit, users, places, household):
    wish = submit(users["secretary"], household=household)
    assert wish.submitted_by == users["secretary"] and wish.household == household
    with pytest.raises(PermissionDenied):
        submit(users["comm_b"])
    with pytest.raises(PermissionDenied):
        submit(users["nobody"])
    with pytest.raises(PermissionDenied):
        submit(users["auditor"])
    with pytest.raises(ValidationError):
        submit(users["comm_b"], compound=places["hgd"], household=household)


def test_who_may_dispatch_and_where_to(submit, users, tree, member, places):
    wish = submit()
    for name in ("comm_b", "auditor", "nobody"):
        with pytest.raises(PermissionDenied):
            services.dispatch_wish(users[name], wish, unit=tree["a2"])
        with pytest.raises(PermissionDenied):
            services.reject_wish(users[name], wish, "no")
    grid = _user("grid_a2", "grid_worker", tree["a2"])
    with pytest.raises(PermissionDenied):
        services.dispatch_wish(grid, wish, unit=tree["a2"])
    # One target, related to the compound's unit.
    with pytest.raises(ValidationError):
        services.dispatch_wish(users["comm_a"], wish)
    with pytest.raises(ValidationError):
        services.dispatch_wish(users["comm_a"], wish, unit=tree["a2"],
                               member=member.membership)
    with pytest.raises(ValidationError) as err:
        services.dispatch_wish(users["comm_a"], wish, unit=tree["a1"])
    assert "unit" in err.value.message_dict
    with pytest.raises(PermissionDenied):
        services.dispatch_wish(users["secretary"], wish, unit=tree["a"])
    far = Post.objects.create(org_unit=tree["b1"], kind=PostKind.WELFARE, name="公益岗",
                              duties="帮扶")
    with pytest.raises(PermissionDenied):
        services.dispatch_wish(users["secretary"], wish, post=far)
    with pytest.raises(ValidationError) as err:
        services.dispatch_wish(users["street"], wish, post=far)
    assert "post" in err.value.message_dict
    post = Post.objects.create(org_unit=tree["a2"], kind=PostKind.WELFARE, name="公益岗",
                               duties="帮扶")
    services.dispatch_wish(users["secretary"], wish, post=post)
    assert wish.dispatched_to_post == post and wish.dispatched_to_unit is None
    # Re-dispatch while unclaimed.
    services.dispatch_wish(users["comm_a"], wish, unit=tree["a"])
    assert wish.dispatched_to_unit == tree["a"] and wish.dispatched_to_post is None
    services.claim_wish(None, wish, member)
    with pytest.raises(ValidationError):
        services.dispatch_wish(users["comm_a"], wish, unit=tree["a2"])


def test_staff_steps_outside_scope_are_refused(submit, users, member):
    wish = submit()
    services.dispatch_wish(users["secretary"], wish, unit=wish.org_unit)
    with pytest.raises(PermissionDenied):
        services.claim_wish(users["comm_b"], wish, member)
    with pytest.raises(PermissionDenied):
        services.withdraw_wish(users["comm_b"], wish)
    services.claim_wish(users["secretary"], wish, member)
    services.record_fulfilment(None, wish, note="ok", person=member)
    with pytest.raises(PermissionDenied):
        services.rate_wish(users["comm_b"], wish, 5)
    assert services.allowed_actions(users["comm_b"], wish) == []
    assert services.allowed_actions(users["secretary"], wish) == [WishAction.RATE]


def test_allowed_actions_follow_status_and_permission(submit, users, tree):
    wish = submit()
    assert services.allowed_actions(users["secretary"], wish) == [
        WishAction.DISPATCH, WishAction.REJECT, WishAction.WITHDRAW,
    ]
    assert services.allowed_actions(users["auditor"], wish) == []
    assert services.allowed_actions(None, wish) == []


def test_unclaimed_wishes_are_flagged_for_staff_in_scope(submit, users, member, settings):
    settings.VOLUNTEER_WISH_UNCLAIMED_DAYS = 3
    waiting = submit(at=T0)
    dispatched = submit(at=T0)
    services.dispatch_wish(users["secretary"], dispatched, unit=dispatched.org_unit,
                           at=T0 + 2 * D)
    claimed = submit(at=T0)
    services.dispatch_wish(users["secretary"], claimed, unit=claimed.org_unit, at=T0)
    services.claim_wish(None, claimed, member, at=T0 + H)
    flagged = selectors.unclaimed_wishes(users["comm_a"], now=T0 + 4 * D)
    assert list(flagged) == [waiting]
    assert set(selectors.unclaimed_wishes(users["comm_a"], now=T0 + 6 * D)) == {
        waiting, dispatched,
    }
    assert list(selectors.unclaimed_wishes(users["comm_b"], now=T0 + 6 * D)) == []
    assert list(selectors.wishes_visible_to(users["comm_b"])) == []
    assert selectors.wishes_visible_to(users["street"]).count() == 3


def test_the_wall_carries_no_personal_data(submit, users):
    wish = submit(contact_name="陈大妈")
    services.dispatch_wish(users["secretary"], wish, unit=wish.org_unit)
    (row,) = selectors.wish_wall(category=WishCategory.DAILY_NECESSITIES)
    assert wish.contact_phone not in str(row.values())
    assert wish.tracking_code not in str(row.values())
    assert "陈大妈" not in str(row.values())
    assert list(selectors.wish_wall(category=WishCategory.TUTORING)) == []


def test_the_wish_log_is_append_only(submit):
    wish = submit()
    entry = WishLog.objects.get(wish=wish)
    entry.note = "changed"
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()
