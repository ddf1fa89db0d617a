"""An in-memory LINE Platform: users, webhook events, and the Messaging API's behaviour and refusals."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bot.simulator import events as ev
from bot.simulator import ids
from bot.simulator.limits import limit_problems
from bot.simulator.openapi import SchemaProblem, line_openapi

REPLY_TOKEN_TTL = 60.0  # LINE: reply within one minute of the event
LINK_TOKEN_TTL = 600.0  # LINE: a link token is valid for 10 minutes
RETRY_KEY_TTL = 24 * 3600.0  # LINE: a retry key is remembered for 24 hours
WEBHOOK_TIMEOUT = 10.0
# LINE's published rate limits (requests per second) on the endpoints that send messages
RATE_LIMITS = {"push": 2000.0, "multicast": 200.0}
MONTHLY_LIMIT = "You have reached your monthly limit."
SEND_ENDPOINTS = ("/push", "/multicast")

IMAGE_URL_KEYS = {"originalContentUrl", "previewImageUrl", "thumbnailImageUrl", "imageUrl"}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
FAULT_MESSAGES = {
    400: "The request body has 1 error(s)",
    401: "Authentication failed. Confirm that the access token in the authorization header is valid.",
    403: "Access to this API is not available for your account",
    429: "The API rate limit has been exceeded. Try again later.",
    500: "An internal server error occurred",
    503: "Service unavailable",
}


@dataclass
class _Bucket:
    """A token bucket: `per_second` refill, up to `burst` requests at once (one second's worth by default)."""

    per_second: float
    burst: float
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        # a clock set back (a test swapping the emulator's clock) refills nothing and takes nothing away
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.per_second)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class _Chaos:
    """Random faults on the send endpoints: `failure` share refused before anything happens (429 or
    500), `lost` share taken by LINE whose answer is a 500 anyway (only a retry key saves a resend)."""

    failure: float
    lost: float
    statuses: tuple[int, ...]
    rng: random.Random
    retry_after: float | None


class WebhookDeliveryError(ConnectionError):
    """The webhook URL could not be reached at all (no HTTP status)."""


@dataclass
class LineUser:
    line_user_id: str
    display_name: str
    language: str = "ja"
    picture_url: str | None = None
    status_message: str | None = None
    following: bool = False
    ever_followed: bool = False
    has_messaged: bool = False

    def as_dict(self) -> dict:
        return {
            "line_user_id": self.line_user_id,
            "display_name": self.display_name,
            "language": self.language,
            "following": self.following,
            "blocked": self.ever_followed and not self.following,
        }


