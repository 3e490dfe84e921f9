"""The month a customer's spending belongs to.

`Customer.spent_this_month_minor` is stamped with its month, `spent_month` ("YYYY-MM", a calendar month of
BUDGET_TIMEZONE, Asia/Seoul unless set). The spending counts only in its own month: once the month is over it reads
0 until it is fed again (`spending_import`, the admin, `customer_update`), so the remaining monthly limit, which
the catalog rules and the receipts use, starts the month whole. A cached profile never outlives the month it was
read in (`customers.cache.CUSTOMER`).
"""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

MONTH = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])")


def month_of(moment: datetime) -> str:
    """The month ("YYYY-MM") `moment` falls in, in BUDGET_TIMEZONE."""
    return moment.astimezone(ZoneInfo(settings.BUDGET_TIMEZONE)).strftime("%Y-%m")


def this_month() -> str:
    """The current month in BUDGET_TIMEZONE (the default stamp of a spending)."""
    return month_of(timezone.now())


def month_ends_at(moment: datetime) -> datetime:
    """When the month of `moment` ends: the first instant of the next month in BUDGET_TIMEZONE."""
    local = moment.astimezone(ZoneInfo(settings.BUDGET_TIMEZONE))
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return local.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def spent_now(spent_minor: int, month: str, *, now: datetime | None = None) -> int:
    """What a spending stamped `month` counts for at `now` (default: now): all of it in its month, 0 after."""
    return spent_minor if month == month_of(now or timezone.now()) else 0


def remaining(limit_minor: int, spent_minor: int, month: str, *, now: datetime | None = None) -> int:
    """What is left of the monthly limit at `now`; never negative, even when spending went over it."""
    return max(0, limit_minor - spent_now(spent_minor, month, now=now))
