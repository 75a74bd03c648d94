"""Where a delivery may go: the URL's rules, and its host's addresses checked at send
time, after resolving it, against loopback, private, link-local (cloud metadata),
shared, multicast and reserved ranges (server-side request forgery). The request then
connects to the very address checked: a second resolution could answer another one
(DNS rebinding).

Platform settings (the operator's environment; see `settings`):
- ``PREMIA_WEBHOOKS_ALLOW_PRIVATE``: "1" lets deliveries reach any address
  (development and tests, a receiver on this machine);
- ``PREMIA_WEBHOOKS_HTTPS_ONLY``: "0" accepts http:// URLs (on by default, off in
  development and tests)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import dns.exception
import dns.nameserver
import dns.resolver
from flask import current_app
from flask_babel import lazy_gettext as _l

from core.sdk import InvalidInput

URL_MAX = 500

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The delivery may not go there: `reason` is shown in the delivery log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_url(url: str, *, https_only: bool) -> SplitResult:
    """A URL an endpoint may have; InvalidInput (field `url`) otherwise."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput(
            url=_l("Write a full address, such as https://example.com/hooks.")
        ) from None
    if len(url) > URL_MAX:
        raise InvalidInput(url=_l("The address is too long."))
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput(url=_l("Write a full address, such as https://example.com/hooks."))
    if https_only and parts.scheme != "https":
        raise InvalidInput(url=_l("The address must start with https://."))
    if parts.username or parts.password or parts.fragment:
        raise InvalidInput(url=_l("The address may not hold a user, password or #fragment."))
    if port == 0:
        raise InvalidInput(url=_l("Write a full address, such as https://example.com/hooks."))
    return parts


def forbidden(address: IPAddress) -> bool:
    """Whether `address` is one a webhook must never reach (anything but the public
    internet: loopback, private, link-local such as 169.254.169.254, shared, reserved…)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def resolve(host: str) -> list[IPAddress]:
    """The host's addresses now (an address literal is its own)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    servers = current_app.config.get("PREMIA_DNS_NAMESERVERS")
    try:
        if servers:
            return _resolve_with(servers, host)
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, dns.exception.DNSException) as error:
        raise Refused(f"DNS: {host}: {type(error).__name__}") from error
    found = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if address not in found:
            found.append(address)
    return found


def _resolve_with(servers: list[str], host: str) -> list[IPAddress]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [_nameserver(s) for s in servers]
    resolver.lifetime = current_app.config.get("PREMIA_DNS_TIMEOUT", 5)
    found: list[IPAddress] = []
    for kind in ("A", "AAAA"):
        try:
            found += [ipaddress.ip_address(r.to_text()) for r in resolver.resolve(host, kind)]
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
    if not found:
        raise Refused(f"DNS: {host}: no address")
    return found


def _nameserver(text: str) -> dns.nameserver.Do53Nameserver:
    """ "1.2.3.4", "1.2.3.4:5353" or "[::1]:5353"."""
    if text.startswith("["):
        address, _, port = text[1:].partition("]:")
    elif text.count(":") == 1:
        address, _, port = text.partition(":")
    else:
        address, port = text, ""
    return dns.nameserver.Do53Nameserver(address, int(port or 53))


@dataclass(frozen=True)
class Target:
    """Where one request goes: the URL's parts and the address checked for it."""

    parts: SplitResult
    address: IPAddress


def target(url: str) -> Target:
    """The address to connect to for `url`, resolved and checked now; Refused when the
    URL or every address it has is not allowed."""
    config = current_app.config
    try:
        parts = check_url(url, https_only=config["PREMIA_WEBHOOKS_HTTPS_ONLY"])
    except InvalidInput as error:
        raise Refused("invalid URL") from error
    addresses = resolve(parts.hostname or "")
    if not addresses:
        raise Refused(f"DNS: {parts.hostname}: no address")
    if not config["PREMIA_WEBHOOKS_ALLOW_PRIVATE"]:
        # One private answer refuses the host: its owner could rotate between them.
        bad = [a for a in addresses if forbidden(a)]
        if bad:
            raise Refused(f"address not allowed: {bad[0]}")
    return Target(parts, addresses[0])
