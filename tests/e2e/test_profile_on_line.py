"""A new member fills in their profile on the page LINE opens (a signed link, no login), or skips it and
opens it later from the menu with 会員情報; saving confirms on the page and in the LINE chat."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from crm_core import customers
from crm_core.models import Store, TimelineEntry
from tests.e2e.conftest import postback_data, texts

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def uris(messages: list[dict]) -> list[str]:
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "uri":
                found.append(node["uri"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(messages)
    return found


def profile_link(messages: list[dict]) -> str:
    (link,) = [uri for uri in uris(messages) if "/profile?" in uri]
    return link


def page_path(link: str) -> str:
    """The link LINE shows (on KIZUNA_PUBLIC_URL), as a path for the test client."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def member(chat, name: str = "山田 花子", language: str = "ja"):
    person = chat(name, language=language)
    person.follow()
    person.tap("action=consent&v=2026-11")
    return person, person.tap("action=register_new")


def save(client, path: str, **fields):
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    form = {"csrf_token": TOKEN.search(page.get_data(as_text=True)).group(1)}
    form |= {"name": "山田 花子", "name_kana": "", "birth_month": "", "birth_day": "", "birth_year": "", "phone": ""}
    return client.post(path, data=form | fields)


def stored(uow_factory, line_user_id: str):
    with uow_factory() as uow:
        return customers.get_by_line_user_id(uow=uow, line_user_id=line_user_id)


@pytest.fixture
def web(live_app):
    return live_app.test_client()


def test_registering_offers_the_profile_page_and_saving_it_confirms_on_line(chat, web, uow_factory, clock, settle):
    hanako, registered = member(chat)
    assert "会員番号" in texts(registered) and "会員情報を入力" in texts(registered)
    assert "action=skip_profile" in postback_data(registered)
    link = profile_link(registered)
    assert link.startswith("https://kizuna.test/profile?") and parse_qs(urlsplit(link).query)["lang"] == ["ja"]
    assert stored(uow_factory, hanako.line_user_id).profile_asked_at == clock.now()

    page = web.get(page_path(link)).get_data(as_text=True)
    assert 'value="山田 花子"' in page and "フリガナ" in page and "誕生日" in page

    response = save(
        web, page_path(link), name_kana="やまだ はなこ", birth_month="4", birth_day="12", phone="090-1234-5678"
    )

    assert response.status_code == 302
    confirmation = web.get(response.headers["Location"]).get_data(as_text=True)
    assert "会員情報を保存しました" in confirmation and 'value="ヤマダ ハナコ"' in confirmation
    settle()
    assert "会員情報を保存しました" in texts(hanako.new_messages())
    customer = stored(uow_factory, hanako.line_user_id)
    assert (customer.name_kana, customer.birth_month, customer.birth_day) == ("ヤマダ ハナコ", 4, 12)
    assert customer.birth_date is None and customer.phone == "09012345678"
    with uow_factory() as uow:
        assert [c.id for c in customers.search(uow=uow, text="やまだはなこ")] == [customer.id]
        assert [c.id for c in customers.search(uow=uow, text="090-1234-5678")] == [customer.id]
        entry = uow.session.exec(select(TimelineEntry).where(TimelineEntry.kind == "profile_changed")).one()
    assert entry.data == {"fields": ["name_kana", "birthday", "phone"], "via": "line"}  # which, never the values


