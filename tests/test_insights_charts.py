"""Chart geometry: pure functions from numbers to coordinates."""
from __future__ import annotations

from app.insights import charts


def test_stacked_columns_add_up_and_sit_on_the_baseline():
    c = charts.stacked_bars(["a", "b", "c"], ["A", "B", "C"], [("sev1", "SEV-1", [1, 0, 2]),
                                                                ("sev2", "SEV-2", [3, 0, 1])])
    assert [col.total for col in c.columns] == [4, 0, 3]
    for col in c.columns:
        assert col.segments[0].y + col.segments[0].height == c.bottom  # the first segment starts at the baseline
        assert abs(sum(s.height for s in col.segments) - (c.bottom - col.segments[-1].y)) < 0.5
    tallest = c.columns[0]
    assert tallest.segments[-1].y >= c.top  # never above the plot
    assert [t.label for t in c.ticks] == ["0", "1", "2", "3", "4"]


def test_lines_break_where_there_is_no_value():
    c = charts.duration_line_chart(["w1", "w2", "w3", "w4"], [("median", "Median", [60.0, None, 120.0, 180.0])])
    [line] = c.lines
    assert len(line.paths) == 2 and len(line.points) == 3
    assert line.points[2].y < line.points[1].y < line.points[0].y  # longer is higher
    assert [t.label for t in c.ticks][:3] == ["0", "1m", "2m"]


def test_bars_scale_to_the_largest_or_to_a_given_top():
    c = charts.hbars([("a", 50, "50%"), ("b", 100, "100%")], top_value=100, keys=["response", "resolution"])
    assert c.bars[1].width == 2 * c.bars[0].width and c.bars[0].key == "response"
    assert charts.hbars([]).bars == []


def test_heat_shades_in_five_steps_with_the_count_in_each_cell():
    cells = [[0] * 24 for _ in range(7)]
    cells[0][9], cells[4][23] = 8, 1
    h = charts.heat(cells)
    monday, friday = h.rows[0][2], h.rows[4][2]
    assert (monday[9].shade, monday[9].value, friday[23].shade, monday[0].shade) == (5, 8, 1, 0)
    assert h.rows[6][0] == "Sun" and len(h.hours) == 8


def test_axis_durations_are_short():
    assert [charts.short_duration(v) for v in (45, 600, 4500, 93600)] == ["45s", "10m", "1h 15m", "1d 2h"]
    assert charts.nice_step(7) == 2 and charts.nice_step(7200, charts.DURATION_STEPS) == 1800
