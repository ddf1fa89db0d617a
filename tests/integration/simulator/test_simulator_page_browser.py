# ruff: noqa: S105, S106  (fake LINE credentials)
"""Drive the simulator page in Debian's chromium: follow, read bubbles, tap a quick reply, type text."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, ReplyMessageRequest

from bot.simulator import EmulatorServer

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium"),
]

CARD = {
    "type": "flex",
    "altText": "ポイントカード",
    "contents": {
        "type": "bubble",
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {"type": "text", "text": "ポイントカード", "weight": "bold"},
                {"type": "text", "text": "1,234 pt", "size": "xl"},
                {
                    "type": "button",
                    "style": "primary",
                    "action": {"type": "postback", "label": "クーポン", "data": "coupons", "displayText": "クーポン"},
                },
            ],
        },
    },
    "quickReply": {
        "items": [
            {"type": "action", "action": {"type": "message", "label": "メニュー", "text": "メニュー"}},
        ]
    },
}


def reply_for(event: dict) -> list[dict]:
    if event["type"] == "follow":
        return [{"type": "text", "text": "友だち追加ありがとうございます"}, CARD]
    if event["type"] == "postback":
        return [{"type": "text", "text": f"postback:{event['postback']['data']}"}]
    return [{"type": "text", "text": f"echo:{event['message']['text']}"}]


@pytest.fixture
def bot_and_line():
    line = EmulatorServer(channel_secret="s", channel_access_token="t")
    client = ApiClient(Configuration(host=line.base_url, access_token="t"))
    api = MessagingApi(client)

    class Bot(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            for event in body["events"]:
                if "replyToken" in event:
                    request = ReplyMessageRequest.from_dict(
                        {"replyToken": event["replyToken"], "messages": reply_for(event)}
                    )
                    api.reply_message(request)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    bot = ThreadingHTTPServer(("127.0.0.1", 0), Bot)
    threading.Thread(target=bot.serve_forever, args=(0.05,), daemon=True).start()
    line.emulator.webhook_url = f"http://127.0.0.1:{bot.server_port}/callback"
    yield line
    bot.shutdown()
    bot.server_close()
    client.close()
    line.close()


def test_chat_in_the_simulator_page(bot_and_line, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    emulator = bot_and_line.emulator
    uid = emulator.add_user("山田 花子")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(bot_and_line.base_url + "/simulator/")
            page.locator(f"[data-testid=user-item][data-user-id={uid}]").click()
            page.get_by_test_id("follow-button").click()
            bot_messages = page.locator("[data-testid=bot-message]")
            expect(bot_messages).to_have_count(2)
            expect(bot_messages.nth(1)).to_contain_text("1,234 pt")
            page.get_by_test_id("quick-reply").filter(has_text="メニュー").click()
            expect(bot_messages.last).to_have_text("echo:メニュー")
            page.get_by_role("button", name="クーポン").click()
            expect(bot_messages.last).to_have_text("postback:coupons")
            page.get_by_test_id("text-input").fill("こんにちは")
            page.get_by_test_id("send-button").click()
            expect(bot_messages.last).to_have_text("echo:こんにちは")
            expect(page.get_by_test_id("invalid-banner")).to_be_hidden()
            page.screenshot(path=os.environ.get("SIMULATOR_SCREENSHOT", str(tmp_path / "simulator.png")))
        finally:
            browser.close()
    assert [m["from"] for m in emulator.transcript(uid)][-2:] == ["user", "bot"]
    assert emulator.invalid_requests == []
