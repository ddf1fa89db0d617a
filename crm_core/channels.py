"""Channel identities: a LINE user id beside the customer, with follow, block and consent state."""

from __future__ import annotations

from sqlmodel import select

from crm_core import events, timeline
from crm_core.customers import LINE
from crm_core.models import ChannelIdentity, Customer
from crm_core.uow import UnitOfWork


def get_identity(*, uow: UnitOfWork, address: str, channel: str = LINE) -> ChannelIdentity | None:
    query = select(ChannelIdentity).where(ChannelIdentity.channel == channel, ChannelIdentity.address == address)
    return uow.session.exec(query).first()


def ensure_identity(*, uow: UnitOfWork, address: str, channel: str = LINE) -> ChannelIdentity:
    """The identity for this address, created on first contact."""
    identity = get_identity(uow=uow, address=address, channel=channel)
    if identity is None:
        now = uow.now()
        identity = ChannelIdentity(channel=channel, address=address, created_at=now, updated_at=now)
        uow.session.add(identity)
        uow.session.flush()
    return identity


def update_profile(*, identity: ChannelIdentity, display_name: str | None, language: str | None) -> None:
    """Keep the LINE name and language; the name not while the user has declined the privacy notice."""
    if display_name and identity.declined_at is None:
        identity.display_name = display_name[:200]
    if language:
        identity.language = language[:10]


def record_follow(*, uow: UnitOfWork, identity: ChannelIdentity, unblocked: bool) -> None:
    """Followed, or unblocked: the same identity and customer come back, never a duplicate."""
    identity.followed = True
    identity.blocked_at = None
    identity.updated_at = uow.now()
    timeline.record(
        uow=uow,
        kind="unblocked" if unblocked else "followed",
        customer_id=identity.customer_id,
        identity_id=identity.id,
    )


def record_unfollow(*, uow: UnitOfWork, identity: ChannelIdentity) -> None:
    """Blocked: LINE messages stop; the customer's purchases, points and bookings go on."""
    identity.followed = False
    identity.blocked_at = uow.now()
    identity.conversation = None
    identity.updated_at = uow.now()
    timeline.record(uow=uow, kind="blocked", customer_id=identity.customer_id, identity_id=identity.id)


def record_consent(*, uow: UnitOfWork, identity: ChannelIdentity, notice_version: str) -> None:
    """The LINE user agreed to the privacy notice, maybe again (a newer notice, or after declining).

    The consent date is the latest agreement, on the identity and on a linked customer.
    """
    now = uow.now()
    identity.consented_at = now
    identity.declined_at = None
    identity.updated_at = now
    timeline.record(
        uow=uow,
        kind="consented",
        customer_id=identity.customer_id,
        identity_id=identity.id,
        data={"notice_version": notice_version},
    )
    if identity.customer_id is not None:
        customer = uow.session.get(Customer, identity.customer_id)
        customer.consented_at = now
        customer.updated_at = now


def record_decline(*, uow: UnitOfWork, identity: ChannelIdentity) -> None:
    """The LINE user declined the privacy notice: their LINE name is not kept, and they can agree later."""
    now = uow.now()
    identity.declined_at = now
    identity.display_name = None
    identity.updated_at = now
    timeline.record(uow=uow, kind="declined", customer_id=identity.customer_id, identity_id=identity.id)


def record_message(
    *, uow: UnitOfWork, identity: ChannelIdentity, kind: str, summary: str, message_id: str | None = None
) -> None:
    """A message in or out, kept for the console timeline (short: the first 200 characters).

    From someone who declined the privacy notice only the fact is kept, not what they wrote. LINE's
    message id is kept with a customer's message, so an unsend can find it.
    """
    kept = None if identity.declined_at is not None else summary[:200]
    timeline.record(
        uow=uow,
        kind=kind,
        customer_id=identity.customer_id,
        identity_id=identity.id,
        summary=kept,
        data={"message_id": message_id} if message_id else None,
    )


def record_unsend(*, uow: UnitOfWork, identity: ChannelIdentity, message_id: str) -> None:
    """The LINE user unsent a message: its text goes from the stored event and the timeline."""
    events.forget_message(uow=uow, lane=identity.address, message_id=message_id)
    timeline.forget_message(uow=uow, identity_id=identity.id, message_id=message_id)


def set_conversation(*, uow: UnitOfWork, identity: ChannelIdentity, state: dict | None) -> None:
    """Where the user is in a multi-step conversation (or None when idle)."""
    identity.conversation = state
    identity.updated_at = uow.now()


def marketing_refusal(
    *, on_line: bool, blocked: bool, consented: bool, opted_out: bool, erased: bool = False
) -> str | None:
    """Why a customer may not get a marketing message (a reason word), or None when they may.

    The one rule for deciding (crm_core.automations) and for delivering (crm_core.dispatch): a LINE
    identity, not blocked, not erased, consent to the privacy notice, no opt-out.
    """
    if not on_line:
        return "no_line"
    if blocked:
        return "blocked"
    if erased:
        return "erased"
    if not consented:
        return "no_consent"
    if opted_out:
        return "opted_out"
    return None
