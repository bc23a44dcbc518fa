"""SSRF guard for tenant-supplied PSA site URLs.

Tenants tell us where their PSA lives and we then send authenticated requests
there, so an unchecked URL would let a tenant make us call loopback, cloud
metadata or private-network services. Two checks exist: ``check_site_url`` when
the URL is saved and ``check_connect_target`` before every request (DNS can
change between the two). Hosts in ``allowed_hosts`` (operator config, e.g. a
local PSA stub) skip the IP/name/DNS rules but not the syntax rules: ``host:port``
allows http or https on that port, ``host:*`` on any port, a bare ``host`` https
on 443 only.

Residual risk: the HTTP client resolves again after our check (DNS rebinding), so
it must also refuse redirects (or re-check every hop).
"""
from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"https": 443, "http": 80}
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL_RE = re.compile(r"0x[0-9a-f]*|[0-9]+")
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeUrlError(ValueError):
    """The URL must not be stored or contacted; ``code`` is stable, ``reason`` is for humans."""

    def __init__(self, reason: str, code: str = "unsafe_url") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class _Target:
    normalized: str
    host: str
    port: int
    allow_listed: bool


def _default_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _is_ip_literal(host: str) -> bool:
    """True for any spelling a resolver may read as an IP (dotted, decimal, octal, hex, short)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(host)
        return True
    except (OSError, ValueError):
        pass
    # WHATWG rule: a numeric last label means the host is parsed as IPv4 (TLDs are never numeric).
    return _NUMERIC_LABEL_RE.fullmatch(host.rsplit(".", 1)[-1]) is not None


def _is_public(addr: str) -> bool:
    """True if ``addr`` is globally routable, also after unwrapping embedded IPv4 forms."""
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            candidates.append(ip.sixtofour)
        if ip.teredo is not None:
            candidates.extend(ip.teredo)
        if ip in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return all(
        c.is_global and not (c.is_multicast or c.is_reserved or c.is_unspecified or c.is_loopback or c.is_link_local)
        for c in candidates
    )


def _split_netloc(netloc: str) -> tuple[str, bool, int | None]:
    """Return (host, is_bracketed_ipv6, explicit_port) or raise UnsafeUrlError."""
    port_str: str | None = None
    if netloc.startswith("["):
        host, sep, rest = netloc[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UnsafeUrlError("malformed bracketed IPv6 host")
        port_str = rest[1:] if rest else None
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeUrlError("malformed bracketed IPv6 host") from None
        bracketed = True
    else:
        if netloc.count(":") > 1:
            raise UnsafeUrlError("IPv6 hosts must be in brackets")
        host, sep, port_str_raw = netloc.partition(":")
        port_str = port_str_raw if sep else None
        bracketed = False
    port: int | None = None
    if port_str is not None:
        if not port_str.isdigit() or not 1 <= int(port_str) <= 65535:
            raise UnsafeUrlError("port must be a number from 1 to 65535")
        port = int(port_str)
    return host.lower(), bracketed, port


def _allow_listed(host: str, host_key: str, scheme: str, port: int, allowed_hosts: frozenset[str]) -> bool:
    """Does an operator entry cover this scheme, host and port?

    `host:port` covers http and https on that port; `host:*` every port (test rigs whose stubs take random
    ports); a bare `host` only https on 443, so naming a host never opens its other ports (Redis on 6379,
    an admin console on 8080) to plain-http requests carrying a tenant's keys.
    """
    allowed = {h.strip().lower() for h in allowed_hosts}
    names = {host, host_key}
    if {f"{n}:{port}" for n in names} & allowed or {f"{n}:*" for n in names} & allowed:
        return True
    return scheme == "https" and port == _DEFAULT_PORTS["https"] and bool(names & allowed)


def _parse(url: str, allowed_hosts: frozenset[str], *, allow_query: bool = False) -> _Target:
    """Apply the syntax and allow-list rules and return the parsed, normalized target."""
    if not isinstance(url, str) or not url:
        raise UnsafeUrlError("URL is required")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrlError(f"URL is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii():
        raise UnsafeUrlError("URL must be ASCII (use punycode for internationalized names)")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url) or "\\" in url:
        raise UnsafeUrlError("URL contains whitespace, control characters or backslashes")
    # The authority ends at the first "?" (as in urlsplit and urllib3), so "@" after it is inert.
    if "@" in (url.partition("?")[0] if allow_query else url):
        raise UnsafeUrlError("URL must not contain credentials or '@'")
    if "#" in url or ("?" in url and not allow_query):
        raise UnsafeUrlError("URL must not contain a query string or fragment")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise UnsafeUrlError("URL could not be parsed") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeUrlError("URL scheme must be https")
    host, bracketed, explicit_port = _split_netloc(parts.netloc)
    if not host:
        raise UnsafeUrlError("URL has no host")
    if not bracketed and (len(host) > 253 or not all(_LABEL_RE.fullmatch(lbl) for lbl in host.split("."))):
        raise UnsafeUrlError("host name is not valid")
    port = explicit_port if explicit_port is not None else _DEFAULT_PORTS[scheme]
    host_key = f"[{host}]" if bracketed else host
    allow_listed = _allow_listed(host, host_key, scheme, port, allowed_hosts)
    if scheme != "https" and not allow_listed:
        raise UnsafeUrlError("URL scheme must be https")
    if not allow_listed:
        if bracketed or _is_ip_literal(host):
            raise UnsafeUrlError("IP address hosts are not allowed; use a DNS name")
        if host == "localhost" or host.endswith(_INTERNAL_SUFFIXES) or "." not in host:
            raise UnsafeUrlError("internal host names are not allowed")
    shown_port = f":{explicit_port}" if explicit_port not in (None, _DEFAULT_PORTS[scheme]) else ""
    normalized = f"{scheme}://{host_key}{shown_port}{parts.path.rstrip('/')}"
    return _Target(normalized, host, port, allow_listed)


def _check_resolved(target: _Target, resolve: Resolver | None, *, strict: bool) -> None:
    """Reject if any resolved address is non-global; unresolvable is an error only if ``strict``."""
    try:
        addrs = (resolve or _default_resolve)(target.host, target.port)
    except (OSError, UnicodeError):
        addrs = []
    if not addrs:
        if strict:
            raise UnsafeUrlError("host name does not resolve", code="unresolvable_host")
        return
    if not all(_is_public(a) for a in addrs):
        raise UnsafeUrlError("host resolves to a private, loopback or otherwise non-public address")


def check_site_url(url: str, allowed_hosts: frozenset[str], resolve: Resolver | None = None) -> str:
    """Validate a PSA site URL at save time and return it normalized.

    Normalized form is ``scheme://host[:port]`` plus the path without trailing
    slashes. A host that does not resolve is ACCEPTED here (this service may have
    no DNS for public names when the URL is saved); ``check_connect_target``
    re-resolves and rejects it before any request is sent.
    """
    target = _parse(url, allowed_hosts)
    if not target.allow_listed:
        _check_resolved(target, resolve, strict=False)
    return target.normalized


def check_connect_target(url: str, allowed_hosts: frozenset[str], resolve: Resolver | None = None) -> None:
    """Send-time check run before every outbound PSA request; unresolvable hosts are rejected.

    Same rules as ``check_site_url`` except that a query string is allowed, since
    API request URLs carry one (only the scheme, host and port matter here).
    """
    target = _parse(url, allowed_hosts, allow_query=True)
    if not target.allow_listed:
        _check_resolved(target, resolve, strict=True)