@dataclass
class ApiResponse:
    """What the emulated Messaging API answers: status, JSON body, headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RequestRecord:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    status: int
    at: float


@dataclass
class _Token:
    line_user_id: str
    issued_at: float
    used: bool = False


class _ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, **extra}
        self.headers: dict[str, str] = {}
        self.injected = False  # set for faults from fail_next(), which are not the app's mistakes


def _problems_body(problems: list[SchemaProblem]) -> dict:
    return {
        "message": f"The request body has {len(problems)} error(s)",
        "details": [{"message": p.message, "property": p.property} for p in problems],
    }


def _url_problems(messages: Any, *, allowed_prefixes: tuple[str, ...] = ()) -> list[SchemaProblem]:
    """Find media URLs LINE would refuse: not https, or an image that is not a JPEG/PNG file name."""
    problems: list[SchemaProblem] = []

    def check(url: Any, where: str) -> None:
        if not isinstance(url, str) or (allowed_prefixes and url.startswith(allowed_prefixes)):
            return
        parts = urlsplit(url)
        if parts.scheme != "https":
            problems.append(SchemaProblem(where, f"must be an https URL (got {url[:80]!r})"))
            return
        last = parts.path.rsplit("/", 1)[-1].lower()
        if "." in last and not last.endswith(IMAGE_EXTENSIONS) and not where.endswith("originalContentUrl"):
            problems.append(SchemaProblem(where, f"must be a JPEG or PNG image (got {url[:80]!r})"))

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                child = f"{where}.{key}"
                if key in IMAGE_URL_KEYS or (key == "url" and node.get("type") == "image"):
                    check(value, child)
                elif key == "baseUrl":  # imagemap: LINE appends /1040 etc., so only the scheme is checked
                    if isinstance(value, str) and not value.startswith(("https://", *allowed_prefixes)):
                        problems.append(SchemaProblem(child, f"must be an https URL (got {value[:80]!r})"))
                else:
                    walk(value, child)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}[{index}]")

    walk(messages, "messages")
    return problems


class LineEmulator:
    """A stand-in for the LINE Platform, for the demo's simulator page and for tests.

    State lives in memory behind one lock. Webhook deliveries happen outside the lock, because the app
    answering a webhook may call the Messaging API (reply) before it returns.
    """

    def __init__(
        self,
        *,
        channel_secret: str,
        channel_access_token: str,
        webhook_url: str | None = None,
        now: Callable[[], float] = time.time,
        bot_name: str = "Kizuna",
        insecure_url_prefixes: Iterable[str] = (),
    ) -> None:
        self.channel_secret = channel_secret
        self.channel_access_token = channel_access_token
        self.webhook_url = webhook_url
        self.webhook_active = True  # LINE's "Use webhook" switch
        self.now = now
        self.bot_name = bot_name
        self.bot_user_id = ids.line_user_id()
        # LINE refuses http:// media URLs; the local demo may allow its own loopback origin here.
        self.insecure_url_prefixes = tuple(insecure_url_prefixes)
        self.latency_seconds = 0.0
        self._lock = threading.RLock()
        self._users: dict[str, LineUser] = {}
        self.on_users_changed: Callable[[list[dict]], None] | None = None  # the demo keeps its users in a file
        self.reset()

    # -- state -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every request, message, token and fault (users stay)."""
        with self._lock:
            self.requests: list[RequestRecord] = []
            self.invalid_requests: list[dict] = []
            self.webhook_deliveries: list[dict] = []
            self.dropped_messages: list[dict] = []
            self._items: list[dict] = []
            self._reply_tokens: dict[str, _Token] = {}
            self._link_tokens: dict[str, _Token] = {}
            self._retry_keys: dict[str, tuple[float, str, Any]] = {}
            self._faults: list[list] = []
            self._rich_menus: dict[str, dict] = {}
            self._default_rich_menu: str | None = None
            self._user_rich_menus: dict[str, str] = {}
            self._next_item_id = 1
            self._next_message_id = 500_000_000_000_000_000
            self._buckets: dict[str, _Bucket] = {}
            self.rate_limited: dict[str, int] = {}  # endpoint -> 429s answered for going too fast
            self.set_rate_limits(RATE_LIMITS)
            self._chaos: _Chaos | None = None
            self.quota_limit: int | None = None  # messages a month; None: no limit (LINE's "none")
            self.consumed = 0  # messages counted against the quota: one per recipient of a push/multicast
            # "standby" while another tool (e.g. a chat in LINE Official Account Manager) is in charge of the
            # chat: events then carry mode "standby" and no reply token
            self.mode = "active"

    def add_user(self, display_name: str, language: str = "ja", line_user_id: str | None = None) -> str:
        """Create a LINE user (not yet a friend of the bot) and return their LINE user id."""
        with self._lock:
            user = LineUser(line_user_id or ids.line_user_id(), display_name, language)
            self._users[user.line_user_id] = user
            self._users_changed()
            return user.line_user_id

    def export_users(self) -> list[dict]:
        """Every LINE user with their friendship state, to be given back to `import_users` later."""
        with self._lock:
            return [dataclasses.asdict(user) for user in self._users.values()]

    def import_users(self, users: Iterable[dict]) -> None:
        """Bring back users from `export_users` (a restarted demo keeps the LINE users its customers link to)."""
        known = {f.name for f in dataclasses.fields(LineUser)}
        with self._lock:
            for data in users:
                user = LineUser(**{key: value for key, value in data.items() if key in known})
                self._users[user.line_user_id] = user

    def _users_changed(self) -> None:
        if self.on_users_changed is not None:
            self.on_users_changed([dataclasses.asdict(user) for user in self._users.values()])

    def users(self) -> list[dict]:
        with self._lock:
            return [user.as_dict() for user in self._users.values()]

    def user(self, line_user_id: str) -> LineUser:
        with self._lock:
            try:
                return self._users[line_user_id]
            except KeyError:
                raise KeyError(f"no LINE user {line_user_id}") from None

    def profile(self, line_user_id: str) -> dict | None:
        """Return the profile LINE serves for this user, or None where LINE answers 404."""
        with self._lock:
            user = self._users.get(line_user_id)
            if user is None:
                return None
            blocked = user.ever_followed and not user.following
            if not (user.following or (user.has_messaged and not blocked)):
                return None
            profile = {"displayName": user.display_name, "userId": user.line_user_id, "language": user.language}
            if user.picture_url:
                profile["pictureUrl"] = user.picture_url
            if user.status_message:
                profile["statusMessage"] = user.status_message
            return profile

    def _add_item(self, line_user_id: str, sender: str, message: dict, **extra: Any) -> dict:
        item = {
            "id": self._next_item_id,
            "line_user_id": line_user_id,
            "from": sender,
            "at": self.now(),
            "message": message,
            **extra,
        }
        self._next_item_id += 1
        self._items.append(item)
        return item

    def transcript(self, line_user_id: str, *, include_system: bool = False) -> list[dict]:
        """Return the chat with this user in order, both directions (``from`` is "user" or "bot")."""
        with self._lock:
            return [
                dict(item)
                for item in self._items
                if item["line_user_id"] == line_user_id and (include_system or item["from"] != "system")
            ]

    def items_after(self, line_user_id: str, after: int = 0) -> list[dict]:
        """Return chat items (system notes included) newer than item id ``after``."""
        with self._lock:
            return [dict(i) for i in self._items if i["line_user_id"] == line_user_id and i["id"] > after]

    def messages_to(self, line_user_id: str) -> list[dict]:
        """Return every LINE message object this user received, in order (reply and push)."""
        return [item["message"] for item in self.transcript(line_user_id) if item["from"] == "bot"]

    def reply_token_for(self, line_user_id: str) -> str | None:
        """Return the newest unused reply token issued for this user (for tests)."""
        with self._lock:
            for token, record in reversed(self._reply_tokens.items()):
                if record.line_user_id == line_user_id and not record.used:
                    return token
            return None

    def rich_menu_for(self, line_user_id: str) -> dict | None:
        """Return the rich menu this user sees (their own, else the default), or None."""
        with self._lock:
            rich_menu_id = self._user_rich_menus.get(line_user_id, self._default_rich_menu)
            return self._rich_menus.get(rich_menu_id) if rich_menu_id else None

    # -- webhook events ----------------------------------------------------------------------------

    def _event(self, event_type: str, line_user_id: str) -> dict:
        if line_user_id not in self._users:
            raise KeyError(f"no LINE user {line_user_id}")
        at = self.now()
        return ev.event_base(
            event_type=event_type,
            line_user_id=line_user_id,
            timestamp_ms=int(at * 1000),
            webhook_event_id=ids.webhook_event_id(at),
            mode=self.mode,
        )

    def _add_reply_token(self, event: dict, line_user_id: str) -> None:
        """Give the event a reply token: in standby mode only a follow event has one (webhook.yml requires it)."""
        if event["mode"] != "active" and event["type"] != "follow":
            return
        token = ids.token()
        self._reply_tokens[token] = _Token(line_user_id, self.now())
        event["replyToken"] = token

    def _new_message_id(self) -> str:
        self._next_message_id += 1
        return str(self._next_message_id)

    def follow(self, line_user_id: str, *, is_unblocked: bool = False) -> dict:
        """The user adds the bot as a friend (or unblocks it)."""
        with self._lock:
            event = self._event("follow", line_user_id)
            self._add_reply_token(event, line_user_id)
            event["follow"] = {"isUnblocked": is_unblocked}
            user = self._users[line_user_id]
            user.following = user.ever_followed = True
            self._users_changed()
            note = "ブロック解除 / unblocked" if is_unblocked else "友だち追加 / followed"
            self._add_item(line_user_id, "system", {"type": "text", "text": note})
            return event

    def unfollow(self, line_user_id: str) -> dict:
        """The user blocks the bot."""
        with self._lock:
            event = self._event("unfollow", line_user_id)
            self._users[line_user_id].following = False
            self._users_changed()
            self._add_item(line_user_id, "system", {"type": "text", "text": "ブロック / blocked"})
            return event

    def text(self, line_user_id: str, text: str) -> dict:
        """The user sends a text message."""
        with self._lock:
            event = self._event("message", line_user_id)
            self._add_reply_token(event, line_user_id)
            event["message"] = {
                "type": "text",
                "id": self._new_message_id(),
                "quoteToken": ids.token(24),
                "text": text,
            }
            if not self._users[line_user_id].has_messaged:
                self._users[line_user_id].has_messaged = True
                self._users_changed()
            self._add_item(line_user_id, "user", {"type": "text", "text": text}, message_id=event["message"]["id"])
            return event

    def unsend(self, line_user_id: str, message_id: str) -> dict:
        """The user unsends one of their messages: it leaves the chat, and LINE tells the bot."""
        with self._lock:
            event = self._event("unsend", line_user_id)
            event["unsend"] = {"messageId": message_id}
            for item in self._items:
                if item["line_user_id"] == line_user_id and item.get("message_id") == message_id:
                    item["message"] = {"type": "text", "text": "送信取消 / unsent"}
                    item["from"] = "system"
            return event

    def postback(
        self,
        line_user_id: str,
        data: str,
        *,
        params: dict[str, str] | None = None,
        display_text: str | None = None,
    ) -> dict:
        """The user taps a postback or datetimepicker action (``params``: {"date": "2026-11-22"} etc.)."""
        with self._lock:
            event = self._event("postback", line_user_id)
            self._add_reply_token(event, line_user_id)
            event["postback"] = {"data": data}
            if params is not None:
                event["postback"]["params"] = dict(params)
            if display_text:
                self._add_item(line_user_id, "user", {"type": "text", "text": display_text})
            elif params:
                shown = " ".join(str(v) for v in params.values())
                self._add_item(line_user_id, "system", {"type": "text", "text": f"選択 / picked: {shown}"})
            return event

    def account_link(self, line_user_id: str, *, nonce: str, result: str = "ok") -> dict:
        """LINE reports the outcome of an account link (a failed link carries no reply token)."""
        with self._lock:
            event = self._event("accountLink", line_user_id)
            if result == "ok":
                self._add_reply_token(event, line_user_id)
            event["link"] = {"result": result, "nonce": nonce}
            note = "アカウント連携 / account linked" if result == "ok" else "アカウント連携失敗 / link failed"
            self._add_item(line_user_id, "system", {"type": "text", "text": note})
            return event

    def webhook_body(self, events: Iterable[dict], destination: str | None = None) -> bytes:
        return ev.webhook_body(events, destination=destination or self.bot_user_id)

    def signature(self, body: bytes) -> str:
        return ev.signature(body, channel_secret=self.channel_secret)

    def _post_signed(self, url: str, body: bytes) -> tuple[int, str | None]:
        """POST a signed webhook body as LINE does; (status, None), or (0, why) when nothing answered."""
        request = urllib.request.Request(  # noqa: S310 - the URL is the channel's webhook
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-Line-Signature": self.signature(body),
                "User-Agent": "LineBotWebhook/2.0",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
                response.read()
                return response.status, None
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, None
        except (urllib.error.URLError, OSError) as exc:
            return 0, str(getattr(exc, "reason", exc))

    def deliver(self, events: Iterable[dict], *, redelivery: bool = False) -> int:
        """POST the signed events to webhook_url over real HTTP and return the status code."""
        if not self.webhook_url:
            raise RuntimeError("this LineEmulator has no webhook_url")
        events = ev.as_redelivery(events) if redelivery else list(events)
        body = self.webhook_body(events)
        started = time.monotonic()
        status, error = self._post_signed(self.webhook_url, body)
        elapsed = time.monotonic() - started
        with self._lock:
            self.webhook_deliveries.append(
                {
                    "status": status,
                    "elapsed": elapsed,
                    "events": [e["webhookEventId"] for e in events],
                    "redelivery": redelivery,
                    "at": self.now(),
                    "error": error,
                }
            )
        if error is not None:
            raise WebhookDeliveryError(f"could not reach the webhook {self.webhook_url}: {error}")
        return status

    # -- account link ------------------------------------------------------------------------------

    def complete_account_link(
        self, link_token: str, nonce: str, *, line_user_id: str | None = None
    ) -> tuple[str | None, int | None]:
        """Finish LINE's account link dialog: deliver an accountLink event (ok if the token is valid).

        Returns the LINE user id the token belongs to (or ``line_user_id`` when the token is unknown)
        and the webhook status (None when there is nobody to tell).
        """
        with self._lock:
            record = self._link_tokens.get(link_token)
            ok = record is not None and not record.used and self.now() - record.issued_at <= LINK_TOKEN_TTL
            if record is not None:
                record.used = True
                line_user_id = record.line_user_id
            if line_user_id is None or line_user_id not in self._users:
                return None, None
            event = self.account_link(line_user_id, nonce=nonce, result="ok" if ok else "failed")
        status = self.deliver([event]) if self.webhook_url else None
        return line_user_id, status

    # -- Messaging API -----------------------------------------------------------------------------

    def set_rate_limits(self, limits: dict[str, float | None], *, burst_seconds: float = 1.0) -> None:
        """Answer 429 on an endpoint ("push", "multicast") used faster than `limits[endpoint]` per second.

        A token bucket: up to `burst_seconds` worth of requests may come at once; None lifts the limit.
        `reset()` brings back LINE's published limits.
        """
        with self._lock:
            for endpoint, per_second in limits.items():
                if per_second is None:
                    self._buckets.pop(endpoint, None)
                    continue
                burst = max(1.0, per_second * burst_seconds)
                self._buckets[endpoint] = _Bucket(per_second, burst, burst, self.now())

    def chaos(
        self,
        failure: float,
        *,
        seed: int = 0,
        statuses: tuple[int, ...] = (429, 500),
        lost: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        """Make pushes and multicasts fail at random (reproducibly for a seed); `chaos(0)` ends it."""
        with self._lock:
            rng = random.Random(seed)  # noqa: S311 - reproducible faults, not a secret
            self._chaos = _Chaos(failure, lost, statuses, rng, retry_after) if failure or lost else None

    def received_counts(self) -> dict[str, int]:
        """How many messages each LINE user received from the bot (reply, push and multicast)."""
        with self._lock:
            counts: dict[str, int] = {}
            for item in self._items:
                if item["from"] == "bot":
                    counts[item["line_user_id"]] = counts.get(item["line_user_id"], 0) + 1
            return counts

    def fail_next(self, path_suffix: str, status: int, times: int = 1, message: str | None = None) -> None:
        """Make the next ``times`` API calls whose path ends with ``path_suffix`` answer ``status``."""
        with self._lock:
            self._faults.append([path_suffix, status, times, message or FAULT_MESSAGES.get(status, "Error")])

    def handle(self, method: str, path: str, *, headers: dict[str, str], body: bytes | None) -> ApiResponse:
        """Answer one Messaging API request the way LINE would."""
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        headers = {k.lower(): v for k, v in headers.items()}
        method = method.upper()
        payload: Any = None
        with self._lock:
            request_id = ids.request_id()
            try:
                self._check_auth(headers)
                self._check_rate_limit(path)
                self._check_faults(path)
                lost = self._check_chaos(path)
                payload = self._parse_body(headers, body)
                status, answer, extra_headers = self._dispatch(method, path, headers, payload, request_id)
                response = ApiResponse(status, answer, extra_headers)
                if lost and status < 300:
                    response = ApiResponse(500, {"message": FAULT_MESSAGES[500]})
            except _ApiError as exc:
                response = ApiResponse(exc.status, exc.body, exc.headers)
                if exc.status in (400, 401) and not exc.injected:
                    self.invalid_requests.append(
                        {
                            "method": method,
                            "path": path,
                            "status": exc.status,
                            "reason": self._reason(exc.body),
                            "body": payload,
                            "at": self.now(),
                        }
                    )
            response.headers["x-line-request-id"] = request_id
            self.requests.append(RequestRecord(method, path, headers, payload, response.status, self.now()))
            return response

    @staticmethod
    def _reason(body: dict) -> str:
        details = body.get("details") or []
        if details:
            return body["message"] + ": " + "; ".join(f"{d['property']}: {d['message']}" for d in details)
        return body["message"]

    def _check_auth(self, headers: dict[str, str]) -> None:
        if headers.get("authorization") != f"Bearer {self.channel_access_token}":
            raise _ApiError(401, FAULT_MESSAGES[401])

    def _check_rate_limit(self, path: str) -> None:
        endpoint = path.rsplit("/", 1)[-1]
        bucket = self._buckets.get(endpoint) if path.startswith("/v2/bot/message/") else None
        if bucket is not None and not bucket.take(self.now()):
            self.rate_limited[endpoint] = self.rate_limited.get(endpoint, 0) + 1
            raise _ApiError(429, FAULT_MESSAGES[429])

    def _check_chaos(self, path: str) -> bool:
        """Raise a random fault, or return True when this request's answer is to be lost."""
        if self._chaos is None or not path.endswith(SEND_ENDPOINTS):
            return False
        roll = self._chaos.rng.random()
        if roll < self._chaos.failure:
            status = self._chaos.rng.choice(self._chaos.statuses)
            error = _ApiError(status, FAULT_MESSAGES.get(status, "Error"))
            error.injected = True
            if self._chaos.retry_after is not None and status == 429:
                error.headers["Retry-After"] = f"{self._chaos.retry_after:g}"
            raise error
        return roll < self._chaos.failure + self._chaos.lost

    def _count_against_quota(self, recipients: int) -> None:
        """LINE counts one message per recipient of a push or multicast; over the quota it answers 429."""
        if self.quota_limit is not None and self.consumed + recipients > self.quota_limit:
            raise _ApiError(429, MONTHLY_LIMIT)
        self.consumed += recipients

    def _check_faults(self, path: str) -> None:
        for fault in self._faults:
            suffix, status, times, message = fault
            if path.endswith(suffix) and times > 0:
                fault[2] -= 1
                if fault[2] <= 0:
                    self._faults.remove(fault)
                error = _ApiError(status, message)
                error.injected = True
                raise error

    @staticmethod
    def _parse_body(headers: dict[str, str], body: bytes | None) -> Any:
        if not body or not headers.get("content-type", "").startswith("application/json"):
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise _ApiError(400, "The request body is not valid JSON") from None

    def _validate(self, method: str, path: str, payload: Any) -> None:
        problems = line_openapi().request_problems(method, path, payload)
        if not problems and isinstance(payload, dict) and "messages" in payload:
            problems = limit_problems(payload)
            problems += _url_problems(payload["messages"], allowed_prefixes=self.insecure_url_prefixes)
        if problems:
            body = _problems_body(problems)
            raise _ApiError(400, body["message"], details=body["details"])

    def _retry_key(self, headers: dict[str, str]) -> str | None:
        key = headers.get("x-line-retry-key")
        if key is None:
            return None
        if not ids.is_uuid(key):
            raise _ApiError(400, "The value for the 'X-Line-Retry-Key' header is invalid")
        seen = self._retry_keys.get(key)
        if seen is not None and self.now() - seen[0] < RETRY_KEY_TTL:
            _, accepted_id, sent = seen
            error = _ApiError(409, "The retry key is already accepted", **({"sentMessages": sent} if sent else {}))
            error.headers["x-line-accepted-request-id"] = accepted_id
            raise error
        return key

    def _remember_retry_key(self, key: str | None, request_id: str, sent: Any) -> None:
        if key is not None:
            self._retry_keys[key] = (self.now(), request_id, sent)

    def _send(self, line_user_id: str, messages: list[dict], *, via: str) -> list[dict]:
        user = self._users.get(line_user_id)
        sent = []
        for message in messages:
            message_id = self._new_message_id()
            quote_token = ids.token(24)
            sent.append({"id": message_id, "quoteToken": quote_token})
            if user is None or (via != "reply" and not user.following):
                self.dropped_messages.append({"to": line_user_id, "message": message, "via": via})
                continue
            self._add_item(line_user_id, "bot", message, via=via, message_id=message_id)
        return sent

    def _dispatch(
        self, method: str, path: str, headers: dict[str, str], payload: Any, request_id: str
    ) -> tuple[int, Any, dict[str, str]]:
        for route_method, pattern, name in _ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                handler = getattr(self, name)
                return handler(path=path, headers=headers, payload=payload, request_id=request_id, **match.groupdict())
        raise _ApiError(404, "Not found")

    # Handlers: each returns (status, body, headers) or raises _ApiError.

    def _reply(self, *, path: str, headers: dict, payload: Any, request_id: str) -> tuple:
        if "x-line-retry-key" in headers:
            raise _ApiError(400, "The reply API does not accept the 'X-Line-Retry-Key' header")
        self._validate("POST", path, payload)
        token = self._reply_tokens.get(payload["replyToken"])
        if token is None or token.used or self.now() - token.issued_at > REPLY_TOKEN_TTL:
            raise _ApiError(400, "Invalid reply token")
        token.used = True
        return 200, {"sentMessages": self._send(token.line_user_id, payload["messages"], via="reply")}, {}

    def _push(self, *, path: str, headers: dict, payload: Any, request_id: str) -> tuple:
        key = self._retry_key(headers)
        self._validate("POST", path, payload)
        if payload["to"] not in self._users:
            raise _ApiError(400, "The property, 'to', in the request body is invalid (line: -, column: -)")
        self._count_against_quota(1)
        sent = self._send(payload["to"], payload["messages"], via="push")
        self._remember_retry_key(key, request_id, sent)
        return 200, {"sentMessages": sent}, {}

    def _multicast(self, *, path: str, headers: dict, payload: Any, request_id: str) -> tuple:
        key = self._retry_key(headers)
        self._validate("POST", path, payload)
        self._count_against_quota(len(payload["to"]))
        for line_user_id in payload["to"]:
            self._send(line_user_id, payload["messages"], via="multicast")
        self._remember_retry_key(key, request_id, None)
        return 200, {}, {}

    def _broadcast(self, *, path: str, headers: dict, payload: Any, request_id: str) -> tuple:
        key = self._retry_key(headers)
        self._validate("POST", path, payload)
        via = path.rsplit("/", 1)[-1]
        for user in list(self._users.values()):
            if user.following:
                self._send(user.line_user_id, payload["messages"], via=via)
        self._remember_retry_key(key, request_id, None)
        return (202 if via == "narrowcast" else 200), {}, {}

    def _validate_only(self, *, path: str, headers: dict, payload: Any, request_id: str) -> tuple:
        self._validate("POST", path, payload)
        return 200, {}, {}

    def _profile(self, *, path: str, headers: dict, payload: Any, request_id: str, user: str) -> tuple:
        profile = self.profile(user)
        if profile is None:
            raise _ApiError(404, "Not found")
        return 200, profile, {}

    def _link_token(self, *, path: str, headers: dict, payload: Any, request_id: str, user: str) -> tuple:
        if user not in self._users:
            raise _ApiError(400, "The user ID is invalid")
        token = ids.token(16)
        self._link_tokens[token] = _Token(user, self.now())
        return 200, {"linkToken": token}, {}

    def _bot_info(self, **_: Any) -> tuple:
        return (
            200,
            {
                "userId": self.bot_user_id,
                "basicId": "@kizuna",
                "displayName": self.bot_name,
                "chatMode": "bot",
                "markAsReadMode": "auto",
            },
            {},
        )

    def _get_webhook_endpoint(self, **_: Any) -> tuple:
        if not self.webhook_url:
            raise _ApiError(404, "Webhook endpoint is not set")
        return 200, {"endpoint": self.webhook_url, "active": self.webhook_active}, {}

    def _set_webhook_endpoint(self, *, payload: Any, **_: Any) -> tuple:
        endpoint = (payload or {}).get("endpoint", "")
        if not endpoint.startswith("https://") and not endpoint.startswith(self.insecure_url_prefixes or ("https://",)):
            raise _ApiError(400, "The webhook URL must be https")
        self.webhook_url = endpoint
        return 200, {}, {}

    def _test_webhook_endpoint(self, *, payload: Any, **_: Any) -> tuple:
        """LINE posts a signed body with no events to the endpoint and reports what it answered.

        Called under the emulator's lock: the app answers an empty body without calling LINE back.
        """
        endpoint = (payload or {}).get("endpoint") or self.webhook_url
        if not endpoint:
            raise _ApiError(400, "Webhook endpoint is not set")
        status, error = self._post_signed(endpoint, self.webhook_body([]))
        timestamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(self.now()))
        if error is not None:
            answer = {"success": False, "timestamp": timestamp, "statusCode": 0, "reason": "COULD_NOT_CONNECT"}
            return 200, {**answer, "detail": error[:200]}, {}
        success = 200 <= status < 300
        reason = "OK" if success else "ERROR_STATUS_CODE"
        answer = {"success": success, "timestamp": timestamp, "statusCode": status, "reason": reason}
        return 200, {**answer, "detail": f"{status}"}, {}

    def _followers(self, **_: Any) -> tuple:
        return 200, {"userIds": [u.line_user_id for u in self._users.values() if u.following]}, {}

    def _ok(self, *, path: str, headers: dict, payload: Any, request_id: str, **_: Any) -> tuple:
        self._validate("POST", path, payload)
        return 200, {}, {}

    def _loading(self, *, path: str, headers: dict, payload: Any, request_id: str) -> tuple:
        self._validate("POST", path, payload)
        return 202, {}, {}

    def _quota(self, **_: Any) -> tuple:
        if self.quota_limit is None:
            return 200, {"type": "none"}, {}
        return 200, {"type": "limited", "value": self.quota_limit}, {}

    def _consumption(self, **_: Any) -> tuple:
        return 200, {"totalUsage": self.consumed}, {}

    def _create_rich_menu(self, *, path: str, headers: dict, payload: Any, request_id: str) -> tuple:
        self._validate("POST", path, payload)
        rich_menu_id = "richmenu-" + ids.token(16)
        self._rich_menus[rich_menu_id] = {"richMenuId": rich_menu_id, **payload}
        return 200, {"richMenuId": rich_menu_id}, {}

    def _rich_menu_list(self, **_: Any) -> tuple:
        return 200, {"richmenus": list(self._rich_menus.values())}, {}

    def _rich_menu(self, *, path: str, headers: dict, payload: Any, request_id: str, menu: str) -> tuple:
        if menu not in self._rich_menus:
            raise _ApiError(404, "Not found")
        return 200, self._rich_menus[menu], {}

    def _delete_rich_menu(self, *, menu: str, **_: Any) -> tuple:
        if self._rich_menus.pop(menu, None) is None:
            raise _ApiError(404, "Not found")
        if self._default_rich_menu == menu:
            self._default_rich_menu = None
        return 200, {}, {}

    def _rich_menu_content(self, *, menu: str, **_: Any) -> tuple:
        if menu not in self._rich_menus:
            raise _ApiError(404, "Not found")
        return 200, {}, {}

    def _set_default_rich_menu(self, *, menu: str, **_: Any) -> tuple:
        if menu not in self._rich_menus:
            raise _ApiError(400, "richmenu not found")
        self._default_rich_menu = menu
        return 200, {}, {}

    def _get_default_rich_menu(self, **_: Any) -> tuple:
        if self._default_rich_menu is None:
            raise _ApiError(404, "no default richmenu")
        return 200, {"richMenuId": self._default_rich_menu}, {}

    def _clear_default_rich_menu(self, **_: Any) -> tuple:
        self._default_rich_menu = None
        return 200, {}, {}

    def _link_rich_menu(self, *, user: str, menu: str, **_: Any) -> tuple:
        if menu not in self._rich_menus or user not in self._users:
            raise _ApiError(400, "richmenu or user not found")
        self._user_rich_menus[user] = menu
        return 200, {}, {}

    def _unlink_rich_menu(self, *, user: str, **_: Any) -> tuple:
        self._user_rich_menus.pop(user, None)
        return 200, {}, {}


_ID = r"(?P<{}>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile("^/v2/bot/" + pattern.format(user=_ID.format("user"), menu=_ID.format("menu")) + "$"), name)
    for method, pattern, name in [
        ("POST", "message/reply", "_reply"),
        ("POST", "message/push", "_push"),
        ("POST", "message/multicast", "_multicast"),
        ("POST", "message/broadcast", "_broadcast"),
        ("POST", "message/narrowcast", "_broadcast"),
        ("POST", "message/validate/(?:reply|push|multicast|broadcast|narrowcast)", "_validate_only"),
        ("GET", "message/quota", "_quota"),
        ("GET", "message/quota/consumption", "_consumption"),
        ("POST", "message/markAsRead", "_ok"),
        ("POST", "chat/markAsRead", "_ok"),
        ("POST", "chat/loading/start", "_loading"),
        ("GET", "profile/{user}", "_profile"),
        ("POST", "user/{user}/linkToken", "_link_token"),
        ("GET", "info", "_bot_info"),
        ("GET", "channel/webhook/endpoint", "_get_webhook_endpoint"),
        ("PUT", "channel/webhook/endpoint", "_set_webhook_endpoint"),
        ("POST", "channel/webhook/test", "_test_webhook_endpoint"),
        ("GET", "followers/ids", "_followers"),
        ("POST", "richmenu", "_create_rich_menu"),
        ("POST", "richmenu/validate", "_ok"),
        ("GET", "richmenu/list", "_rich_menu_list"),
        ("GET", "richmenu/{menu}", "_rich_menu"),
        ("DELETE", "richmenu/{menu}", "_delete_rich_menu"),
        ("POST", "richmenu/{menu}/content", "_rich_menu_content"),
        ("POST", "user/all/richmenu/{menu}", "_set_default_rich_menu"),
        ("GET", "user/all/richmenu", "_get_default_rich_menu"),
        ("DELETE", "user/all/richmenu", "_clear_default_rich_menu"),
        ("POST", "user/{user}/richmenu/{menu}", "_link_rich_menu"),
        ("DELETE", "user/{user}/richmenu", "_unlink_rich_menu"),
        ("POST", "richmenu/alias", "_ok"),
    ]
]
