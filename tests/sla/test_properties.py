"""Properties that must hold for any input, checked with hypothesis."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from random import Random

from hypothesis import given
from hypothesis import strategies as st

from sla import (
    Exclusion,
    IncidentRecord,
    IncidentStatus,
    Interval,
    Layer,
    MaintenanceWindow,
    ServiceType,
    SlaConfig,
    clip,
    compute_credit,
    intersect_sets,
    intersection,
    subtract,
    total_duration,
    union,
)
from sla.report import _floor_percent
from tests.sla.factories import THIRTY_DAY_MONTH, almaty, report, service

ORIGIN = datetime(2026, 4, 1, tzinfo=UTC)
# Offsets span March to May so that intervals cross both ends of April.
SPAN_MINUTES = 90 * 24 * 60
MARCH_START = almaty(2026, 3, 1)


def minute_interval() -> st.SearchStrategy[Interval]:
    return st.tuples(st.integers(0, 10_000), st.integers(0, 2_000)).map(
        lambda p: Interval(
            ORIGIN + timedelta(minutes=p[0]), ORIGIN + timedelta(minutes=p[0] + p[1])
        )
    )


interval_lists = st.lists(minute_interval(), max_size=12)


@given(interval_lists, st.randoms(use_true_random=False))
def test_union_is_idempotent_and_order_independent(intervals: list[Interval], rng: Random) -> None:
    merged = union(intervals)
    shuffled = list(intervals)
    rng.shuffle(shuffled)
    assert union(merged) == merged
    assert union(shuffled) == merged
    assert all(a.end < b.start for a, b in pairwise(merged))


@given(interval_lists, interval_lists)
def test_subtraction_and_intersection_partition_the_time(
    intervals: list[Interval], removals: list[Interval]
) -> None:
    kept = total_duration(subtract(intervals, removals))
    removed = total_duration(intersect_sets(intervals, removals))
    assert kept + removed == total_duration(intervals)


@given(interval_lists, minute_interval())
def test_a_clipped_union_less_nothing_is_itself(
    intervals: list[Interval], window: Interval
) -> None:
    # `service_downtime` hands back its clipped downtime as the counted intervals when
    # nothing is excluded from it, instead of subtracting an empty set.
    clipped = clip(intervals, window)
    assert subtract(clipped, ()) == clipped
    assert clip(clipped, window) == clipped


@given(minute_interval(), minute_interval(), st.integers(0, 2_000), st.integers(0, 2_000))
def test_the_common_part_of_two_intervals_is_their_latest_start_to_earliest_end(
    first: Interval, second: Interval, skip: int, keep: int
) -> None:
    # `intersection` hands back an interval lying inside the other as it is (no new one),
    # so pairs where one lies inside the other are drawn on purpose.
    inner_start = first.start + min(timedelta(minutes=skip), first.end - first.start)
    inner = Interval(
        inner_start, inner_start + min(timedelta(minutes=keep), first.end - inner_start)
    )
    for a, b in ((first, second), (second, first), (first, inner), (inner, first), (first, first)):
        start, end = max(a.start, b.start), min(a.end, b.end)
        assert intersection(a, b) == (Interval(start, end) if start < end else None)


@given(st.integers(0, 100 * 10**13), st.integers(1, 10**13), st.sampled_from([2, 4]))
def test_a_truncated_percentage_prints_as_its_decimal_digits(
    numerator: int, denominator: int, places: int
) -> None:
    # `_floor_percent` divides integers where it divided Decimals: the same float.
    value = Fraction(numerator, denominator)
    scale = 10**places
    digits = Decimal(value.numerator * scale // value.denominator) / scale
    assert repr(_floor_percent(value, places)) == repr(float(digits))


@st.composite
def incidents(draw: st.DrawFn, incident_id: int, *, may_be_excluded: bool = True) -> IncidentRecord:
    start = MARCH_START + timedelta(minutes=draw(st.integers(0, SPAN_MINUTES)))
    length = timedelta(minutes=draw(st.integers(0, 20 * 24 * 60)))
    status = draw(st.sampled_from(IncidentStatus))
    by_monitoring = draw(st.booleans())
    return IncidentRecord(
        incident_id=incident_id,
        service_id=1,
        ticket_number=incident_id,
        client_notice_at=None if by_monitoring else start,
        monitoring_start_at=start if by_monitoring else None,
        status=status,
        confirmed_at=start if status is IncidentStatus.CONFIRMED else None,
        layer=draw(st.none() | st.sampled_from(Layer)),
        restored_at=draw(st.none() | st.just(start + length)),
        exclusion=draw(st.none() | st.sampled_from(Exclusion)) if may_be_excluded else None,
        data_loss=draw(st.booleans()),
    )


@st.composite
def incident_lists(draw: st.DrawFn) -> list[IncidentRecord]:
    count = draw(st.integers(0, 6))
    return [draw(incidents(incident_id)) for incident_id in range(1, count + 1)]


@st.composite
def maintenance_lists(draw: st.DrawFn) -> list[MaintenanceWindow]:
    windows = []
    for _ in range(draw(st.integers(0, 3))):
        start = MARCH_START + timedelta(minutes=draw(st.integers(0, SPAN_MINUTES)))
        length = timedelta(minutes=draw(st.integers(0, 5 * 24 * 60)))
        windows.append(
            MaintenanceWindow(
                draw(st.sampled_from([None, 1, 2])), start, start + length, draw(st.booleans())
            )
        )
    return windows


service_types = st.sampled_from(ServiceType)
active_starts = st.integers(-10, 40).map(lambda d: almaty(2026, 4, 1) + timedelta(days=d))
nows = st.integers(0, 60).map(lambda d: almaty(2026, 4, 1) + timedelta(days=d, hours=3))


@given(incident_lists(), maintenance_lists(), service_types, active_starts, nows)
def test_counted_downtime_never_exceeds_active_time(
    incident_records: list[IncidentRecord],
    windows: list[MaintenanceWindow],
    service_type: ServiceType,
    active_from: datetime,
    now: datetime,
) -> None:
    result = report(
        THIRTY_DAY_MONTH,
        [service(service_type=service_type, active_from=active_from)],
        incident_records,
        windows,
        now=now,
    )
    for line in result.services:
        downtime = line.downtime
        assert timedelta() <= downtime.counted <= downtime.active
        assert downtime.counted + downtime.excluded == downtime.raw
        assert downtime.active <= timedelta(days=30)


@given(incident_lists(), maintenance_lists(), service_types, incidents(99, may_be_excluded=False))
def test_adding_downtime_never_raises_availability_nor_lowers_credit(
    incident_records: list[IncidentRecord],
    windows: list[MaintenanceWindow],
    service_type: ServiceType,
    extra: IncidentRecord,
) -> None:
    subject = [service(service_type=service_type)]
    before = report(THIRTY_DAY_MONTH, subject, incident_records, windows).services[0].credit
    after = report(THIRTY_DAY_MONTH, subject, [*incident_records, extra], windows)
    credit = after.services[0].credit
    assert before.availability is not None and credit.availability is not None
    assert credit.availability <= before.availability
    assert credit.credit_amount >= before.credit_amount
    assert credit.total_credit_amount >= before.total_credit_amount


@given(incident_lists(), maintenance_lists(), service_types, st.data())
def test_marking_an_exclusion_never_lowers_availability(  # A 5.10, 5.11 / B 5.6, 5.7
    incident_records: list[IncidentRecord],
    windows: list[MaintenanceWindow],
    service_type: ServiceType,
    data: st.DataObject,
) -> None:
    subject = [service(service_type=service_type)]
    before = report(THIRTY_DAY_MONTH, subject, incident_records, windows).services[0]
    if incident_records:
        index = data.draw(st.integers(0, len(incident_records) - 1))
        marked = replace(incident_records[index], exclusion=data.draw(st.sampled_from(Exclusion)))
        incident_records = [*incident_records[:index], marked, *incident_records[index + 1 :]]
    else:
        windows = [*windows, data.draw(maintenance_lists().filter(bool))[0]]
    after = report(THIRTY_DAY_MONTH, subject, incident_records, windows).services[0]
    assert after.downtime.counted <= before.downtime.counted
    assert after.credit.credit_amount <= before.credit.credit_amount


percents = st.integers(0, 200).map(Decimal)


@given(
    fee=st.decimals(min_value=0, max_value=10**9, places=2),
    active_minutes=st.integers(0, 44_640),
    counted_share=st.fractions(0, 1),
    data_loss=st.booleans(),
    sla=st.booleans(),
    band=percents,
    major=percents,
    severe=percents,
    data_loss_percent=percents,
    cap=st.integers(0, 100).map(Decimal),
)
def test_total_credit_never_exceeds_the_fee(  # A 5.9 / B 5.5
    fee: Decimal,
    active_minutes: int,
    counted_share: Fraction,
    data_loss: bool,
    sla: bool,
    band: Decimal,
    major: Decimal,
    severe: Decimal,
    data_loss_percent: Decimal,
    cap: Decimal,
) -> None:
    active = timedelta(minutes=active_minutes)
    counted = timedelta(minutes=int(active_minutes * counted_share))
    config = SlaConfig(
        band_credit_percent=band,
        major_credit_percent=major,
        severe_credit_percent=severe,
        data_loss_credit_percent=data_loss_percent,
        credit_cap_percent_of_fee=cap,
    )
    result = compute_credit(
        monthly_fee=fee,
        active=active,
        counted=counted,
        provider_data_loss=data_loss,
        sla_applies=sla,
        config=config,
    )
    assert Decimal(0) <= result.total_credit_amount <= fee
    assert result.total_credit_amount == result.total_credit_amount.quantize(Decimal("0.01"))
