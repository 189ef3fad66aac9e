"""Interactions CSV: good rows indexed on the store, bad rows reported per line and skipped, never fatal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmrec_core.recs import InteractionsError, from_records, load_interactions, parse_time, write_interactions

IDS = ["a", "b", "c", "d"]


def test_bad_rows_are_reported_and_skipped(tmp_path):
    f = tmp_path / "inter.csv"
    f.write_text(
        "user_id,item_id,rating,timestamp\n"
        "u1,a,5,100\n"  # line 2
        "u1,zz,4,101\n"  # unknown item
        "u1,b,4,yesterday\n"  # unparsable time
        "u2,c,great,103\n"  # bad rating
        ",d,3,104\n"  # no user
        "u2,d,,2024-01-02T03:04:05Z\n"  # implicit, ISO time
        "u2,a,3,\n"  # empty time
    )
    report = load_interactions(f, IDS)
    assert [(b.line, b.reason.split(":")[0]) for b in report.bad_rows] == [
        (3, "unknown item"), (4, "unparsable time"), (5, "bad rating"), (6, "empty user_id"), (8, "unparsable time")]
    assert "'zz' is not in the store" in report.bad_rows[0].reason
    inter = report.interactions
    assert inter.user_ids == ("u1", "u2") and len(inter) == 2
    assert inter.user_rows(0).tolist() == [0] and inter.user_rows(1).tolist() == [3]
    assert math.isnan(inter.ratings[1]) and inter.times[1] == 1704164645.0
    assert report.summary()["bad_rows"] == 5 and report.summary()["reasons"]["unparsable time"] == 2


def test_sorted_by_time_duplicates_merged_min_rating_and_counts():
    records = [(2, "u", "c", 4.0, 30.0), (3, "u", "a", 5.0, 10.0), (4, "u", "b", 1.0, 20.0),
               (5, "u", "a", 4.0, 40.0), (6, "v", "a", math.nan, 5.0)]
    report = from_records(records, IDS, min_rating=2)
    inter = report.interactions
    assert report.duplicates == 1 and report.below_min_rating == 1
    assert inter.user_rows(0).tolist() == [2, 0]  # c at 30, then a at 40 (the later duplicate kept)
    assert inter.item_counts().tolist() == [2, 0, 1, 0]
    sub = inter.subset(inter.users == 1)
    assert sub.user_ids == inter.user_ids and sub.user_rows(0).size == 0 and sub.user_rows(1).tolist() == [0]


def test_without_timestamp_column_line_order_is_time(tmp_path):
    f = write_interactions(tmp_path / "i.csv", [])
    f.write_text("user_id,item_id\nu,c\nu,a\nu,b\n")
    inter = load_interactions(f, IDS).interactions
    assert inter.user_rows(0).tolist() == [2, 0, 1] and np.isnan(inter.ratings).all()


def test_unreadable_files_raise_a_clear_error(tmp_path):
    with pytest.raises(InteractionsError, match="cannot read interactions"):
        load_interactions(tmp_path / "none.csv", IDS)
    (tmp_path / "x.csv").write_text("user,item\nu,a\n")
    with pytest.raises(InteractionsError, match=r"lacks column\(s\) \['user_id', 'item_id'\]"):
        load_interactions(tmp_path / "x.csv", IDS)


@pytest.mark.parametrize("raw, expected", [("881250949", 881250949.0), ("1.5", 1.5), ("1970-01-01T00:01:00", 60.0),
                                           ("1970-01-01 00:00:10+00:00", 10.0)])
def test_parse_time(raw, expected):
    assert parse_time(raw) == expected


@pytest.mark.parametrize("raw", ["", "soon", "nan", "inf", "2024-13-45"])
def test_parse_time_reasons(raw):
    assert parse_time(raw).startswith("unparsable time")
