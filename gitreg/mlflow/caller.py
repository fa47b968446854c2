"""Who is calling the plugin behind ``mlflow server``: the commit author of each change (#25).

Two sources, both decided by the server, never by the request alone:

- MLflow's own authentication (``mlflow server --app-name basic-auth``, or its
  ``authorization_function``): after it has checked the credentials, MLflow records the
  user in ``flask.g.mlflow_authenticated_user``. Nothing a client sends sets it, and
  without authentication it is never set.
- A trusted proxy's header, off unless the server is configured for it:
  ``GITREG_MLFLOW_USER_HEADER`` names the header (e.g. ``X-Forwarded-User``), and it is read
  only from a request whose peer address is in ``GITREG_MLFLOW_TRUSTED_PROXIES``
  (addresses or networks, comma-separated; default the loopback addresses, for a proxy on
  the same host). With the header configured, a write that does not come through a
  trusted proxy with it is refused (PERMISSION_DENIED, 403): fail closed.

Neither: the change is committed as the server's git identity, as without this module.
The email of an author is the user name when it is an address, else
``GITREG_MLFLOW_AUTHOR_EMAIL`` with ``{user}`` replaced (default ``{user}@mlflow.invalid``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, PERMISSION_DENIED

from gitreg.core.errors import InvalidParameter
from gitreg.core.identity import Identity, identity_for

USER_HEADER = "GITREG_MLFLOW_USER_HEADER"
TRUSTED_PROXIES = "GITREG_MLFLOW_TRUSTED_PROXIES"
AUTHOR_EMAIL = "GITREG_MLFLOW_AUTHOR_EMAIL"
LOOPBACK = "127.0.0.0/8,::1"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(text: str) -> tuple[Network, ...]:
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError as e:
            raise MlflowException(
                f"{TRUSTED_PROXIES}: {item!r} is not an IP address or network; give the "
                "proxies' addresses, comma-separated (e.g. 10.0.0.5,192.168.1.0/24)",
                INVALID_PARAMETER_VALUE,
            ) from e
    return tuple(found)


@dataclasses.dataclass(frozen=True, slots=True)
class Callers:
    """The server's configuration of where an author comes from (read once, at start)."""

    header: str | None = None
    proxies: tuple[Network, ...] = ()
    email: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Callers:
        """The settings in ``env`` (the server's environment).

        Raises:
            MlflowException: a setting that cannot be used (the server refuses every call,
                saying which, rather than take authors from the wrong place).
        """
        header = env.get(USER_HEADER, "").strip() or None
        email = env.get(AUTHOR_EMAIL, "").strip() or None
        if email is not None:
            try:
                identity_for("user", email)
            except InvalidParameter as e:
                message = f"{AUTHOR_EMAIL}: {e.message}"
                raise MlflowException(message, INVALID_PARAMETER_VALUE) from e
        proxies = _networks(env.get(TRUSTED_PROXIES) or LOOPBACK) if header else ()
        return cls(header, proxies, email)

    def trusts(self, address: str | None) -> bool:
        """Whether a request from ``address`` comes from a proxy allowed to name the user."""
        try:
            ip = ipaddress.ip_address((address or "").split("%")[0])
        except ValueError:
            return False
        return any(ip in net for net in self.proxies)


def current(callers: Callers) -> Identity | None:
    """The author of the change the current request makes, or None: the server's identity.

    Raises:
        MlflowException: PERMISSION_DENIED for a write that should carry a proxy's user and
            does not; INVALID_PARAMETER_VALUE for a user name git cannot record.
    """
    try:
        import flask
    except ImportError:  # the plugin used in a client process, not behind mlflow server
        return None
    if not flask.has_request_context():
        return None
    user = flask.g.get("mlflow_authenticated_user")  # set only by MLflow's authentication
    if user is None and callers.header is not None:
        request = flask.request
        if callers.trusts(request.remote_addr):
            user = request.headers.get(callers.header) or None
        if user is None and request.method not in _READS:
            raise MlflowException(
                f"This server takes the author of every change from the {callers.header} "
                f"header of a trusted proxy ({TRUSTED_PROXIES}); this request came from "
                f"{request.remote_addr} without it. Send it through the proxy",
                PERMISSION_DENIED,
            )
    if user is None:
        return None
    try:
        return identity_for(user, callers.email)
    except InvalidParameter as e:
        raise MlflowException(e.message, INVALID_PARAMETER_VALUE) from e
