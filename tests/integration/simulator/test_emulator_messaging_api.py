# ruff: noqa: S105, S106  (fake LINE credentials)
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask
from linebot.v3 import WebhookParser
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
)

from bot.simulator import LineEmulator, create_line_api_blueprint, create_simulator_blueprint


def text(value: str) -> TextMessage:
    return TextMessage(text=value)


def push_raw(to: str, *messages: dict) -> PushMessageRequest:
    return PushMessageRequest.from_dict({"to": to, "messages": list(messages)})


def test_reply_token_works_once(messaging_api, emulator, friend):
    token = emulator.text(friend, "ポイント")["replyToken"]
    response = messaging_api.reply_message(ReplyMessageRequest(reply_token=token, messages=[text("1,234 pt")]))
    assert len(response.sent_messages) == 1
    with pytest.raises(ApiException) as refused:
        messaging_api.reply_message(ReplyMessageRequest(reply_token=token, messages=[text("again")]))
    assert refused.value.status == 400
    assert json.loads(refused.value.body) == {"message": "Invalid reply token"}
    assert emulator.messages_to(friend) == [{"type": "text", "text": "1,234 pt"}]
    assert [r["reason"] for r in emulator.invalid_requests] == ["Invalid reply token"]


def test_reply_token_expires_after_a_minute(messaging_api, emulator, friend, clock):
    token = emulator.text(friend, "hi")["replyToken"]
    clock.advance(61)
    with pytest.raises(ApiException) as refused:
        messaging_api.reply_message(ReplyMessageRequest(reply_token=token, messages=[text("late")]))
    assert refused.value.status == 400
    assert emulator.messages_to(friend) == []


def test_unknown_reply_token_is_refused(messaging_api):
    with pytest.raises(ApiException) as refused:
        messaging_api.reply_message(ReplyMessageRequest(reply_token="made-up", messages=[text("x")]))
    assert refused.value.status == 400


def test_push_answers_sent_messages_and_a_request_id(messaging_api, emulator, friend):
    response = messaging_api.push_message_with_http_info(PushMessageRequest(to=friend, messages=[text("a")]))
    assert response.status_code == 200
    assert response.data.sent_messages[0].id and response.data.sent_messages[0].quote_token
    assert response.headers["x-line-request-id"]
    assert emulator.messages_to(friend) == [{"type": "text", "text": "a"}]


def test_retry_key_must_be_a_uuid(messaging_api, friend):
    with pytest.raises(ApiException) as refused:
        messaging_api.push_message(PushMessageRequest(to=friend, messages=[text("a")]), x_line_retry_key="abc")
    assert refused.value.status == 400


def test_repeated_retry_key_answers_409_and_does_not_deliver_again(messaging_api, emulator, friend):
    key = str(uuid.uuid4())
    first = messaging_api.push_message_with_http_info(
        PushMessageRequest(to=friend, messages=[text("クーポン")]), x_line_retry_key=key
    )
    with pytest.raises(ApiException) as conflict:
        messaging_api.push_message(PushMessageRequest(to=friend, messages=[text("クーポン")]), x_line_retry_key=key)
    assert conflict.value.status == 409
    body = json.loads(conflict.value.body)
    assert body["message"] == "The retry key is already accepted"
    assert body["sentMessages"][0]["id"] == first.data.sent_messages[0].id
    assert conflict.value.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert emulator.messages_to(friend) == [{"type": "text", "text": "クーポン"}]
    assert emulator.invalid_requests == []


def test_reply_refuses_a_retry_key(line_server, emulator, friend):
    token = emulator.text(friend, "hi")["replyToken"]
    config = Configuration(host=line_server.base_url, access_token=emulator.channel_access_token)
    retry_key = str(uuid.uuid4())
    with (
        ApiClient(config, header_name="X-Line-Retry-Key", header_value=retry_key) as client,
        pytest.raises(ApiException) as refused,
    ):
        MessagingApi(client).reply_message(ReplyMessageRequest(reply_token=token, messages=[text("x")]))
    assert refused.value.status == 400


def test_push_to_an_unknown_user_is_refused(messaging_api):
    with pytest.raises(ApiException) as refused:
        messaging_api.push_message(PushMessageRequest(to="U" + "f" * 32, messages=[text("a")]))
    assert refused.value.status == 400


def test_invalid_body_answers_400_with_details_and_is_recorded(messaging_api, emulator, friend):
    flex = {
        "type": "flex",
        "altText": "card",
        "contents": {
            "type": "bubble",
            "body": {
                "type": "box",
                "layout": "vertical",
                "contents": [{"type": "button", "action": {"type": "uri", "label": "Web"}}],
            },
        },
    }
    with pytest.raises(ApiException) as refused:
        messaging_api.push_message(push_raw(friend, flex))
    assert refused.value.status == 400
    assert json.loads(refused.value.body) == {
        "message": "The request body has 1 error(s)",
        "details": [
            {"message": "'uri' is a required property", "property": "messages[0].contents.body.contents[0].action"}
        ],
    }
    assert len(emulator.invalid_requests) == 1
    assert emulator.messages_to(friend) == []


def test_http_image_url_is_refused(messaging_api, emulator, friend):
    image = {
        "type": "image",
        "originalContentUrl": "http://shop.example/a.jpg",
        "previewImageUrl": "https://shop.example/a.jpg",
    }
    with pytest.raises(ApiException) as refused:
        messaging_api.push_message(push_raw(friend, image))
    assert refused.value.status == 400
    assert "messages[0].originalContentUrl" in refused.value.body
    image["originalContentUrl"] = "https://shop.example/a.jpg"
    messaging_api.push_message(push_raw(friend, image))
    assert emulator.messages_to(friend) == [image]


