"""Validate Messaging API request bodies and webhook bodies against LINE's own OpenAPI documents.

LINE's schemas select the concrete schema of a message, action, template or flex component with an
OpenAPI 3.0 ``discriminator``, which plain JSON Schema ignores. The validator built here follows the
discriminator's mapping, so a flex bubble with a broken component fails the way LINE refuses it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import validators
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_DIR = Path(__file__).parent / "line-openapi"
MESSAGING_URI = "urn:line-openapi:messaging-api"
WEBHOOK_URI = "urn:line-openapi:webhook"

_active = threading.local()

# Rules LINE enforces (developers.line.biz reference) that its OpenAPI document leaves out.
# Each entry is merged into the named component schema as an extra allOf member.
LINE_RULES: dict[str, dict] = {
    "MessageAction": {"required": ["text"], "properties": {"text": {"maxLength": 300}}},
    "PostbackAction": {"required": ["data"]},
    "URIAction": {"required": ["uri"], "properties": {"uri": {"maxLength": 1000}}},
    "DatetimePickerAction": {
        "required": ["data", "mode"],
        "properties": {"mode": {"enum": ["date", "time", "datetime"]}},
    },
    "TextMessage": {"properties": {"text": {"minLength": 1, "maxLength": 5000}}},
    "FlexText": {"anyOf": [{"required": ["text"]}, {"required": ["contents"]}]},
    "FlexMessage": {"properties": {"altText": {"minLength": 1, "maxLength": 1500}}},
    "TemplateMessage": {"properties": {"altText": {"minLength": 1, "maxLength": 400}}},
    "QuickReplyItem": {"required": ["action"]},
}


def _apply_line_rules(spec: dict) -> None:
    schemas = spec["components"]["schemas"]
    for name, rule in LINE_RULES.items():
        schema = schemas[name]
        schema["allOf"] = [*schema.get("allOf", []), rule]


def _discriminator(validator: Any, discriminator: dict, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """Also validate ``instance`` against the schema its discriminator property maps to."""
    if not isinstance(instance, dict):
        return
    prop = discriminator["propertyName"]
    value = instance.get(prop)
    if not isinstance(value, str):
        return  # the base schema's "required"/"type" reports it
    mapping = discriminator.get("mapping", {})
    ref = mapping.get(value)
    if ref is None:
        known = ", ".join(sorted(mapping))
        yield ValidationError(f"unknown {prop} {value!r} (expected one of: {known})", path=[prop])
        return
    # The mapped schema is allOf [base, ...] and the base carries this discriminator again: guard it.
    active: set = _active.__dict__.setdefault("seen", set())
    key = (id(instance), ref)
    if key in active:
        return
    active.add(key)
    try:
        errors = list(validator.descend(instance, {"$ref": ref}))
    finally:
        active.discard(key)
    yield from errors


LineValidator = validators.extend(OAS30Validator, {"discriminator": _discriminator})


@dataclass(frozen=True)
class SchemaProblem:
    """One validation error in LINE's error-detail shape."""

    property: str
    message: str

    def __str__(self) -> str:
        return f"{self.property}: {self.message}" if self.property else self.message


def _property_path(error: ValidationError) -> str:
    parts = []
    for part in error.absolute_path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts)


def _readable(error: ValidationError) -> str:
    """Say what is wrong without repeating a whole nested message object."""
    kind, limit, instance = error.validator, error.validator_value, error.instance
    if kind == "maxItems":
        return f"must have at most {limit} items (has {len(instance)})"
    if kind == "minItems":
        return f"must have at least {limit} item(s) (has {len(instance)})"
    if kind == "maxLength":
        return f"must be at most {limit} characters (has {len(instance)})"
    if kind == "minLength":
        return f"must be at least {limit} character(s) (has {len(instance)})"
    if kind == "enum":
        return f"{instance!r} is not one of {', '.join(map(str, limit))}"
    if kind == "anyOf" and error.schema_path and isinstance(limit, list):
        needs = [" or ".join(s.get("required", [])) for s in limit if "required" in s]
        if needs:
            return f"needs one of: {', '.join(needs)}"
    message = error.message
    return message if len(message) <= 200 else message[:197] + "..."


