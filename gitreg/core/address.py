"""Where delivery may connect: the address rules of issue 23 (SSRF). No I/O, no DNS.

A destination is judged twice: its host as written (``gitreg validate`` and MLflow's
webhook API, with no network), and at delivery every address the name resolves to
(``integrations.http``, which then connects to the address it checked).

- Link-local and cloud-metadata addresses (169.254.0.0/16, fe80::/10, AWS's fd00:ec2::254,
  Alibaba's 100.100.100.200, ...), the unspecified address, multicast and reserved ranges
  are refused always: nothing a webhook receiver needs lives there.
- Private, loopback and other non-global addresses (10/8, 172.16/12, 192.168/16, 127/8,
  ::1, fc00::/7, 100.64/10, ...) are refused unless ``notifications.allow.hosts`` in
  gitreg.yaml lists the host by name, by address or by network (CIDR).
- An address hidden in another spelling counts as the address it is: IPv4-mapped, 6to4,
  NAT64 and Teredo IPv6, a trailing dot. Numeric hosts that are not a canonical IP
  (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``) are refused, because resolvers
  and validators disagree about what they mean.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from gitreg.core import record
from gitreg.core.lazy_re import lazy

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services: never a destination, whatever an allow-list says (#23).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
        "168.63.129.16",  # Azure WireServer (a global address, so named here)
    )
)
METADATA_NAMES = frozenset(
    ("metadata", "metadata.google.internal", "metadata.goog", "instance-data")
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC_LABEL = lazy(r"(?:0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)
_NAME = lazy(
    r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
)
_AUTHORITY = lazy(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")

PUBLIC, PRIVATE, FORBIDDEN = "public", "private", "forbidden"


class HostProblem(ValueError):
    """A host that cannot be a destination, whatever the allow-list says."""


def normalize_host(host: str) -> str:
    """The host as a resolver sees it: no brackets, lower case, ASCII, no trailing dot.

    Raises:
        HostProblem: empty, not encodable as IDNA, or a numeric host that is not a
            canonical IP address.
    """
    name = host.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if ":" in name:  # IPv6 (a zone such as %eth0 is kept for ipaddress to judge)
        return name.lower()
    if name.endswith(".") and not name.endswith(".."):
        name = name[:-1]
    if not name:
        raise HostProblem("has no host")
    try:
        name = name.encode("idna").decode("ascii").lower()
    except UnicodeError as e:
        raise HostProblem(f"has a host that is not a valid domain name ({e})") from e
    labels = name.split(".")
    if all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        try:
            ipaddress.IPv4Address(name)
        except ValueError as e:
            raise HostProblem(
                f"has the numeric host {name!r}, which is not a canonical IPv4 address; "
                "write it as four decimal numbers (e.g. 10.0.0.1) or use a name"
            ) from e
    elif not _NAME.fullmatch(name):
        raise HostProblem(f"has the host {name!r}, which is not a valid host name")
    return name


def parse_ip(host: str) -> IP | None:
    """The IP address ``host`` (normalized) spells, or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def embedded(ip: IP) -> IP:
    """The IPv4 address an IPv6 transition address carries (mapped, 6to4, NAT64, Teredo)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def classify(ip: IP) -> tuple[str, str]:
    """``(PUBLIC|PRIVATE|FORBIDDEN, what it is)`` for an address."""
    inner = embedded(ip)
    if isinstance(inner, ipaddress.IPv6Address) and inner.scope_id:
        inner = ipaddress.IPv6Address(str(inner).split("%", 1)[0])
    if inner in METADATA_ADDRESSES:
        return FORBIDDEN, "a cloud metadata address"
    if inner.is_loopback:
        return PRIVATE, "a loopback address"
    for flag, what in (
        ("is_link_local", "a link-local address"),
        ("is_unspecified", "the unspecified address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(inner, flag):
            return FORBIDDEN, what
    if inner.is_global:
        return PUBLIC, "a public address"
    return PRIVATE, "a private address"


def host_of(url: str) -> str | None:
    """The host part of ``scheme://[userinfo@]host[:port]/...`` as written, or None."""
    match = _AUTHORITY.match(url)
    if not match:
        return None
    authority = match.group(1).rpartition("@")[2]
    if authority.startswith("["):
        return authority.partition("]")[0] + "]"
    return authority.rpartition(":")[0] if authority.count(":") == 1 else authority


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url`` in lower case, the default port left out."""
    match = _AUTHORITY.match(url)
    host = host_of(url)
    if not match or host is None:
        return None
    scheme = url.split(":", 1)[0].lower()
    authority = match.group(1).rpartition("@")[2]
    port = authority[len(host) :].lstrip(":")
    host = host.lower()
    host = host[:-1] if host.endswith(".") and not host.endswith("..") else host
    default = {"https": "443", "http": "80"}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def _entry(text: str) -> str | ipaddress.IPv4Network | ipaddress.IPv6Network:
    """One ``allow.hosts`` entry: a network, or a normalized name (``*.`` kept)."""
    if "/" in text:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    if text.startswith("*."):
        return "*." + normalize_host(text[2:])
    return normalize_host(text)


def entry_problem(text: str) -> str | None:
    """Why ``text`` is not a usable ``notifications.allow.hosts`` entry (None if it is)."""
    try:
        entry = _entry(text)
    except (HostProblem, ValueError) as e:
        return f"{text!r} is not a host name, an IP address or a network (CIDR): {e}"
    if isinstance(entry, str):
        ip = parse_ip(entry)
        if entry in METADATA_NAMES or (ip is not None and classify(ip)[0] == FORBIDDEN):
            what = classify(ip)[1] if ip is not None else "a cloud metadata name"
            return f"{text!r} is {what}, which delivery never reaches; remove it"
    return None


@record.dataclass(frozen=True, slots=True)
class HostRules:
    """Which destinations delivery may reach: public ones, and the private ones listed."""

    hosts: tuple[str, ...] = ()  # notifications.allow.hosts as written
    allow_private: bool = False  # MLflow's MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS, in the plugin

    def _entries(self) -> list[str | ipaddress.IPv4Network | ipaddress.IPv6Network]:
        found = []
        for text in self.hosts:
            try:
                found.append(_entry(text))
            except (HostProblem, ValueError):
                continue  # validate reports it; an unreadable entry allows nothing
        return found

    def listed(self, name: str, ip: IP | None = None) -> bool:
        """Whether the allow-list names ``name`` (normalized), or a network holding ``ip``."""
        for entry in self._entries():
            if isinstance(entry, str):
                if entry == name or (entry.startswith("*.") and name.endswith(entry[1:])):
                    return True
                if ip is not None and parse_ip(entry) in (ip, embedded(ip)):
                    return True
            elif ip is not None and any(
                a.version == entry.version and a in entry for a in (ip, embedded(ip))
            ):
                return True
        return False

    def check_name(self, host: str) -> str | None:
        """Why ``host`` as written is refused before any lookup (None: it may be tried).

        A literal address is judged here; a name only if it is a metadata name, or
        ``localhost``, which is loopback wherever it resolves.
        """
        try:
            name = normalize_host(host)
        except HostProblem as e:
            return str(e)
        if name in METADATA_NAMES:
            return (
                f"must not reach a cloud metadata service: {name} is one (refused always, "
                "whatever notifications.allow.hosts says)"
            )
        ip = parse_ip(name)
        if ip is not None:
            return self.check_address(name, ip)
        if name == "localhost" or name.endswith(".localhost"):
            return self.check_address(name, ipaddress.ip_address("127.0.0.1"))
        return None

    def check_address(self, name: str, ip: IP) -> str | None:
        """Why connecting to ``ip`` for host ``name`` is refused (None: it is allowed)."""
        kind, what = classify(ip)
        where = name if parse_ip(name) is not None else f"{name} resolves to {ip}, which"
        if embedded(ip) != ip:
            what = f"{what} ({embedded(ip)} inside an IPv6 address)"
        if kind == FORBIDDEN:
            return (
                f"must not reach {what}: {where} is one (refused always, whatever "
                "notifications.allow.hosts says)"
            )
        if kind == PRIVATE and not (self.allow_private or self.listed(name, ip)):
            return (
                f"must not resolve to a non-public IP address: {where} is {what}; if it is "
                f"your own receiver, add {name} to notifications.allow.hosts in gitreg.yaml"
            )
        return None


def refusals(rules: HostRules, hosts: Iterable[str]) -> list[str]:
    """The problems of each literal host in ``hosts`` (for validate)."""
    return [p for p in (rules.check_name(h) for h in hosts) if p]
