"""What a handler gets: the unit of work, the event, the LINE user's identity, and a way to answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.i18n import normalize_locale
from crm_core import channels, shop
from crm_core.models import ChannelIdentity, Customer
from crm_core.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.line_gateway import LineGateway, Profile
    from bot.messages import MessageRenderer
    from crm_core.config import Settings


@dataclass
class EventContext:
    uow: UnitOfWork
    event: dict
    identity: ChannelIdentity
    renderer: MessageRenderer
    gateway: LineGateway
    settings: Settings
    profile: Profile | None = None
    replies: list[dict] = field(default_factory=list)
    services: Any = None  # the composition root, for work a handler starts after the commit (None in some tests)

    @property
    def line_user_id(self) -> str:
        return self.identity.address

    @property
    def locale(self) -> str:
        return normalize_locale(self.identity.language, self.settings.locale)

    @property
    def customer(self) -> Customer | None:
        if self.identity.customer_id is None:
            return None
        return self.uow.session.get(Customer, self.identity.customer_id)

    @property
    def shop(self) -> shop.ShopProfile:
        return shop.get_profile(uow=self.uow)  # cached for a few seconds: every reply names the shop

    def reply(self, template: str, **context) -> None:
        """Render a message template in the user's language and queue it as part of this event's answer."""
        profile = self.shop
        self.replies.extend(
            self.renderer.render(
                template,
                locale=self.locale,
                shop_name=profile.name,
                privacy_contact=profile.privacy_contact,
                notice_version=profile.notice_version,
                purposes=profile.purposes,
                **context,
            )
        )

    def set_conversation(self, state: dict | None) -> None:
        channels.set_conversation(uow=self.uow, identity=self.identity, state=state)
