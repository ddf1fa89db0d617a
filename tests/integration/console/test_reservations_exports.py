"""Exports of a store's bookings (admins): the CSV a spreadsheet opens, and the iCalendar feed a calendar app
subscribes to with the signed URL from the setup page."""

from __future__ import annotations

import csv
import io
import re

from tests.integration.console.conftest import csrf_token
from tests.integration.console.test_reservations_board import book, jst

EXPORT = "/console/reservations/SALON/bookings.csv"
SETUP = "/console/reservations/SALON/setup"


def feed_path(client) -> str:
    page = client.get(SETUP).get_data(as_text=True)
    url = re.search(r'value="(https://kizuna\.test[^"]+)" data-field="feed_url"', page).group(1)
    return url.removeprefix("https://kizuna.test").replace("&amp;", "&")


def test_the_csv_has_a_bom_and_one_row_a_booking_of_the_range_in_the_stores_time(as_role, salon, uow_factory):
    first = book(uow_factory, salon, "hanako", "cut", jst(23, 11))
    second = book(uow_factory, salon, "jiro", "consult", jst(30, 18, 30))
    taro = book(uow_factory, salon, "taro", "cut", jst(25, 10))  # cancelled below: listed with its status
    outside = book(uow_factory, salon, "hanako", "cut", jst(22, 15))
    client = as_role("admin")
    client.post(
        f"/console/reservations/bookings/{taro}/cancel",
        data={"csrf_token": csrf_token(client, "/console/reservations")},
    )

    response = client.get(f"{EXPORT}?from=2026-11-23&to=2026-11-30")

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == [
        "id", "store", "menu", "resource", "customer_name", "member_number", "starts_at", "ends_at", "status", "price",
        "source",
    ]  # fmt: skip
    assert [row[0] for row in rows[1:]] == [str(first), str(taro), str(second)]
    assert str(outside) not in [row[0] for row in rows[1:]]
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id[str(first)][1:4] == ["SALON", "カット", "あおい"] and by_id[str(first)][4] == "山田 花子"
    assert by_id[str(first)][6:] == ["2026-11-23 11:00", "2026-11-23 12:00", "booked", "5500", "line"]
    assert by_id[str(second)][6:8] == ["2026-11-30 18:30", "2026-11-30 19:00"]
    assert by_id[str(taro)][8] == "cancelled"
    assert by_id[str(first)][5]  # the member number


def test_a_bad_range_is_shown_next_to_its_field(as_role, salon):
    client = as_role("admin")
    backwards = client.get(f"{EXPORT}?from=2026-11-30&to=2026-11-01")
    assert backwards.status_code == 400
    assert 'data-error="export.to">The last day is before the first.' in backwards.get_data(as_text=True)
    garbage = client.get(f"{EXPORT}?from=yesterday&to=2026-11-01")
    assert 'data-error="export.from">Enter a date like 2026-11-30.' in garbage.get_data(as_text=True)


def test_the_calendar_feed_answers_a_calendar_app_with_the_token_and_nothing_without(app, as_role, salon, uow_factory):
    booking_id = book(uow_factory, salon, "hanako", "cut", jst(23, 11))
    path = feed_path(as_role("admin"))
    stranger = app.test_client()  # a calendar app: no console session

    response = stranger.get(path)

    assert response.status_code == 200 and response.mimetype == "text/calendar"
    body = response.get_data(as_text=True)
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert f"UID:booking-{booking_id}@kizuna.test\r\n" in body
    assert "DTSTART:20261123T020000Z\r\nDTEND:20261123T030000Z\r\n" in body
    assert "SUMMARY:山田 花子 · カット\r\n" in body
    assert "0312345678" not in body and "DESCRIPTION" not in body  # no more personal data than needed
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))

    token = path.split("token=")[1]
    assert stranger.get(path.replace(token, token[:-2] + "xx")).status_code == 404
    assert stranger.get(path.split("?")[0]).status_code == 404
    assert stranger.get(path.replace("/SALON/", "/OTHER/")).status_code == 404


def test_a_new_feed_address_ends_the_old_one(app, as_role, salon):
    admin = as_role("admin")
    old = feed_path(admin)
    response = admin.post("/console/reservations/SALON/setup/feed", data={"csrf_token": csrf_token(admin, SETUP)})
    assert response.status_code == 302
    new = feed_path(admin)
    calendar = app.test_client()
    assert new != old
    assert calendar.get(old).status_code == 404
    assert calendar.get(new).status_code == 200
    assert admin.post("/console/reservations/SALON/setup/feed").status_code == 400  # no CSRF token: nothing
    assert calendar.get(new).status_code == 200


def test_a_token_signed_with_another_secret_key_is_refused(app, as_role, salon):
    from itsdangerous import URLSafeSerializer

    from bot.console.reservations.exports import FEED_SALT

    forged = URLSafeSerializer("another-secret-key", salt=FEED_SALT).dumps({"store": salon["store_id"], "v": 1})
    assert app.test_client().get(f"/console/reservations/SALON/calendar.ics?token={forged}").status_code == 404


def test_long_names_are_folded_at_75_octets():
    from bot.console.reservations.exports import _fold

    line = "SUMMARY:" + "山" * 40
    folded = _fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line