def _problems(validator: Any, instance: Any) -> list[SchemaProblem]:
    seen: dict[tuple[str, str], SchemaProblem] = {}
    for error in validator.iter_errors(instance):
        problem = SchemaProblem(_property_path(error), _readable(error))
        seen.setdefault((problem.property, problem.message), problem)
    return sorted(seen.values(), key=lambda p: (p.property, p.message))


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{pattern}$")


class LineOpenApi:
    """LINE's Messaging API and webhook OpenAPI documents, loaded once and used to validate bodies."""

    def __init__(self, spec_dir: Path = SPEC_DIR) -> None:
        with open(spec_dir / "messaging-api.yml", encoding="utf-8") as f:
            self.messaging = yaml.safe_load(f)
        _apply_line_rules(self.messaging)
        with open(spec_dir / "webhook.yml", encoding="utf-8") as f:
            self.webhook = yaml.safe_load(f)
        self._registry = Registry().with_resources(
            [
                (MESSAGING_URI, Resource(contents=self.messaging, specification=DRAFT4)),
                (WEBHOOK_URI, Resource(contents=self.webhook, specification=DRAFT4)),
            ]
        )
        # Literal templates first so "/v2/bot/message/reply" never matches "/v2/bot/message/{messageId}/...".
        templates = sorted(self.messaging["paths"], key=lambda t: (t.count("{"), -len(t)))
        self._paths = [(template, _template_regex(template)) for template in templates]
        self._validators: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _validator(self, ref: str) -> Any:
        with self._lock:
            if ref not in self._validators:
                self._validators[ref] = LineValidator({"$ref": ref}, registry=self._registry)
            return self._validators[ref]

    def path_template(self, path: str) -> str | None:
        """Return the spec's path template that ``path`` matches, or None."""
        for template, regex in self._paths:
            if regex.match(path):
                return template
        return None

    def operation(self, method: str, path: str) -> dict | None:
        template = self.path_template(path)
        if template is None:
            return None
        return self.messaging["paths"][template].get(method.lower())

    def request_problems(self, method: str, path: str, body: Any) -> list[SchemaProblem]:
        """Validate a request body; problems in LINE's {property, message} shape."""
        operation = self.operation(method, path)
        if operation is None:
            return [SchemaProblem("", f"{method.upper()} {path} is not an operation of LINE's Messaging API")]
        request_body = operation.get("requestBody")
        if request_body is None:
            return []
        if body is None:
            if request_body.get("required"):
                return [SchemaProblem("", "a JSON request body is required")]
            return []
        media = request_body.get("content", {}).get("application/json")
        if media is None:
            return []  # binary uploads (rich menu images) are not JSON
        schema = media["schema"]
        ref = schema.get("$ref")
        if ref is None:
            return _problems(LineValidator(schema, registry=self._registry), body)
        return _problems(self._validator(MESSAGING_URI + ref), body)

    def errors_for_request(self, method: str, path: str, body: dict | list | None) -> list[str]:
        """Return readable errors for a Messaging API request body; empty when LINE would accept it."""
        return [str(p) for p in self.request_problems(method, path, body)]

    def schema_problems(self, schema_name: str, instance: Any, *, spec: str = "messaging") -> list[SchemaProblem]:
        """Validate ``instance`` against a named component schema (e.g. "Message", "FlexContainer")."""
        base = MESSAGING_URI if spec == "messaging" else WEBHOOK_URI
        return _problems(self._validator(f"{base}#/components/schemas/{schema_name}"), instance)

    def errors_for_webhook(self, body: dict) -> list[str]:
        """Return readable errors for a webhook body against webhook.yml's CallbackRequest."""
        return [str(p) for p in self.schema_problems("CallbackRequest", body, spec="webhook")]


@cache
def line_openapi() -> LineOpenApi:
    """Return the process-wide LineOpenApi, loading the YAML documents on first use."""
    return LineOpenApi()
