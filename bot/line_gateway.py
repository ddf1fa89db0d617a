"""The only place that talks to LINE: the real line-bot-sdk v3 client, pointed at LINE_API_BASE_URL."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    RichMenuRequest,
    TestWebhookEndpointRequest,
)

log = logging.getLogger(__name__)

MONTHLY_LIMIT = "You have reached your monthly limit"


@dataclass(frozen=True)
class Profile:
    display_name: str | None
    language: str | None


@dataclass(frozen=True)
class ChannelReport:
    """What LINE says of the channel: the bot, the webhook URL it has, and whether a test call reached us."""

    bot_name: str | None = None
    basic_id: str | None = None
    premium_id: str | None = None
    webhook_url: str | None = None
    webhook_active: bool = False
    webhook_is_ours: bool = False
    test_ok: bool = False
    test_status: int | None = None
    test_reason: str | None = None
    error: str | None = None  # LINE refused or did not answer (a wrong access token: 401)

    @property
    def ok(self) -> bool:
        return self.error is None and self.webhook_is_ours and self.webhook_active and self.test_ok


class SendError(Exception):
    """LINE refused or could not take a request; `status` is LINE's HTTP status (0: no answer).

    `unsure`: the request may have reached LINE (it left, but no answer came back), so LINE may
    have taken it. An HTTP answer, or a connection that never opened, is sure.

    `retry_after`: seconds LINE asked us to wait (its `Retry-After` header), when it said.
    """

    def __init__(self, status: int, reason: str, *, unsure: bool = False, retry_after: float | None = None):
        super().__init__(f"LINE answered {status}: {reason}")
        self.status = status
        self.reason = reason
        self.unsure = unsure
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return (self.status in (0, 429) or self.status >= 500) and not self.quota_spent

    @property
    def quota_spent(self) -> bool:
        """429 "You have reached your monthly limit.": no push goes until next month (or a bigger plan)."""
        return self.status == 429 and MONTHLY_LIMIT in self.reason

    @property
    def already_accepted(self) -> bool:
        """409 on a push with a retry key: LINE accepted this very request before."""
        return self.status == 409

    @property
    def bad_reply_token(self) -> bool:
        """LINE refused the reply token (used, expired or unknown), not the messages."""
        return self.status == 400 and "Invalid reply token" in self.reason


class LineGateway:
    """Reply, push, profile and link-token calls; one SDK client per thread."""

    def __init__(
        self, *, base_url: str, access_token: str | None, data_base_url: str | None = None, timeout: float = 10.0
    ):
        self._configuration = Configuration(host=base_url, access_token=access_token or "unset")
        self._data_configuration = Configuration(host=data_base_url or base_url, access_token=access_token or "unset")
        self._timeout = timeout
        self._local = threading.local()

    def _api(self) -> MessagingApi:
        api = getattr(self._local, "api", None)
        if api is None:
            api = self._local.api = MessagingApi(ApiClient(self._configuration))
        return api

    def _call(self, what: str, fn):
        try:
            return fn()
        except ApiException as error:
            raise SendError(error.status or 0, _reason(error), retry_after=_retry_after(error)) from None
        except (OSError, ValueError, urllib3.exceptions.HTTPError) as error:  # refused, timeout, bad answer
            unsure = not _never_connected(error)
            log.warning("LINE %s failed without an answer: %s", what, type(error).__name__)
            raise SendError(0, type(error).__name__, unsure=unsure) from None

    def reply(self, *, reply_token: str, messages: list[dict]) -> None:
        self._post_messages("/v2/bot/message/reply", {"replyToken": reply_token, "messages": messages})

    def push(self, *, to: str, messages: list[dict], retry_key: str) -> None:
        self._post_messages("/v2/bot/message/push", {"to": to, "messages": messages}, {"X-Line-Retry-Key": retry_key})

    def multicast(self, *, to: list[str], messages: list[dict], retry_key: str) -> None:
        """The same messages to up to 500 LINE users in one request (one retry key for all of them)."""
        self._post_messages(
            "/v2/bot/message/multicast", {"to": to, "messages": messages}, {"X-Line-Retry-Key": retry_key}
        )

    def quota_left(self) -> int | None:
        """Messages LINE still allows this month (None: the plan sets no limit)."""
        api = self._api()
        quota = self._call("quota", lambda: api.get_message_quota(_request_timeout=self._timeout))
        if quota.type != "limited" or quota.value is None:
            return None
        used = self._call("consumption", lambda: api.get_message_quota_consumption(_request_timeout=self._timeout))
        return max(0, quota.value - (used.total_usage or 0))

    def _post_messages(self, path: str, body: dict, headers: dict | None = None) -> None:
        """POST the rendered JSON exactly as it is, through the SDK's own client.

        `ReplyMessageRequest.from_dict` and friends drop every property the SDK's models do not know
        (newer LINE features) and refuse what they think LINE would; LINE is the judge of its API.
        The generated `ApiClient.call_api` sends a plain dict body unchanged, with the same auth,
        host and error handling as the typed methods.
        """
        api = self._api()
        self._call(
            path.rsplit("/", 1)[-1],
            lambda: api.api_client.call_api(
                path,
                "POST",
                header_params={"Accept": "application/json", "Content-Type": "application/json", **(headers or {})},
                body=body,
                response_types_map={},
                auth_settings=["Bearer"],
                _return_http_data_only=True,
                _request_timeout=self._timeout,
                _host=api.line_base_path,
            ),
        )

    def get_profile(self, line_user_id: str) -> Profile | None:
        """The user's LINE name and language, or None when LINE does not give it (blocked, unknown)."""
        try:
            profile = self._call(
                "profile", lambda: self._api().get_profile(line_user_id, _request_timeout=self._timeout)
            )
        except SendError as error:
            log.info("LINE profile unavailable (%s)", error.status)
            return None
        return Profile(display_name=profile.display_name, language=getattr(profile, "language", None))

    def install_rich_menu(self, *, definition: dict, image: bytes, content_type: str = "image/png") -> str:
        """Make `definition` the default rich menu, unless one with its name already is; returns its id.

        Idempotent: the menu is matched by name, so running it at every start creates nothing twice.
        """
        api = self._api()
        existing = self._call("rich menus", lambda: api.get_rich_menu_list(_request_timeout=self._timeout))
        named = [menu.rich_menu_id for menu in existing.richmenus or [] if menu.name == definition["name"]]
        rich_menu_id = named[0] if named else self._create_rich_menu(definition, image, content_type)
        self._call("default rich menu", lambda: api.set_default_rich_menu(rich_menu_id, _request_timeout=self._timeout))
        return rich_menu_id

    def _create_rich_menu(self, definition: dict, image: bytes, content_type: str) -> str:
        request = RichMenuRequest.from_dict(definition)
        created = self._call("rich menu", lambda: self._api().create_rich_menu(request, _request_timeout=self._timeout))
        blob = MessagingApiBlob(ApiClient(self._data_configuration))
        self._call(
            "rich menu image",
            lambda: blob.set_rich_menu_image(
                created.rich_menu_id, image, _headers={"Content-Type": content_type}, _request_timeout=self._timeout
            ),
        )
        return created.rich_menu_id

    def check_channel(self, *, expected_webhook_url: str) -> ChannelReport:
        """Ask LINE for the bot's info and webhook URL, and have LINE send a test call to that URL."""
        api = self._api()
        try:
            info = self._call("bot info", lambda: api.get_bot_info(_request_timeout=self._timeout))
        except SendError as error:
            return ChannelReport(error=_channel_error(error))
        report = {"bot_name": info.display_name, "basic_id": info.basic_id, "premium_id": info.premium_id}
        try:
            endpoint = self._call("webhook endpoint", lambda: api.get_webhook_endpoint(_request_timeout=self._timeout))
        except SendError as error:
            if error.status == 404:  # no webhook URL set in the LINE Developers console
                return ChannelReport(**report)
            return ChannelReport(**report, error=_channel_error(error))
        report.update(
            webhook_url=endpoint.endpoint,
            webhook_active=endpoint.active,
            webhook_is_ours=endpoint.endpoint.rstrip("/") == expected_webhook_url.rstrip("/"),
        )
        request = TestWebhookEndpointRequest(endpoint=endpoint.endpoint)
        try:
            test = self._call(
                "webhook test", lambda: api.test_webhook_endpoint(request, _request_timeout=self._timeout * 2)
            )
        except SendError as error:
            return ChannelReport(**report, error=_channel_error(error))
        return ChannelReport(
            **report, test_ok=bool(test.success), test_status=test.status_code, test_reason=test.reason
        )

    def issue_link_token(self, line_user_id: str) -> str:
        response = self._call(
            "link token", lambda: self._api().issue_link_token(line_user_id, _request_timeout=self._timeout)
        )
        return response.link_token


def _channel_error(error: SendError) -> str:
    if error.status == 401:
        return "unauthorized"
    return "unreachable" if error.status == 0 else f"status {error.status}"


def _never_connected(error: Exception) -> bool:
    """The request never left: the connection could not be opened (LINE cannot have taken it)."""
    cause = getattr(error, "reason", None) if isinstance(error, urllib3.exceptions.MaxRetryError) else error
    return isinstance(cause, urllib3.exceptions.ConnectTimeoutError | ConnectionRefusedError)


def _retry_after(error: ApiException) -> float | None:
    """LINE's `Retry-After` header in seconds (the HTTP-date form is not used by LINE)."""
    value = (error.headers or {}).get("Retry-After") or (error.headers or {}).get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _reason(error: ApiException) -> str:
    body = error.body.decode() if isinstance(error.body, bytes) else (error.body or "")
    return (body or error.reason or "")[:500]
