"""Periodic work of volunteers; the tasks only call services."""

import datetime as dt

from celery import shared_task

from .services import wishes


def _moment(now):
    return dt.datetime.fromisoformat(now) if now else None


@shared_task(name="volunteers.release_expired_claims")
def release_expired_claims(now=None):
    """Return wishes whose claim expired to the wall (every 15 minutes by beat)."""
    return wishes.release_expired_claims(_moment(now))


@shared_task(name="volunteers.pay_unrated_wishes")
def pay_unrated_wishes(now=None):
    """Pay claimants of wishes left unrated after VOLUNTEER_WISH_PAY_UNRATED_DAYS (hourly)."""
    return wishes.pay_unrated_after(_moment(now))
