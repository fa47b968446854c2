"""Writes to ``notifications.webhooks`` in gitreg.yaml, one commit each (MLflow's webhook API).

Each function returns a transaction mutation: it reads gitreg.yaml at the branch tip,
changes one subscription, and rewrites only the ``notifications`` section of the file
(``manifest.replace_section``), so comments elsewhere survive and the pull request shows a
few lines. The transaction validates the result against the schema before committing.
Secrets are not written here: the caller keeps a literal secret in the clone's private
store under the variable name the subscription records (``secret_env``).
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitreg.core import manifest
from gitreg.core.config import CONFIG_FILE
from gitreg.core.errors import (
    RESOURCE_ALREADY_EXISTS,
    GitregError,
    InvalidParameter,
    WebhookNotFound,
)
from gitreg.core.fields import format_timestamp, now_ms, parse_timestamp
from gitreg.core.notifications import Subscription
from gitreg.store.transaction import Transaction

Entry = dict[str, Any]
SECRET_PREFIX = "GITREG_WEBHOOK_SECRET_"


def _edit(
    change: Callable[[list[Entry]], Subscription | None],
    message: str | Callable[[Subscription | None], str],
    allow_hosts: Sequence[str] = (),
) -> Callable[[Transaction], Subscription | None]:
    def mutation(tx: Transaction) -> Subscription | None:
        text = tx.read(CONFIG_FILE) or b"schema_version: 1\n"
        data = manifest.load_mapping(text, CONFIG_FILE)
        section = dict(data.get("notifications") or {})
        hooks = [dict(h) for h in section.get("webhooks") or [] if isinstance(h, Mapping)]
        result = change(hooks)
        if hooks:
            section["webhooks"] = hooks
        else:
            section.pop("webhooks", None)
        _allow(section, result, allow_hosts)
        tx.write(CONFIG_FILE, manifest.replace_section(text, "notifications", section or None))
        tx.message = message(result) if callable(message) else message
        return result

    return mutation


def _allow(section: Entry, sub: Subscription | None, hosts: Sequence[str]) -> None:
    """Record in ``allow`` what the new subscription needs (#23): the private ``hosts`` the
    caller was allowed to reach (MLflow's MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS), and its
    signing secret's variable when ``allow.env`` is an explicit list."""
    allow = dict(section.get("allow") or {})
    listed = [str(h) for h in allow.get("hosts") or []]
    added = [h for h in hosts if h not in listed]
    if added:
        allow["hosts"] = listed + added
    env = allow.get("env")
    secret = sub.secret_env if sub is not None else None
    if isinstance(env, list) and secret and not any(fnmatch.fnmatchcase(secret, e) for e in env):
        allow["env"] = [*env, secret]
    if allow:
        section["allow"] = allow


def _index(hooks: list[Entry], webhook_id: str) -> int:
    for index, hook in enumerate(hooks):
        if webhook_id in (hook.get("id"), hook.get("name")):
            return index
    raise WebhookNotFound(f"Webhook with ID {webhook_id} not found.")


def secret_name(name: str, taken: set[str]) -> str:
    """The variable a literal secret of webhook ``name`` is kept under (unused so far)."""
    base = SECRET_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def _now(after: str | None = None) -> str:
    """Now (milliseconds), strictly after ``after`` so updates are ordered."""
    moment = now_ms()
    if after:
        moment = max(moment, parse_timestamp(after) + 1)
    return format_timestamp(moment)


def create(
    entry: Entry, allow_hosts: Sequence[str] = ()
) -> Callable[[Transaction], Subscription | None]:
    """Add a subscription; RESOURCE_ALREADY_EXISTS if its name is taken.

    ``allow_hosts`` are added to ``notifications.allow.hosts`` in the same commit.
    """

    def change(hooks: list[Entry]) -> Subscription:
        if any(h.get("name") == entry["name"] for h in hooks):
            raise GitregError(
                f"Webhook with name {entry['name']!r} already exists; gitreg.yaml needs "
                "unique webhook names",
                RESOURCE_ALREADY_EXISTS,
            )
        stamp = _now()
        added = {"name": entry["name"], "id": str(uuid.uuid4()), **entry}
        added.update(created_at=stamp, updated_at=stamp)
        hooks.append(added)
        return Subscription.from_dict(added)

    return _edit(change, f"Add webhook {entry['name']}", allow_hosts)


def update(
    webhook_id: str, changes: Entry, allow_hosts: Sequence[str] = ()
) -> Callable[[Transaction], Subscription | None]:
    """Change the fields in ``changes`` (a None value removes the field)."""

    old: list[str] = []

    def change(hooks: list[Entry]) -> Subscription:
        index = _index(hooks, webhook_id)
        hook = hooks[index]
        old[:] = [str(hook.get("name"))]
        new_name = changes.get("name")
        if new_name and any(h.get("name") == new_name for h in hooks if h is not hook):
            raise GitregError(
                f"Webhook with name {new_name!r} already exists", RESOURCE_ALREADY_EXISTS
            )
        for key, value in changes.items():
            if value is None:
                hook.pop(key, None)
            else:
                hook[key] = value
        hook.setdefault("id", webhook_id)
        hook["updated_at"] = _now(hook.get("updated_at"))
        return Subscription.from_dict(hook)

    def message(sub: Subscription | None) -> str:
        # Named as "Add webhook NAME" names it, not by its id alone (#25).
        name = sub.name if sub is not None else webhook_id
        renamed = f" (renamed from {old[0]})" if old and old[0] != name else ""
        return f"Update webhook {name}{renamed}"

    return _edit(change, message, allow_hosts)


def delete(webhook_id: str) -> Callable[[Transaction], Subscription | None]:
    """Remove a subscription; RESOURCE_DOES_NOT_EXIST if there is none."""

    def change(hooks: list[Entry]) -> Subscription:
        index = _index(hooks, webhook_id)
        return Subscription.from_dict(hooks.pop(index))

    return _edit(change, lambda sub: f"Delete webhook {sub.name if sub else webhook_id}")


def check_name(name: object) -> str:
    """A webhook name as MLflow allows it (and the schema)."""
    from gitreg.core.notifications import NAME

    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidParameter(
            f"Webhook name {name!r} is invalid. It must start and end with a letter or digit, "
            "be at most 63 characters long, and contain only letters, digits, dots (.), "
            "underscores (_), and hyphens (-)."
        )
    return name
