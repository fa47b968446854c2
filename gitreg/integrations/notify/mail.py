"""The ``email`` format: plain text and HTML, one message per event or one digest per run.

Sent through ``notifications.smtp`` with ``smtplib``: implicit TLS (``ssl: true``) or
STARTTLS (``starttls: true``, the default; a server that does not offer it is an error, never
a silent fall back to plain text), and a login only over TLS unless the server is on
localhost. A per-event message's ``Message-ID`` is derived from the event's stable id, so a
re-delivered message is recognisably the same message.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate

from gitreg.core.errors import GitregError
from gitreg.core.events import RegistryEvent
from gitreg.core.notifications import Smtp, Subscription
from gitreg.integrations.http import is_loopback
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


def send(mail: EmailMessage, smtp: Smtp, lookup: Callable[[str], str | None]) -> None:
    """Send ``mail`` once.

    Raises:
        MailError: ``transient`` when trying again may help (no connection, a 4xx reply).
    """
    host = smtp.host or (lookup(smtp.host_env) if smtp.host_env else None)
    if not host:
        raise MailError(f"set {smtp.host_env} to the SMTP server's host name")
    user, password = _credentials(smtp, lookup)
    if user and not (smtp.ssl or smtp.starttls or is_loopback(host)):
        raise MailError(
            "notifications.smtp sends a password without TLS; set starttls: true or ssl: true"
        )
    try:
        _deliver(mail, smtp, host, user, password)
    except smtplib.SMTPNotSupportedError as e:
        raise MailError(
            f"the SMTP server {host} does not offer STARTTLS; use ssl: true or another server"
        ) from e
    except smtplib.SMTPResponseException as e:
        reply = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else ""
        raise MailError(
            f"the SMTP server {host} answered {e.smtp_code}: {' '.join(reply.split())[:200]}",
            transient=400 <= e.smtp_code < 500,
        ) from e
    except smtplib.SMTPRecipientsRefused as e:
        raise MailError(f"the SMTP server {host} refused every recipient") from e
    except (smtplib.SMTPException, OSError) as e:
        raise MailError(f"cannot send mail through {host}:{smtp.port}: {e}", True) from e


def _credentials(smtp: Smtp, lookup: Callable[[str], str | None]) -> tuple[str, str]:
    if not smtp.username_env:
        return "", ""
    user = lookup(smtp.username_env) or ""
    password = lookup(smtp.password_env) if smtp.password_env else ""
    if not user or password is None:
        missing = smtp.username_env if not user else smtp.password_env
        raise MailError(f"set {missing} for the SMTP login")
    return user, password


def _deliver(mail: EmailMessage, smtp: Smtp, host: str, user: str, password: str) -> None:
    context = ssl.create_default_context()
    server: smtplib.SMTP
    if smtp.ssl:
        server = smtplib.SMTP_SSL(host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        server = smtplib.SMTP(host, smtp.port, timeout=smtp.timeout)
    with server:
        if smtp.starttls and not smtp.ssl:
            server.starttls(context=context)
        if user:
            server.login(user, password)
        server.send_message(mail)
