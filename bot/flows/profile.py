"""The member's profile from LINE: the link to the profile page, offered after registering and on 会員情報."""

from __future__ import annotations

from bot import profile_links
from bot.handlers.context import EventContext
from crm_core import profiles
from crm_core.models import Customer


def profile_url(ctx: EventContext, customer: Customer) -> str:
    """A fresh signed link to the customer's profile page (24 hours), in their language."""
    profiles.mark_profile_asked(uow=ctx.uow, customer=customer)
    return profile_links.url(
        public_url=ctx.settings.public_url,
        secret=ctx.settings.secret_key,
        customer_id=customer.id,
        now=ctx.uow.now(),
        locale=ctx.locale,
    )


def offer(ctx: EventContext, params: dict | None = None) -> None:
    """会員情報 / profile: the link to the profile page, for members."""
    customer = ctx.customer
    if customer is None:
        ctx.reply("need_membership") if ctx.identity.consented_at else ctx.reply("privacy_notice")
        return
    ctx.reply("profile_link", profile_url=profile_url(ctx, customer))


def skip(ctx: EventContext, params: dict | None = None) -> None:
    """'Later' under the profile question: nothing more is asked; 会員情報 opens the page any time."""
    ctx.reply("profile_skipped")
