"""The rich menu: installed once as every friend's default; its areas send the keywords."""

from __future__ import annotations

from bot import rich_menu


def test_rich_menu_is_installed_once_and_its_areas_send_keywords(services, line):
    first = rich_menu.install(services.gateway)
    again = rich_menu.install(services.gateway)
    assert first == again
    menus = [r for r in line.requests if r.method == "POST" and r.path.endswith("/v2/bot/richmenu")]
    assert len(menus) == 1
    uploads = [r for r in line.requests if r.path.endswith("/content")]
    assert len(uploads) == 1 and uploads[0].headers["content-type"] == "image/png"
    definition = menus[0].json
    assert [area["action"]["text"] for area in definition["areas"]] == list(rich_menu.AREAS)
    assert sum(area["bounds"]["width"] for area in definition["areas"][:3]) == rich_menu.WIDTH


def test_every_area_keyword_gets_an_answer(chat):
    from bot.flows.menu import keyword_of

    assert all(keyword_of(keyword) for keyword in rich_menu.AREAS)