def test_injected_429_reaches_the_client(messaging_api, emulator, friend):
    emulator.fail_next("/message/push", 429)
    with pytest.raises(ApiException) as limited:
        messaging_api.push_message(PushMessageRequest(to=friend, messages=[text("a")]))
    assert limited.value.status == 429
    assert "rate limit" in json.loads(limited.value.body)["message"]
    messaging_api.push_message(PushMessageRequest(to=friend, messages=[text("a")]))
    assert emulator.invalid_requests == []


def test_wrong_access_token_answers_401(line_server, friend):
    with (
        ApiClient(Configuration(host=line_server.base_url, access_token="wrong")) as client,
        pytest.raises(ApiException) as denied,
    ):
        MessagingApi(client).get_profile(friend)
    assert denied.value.status == 401


def test_profile_of_a_friend_and_404_otherwise(messaging_api, emulator, friend):
    profile = messaging_api.get_profile(friend)
    assert (profile.display_name, profile.language, profile.user_id) == ("山田 花子", "ja", friend)
    stranger = emulator.add_user("Nobody", "en")
    for line_user_id in (stranger, "U" + "0" * 32):
        with pytest.raises(ApiException) as missing:
            messaging_api.get_profile(line_user_id)
        assert missing.value.status == 404
        assert json.loads(missing.value.body) == {"message": "Not found"}


def test_push_to_a_user_who_blocked_is_not_delivered(messaging_api, emulator, friend):
    emulator.unfollow(friend)
    messaging_api.push_message(PushMessageRequest(to=friend, messages=[text("sale")]))
    assert emulator.messages_to(friend) == []
    assert emulator.dropped_messages[0]["to"] == friend


def test_link_token_and_bot_info(messaging_api, emulator, friend):
    link_token = messaging_api.issue_link_token(friend).link_token
    assert link_token
    assert messaging_api.get_bot_info().user_id == emulator.bot_user_id


def test_sdk_with_a_path_prefix_reaches_the_demo_mount(emulator, friend):
    app = Flask("prefix-test")
    app.register_blueprint(create_line_api_blueprint(emulator), url_prefix="/simulator/line")
    app.register_blueprint(create_simulator_blueprint(emulator), url_prefix="/simulator")
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/simulator/line"
        with ApiClient(Configuration(host=base, access_token=emulator.channel_access_token)) as client:
            MessagingApi(client).push_message(PushMessageRequest(to=friend, messages=[text("demo")]))
    finally:
        server.shutdown()
        server.server_close()
    assert emulator.requests[-1].path == "/v2/bot/message/push"
    assert emulator.messages_to(friend) == [{"type": "text", "text": "demo"}]


class _Webhook:
    """A tiny webhook receiver that records signed bodies and answers 200."""

    def __init__(self, secret: str) -> None:
        received = self.received = []
        parser = WebhookParser(secret)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
                received.append(parser.parse(body, self.headers["X-Line-Signature"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/callback"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_deliver_and_redeliver_over_http(clock):
    emulator = LineEmulator(channel_secret="s3cret", channel_access_token="t", now=clock)
    webhook = _Webhook("s3cret")
    emulator.webhook_url = webhook.url
    try:
        uid = emulator.add_user("花子")
        event = emulator.follow(uid)
        assert emulator.deliver([event]) == 200
        assert emulator.deliver([event], redelivery=True) == 200
    finally:
        webhook.close()
    first, second = webhook.received
    assert first[0].webhook_event_id == second[0].webhook_event_id
    assert (first[0].delivery_context.is_redelivery, second[0].delivery_context.is_redelivery) == (False, True)
    assert [d["status"] for d in emulator.webhook_deliveries] == [200, 200]


def test_account_link_dialog_delivers_the_event(clock):
    emulator = LineEmulator(channel_secret="s3cret", channel_access_token="t", now=clock)
    webhook = _Webhook("s3cret")
    emulator.webhook_url = webhook.url
    try:
        uid = emulator.add_user("花子")
        emulator.follow(uid)
        link = emulator.handle(
            "POST", f"/v2/bot/user/{uid}/linkToken", headers={"Authorization": "Bearer t"}, body=None
        ).body["linkToken"]
        assert emulator.complete_account_link(link, "nonce-1") == (uid, 200)
        assert emulator.complete_account_link(link, "nonce-2") == (uid, 200)
    finally:
        webhook.close()
    results = [batch[0].link.result for batch in webhook.received]
    assert results == ["ok", "failed"]
    assert webhook.received[0][0].reply_token and webhook.received[1][0].reply_token is None


def test_simulator_page_and_api(line_server, emulator, friend, messaging_api):
    client = line_server.app.test_client()
    page = client.get("/simulator/")
    assert page.status_code == 200 and b'data-testid="chat"' in page.data
    with client.get("/simulator/static/simulator.js") as script:
        assert script.status_code == 200
    created = client.post("/simulator/api/users", json={"display_name": "Taro", "language": "en"})
    assert created.status_code == 201 and created.json["following"] is False
    messaging_api.push_message(PushMessageRequest(to=friend, messages=[text("hello")]))
    items = client.get(f"/simulator/api/users/{friend}/messages?after=0").json["items"]
    assert [(i["from"], i["message"].get("text")) for i in items][-1] == ("bot", "hello")
    later = client.get(f"/simulator/api/users/{friend}/messages?after={items[-1]['id']}").json
    assert later["items"] == [] and later["invalid_count"] == 0
    # no webhook_url configured: the page is told the delivery failed
    assert client.post(f"/simulator/api/users/{friend}/text", json={"text": "hi"}).status_code == 502
