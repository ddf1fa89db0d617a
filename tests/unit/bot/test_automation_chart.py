"""The hold-out chart's geometry and the readable form of a Flex message in the preview."""

from __future__ import annotations

from bot.console import automation_charts
from bot.console.automations import readable
from crm_core.automations.statistics import Interval


def _chart(messaged, held_out, difference):
    return automation_charts.chart(
        messaged=messaged, held_out=held_out, difference=difference, show=str, show_difference=str
    )


def test_bars_are_scaled_to_the_larger_group():
    chart = _chart(0.6, 0.15, None)
    assert chart.bars[0].width == automation_charts.PLOT
    assert chart.bars[1].width == automation_charts.PLOT / 4
    assert chart.difference is None


def test_an_interval_straddling_zero_is_drawn_across_the_zero_line():
    chart = _chart(0.3, 0.25, Interval(0.05, -0.1, 0.2))
    marks = chart.difference
    assert marks.low < marks.zero < marks.estimate < marks.high
    assert marks.zero == automation_charts.LABEL_WIDTH + automation_charts.PLOT / 2
    assert marks.direction == "unclear"
    assert marks.low >= automation_charts.LABEL_WIDTH and marks.high <= automation_charts.WIDTH


def test_an_interval_above_zero_stays_right_of_the_zero_line():
    marks = _chart(0.6, 0.1, Interval(0.5, 0.26, 0.7)).difference
    assert marks.zero < marks.low < marks.estimate < marks.high
    assert marks.direction == "up"


def test_nothing_at_all_draws_empty_bars():
    chart = _chart(0, 0, Interval(0, 0, 0))
    assert [bar.width for bar in chart.bars] == [0, 0]
    assert chart.difference.low == chart.difference.zero == chart.difference.high


def test_a_flex_bubble_reads_as_its_texts_and_buttons_in_order():
    message = {
        "type": "flex",
        "altText": "Recommended for you",
        "contents": {
            "type": "bubble",
            "header": {
                "type": "box",
                "layout": "vertical",
                "contents": [{"type": "text", "text": "Hi Hana", "weight": "bold"}],
            },
            "body": {
                "type": "box",
                "layout": "vertical",
                "contents": [
                    {"type": "text", "text": "Ethiopia beans"},
                    {
                        "type": "text",
                        "contents": [
                            {"type": "span", "text": "because you bought "},
                            {"type": "span", "text": "a dripper"},
                        ],
                    },
                ],
            },
            "footer": {
                "type": "box",
                "layout": "vertical",
                "contents": [
                    {"type": "button", "action": {"type": "uri", "label": "Shop", "uri": "https://example.jp"}}
                ],
            },
        },
    }
    shown = readable([message, {"type": "text", "text": "See you soon"}])
    assert shown[0]["alt"] == "Recommended for you"
    assert [(line["kind"], line["text"]) for line in shown[0]["lines"]] == [
        ("heading", "Hi Hana"),
        ("text", "Ethiopia beans"),
        ("text", "because you bought a dripper"),
        ("button", "Shop"),
    ]
    assert shown[1] == {"alt": None, "lines": [{"text": "See you soon", "kind": "text"}]}
