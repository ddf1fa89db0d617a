"""The demo's simulator keeps its LINE users beside the database, so a restart can still drive its customers."""

from __future__ import annotations

import json

from bot.server import DEMO_LINE_USER, build_demo_app, simulator_users_file
from crm_core.config import Settings
from crm_core.demo import LINE_FRIENDS


def demo_app(database_url, users_file):
    settings = Settings.from_env({}, database_url=database_url).with_demo_defaults(port=8123)
    app = build_demo_app(settings, users_file=users_file)
    return app, app.extensions["line_emulator"]


def test_users_survive_a_restart_with_their_friendship(database_url, tmp_path):
    users_file = tmp_path / "kizuna.sqlite3.simulator-users.json"
    app, line = demo_app(database_url, users_file)
    taro = line.add_user("田中 太郎", "en")
    line.follow(taro)  # the event is not delivered here; only the simulator's own state matters
    app.extensions["kizuna"].engine.dispose()

    restarted, line_again = demo_app(database_url, users_file)
    restarted.extensions["kizuna"].engine.dispose()

    users = {user["line_user_id"]: user for user in line_again.users()}
    assert users[taro] == {
        "line_user_id": taro,
        "display_name": "田中 太郎",
        "language": "en",
        "following": True,
        "blocked": False,
    }
    assert [user["display_name"] for user in users.values()].count(DEMO_LINE_USER) == 1  # not added again
    assert json.loads(users_file.read_text(encoding="utf-8"))  # a readable file beside the database


def test_an_unreadable_file_starts_afresh_with_the_waiting_user(database_url, tmp_path):
    users_file = tmp_path / "users.json"
    users_file.write_text("{not json", encoding="utf-8")

    app, line = demo_app(database_url, users_file)
    app.extensions["kizuna"].engine.dispose()

    names = [user["display_name"] for user in line.users()]
    assert names == [DEMO_LINE_USER, *(friend.name for friend in LINE_FRIENDS)]  # + the automations' friends


def test_the_file_sits_beside_the_sqlite_database():
    assert str(simulator_users_file("sqlite:///data/kizuna.sqlite3")) == "data/kizuna.sqlite3.simulator-users.json"
    assert str(simulator_users_file("postgresql://db/kizuna")) == "kizuna-simulator-users.json"
