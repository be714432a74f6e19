"""The test run keeps to one local day (tests/conftest.py), whatever the wall clock says."""

import datetime as dt
import time

from django.utils import timezone


def test_the_run_happens_by_day_on_a_ticking_clock():
    local = timezone.localtime()
    # Started at 09:00 of the run's local day: hours of tests cannot reach midnight.
    assert dt.time(9, 0) <= local.time() < dt.time(23, 0), local
    before = time.time()
    time.sleep(0.01)
    assert time.time() > before  # the clock still ticks: durations and expiries hold
