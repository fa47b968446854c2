"""The ``json`` format: the event as JSON, signed per Standard Webhooks or as MLflow signs.

Standard Webhooks (``signature: standard``, the default): headers ``webhook-id`` (the event's
stable id, the same on every re-delivery so receivers deduplicate), ``webhook-timestamp``
(unix seconds of this attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256>`` of
``{id}.{timestamp}.{body}``; the key is the secret's UTF-8 bytes, or the base64-decoded part
after ``whsec_`` for a ``whsec_`` secret.

MLflow (``signature: mlflow``): MLflow 3's own webhook request (``mlflow/webhooks/
delivery.py``), so a receiver written for MLflow works unchanged: the body is
``{"entity", "action", "timestamp", "data"}`` and the headers are ``X-MLflow-Delivery-Id``,
``X-MLflow-Timestamp`` and ``X-MLflow-Signature: v1,<base64 HMAC-SHA256>`` of
``{delivery_id}.{timestamp}.{body}`` keyed by the secret's UTF-8 bytes. The delivery id is
the event's stable id rather than MLflow's fresh UUID per request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from gitreg.core.errors import InvalidParameter
from gitreg.core.events import RegistryEvent
from gitreg.core.notifications import Subscription
from gitreg.integrations.notify.message import Links, Message, event_payload

STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
MLFLOW_HEADERS = ("X-MLflow-Delivery-Id", "X-MLflow-Timestamp", "X-MLflow-Signature")
_ENTITIES = (  # longest prefix first
    ("MODEL_VERSION_ALIAS_", "model_version_alias"),
    ("MODEL_VERSION_TAG_", "model_version_tag"),
    ("MODEL_VERSION_", "model_version"),
    ("REGISTERED_MODEL_TAG_", "registered_model_tag"),
    ("REGISTERED_MODEL_", "registered_model"),
    ("TRANSITION_REQUEST_", "transition_request"),
)
_PROMPT_ENTITIES = {
    "registered_model": "prompt",
    "model_version": "prompt_version",
    "registered_model_tag": "prompt_tag",
    "model_version_tag": "prompt_version_tag",
    "model_version_alias": "prompt_alias",
}


def messages(sub: Subscription, events: list[RegistryEvent], links: Links) -> list[Message]:
    """One message per event."""
    return [_message(sub, item, links) for item in events]


def _message(sub: Subscription, item: RegistryEvent, links: Links) -> Message:
    if sub.signature == "mlflow":
        body: Any = mlflow_body(item, links)
        headers = {MLFLOW_HEADERS[0]: item.id}
    else:
        body = event_payload(item, links)
        headers = {STANDARD_HEADERS[0]: item.id}
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Message(sub, (item,), data, {"Content-Type": "application/json", **headers})


def mlflow_entity_action(item: RegistryEvent) -> tuple[str, str]:
    """MLflow's (entity, action) for the event, e.g. ``("model_version_alias", "created")``.

    Kinds MLflow has no name for follow the same pattern (``model_version`` /
    ``transitioned_stage``); POLICY_VIOLATION is ``registry`` / ``policy_violation``.
    """
    kind = item.event.kind.value
    for prefix, entity in _ENTITIES:
        if kind.startswith(prefix):
            if item.is_prompt:
                entity = _PROMPT_ENTITIES.get(entity, entity)
            return entity, kind[len(prefix) :].lower()
    return "registry", kind.lower()


def mlflow_body(item: RegistryEvent, links: Links) -> dict[str, Any]:
    """MLflow's webhook body: entity, action, timestamp, and the event as ``data``."""
    entity, action = mlflow_entity_action(item)
    data = event_payload(item, links)
    data.pop("event", None)
    data["event_type"] = item.event.kind.value
    if entity in ("registered_model", "model_version", "prompt", "prompt_version"):
        data.setdefault("tags", {})  # MLflow's created payloads always carry tags
    return {"entity": entity, "action": action, "timestamp": item.timestamp, "data": data}


def signing_key(secret: str, scheme: str = "standard") -> bytes:
    """The HMAC key for ``secret`` (``whsec_`` secrets are base64, per Standard Webhooks)."""
    if scheme == "standard" and secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except binascii.Error as e:
            raise InvalidParameter(
                "the webhook secret starts with whsec_ but the rest is not base64"
            ) from e
    return secret.encode("utf-8")


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` (both schemes sign this)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(message: Message, secret: str | None, timestamp: int) -> dict[str, str]:
    """The headers to send at ``timestamp``: the message's, the timestamp, the signature."""
    sub = message.subscription
    names = MLFLOW_HEADERS if sub.signature == "mlflow" else STANDARD_HEADERS
    headers = {**message.headers, names[1]: str(timestamp)}
    if secret:
        key = signing_key(secret, sub.signature)
        headers[names[2]] = signature(key, message.events[0].id, timestamp, message.body)
    return headers
