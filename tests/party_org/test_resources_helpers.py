"""Builders shared by the resources tests (stations, funds, co-building, committees, 五有).

People, members, posts and emergency roles are created directly with the ORM: their services
belong to another area.
"""

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from party_org.models import (
    CommitteeMembership,
    CommitteeRole,
    EmergencyRole,
    EmergencyRoleKind,
    MemberCategory,
    MemberStatus,
    PartyMember,
    Person,
    Post,
    PostAssignment,
    PostKind,
    ServiceStation,
    WorkUnit,
)
from party_org.models.resources import STANDARD_ITEMS, StationStandard

START = dt.date(2025, 1, 1)
EIGHT = [code for code, _label in STANDARD_ITEMS[StationStandard.EIGHT_HAVES]]


def person(unit, name):
    return Person.objects.create(name=name, org_unit=unit)


def member(unit, name, status=MemberStatus.ACTIVE, category=MemberCategory.DIRECT):
    return PartyMember.objects.create(
        person=person(unit, name), category=category, org_unit=unit, status=status
    )


def seat(unit, who, role=CommitteeRole.SECRETARY, started_on=START, ended_on=None):
    return CommitteeMembership.objects.create(
        org_unit=unit, person=who, role=role, started_on=started_on, ended_on=ended_on
    )


def post_with_assignment(branch, holder, name="法律咨询岗", started_on=START, ended_on=None):
    post = Post.objects.create(
        org_unit=branch, kind=PostKind.LEGAL, name=name, duties="每周接待居民法律咨询"
    )
    PostAssignment.objects.create(post=post, member=holder, started_on=started_on,
                                  ended_on=ended_on)
    return post


def emergency_role(holder, place):
    return EmergencyRole.objects.create(member=holder, kind=EmergencyRoleKind.PATROL, place=place)


def station(unit, name="党群服务站", checklist=None, area="60.0", functions=None, **fields):
    return ServiceStation.objects.create(
        org_unit=unit, name=name, address="小区物业用房一层", area_m2=Decimal(area),
        functions=functions if functions is not None else ["reception", "members"],
        checklist=checklist if checklist is not None else EIGHT[:6], **fields,
    )


def work_unit(name="太原市供电公司"):
    return WorkUnit.objects.create(name=name, kind=WorkUnit.Kind.STATE_ENTERPRISE)


def complete_branch(branch, group, name="王"):
    """Give `branch` all five haves: secretary, station, member ledger, post, emergency role."""
    secretary = member(branch, f"{name}书记")
    seat(branch, secretary.person)
    station(branch, name=f"{branch.name}服务站")
    resident = member(group, f"{name}党员")
    post_with_assignment(branch, resident, name=f"{name}法律咨询岗")
    emergency_role(resident, group)
    return secretary, resident


def count_queries(func, *args, **kwargs):
    with CaptureQueriesContext(connection) as ctx:
        result = func(*args, **kwargs)
    return len(ctx.captured_queries), result
