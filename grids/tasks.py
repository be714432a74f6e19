"""Periodic work of grids; the tasks only call services."""

import datetime as dt

from celery import shared_task

from .services import events


@shared_task(name="grids.escalate_overdue_events")
def escalate_overdue_events(now=None):
    """Pass overdue events one level up the tree (every 15 minutes by beat)."""
    return events.escalate_overdue(dt.datetime.fromisoformat(now) if now else None)
