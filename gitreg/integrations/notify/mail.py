"""The ``email`` format: plain text and HTML, one message per event or one digest per run.

Sent through ``notifications.smtp`` with ``smtplib``: implicit TLS (``ssl: true``) or
STARTTLS (``starttls: true``, the default; a server that does not offer it is an error, never
a silent fall back to plain text), and a login only over TLS unless the server is on
localhost. A per-event message's ``Message-ID`` is derived from the event's stable id, so a
re-delivered message is recognisably the same message.

Each attempt is bounded as an HTTP one is (#23): the subscription's ``smtp.timeout``
covers the lookup, the connection, TLS, the dialogue and the message, so a server that
drips its replies is cut off; the host is checked by the same address rules
(``notifications.allow.hosts``) and the connection goes to the address checked. What the
server says is shown with the login redacted, bounded, on one line.
"""

from __future__ import annotations

import html
import smtplib
import socket
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from gitreg.core import redact as redaction
from gitreg.core.address import HostProblem, HostRules, normalize_host
from gitreg.core.errors import GitregError
from gitreg.core.events import RegistryEvent
from gitreg.core.notifications import Smtp, Subscription
from gitreg.integrations import http
from gitreg.integrations.notify.message import Links, Message, summary


class MailError(GitregError):
    """The SMTP server could not be reached or refused the message."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def messages(sub: Subscription, events: list[RegistryEvent], links: Links) -> list[Message]:
    """One message per event, or one digest of them all (``digest: true``)."""
    if sub.digest and events:
        names = sorted({e.event.name for e in events})
        subject = f"[gitreg] {len(events)} registry change{'s' if len(events) > 1 else ''}: "
        subject += ", ".join(names[:5]) + (" and more" if len(names) > 5 else "")
        return [Message(sub, tuple(events), _text(events, links).encode(), {}, subject)]
    return [
        Message(sub, (item,), _text([item], links).encode(), {}, f"[gitreg] {summary(item)}")
        for item in events
    ]


def _text(events: list[RegistryEvent], links: Links) -> str:
    blocks = []
    for item in events:
        lines = [
            summary(item),
            "",
            f"  event:   {item.event.kind.value}",
            f"  model:   {item.event.name}",
        ]
        if item.event.version is not None:
            lines.append(f"  version: {item.event.version}")
        lines += [
            f"  by:      {item.author} <{item.author_email}>",
            f"  when:    {item.timestamp}",
            f"  commit:  {links.commit(item.commit) or item.commit}",
        ]
        if item.pull_request is not None:
            lines.append(f"  request: {links.pull_request(item.pull_request) or item.pull_request}")
        lines.append(f"  id:      {item.id}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _html(events: tuple[RegistryEvent, ...], links: Links) -> str:
    rows = []
    for item in events:
        url = links.best(item)
        where = (
            f'<a href="{html.escape(url)}">{html.escape(item.commit[:7])}</a>'
            if url
            else html.escape(item.commit[:7])
        )
        rows.append(
            "<tr>"
            f"<td><b>{html.escape(item.event.name)}</b></td>"
            f"<td>{html.escape(item.event.describe())}</td>"
            f"<td>{html.escape(item.author)}</td>"
            f"<td>{where}</td>"
            f"<td><code>{html.escape(item.event.kind.value)}</code></td>"
            "</tr>"
        )
    head = "<tr><th>Model</th><th>Change</th><th>By</th><th>Where</th><th>Event</th></tr>"
    return f"<html><body><table>{head}{''.join(rows)}</table></body></html>\n"


def build(message: Message, smtp: Smtp, links: Links) -> EmailMessage:
    """The MIME message: multipart/alternative, plain text first, then HTML."""
    mail = EmailMessage()
    mail["Subject"] = message.subject or "[gitreg] registry change"
    mail["From"] = smtp.sender
    mail["To"] = ", ".join(message.subscription.to)
    mail["Date"] = formatdate(localtime=False)
    if len(message.events) == 1:
        mail["Message-ID"] = f"<{message.events[0].id}.{message.subscription.name}@gitreg>"
    mail.set_content(message.body.decode())
    mail.add_alternative(_html(message.events, links), subtype="html")
    return mail


def send(
    mail: EmailMessage,
    smtp: Smtp,
    lookup: Callable[[str], str | None],
    rules: HostRules | None = None,
) -> None:
    """Send ``mail`` once, within ``smtp.timeout`` for the whole attempt.

    Raises:
        MailError: ``transient`` when trying again may help (no connection, a 4xx reply,
            the deadline passed).
    """
    host = smtp.host or (lookup(smtp.host_env) if smtp.host_env else None)
    if not host:
        raise MailError(f"set {smtp.host_env} to the SMTP server's host name")
    shown = host if smtp.host else f"${smtp.host_env}"
    user, password = _credentials(smtp, lookup)
    secrets = [s for s in (user, password) if s]
    redaction.remember(*secrets)
    if user and not (smtp.ssl or smtp.starttls or http.is_loopback(host)):
        raise MailError(
            "notifications.smtp sends a password without TLS; set starttls: true or ssl: true"
        )
    try:
        _attempt(mail, smtp, _checked(host, shown, rules), (user, password), rules)
    except smtplib.SMTPNotSupportedError as e:
        raise MailError(
            f"the SMTP server {shown} does not offer STARTTLS; use ssl: true or another server"
        ) from e
    except smtplib.SMTPResponseException as e:
        reply = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else ""
        raise MailError(
            f"the SMTP server {shown} answered {e.smtp_code}: "
            f"{redaction.peer_text(reply, secrets, 200)}",
            transient=400 <= e.smtp_code < 500,
        ) from e
    except smtplib.SMTPRecipientsRefused as e:
        raise MailError(f"the SMTP server {shown} refused every recipient") from e
    except http.AddressRefused as e:
        raise MailError(f"notifications.smtp: the host {shown} {e}") from e
    except TimeoutError as e:
        raise MailError(
            f"the SMTP server {shown}:{smtp.port} did not finish within {smtp.timeout:g}s", True
        ) from e
    except (smtplib.SMTPException, OSError) as e:
        reason = redaction.peer_text(str(e), secrets, 200)
        raise MailError(f"cannot send mail through {shown}:{smtp.port}: {reason}", True) from e


def _checked(host: str, shown: str, rules: HostRules | None) -> str:
    """The host, normalized, unless the address rules refuse it as written."""
    try:
        name = normalize_host(host)
    except HostProblem as e:
        raise MailError(f"notifications.smtp: the host {shown} {e}") from e
    problem = rules.check_name(name) if rules is not None else None
    if problem:
        raise MailError(f"notifications.smtp: the host {shown} {problem}")
    return name


def _credentials(smtp: Smtp, lookup: Callable[[str], str | None]) -> tuple[str, str]:
    if not smtp.username_env:
        return "", ""
    user = lookup(smtp.username_env) or ""
    password = lookup(smtp.password_env) if smtp.password_env else ""
    if not user or password is None:
        missing = smtp.username_env if not user else smtp.password_env
        raise MailError(f"set {missing} for the SMTP login")
    return user, password


class _Pinned:
    """smtplib's connection made to the checked address, TLS by a deadline-bound context."""

    deadline: http.Deadline
    rules: HostRules | None

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = http.open_checked(host, port, self.deadline, self.rules)
        if isinstance(self, smtplib.SMTP_SSL):
            return self.context.wrap_socket(sock, server_hostname=host)
        return sock


class _Smtp(_Pinned, smtplib.SMTP):
    pass


class _SmtpSsl(_Pinned, smtplib.SMTP_SSL):
    pass


def _attempt(
    mail: EmailMessage, smtp: Smtp, host: str, login: tuple[str, str], rules: HostRules | None
) -> None:
    user, password = login
    with http.Deadline(smtp.timeout) as deadline:
        context = http.tls_context(deadline)
        options: dict[str, Any] = {"local_hostname": socket.gethostname() or "localhost"}
        server: _Smtp | _SmtpSsl
        if smtp.ssl:
            server = _SmtpSsl(timeout=smtp.timeout, context=context, **options)
        else:
            server = _Smtp(timeout=smtp.timeout, **options)
        server.deadline, server.rules = deadline, rules
        try:
            server.connect(host, smtp.port)
            if smtp.starttls and not smtp.ssl:
                server.starttls(context=context)
            if user:
                server.login(user, password)
            server.send_message(mail)
            server.quit()
        except Exception:
            deadline.check()  # whatever the deadline interrupted, it is a timeout
            raise
        finally:
            server.close()
        deadline.check()
