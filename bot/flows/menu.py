"""The main menu and typed keywords."""

from __future__ import annotations

import unicodedata

from bot.flows import coupons, point_card, profile, registration, reservations
from bot.handlers.context import EventContext
from crm_core import timeline

# 配信停止 promises that reservation reminders still arrive (they are transactional).
RESERVATIONS_ENABLED = True

# Keywords in both languages (compared after NFKC and lower-casing) -> what they open.
KEYWORDS = {
    "メニュー": "menu",
    "menu": "menu",
    "ポイント": "points",
    "ポイントカード": "points",
    "points": "points",
    "point card": "points",
    "クーポン": "coupons",
    "coupons": "coupons",
    "coupon": "coupons",
    "予約": "reservations",
    "reservations": "reservations",
    "reservation": "reservations",
    "履歴": "history",
    "購入履歴": "history",
    "history": "history",
    "配信停止": "opt_out",
    "stop offers": "opt_out",
    "stop": "opt_out",
    "配信再開": "opt_in",
    "resume offers": "opt_in",
    "resume": "opt_in",
    "会員登録": "join",
    "join": "join",
    "register": "join",
    "会員情報": "profile",
    "プロフィール": "profile",
    "profile": "profile",
}


def keyword_of(text: str) -> str | None:
    return KEYWORDS.get(unicodedata.normalize("NFKC", text).strip().lower())


def show_menu(ctx: EventContext, params: dict | None = None) -> None:
    customer = ctx.customer
    ctx.reply(
        "menu",
        is_member=customer is not None,
        name=customer.name if customer else "",
        marketing_opt_out=bool(customer and customer.marketing_opt_out),
    )


def set_offers(stop: bool):
    """配信停止 / 配信再開: marketing messages stop or resume; receipts (and reminders) still arrive."""

    def step(ctx: EventContext, params: dict | None = None) -> None:
        customer = ctx.customer
        if customer is None:
            ctx.reply("need_membership") if ctx.identity.consented_at else ctx.reply("privacy_notice")
            return
        if customer.marketing_opt_out != stop:
            customer.marketing_opt_out = stop
            customer.updated_at = ctx.uow.now()
            timeline.record(uow=ctx.uow, kind="opted_out" if stop else "opted_in", customer_id=customer.id)
        if stop:
            ctx.reply("opt_out_done", reservations_enabled=RESERVATIONS_ENABLED)
        else:
            ctx.reply("opt_in_done")

    return step


ACTIONS = {
    "menu": show_menu,
    "points": point_card.show_card,
    "coupons": coupons.show_coupons,
    "history": point_card.show_history,
    "opt_out": set_offers(stop=True),
    "opt_in": set_offers(stop=False),
    "join": registration.join,
    "profile": profile.offer,
    "skip_profile": profile.skip,
    **coupons.ACTIONS,
    **reservations.ACTIONS,
}
