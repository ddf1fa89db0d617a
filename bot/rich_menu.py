"""The rich menu under the chat: six areas that send the same keywords a customer can type."""

from __future__ import annotations

from pathlib import Path

from bot.line_gateway import LineGateway

# 2500 x 843, labels in Japanese and English; drawn once with Pillow and Noto Sans CJK (neither is needed to run)
IMAGE = Path(__file__).parent / "static" / "richmenu.png"
WIDTH, HEIGHT = 2500, 843
NAME = "kizuna-main-v1"  # a new design gets a new name, so installing it replaces the old default
AREAS = ("ポイント", "クーポン", "予約", "履歴", "メニュー", "会員登録")  # left to right, top row first


def definition() -> dict:
    """LINE's rich menu object: a 3 x 2 grid of message actions."""
    column, row = WIDTH // 3, HEIGHT // 2
    areas = []
    for index, keyword in enumerate(AREAS):
        x, y = (index % 3) * column, (index // 3) * row
        width = WIDTH - x if index % 3 == 2 else column
        areas.append(
            {
                "bounds": {"x": x, "y": y, "width": width, "height": row},
                "action": {"type": "message", "label": keyword, "text": keyword},
            }
        )
    return {
        "size": {"width": WIDTH, "height": HEIGHT},
        "selected": True,
        "name": NAME,
        "chatBarText": "メニュー / Menu",
        "areas": areas,
    }


def install(gateway: LineGateway) -> str:
    """Create (once) and set the default rich menu for every friend; returns its id."""
    return gateway.install_rich_menu(definition=definition(), image=IMAGE.read_bytes())
