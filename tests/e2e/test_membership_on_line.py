"""A customer on LINE follows, agrees, and becomes a member (or links an existing membership)."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from crm_core import customers
from crm_core.models import ChannelIdentity, Customer, OutboxMessage
from tests.e2e.conftest import postback_data, texts


def _existing_member(uow_factory, **fields) -> Customer:
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="佐藤 健", **fields)
        uow.commit()
        return customer


def test_follow_greets_by_name_and_shows_the_privacy_notice(chat):
    hanako = chat("山田 花子")
    messages = hanako.follow()
    shown = texts(messages)
    assert "山田 花子" in shown
    assert "個人情報" in shown  # the notice, in Japanese
    assert "action=consent&v=2026-11" in postback_data(messages)


def test_english_profile_gets_english(chat):
    alex = chat("Alex", language="en")
    shown = texts(alex.follow())
    assert "Hello Alex" in shown and "personal information" in shown


def test_new_member_registration(chat, uow_factory):
    hanako = chat("山田 花子")
    hanako.follow()
    choice = hanako.tap("action=consent&v=2026-11")
    assert "action=register_new" in postback_data(choice)
    done = texts(hanako.tap("action=register_new"))
    with uow_factory() as uow:
        customer = customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id)
        assert customer.name == "山田 花子"
        assert customer.consented_at is not None
        assert customers.is_member_number(customer.member_number)
    assert customer.member_number in done
    # tapping the old button again creates nothing new
    again = texts(hanako.tap("action=register_new"))
    assert customer.member_number in again
    with uow_factory() as uow:
        assert len(uow.session.exec(select(Customer)).all()) == 1


def test_register_before_agreeing_shows_the_notice_again(chat, uow_factory):
    hanako = chat()
    hanako.follow()
    messages = hanako.tap("action=register_new")
    assert "action=consent&v=2026-11" in postback_data(messages)
    with uow_factory() as uow:
        assert uow.session.exec(select(Customer)).all() == []


def test_link_existing_member_by_birth_date(chat, uow_factory):
    member = _existing_member(uow_factory, birth_date=date(1985, 4, 12), phone="090-1234-5678")
    ken = chat("けん")
    ken.follow()
    ken.tap("action=consent&v=2026-11")
    assert "10" in texts(ken.tap("action=link_member"))
    assert "生年月日" in texts(ken.say(member.member_number))
    assert member.member_number in texts(ken.say("1985/04/12"))
    with uow_factory() as uow:
        linked = customers.get_by_line_user_id(uow=uow, line_user_id=ken.line_user_id)
        assert linked.id == member.id
        assert linked.consented_at is not None


def test_link_existing_member_by_phone_digits(chat, uow_factory):
    member = _existing_member(uow_factory, phone="090-1234-5678")
    ken = chat()
    ken.follow()
    ken.tap("action=consent&v=2026-11")
    ken.tap("action=link_member")
    ken.say(member.member_number)
    ken.say("５６７８")  # full-width digits typed on a Japanese keyboard
    with uow_factory() as uow:
        assert customers.get_by_line_user_id(uow=uow, line_user_id=ken.line_user_id).id == member.id


def test_mistyped_member_number_is_caught_without_counting_a_try(chat, uow_factory):
    member = _existing_member(uow_factory, phone="090-1234-5678")
    ken = chat()
    ken.follow()
    ken.tap("action=consent&v=2026-11")
    ken.tap("action=link_member")
    wrong = member.member_number[:-1] + str((int(member.member_number[-1]) + 1) % 10)
    answer = texts(ken.say(wrong))
    assert "会員番号が見つかりません" in answer
    assert "10桁です" not in answer  # the number had ten digits: the length is not what was wrong
    with uow_factory() as uow:
        identity = uow.session.exec(select(ChannelIdentity)).one()
        assert identity.link_failures == 0
    assert "生年月日" in texts(ken.say(member.member_number))  # still asking for the number


def test_mistyped_member_number_in_english(chat, uow_factory):
    member = _existing_member(uow_factory, phone="090-1234-5678")
    alex = chat("Alex", language="en")
    alex.follow()
    alex.tap("action=consent&v=2026-11")
    alex.tap("action=link_member")
    wrong = member.member_number[:-1] + str((int(member.member_number[-1]) + 1) % 10)
    assert "We could not find that member number" in texts(alex.say(wrong))


def test_a_number_that_is_not_ten_digits_is_told_its_length(chat):
    ken = chat()
    ken.follow()
    ken.tap("action=consent&v=2026-11")
    ken.tap("action=link_member")
    assert "10桁です" in texts(ken.say("12345"))


def test_a_wrong_birth_date_keeps_the_member_number(chat, uow_factory):
    member = _existing_member(uow_factory, birth_date=date(1985, 4, 12))
    ken = chat()
    ken.follow()
    ken.tap("action=consent&v=2026-11")
    ken.tap("action=link_member")
    ken.say(member.member_number)
    wrong = ken.say("19850413")
    answer = texts(wrong)
    assert "生年月日" in answer and "あと4回" in answer
    assert "会員番号から" not in answer
    assert "action=link_member" in postback_data(wrong)  # another number is one tap away
    assert member.member_number in texts(ken.say("19850412"))  # only the birth date, typed again
    with uow_factory() as uow:
        assert customers.get_by_line_user_id(uow=uow, line_user_id=ken.line_user_id).id == member.id


def test_five_wrong_tries_lock_linking_for_thirty_minutes(chat, uow_factory, clock):
    member = _existing_member(uow_factory, birth_date=date(1985, 4, 12))
    ken = chat()
    ken.follow()
    ken.tap("action=consent&v=2026-11")
    ken.tap("action=link_member")
    ken.say(member.member_number)
    for attempt in range(4):
        reply = texts(ken.say("19990101"))
        assert f"あと{4 - attempt}回" in reply
    locked = texts(ken.say("19990101"))
    assert "12:30" in locked  # locked until 30 minutes after 12:00 JST
    # even the right answer is refused while locked
    ken.tap("action=link_member")
    with uow_factory() as uow:
        assert customers.get_by_line_user_id(uow=uow, line_user_id=ken.line_user_id) is None
    clock.advance(minutes=31)
    ken.tap("action=link_member")
    ken.say(member.member_number)
    ken.say("19850412")
    with uow_factory() as uow:
        assert customers.get_by_line_user_id(uow=uow, line_user_id=ken.line_user_id).id == member.id


def test_joining_again_says_you_are_already_a_member(chat, uow_factory):
    hanako = chat()
    hanako.follow()
    hanako.tap("action=consent&v=2026-11")
    hanako.tap("action=register_new")
    with uow_factory() as uow:
        number = customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id).member_number
    for answer in (hanako.say("会員登録"), hanako.tap("action=join"), hanako.tap("action=link_member")):
        shown = texts(answer)
        assert "すでに会員です" in shown and number in shown
        assert "連携が完了" not in shown
        assert answer[-1]["quickReply"]["items"], "the answer offers a next step"
    alex = chat("Alex", language="en")
    alex.follow()
    alex.tap("action=consent&v=2026-11")
    alex.tap("action=register_new")
    assert "you are already a member" in texts(alex.say("join"))


def test_a_membership_links_to_one_line_account_only(chat, uow_factory):
    member = _existing_member(uow_factory, birth_date=date(1985, 4, 12))
    first, second = chat("one"), chat("two")
    for person in (first, second):
        person.follow()
        person.tap("action=consent&v=2026-11")
        person.tap("action=link_member")
        person.say(member.member_number)
    first.say("19850412")
    refused = texts(second.say("19850412"))
    assert "別のLINE" in refused
    with uow_factory() as uow:
        assert customers.get_by_line_user_id(uow=uow, line_user_id=second.line_user_id) is None


def test_keyword_leaves_the_linking_conversation(chat):
    ken = chat()
    ken.follow()
    ken.tap("action=consent&v=2026-11")
    ken.tap("action=link_member")
    menu = ken.say("メニュー")
    assert menu[0]["type"] == "flex"
    assert "わかりませんでした" in texts(ken.say("1985"))  # no longer inside the flow


def test_unfollow_marks_blocked_and_refollow_restores_without_duplicate(chat, uow_factory):
    hanako = chat()
    hanako.follow()
    hanako.tap("action=consent&v=2026-11")
    hanako.tap("action=register_new")
    assert hanako.unfollow() == []
    with uow_factory() as uow:
        view = customers.view(
            uow=uow, customer=customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id)
        )
        assert view.blocked
    back = texts(hanako.follow(unblocked=True))
    assert "おかえりなさい" in back
    with uow_factory() as uow:
        assert len(uow.session.exec(select(Customer)).all()) == 1
        assert len(uow.session.exec(select(ChannelIdentity)).all()) == 1
        customer = customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id)
        assert not customers.view(uow=uow, customer=customer).blocked


def test_keywords_answer_and_features_with_nothing_yet_say_so(chat):
    hanako = chat()
    hanako.follow()
    hanako.tap("action=consent&v=2026-11")
    hanako.tap("action=register_new")
    reply = hanako.say("予約")
    assert "まだ受け付けていません" in texts(reply)  # no store takes bookings yet
    assert reply[-1]["quickReply"]["items"], "every reply offers a next step"
    reply = hanako.say("クーポン")
    assert "クーポン" in texts(reply) and reply[-1]["quickReply"]["items"]
    assert "配信" in texts(hanako.say("配信停止"))
    assert "お届け" in texts(hanako.say("配信再開"))


def test_marketing_opt_out_is_recorded(chat, uow_factory):
    hanako = chat()
    hanako.follow()
    hanako.tap("action=consent&v=2026-11")
    hanako.tap("action=register_new")
    hanako.say("配信停止")
    with uow_factory() as uow:
        assert customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id).marketing_opt_out
    hanako.say("Resume offers")
    with uow_factory() as uow:
        assert not customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id).marketing_opt_out


def test_unknown_postback_gets_a_clear_answer(chat):
    hanako = chat()
    hanako.follow()
    reply = hanako.tap("action=launch_rockets")
    assert "このボタン" in texts(reply)


def test_expired_reply_token_falls_back_to_a_push_with_a_retry_key(chat, line, uow_factory):
    hanako = chat()
    hanako.follow()
    line.fail_next("/v2/bot/message/reply", 400, message="Invalid reply token")
    reply = hanako.say("メニュー")
    assert reply and reply[0]["type"] == "flex"
    pushes = [r for r in line.requests if r.path.endswith("/push")]
    assert len(pushes) == 1
    assert pushes[0].headers.get("x-line-retry-key")
    with uow_factory() as uow:
        sent = uow.session.exec(select(OutboxMessage).where(OutboxMessage.sent_via == "push")).one()
        assert sent.status == "sent"


def test_web_account_link_login_is_throttled(live_app, line, uow_factory):
    from crm_core.passwords import hash_password

    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="佐藤 健")
        customer.web_email = "ken@example.com"
        customer.web_password_hash = hash_password("correct-horse-1")
        uow.commit()
    client = live_app.test_client()
    page = client.get("/account/link?linkToken=abc&lang=en")
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "linkToken": "abc", "email": "ken@example.com"}
    for _ in range(3):
        wrong = client.post("/account/link", data={**form, "password": "wrong-password"})
        assert wrong.status_code == 401
    waiting = client.post("/account/link", data={**form, "password": "correct-horse-1"})
    assert waiting.status_code == 401 and "Try again in 2 seconds" in waiting.get_data(as_text=True)

    for number in range(20):  # one address trying many members' passwords
        sprayed = {**form, "email": f"member{number}@example.com", "password": "wrong-password"}
        assert (
            client.post("/account/link", data=sprayed, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 401
        )
    refused = client.post(
        "/account/link",
        data={**form, "email": "x@example.com", "password": "x"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert "from your network" in refused.get_data(as_text=True)
