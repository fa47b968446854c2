"""What a delivery may read and reach: ``notifications.allow`` applied at send time (#23).

A subscription names environment variables (``url_env``, ``secret_env``, ``token_env``,
the SMTP login) and destinations (a URL, GitHub's API, an SMTP host). ``Access`` reads a
variable only if ``allow.env`` permits it (by default: the names the section declares),
sends a token only to an origin ``allow.origins`` permits (GitHub's API by default), and
hands the HTTP client the address rules (``allow.hosts``). Every value it reads is
remembered for redaction (``core.redact``) and never shown: a URL kept in a variable is
named by its variable (``$SLACK_URL``) in every message, even when it is malformed.

``Options`` carries settings from outside gitreg.yaml: MLflow's ``MLFLOW_WEBHOOK_*``
variables, when the MLflow plugin delivers (``gitreg.mlflow.webhooks``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gitreg.core import redact as redaction
from gitreg.core.address import HostRules
from gitreg.core.errors import GitregError
from gitreg.core.notifications import Notifications, Subscription
from gitreg.integrations import http

Lookup = Callable[[str], str | None]


def _clean(url: str, where: str, fix: str) -> None:
    """Refuse a URL with a space or a control character, naming where it came from."""
    bad = http.bad_character(url)
    if bad:
        raise Unusable(f"{where} contains {bad}; a URL has no spaces or control characters; {fix}")


class Unusable(GitregError):
    """Every message to this subscription would fail the same way (a variable not set or
    not allowed, a destination refused): the run stops sending to it."""


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    """Settings from outside gitreg.yaml (MLflow's, in the plugin); None: gitreg's own."""

    timeout: float | None = None  # MLFLOW_WEBHOOK_REQUEST_TIMEOUT
    attempts: int | None = None  # MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES + 1
    allow_private: bool = False  # MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS
    schemes: tuple[str, ...] | None = None  # MLFLOW_WEBHOOK_ALLOWED_SCHEMES


@dataclasses.dataclass(frozen=True, slots=True)
class Access:
    """The allow-lists of one gitreg.yaml, a way to read variables, and outside settings."""

    notifications: Notifications
    lookup: Lookup
    options: Options = Options()

    @property
    def rules(self) -> HostRules:
        """The address rules every destination is checked by."""
        return self.notifications.host_rules(self.options.allow_private)

    def retry(self, retry: http.Retry) -> http.Retry:
        """``retry`` with the attempts ``options`` asks for."""
        if self.options.attempts is None:
            return retry
        return dataclasses.replace(retry, attempts=max(1, self.options.attempts))

    def timeout(self, sub: Subscription) -> float:
        """Seconds one attempt to ``sub`` may take."""
        return self.options.timeout or sub.timeout

    def read(self, name: str | None, field: str, what: str) -> str:
        """The value of variable ``name`` that ``field`` names (e.g. ``webhooks[ci].secret_env``).

        Raises:
            Unusable: ``allow.env`` does not permit the name, or the variable is not set.
        """
        if not name:
            raise Unusable(f"{field} is missing; name the variable that holds {what}")
        if not self.notifications.env_allowed(name):
            raise Unusable(
                f"{field} names {name}, which notifications.allow.env does not list, so "
                f"delivery does not read it; add {name} to notifications.allow.env in "
                "gitreg.yaml if this subscription should have it"
            )
        value = self.lookup(name)
        if not value:
            raise Unusable(f"set {name} to {what}")
        redaction.remember(value)
        return value

    def url(self, sub: Subscription) -> tuple[str, str | None, list[str]]:
        """``(url, label, secrets)``: a URL kept in a variable is a secret named by it.

        Raises:
            Unusable: the URL has a space or a control character (said by where it came
                from, never by its value), or a scheme the outside settings forbid.
        """
        if sub.url:
            _clean(sub.url, f"webhook {sub.name}: its url in gitreg.yaml", "fix it there")
            self._check_scheme(sub, sub.url, http.redact(sub.url))
            return sub.url, None, []
        value = self.read(sub.url_env, f"webhooks[{sub.name}].url_env", f"the URL of {sub.name}")
        label = f"${sub.url_env}"
        secrets = redaction.url_secrets(value)
        redaction.remember(*secrets)
        fix = f"fix the value of {sub.url_env} (it is never shown)"
        _clean(value, f"webhook {sub.name}: the URL in {label}", fix)
        self._check_scheme(sub, value, label)
        return value, label, secrets

    def token_url(self, sub: Subscription, url: str) -> None:
        """Refuse to send ``sub``'s token to an origin ``allow.origins`` does not permit."""
        _clean(url, f"webhook {sub.name}: its api_url in gitreg.yaml", "fix it there")
        if not self.notifications.origin_allowed(url):
            allowed = ", ".join(self.notifications.token_origins())
            raise Unusable(
                f"webhooks[{sub.name}].api_url {http.redact(url)} is not an origin a token may "
                f"be sent to ({allowed}); add its origin to notifications.allow.origins in "
                "gitreg.yaml if it is your GitHub Enterprise API"
            )

    def _check_scheme(self, sub: Subscription, url: str, label: str) -> None:
        schemes = self.options.schemes
        scheme = url.split(":", 1)[0].lower()
        if schemes is None or scheme not in ("http", "https") or scheme in schemes:
            return  # anything else is not an http(s) URL: the client says so
        raise Unusable(
            f"webhook {sub.name}: the URL {label} uses {scheme}; "
            f"MLFLOW_WEBHOOK_ALLOWED_SCHEMES allows only {', '.join(schemes)}"
        )

    def reader(self, where: str) -> Lookup:
        """A lookup for another part of the section (``notifications.smtp``), allow-listed."""

        def lookup(name: str) -> str | None:
            try:
                return self.read(name, f"{where} ({name})", "its value")
            except Unusable as e:
                if self.notifications.env_allowed(name):
                    return None  # not set: the caller says what it needed
                raise e

        return lookup