def test_a_full_birth_date_and_the_home_store(chat, web, uow_factory):
    with uow_factory() as uow:
        for code, name, active in (("SHIBUYA", "渋谷店", True), ("GINZA", "銀座店", False)):
            uow.session.add(Store(code=code, name=name, active=active, created_at=uow.now()))
        uow.commit()
        shibuya, ginza = (uow.session.exec(select(Store).where(Store.code == c)).one().id for c in ("SHIBUYA", "GINZA"))
    hanako, registered = member(chat)
    path = page_path(profile_link(registered))
    page = web.get(path).get_data(as_text=True)
    assert "渋谷店" in page and "銀座店" not in page  # a closed store is not offered

    refused = save(web, path, name_kana="ヤマダ ハナコ", home_store=str(ginza))
    assert refused.status_code == 400 and "一覧から店舗を選んでください" in refused.get_data(as_text=True)

    saved = save(
        web,
        path,
        name_kana="ヤマダ ハナコ",
        birth_month="2",
        birth_day="29",
        birth_year="1996",
        home_store=str(shibuya),
    )
    assert saved.status_code == 302
    customer = stored(uow_factory, hanako.line_user_id)
    assert (customer.birth_date.isoformat(), customer.home_store_id) == ("1996-02-29", shibuya)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name_kana": ""}, "name_kana", "フリガナを入力してください"),
        ({"name_kana": "山田"}, "name_kana", "フリガナはカナで入力してください"),
        ({"name": " "}, "name", "名前"),
        ({"birth_month": "4"}, "birthday", "月と日の両方"),
        ({"birth_month": "2", "birth_day": "30"}, "birthday", "存在しません"),
        ({"birth_month": "2", "birth_day": "29", "birth_year": "1995"}, "birthday", "存在しません"),
        ({"birth_month": "4", "birth_day": "12", "birth_year": "2999"}, "birthday", "1900年から今年"),
        ({"phone": "090-1234"}, "phone", "電話番号は10〜15桁"),
    ],
)
def test_errors_show_next_to_the_field_and_change_nothing(chat, web, uow_factory, settle, fields, field, message):
    hanako, registered = member(chat)
    path = page_path(profile_link(registered))
    response = save(web, path, **({"name_kana": "ヤマダ ハナコ"} | fields))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    shown = re.search(rf'data-error="{field}">([^<]*)<', page)
    assert shown and message in shown.group(1), page
    customer = stored(uow_factory, hanako.line_user_id)
    assert (customer.name, customer.name_kana, customer.birth_month, customer.phone) == ("山田 花子", None, None, None)
    settle()
    assert hanako.new_messages() == []


def test_an_expired_or_changed_link_says_to_ask_again_from_the_menu(chat, web, uow_factory, clock):
    hanako, registered = member(chat)
    path = page_path(profile_link(registered))
    token = parse_qs(urlsplit(path).query)["t"][0]
    changed = path.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    for bad in (changed, "/profile?lang=ja", "/profile?t=abc&lang=ja"):
        response = web.get(bad)
        assert response.status_code == 403 and "「会員情報」と送って" in response.get_data(as_text=True)
    clock.advance(hours=23)
    page = web.get(path)
    assert page.status_code == 200
    form_token = TOKEN.search(page.get_data(as_text=True)).group(1)
    clock.advance(hours=2)
    expired = web.get(path)
    assert expired.status_code == 403 and "有効期限" in expired.get_data(as_text=True)
    assert web.post(path, data={"csrf_token": form_token, "name": "別人", "name_kana": "ベツジン"}).status_code == 403
    assert stored(uow_factory, hanako.line_user_id).name == "山田 花子"


def test_skip_then_open_it_later_from_the_menu(chat, web, uow_factory):
    hanako, _ = member(chat)
    assert "いつでも" in texts(hanako.tap("action=skip_profile"))
    for keyword in ("会員情報", "プロフィール", "Profile"):
        reply = hanako.say(keyword)
        assert web.get(page_path(profile_link(reply))).status_code == 200
        assert reply[-1]["quickReply"]["items"], "every reply offers a next step"
    assert "ポイント" in texts(hanako.say("ポイント"))  # registration through the chat alone keeps working


def test_in_english_when_the_link_says_so(chat, web):
    alex, registered = member(chat, "Alex", language="en")
    assert "Fill in profile" in texts(registered)
    link = profile_link(registered)
    assert parse_qs(urlsplit(link).query)["lang"] == ["en"]
    page = web.get(page_path(link)).get_data(as_text=True)
    assert "Furigana" in page and "Birthday" in page
    response = save(web, page_path(link), name="Alex", name_kana="アレックス")
    assert "Your profile was saved" in web.get(response.headers["Location"]).get_data(as_text=True)


def test_a_visitor_who_is_not_a_member_is_offered_membership(chat):
    visitor = chat()
    visitor.follow()
    assert "個人情報" in texts(visitor.say("会員情報"))
    visitor.tap("action=consent&v=2026-11")
    assert "action=register_new" in postback_data(visitor.say("会員情報"))
