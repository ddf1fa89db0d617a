"""Becoming a member: privacy notice and consent, then a new membership or a linked one."""

from __future__ import annotations

from urllib.parse import urlencode

from bot import flow_events
from bot.flows import profile
from bot.handlers.context import EventContext
from bot.line_gateway import SendError
from crm_core import channels, membership
from crm_core.customers import MEMBER_NUMBER_LENGTH, digits_of, is_member_number
from crm_core.errors import AlreadyLinked, InvalidInput, LinkFailed, LinkLocked, NotFound

LINK_FLOW = "link"
DECLINED_FLOW = "declined"  # declined the notice; `notice_offered` once a later message got it again


def greet(ctx: EventContext, *, unblocked: bool) -> None:
    """After a follow: welcome back a member, otherwise the privacy notice or the membership choice."""
    customer = ctx.customer
    name = ctx.identity.display_name or (ctx.profile.display_name if ctx.profile else None) or ""
    if customer is not None:
        ctx.reply("welcome_back", name=customer.name)
    elif ctx.identity.consented_at is None:
        ctx.reply("welcome", name=name)
    else:
        ctx.reply("membership_choice")


def require_consent(ctx: EventContext) -> bool:
    """True when the user agreed; otherwise shows the privacy notice again."""
    if ctx.identity.consented_at is None:
        ctx.reply("privacy_notice")
        return False
    return True


def consent(ctx: EventContext, params: dict) -> None:
    """Agreed (maybe again): the consent date moves to now, and a name dropped on declining comes back."""
    channels.record_consent(uow=ctx.uow, identity=ctx.identity, notice_version=ctx.shop.notice_version)
    if (ctx.identity.conversation or {}).get("flow") == DECLINED_FLOW:
        ctx.set_conversation(None)
    if ctx.identity.display_name is None:
        profile = ctx.profile or ctx.gateway.get_profile(ctx.line_user_id)
        if profile is not None:
            channels.update_profile(identity=ctx.identity, display_name=profile.display_name, language=None)
    if ctx.customer is not None:
        already_member(ctx, agreed=True)
    else:
        ctx.reply("membership_choice")


def decline(ctx: EventContext, params: dict) -> None:
    """Declined the notice: the LINE name is dropped; an agreement given before stays (see the reply)."""
    if ctx.identity.consented_at is not None:
        ctx.reply("privacy_already_agreed")
        return
    channels.record_decline(uow=ctx.uow, identity=ctx.identity)
    ctx.set_conversation({"flow": DECLINED_FLOW})
    ctx.reply("privacy_declined")


def answer_after_decline(ctx: EventContext) -> None:
    """A message from someone who declined: the notice once more, after that a short pointer to it."""
    if (ctx.identity.conversation or {}).get("notice_offered"):
        ctx.reply("privacy_reminder")
        return
    ctx.set_conversation({"flow": DECLINED_FLOW, "notice_offered": True})
    ctx.reply("privacy_notice")


def show_privacy(ctx: EventContext, params: dict) -> None:
    ctx.reply("privacy_notice")


def already_member(ctx: EventContext, *, agreed: bool = False) -> None:
    """A member asked to become one: their member number and what to do next, not 'done'."""
    customer = ctx.customer
    ctx.reply("already_member", name=customer.name, member_number=customer.member_number, agreed=agreed)


def join(ctx: EventContext, params: dict | None = None) -> None:
    """'Become a member' from the menu or a keyword."""
    if not require_consent(ctx):
        return
    if ctx.customer is not None:
        already_member(ctx)
    else:
        ctx.reply("membership_choice")


def register_new(ctx: EventContext, params: dict) -> None:
    if not require_consent(ctx):
        return
    ctx.set_conversation(None)
    already = ctx.customer
    customer = membership.register_new_member(uow=ctx.uow, identity=ctx.identity)
    if already is not None:
        already_member(ctx)
    else:
        if ctx.services is not None:  # a welcome coupon, if a flow gives one, right after the registration
            flow_events.after_commit(ctx.services, ctx.uow, customer.id, triggers=flow_events.JOINING)
        profile_url = profile.profile_url(ctx, customer)  # the profile page, offered once with "Later"
        ctx.reply("registered", name=customer.name, member_number=customer.member_number, profile_url=profile_url)


def start_link(ctx: EventContext, params: dict) -> None:
    """Ask for the member number of an existing membership."""
    if not require_consent(ctx):
        return
    if ctx.customer is not None:
        already_member(ctx)
        return
    locked_until = membership.lock_remaining(uow=ctx.uow, identity=ctx.identity)
    if locked_until is not None:
        ctx.reply("link_locked", until=locked_until)
        return
    ctx.set_conversation({"flow": LINK_FLOW, "step": "number"})
    ctx.reply("link_ask_number")


def continue_link(ctx: EventContext, text: str) -> None:
    """A text typed while linking: first the member number, then the birth date or phone digits."""
    state = ctx.identity.conversation or {}
    if state.get("step") == "number":
        number = digits_of(text)
        if len(number) != MEMBER_NUMBER_LENGTH:
            ctx.reply("link_invalid_number")
            return
        if not is_member_number(number):
            ctx.reply("link_number_not_found")  # a typo the check digit caught; no try is counted
            return
        ctx.set_conversation({"flow": LINK_FLOW, "step": "proof", "member_number": number})
        ctx.reply("link_ask_proof")
        return
    try:
        customer = membership.link_existing_member(
            uow=ctx.uow, identity=ctx.identity, member_number=state.get("member_number", ""), proof=text
        )
    except InvalidInput:
        ctx.reply("link_ask_proof")
        return
    except LinkFailed as error:
        # the member number is kept: only the birth date or phone digits are asked again
        ctx.reply("link_failed", remaining=error.params["remaining"])
        return
    except LinkLocked as error:
        ctx.set_conversation(None)
        ctx.reply("link_locked", until=error.params["until"])
        return
    except AlreadyLinked:
        ctx.set_conversation(None)
        ctx.reply("already_linked")
        return
    ctx.set_conversation(None)
    ctx.reply("link_done", name=customer.name, member_number=customer.member_number)


def cancel(ctx: EventContext, params: dict) -> None:
    ctx.set_conversation(None)
    ctx.reply("link_cancelled")


def start_account_link(ctx: EventContext, params: dict) -> None:
    """LINE's account link: a link token, then the shop's login page, which hands LINE a nonce."""
    if not require_consent(ctx):
        return
    if ctx.customer is not None:
        already_member(ctx)
        return
    try:
        link_token = ctx.gateway.issue_link_token(ctx.line_user_id)
    except SendError:
        ctx.reply("account_link_failed")
        return
    query = urlencode({"linkToken": link_token, "lang": ctx.locale})
    ctx.reply("account_link", login_url=f"{ctx.settings.public_url}/account/link?{query}")


def finish_account_link(ctx: EventContext) -> None:
    """The accountLink event: LINE hands back the nonce our login page issued."""
    link = ctx.event.get("link") or {}
    if link.get("result") != "ok" or not link.get("nonce"):
        ctx.reply("account_link_failed")
        return
    try:
        customer = membership.complete_account_link(uow=ctx.uow, identity=ctx.identity, nonce=link["nonce"])
    except NotFound:
        ctx.reply("account_link_failed")
        return
    except AlreadyLinked:
        ctx.reply("already_linked")
        return
    ctx.reply("link_done", name=customer.name, member_number=customer.member_number)
