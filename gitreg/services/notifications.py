"""Registry's notification methods: delivering events, and subscriptions as MLflow's webhooks.

A base of ``Registry`` (which is the public face): ``gitreg notify``, ``gitreg webhooks``
and the MLflow plugin's webhook API call these. Delivery itself is
``integrations.notify``; subscriptions live in gitreg.yaml, each write one commit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.errors import PromotionPending
from gitreg.core.notifications import Subscription
from gitreg.services._host import RegistryHost

if TYPE_CHECKING:
    from gitreg.core.events import RegistryEvent
    from gitreg.core.notifications import Notifications as NotificationsSection
    from gitreg.gate.audit import AuditReport
    from gitreg.integrations.notify import Delivery, Options, Report


class Notifications(RegistryHost):
    """Delivery and webhook methods; ``Registry`` provides the store and the writes."""

    if TYPE_CHECKING:

        def list_events(
            self, since: str | None, until: str | None = None
        ) -> list[RegistryEvent]: ...

        def vetted_events(
            self, since: str | None, until: str | None = None, *, vet: bool = True
        ) -> tuple[list[RegistryEvent], AuditReport | None]: ...

    def notify(
        self, since: str | None, until: str | None = None, *, dry_run: bool = False
    ) -> Report:
        """Deliver the events after ``since`` up to ``until`` to gitreg.yaml's subscriptions.

        On a clone with a remote, the range is audited first: what the audit flags goes out
        as POLICY_VIOLATION (``list_events``), and the subscriptions, endpoints and secret
        variables are those of the gitreg.yaml the audit trusted at the end of the range,
        never one a push slipped in (#22). Without a remote, those of gitreg.yaml at
        ``until``. Re-running a range delivers the same events with the same ids.
        ``dry_run`` sends nothing.
        """
        from gitreg.integrations import notify

        events, report = self.vetted_events(since, until)
        end = self.store.resolve_ref(until) if until is not None else (self.at or "HEAD")
        config_at = report.trusted if report is not None and report.trusted else end
        return notify.notify(self.store, events, config_at, os.environ, dry_run=dry_run)

    def notify_request(
        self, base: str, head: str, pull_request: int | None = None, *, dry_run: bool = False
    ) -> Report:
        """Deliver TRANSITION_REQUEST_CREATED for the stage changes ``head`` proposes.

        The subscriptions are those of gitreg.yaml at ``base``: a request cannot add a
        subscription that hears about itself (or sends a secret elsewhere).
        """
        from gitreg.integrations import notify

        events = notify.request_events(self.store, base, head, pull_request)
        config_at = self.store.resolve_ref(base)
        return notify.notify(self.store, events, config_at, os.environ, dry_run=dry_run)

    def deliver_events(self, events: Sequence[RegistryEvent], *, dry_run: bool = False) -> Report:
        """Deliver any events (e.g. POLICY_VIOLATION from ``gitreg audit``) as ``notify`` does."""
        from gitreg.integrations import notify

        return notify.notify(self.store, events, self.at, os.environ, dry_run=dry_run)

    def notifications_config(self) -> NotificationsSection:
        """gitreg.yaml's ``notifications`` section: subscriptions, SMTP, what is allowed."""
        return self.store.read_config(self.at).notifications

    def list_webhooks(self) -> list[Subscription]:
        """The subscriptions in gitreg.yaml (``notifications.webhooks``), in file order."""
        return list(self.store.read_config(self.at).notifications.webhooks)

    def get_webhook(self, webhook_id: str) -> Subscription:
        """The subscription with this id or name; RESOURCE_DOES_NOT_EXIST if there is none."""
        from gitreg.core.errors import WebhookNotFound

        found = self.store.read_config(self.at).notifications.find(webhook_id)
        if found is None:
            raise WebhookNotFound(f"Webhook with ID {webhook_id} not found.")
        return found

    def create_webhook(
        self,
        name: str,
        secret: str | None = None,
        allow_hosts: Sequence[str] = (),
        **fields: Any,
    ) -> Subscription:
        """Add a subscription (one commit). A literal ``secret`` stays out of git.

        It is kept in the clone's private store (.git/gitreg/secrets.json, mode 0600) under
        the variable name the subscription records as ``secret_env``; delivery reads that
        variable first, so CI sets a repository secret under the same name.
        ``allow_hosts`` go to ``notifications.allow.hosts`` in the same commit.
        """
        from gitreg.integrations.notify import manage

        entry = {"name": manage.check_name(name)}
        entry.update((k, v) for k, v in fields.items() if v is not None)
        if secret:
            taken = {w.secret_env for w in self.list_webhooks() if w.secret_env}
            entry["secret_env"] = manage.secret_name(name, taken)
        try:
            created: Subscription = self._write(manage.create(entry, allow_hosts))
        except PromotionPending:  # a pull request on a registry with a remote (#22)
            self._keep_secret(Subscription.from_dict(entry), secret)
            raise
        self._keep_secret(created, secret)
        return created

    def update_webhook(
        self,
        webhook_id: str,
        secret: str | None = None,
        allow_hosts: Sequence[str] = (),
        **changes: Any,
    ) -> Subscription:
        """Change fields of a subscription (one commit); a None value removes a field.

        ``allow_hosts`` go to ``notifications.allow.hosts`` in the same commit.
        """
        from gitreg.integrations.notify import manage

        if changes.get("name") is not None:
            manage.check_name(changes["name"])
        current = self.get_webhook(webhook_id)
        if secret and not current.secret_env:
            taken = {w.secret_env for w in self.list_webhooks() if w.secret_env}
            changes["secret_env"] = manage.secret_name(current.name, taken)
        try:
            updated: Subscription = self._write(manage.update(webhook_id, changes, allow_hosts))
        except PromotionPending:  # a pull request on a registry with a remote (#22)
            kept = changes.get("secret_env") or current.secret_env
            self._keep_secret(record.replace(current, secret_env=kept), secret)
            raise
        self._keep_secret(updated, secret)
        return updated

    def delete_webhook(self, webhook_id: str) -> None:
        """Remove a subscription (one commit) and the secret the clone kept for it."""
        from gitreg.integrations.notify import manage
        from gitreg.store import secrets

        removed: Subscription = self._write(manage.delete(webhook_id))
        still_used = {w.secret_env for w in self.list_webhooks()}
        if removed.secret_env and removed.secret_env not in still_used:
            secrets.write(self.store.state_dir, removed.secret_env, None)

    def _keep_secret(self, sub: Subscription, secret: str | None) -> None:
        from gitreg.store import secrets

        if secret and sub.secret_env:
            secrets.write(self.store.state_dir, sub.secret_env, secret)

    def webhook_secret(self, sub: Subscription) -> str | None:
        """The secret ``sub`` signs with (its variable, else the clone's private store)."""
        from gitreg.integrations import notify

        return notify.lookup_for(self.store, os.environ)(sub.secret_env) if sub.secret_env else None

    def test_webhook(
        self, webhook_id: str, event: str | None = None, options: Options | None = None
    ) -> Delivery:
        """Send an example event to one subscription now, as MLflow's ``test_webhook``.

        ``options`` overrides gitreg.yaml's timeout, attempts and address rules with
        settings from elsewhere (the MLflow plugin passes MLflow's ``MLFLOW_WEBHOOK_*``).
        """
        from gitreg.integrations import notify

        return notify.send_example(self.store, webhook_id, event, os.environ, self.at, options)
