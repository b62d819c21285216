# SPDX-License-Identifier: MIT
"""Parsing busybox ``dmesg -r`` and telling new kernel log records from old ones.

``BOOT`` and ``AFTER_WARN`` are excerpts of real ``dmesg -r`` output read through the
guest agent from the lab VM (``tests/data/guest/README.md`` says how). The reads through
the guest (``log_mark``, ``log_since``...) are tested in ``test_kmod.py``, with its fake guest.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kernelmagic.guest import kernel_log
from kernelmagic.guest.kernel_log import (
    LEVELS,
    LogMark,
    LogRecord,
    mark_of,
    parse_dmesg,
    parse_level,
    records_after,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "guest"
BOOT = (DATA / "boot.dmesg").read_text()
AFTER_WARN = (DATA / "after_warn.dmesg").read_text()


def test_parse_levels_facilities_timestamps() -> None:
    records = parse_dmesg(BOOT + AFTER_WARN)
    assert len(records) == 12
    first = records[0]
    assert (first.level, first.facility, first.timestamp) == (5, 0, 0.0)
    assert first.level_name == "notice"
    assert first.message.startswith("Linux version 6.1.0-56-amd64 (debian-kernel@")
    warning = records[7]
    assert warning.level_name == "warning"
    assert warning.timestamp == pytest.approx(2.217229)
    assert warning.message.startswith("WARNING: CPU: 0 PID: 116 at ")
    user = records[9]
    assert (user.facility, user.level, user.message) == (1, 4, "user says hi")
    assert [(r.facility, r.level_name) for r in records[10:]] == [(1, "err"), (1, "err")]


def test_continuation_lines_join_the_previous_record() -> None:
    text = "<6>[    5.000000] first line\n  second line\n\nthird line\n<3>[    5.100000] next\n"
    records = parse_dmesg(text)
    assert [r.message for r in records] == ["first line\n  second line\n\nthird line", "next"]


def test_crlf_missing_final_newline_and_empty_input() -> None:
    records = parse_dmesg("<6>[    1.000000] a\r\n<7>[    1.500000] b")
    assert [(r.message, r.level_name) for r in records] == [("a", "info"), ("b", "debug")]
    assert parse_dmesg("") == []
    assert parse_dmesg("\n") == []


def test_records_without_timestamps_and_text_before_the_first_record() -> None:
    records = parse_dmesg("cut-off tail of a record\n<4>no time here\n")
    assert records[0] == LogRecord(4, 0, 0.0, "cut-off tail of a record")
    assert records[1] == LogRecord(4, 0, 0.0, "no time here")


def test_message_keeps_its_own_leading_spaces() -> None:
    (record,) = parse_dmesg("<4>[    2.219343]  </TASK>\n")
    assert record.message == " </TASK>"
    assert str(record) == "[    2.219343]  </TASK>"


def test_records_are_frozen() -> None:
    (record,) = parse_dmesg("<6>[    1.000000] a\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.level = 3  # type: ignore[misc]


# ---------------------------------------------------------------------- marks


def test_mark_counts_records_sharing_the_last_timestamp() -> None:
    assert mark_of([]) is None
    assert mark_of(parse_dmesg(BOOT)) == LogMark(2.044348, 1)
    assert mark_of(parse_dmesg(BOOT + AFTER_WARN)) == LogMark(2.276859, 2)
    assert mark_of(parse_dmesg(BOOT)[:3]) == LogMark(0.0, 3)


def test_records_after_a_mark_are_the_new_ones() -> None:
    before = parse_dmesg(BOOT)
    after = parse_dmesg(BOOT + AFTER_WARN)
    new = records_after(after, mark_of(before))
    assert new == after[4:]
    assert records_after(after, mark_of(after)) == []
    assert records_after(after, None) == after


def test_new_records_with_the_marks_own_timestamp_count() -> None:
    old = parse_dmesg("<6>[    3.000000] a\n<6>[    3.000000] b\n")
    now = parse_dmesg("<6>[    3.000000] a\n<6>[    3.000000] b\n<6>[    3.000000] c\n")
    assert [r.message for r in records_after(now, mark_of(old))] == ["c"]


def test_records_after_a_cleared_log() -> None:
    mark = mark_of(parse_dmesg(BOOT + AFTER_WARN))
    cleared = parse_dmesg("<6>[    9.000000] hello: Hello, world!\n")
    assert [r.message for r in records_after(cleared, mark)] == ["hello: Hello, world!"]
    assert records_after(parse_dmesg(""), mark) == []


def test_a_slightly_out_of_order_timestamp_is_not_lost() -> None:
    old = parse_dmesg("<6>[    4.000000] a\n")
    now = parse_dmesg("<6>[    4.000000] a\n<6>[    4.000200] b\n<6>[    4.000100] c from cpu1\n")
    assert [r.message for r in records_after(now, mark_of(old))] == ["b", "c from cpu1"]


# ---------------------------------------------------------------------- levels


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("err", 3),
        ("3", 3),
        (3, 3),
        ("KERN_ERR", 3),
        ("kern_err", 3),
        ("error", 3),
        (" Warning ", 4),
        ("warn", 4),
        ("emerg", 0),
        ("debug", 7),
        ("0", 0),
        ("7", 7),
    ],
)
def test_parse_level(value: str | int, level: int) -> None:
    assert parse_level(value) == level


@pytest.mark.parametrize("value", ["loud", "8", -1, 8, "", "KERN_", True, "3.0"])
def test_parse_level_rejects_nonsense_and_names_the_choices(value: str | int) -> None:
    with pytest.raises(ValueError, match="emerg, alert, crit, err, warning, notice, info, debug"):
        parse_level(value)


def test_levels_table() -> None:
    assert LEVELS == {
        "emerg": 0,
        "alert": 1,
        "crit": 2,
        "err": 3,
        "warning": 4,
        "notice": 5,
        "info": 6,
        "debug": 7,
    }
    assert [LogRecord(n, 0, 0.0, "").level_name for n in range(8)] == list(LEVELS)


# -- /dev/kmsg records (what the module helper returns) -----------------------------------


def test_parse_kmsg_keeps_level_facility_time_and_sequence() -> None:
    record = kernel_log.parse_kmsg("6,302,2975304,-;Hello, world!")
    assert record == kernel_log.LogRecord(6, 0, 2.975304, "Hello, world!", sequence=302)
    user = kernel_log.parse_kmsg("12,7,1000000,c;user message")
    assert user is not None and (user.facility, user.level) == (1, 4)


def test_parse_kmsg_restores_escaped_bytes_and_replaces_what_is_not_utf8() -> None:
    record = kernel_log.parse_kmsg(r"6,1,1,-;a\x0ab \x5c Gr\xc3\xbc\xc3\x9fe \xff end")
    assert record is not None
    assert record.message == "a\nb \\ Grüße \ufffd end"


@pytest.mark.parametrize("line", ["", "no semicolon", "6,x,1,-;bad seq", "6,1;too few"])
def test_parse_kmsg_of_something_else_is_none(line: str) -> None:
    assert kernel_log.parse_kmsg(line) is None
