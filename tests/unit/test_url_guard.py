"""Unit tests for shared.security.url_guard (no network: resolvers are injected)."""
from __future__ import annotations

import socket
from typing import Any

import pytest

from shared.security.url_guard import UnsafeUrlError, check_connect_target, check_site_url

NONE: frozenset[str] = frozenset()
PUBLIC_IP = "93.184.216.34"


def public(host: str, port: int) -> list[str]:
    return [PUBLIC_IP]


def unresolvable(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def must_not_resolve(host: str, port: int) -> list[str]:
    raise AssertionError(f"resolver called for {host}")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1",
        "https://127.0.0.1",
        "https://169.254.169.254",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5",
        "https://192.168.1.1",
        "https://172.16.0.1",
        "https://8.8.8.8",
        "https://[::1]",
        "https://[::ffff:127.0.0.1]",
        "https://[2606:4700::1111]",
        "https://2130706433",
        "https://0177.0.0.1",
        "https://0x7f.0.0.1",
        "https://0x7f000001",
        "https://127.1",
        "https://localhost",
        "https://LOCALHOST",
        "https://api.localhost",
        "https://printer.local",
        "https://metadata.google.internal",
        "https://intranet",
        "https://localhost.",
        "https://user:pw@good.example.com",
        "https://user@good.example.com",
        "https://good.example.com@127.0.0.1",
        "https://127.0.0.1#@good.example.com",
        "https://good.example.com#frag",
        "https://good.example.com\\@127.0.0.1",
        "https://good.example.com /x",
        "https://good.example.com\t",
        "https://good.example.com\n.evil",
        "https://g\u00f6od.example.com",
        "https://good%2eexample.com",
        "http://good.example.com",
        "ftp://x.example.com",
        "javascript:alert(1)",
        "good.example.com",
        "https://",
        "https:///good.example.com",
        "https://:443",
        "https://good.example.com:0",
        "https://good.example.com:65536",
        "https://good.example.com:-1",
        "https://good.example.com:",
        "https://good.example.com:abc",
        "https://[::1",
        "https://::1",
        "https://" + "a" * 2050 + ".com",
        "",
    ],
)
def test_rejected_urls(url: str) -> None:
    with pytest.raises(UnsafeUrlError) as exc:
        check_site_url(url, NONE, resolve=must_not_resolve)
    assert exc.value.code == "unsafe_url"
    assert exc.value.reason
    assert isinstance(exc.value, ValueError)
    with pytest.raises(UnsafeUrlError):
        check_connect_target(url, NONE, resolve=must_not_resolve)


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.1"],
        [PUBLIC_IP, "10.0.0.1"],
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["100.64.0.1"],
        ["0.0.0.0"],
        ["224.0.0.1"],
        ["::1"],
        ["fe80::1%eth0"],
        ["fd00::1"],
        ["::ffff:10.0.0.1"],
        ["2002:7f00:1::1"],
        ["64:ff9b::a00:1"],
        ["not-an-ip"],
    ],
)
def test_host_resolving_to_non_public_address_rejected(addresses: list[str]) -> None:
    def resolve(host: str, port: int) -> list[str]:
        return addresses

    for check in (check_site_url, check_connect_target):
        with pytest.raises(UnsafeUrlError) as exc:
            check("https://psa.example.com", NONE, resolve=resolve)
        assert exc.value.code == "unsafe_url"


def test_public_host_accepted_and_normalized() -> None:
    seen: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        seen.append((host, port))
        return [PUBLIC_IP, "2606:4700::1111"]

    url = "https://na.myconnectwise.net"
    assert check_site_url(url, NONE, resolve=resolve) == url
    assert check_connect_target(url, NONE, resolve=resolve) is None
    assert seen == [("na.myconnectwise.net", 443)] * 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://NA.MyConnectWise.NET/", "https://na.myconnectwise.net"),
        ("https://na.myconnectwise.net:443/v4_6_release/apis/3.0/", "https://na.myconnectwise.net/v4_6_release/apis/3.0"),
        ("https://na.myconnectwise.net:8443//", "https://na.myconnectwise.net:8443"),
    ],
)
def test_normalization(url: str, expected: str) -> None:
    assert check_site_url(url, NONE, resolve=public) == expected


def test_resolver_gets_explicit_port() -> None:
    seen: list[int] = []

    def resolve(host: str, port: int) -> list[str]:
        seen.append(port)
        return [PUBLIC_IP]

    check_site_url("https://psa.example.com:8443", NONE, resolve=resolve)
    assert seen == [8443]


@pytest.mark.parametrize("allowed", [frozenset({"127.0.0.1:8765"}), frozenset({"127.0.0.1:*"})])
def test_allow_listed_loopback_stub(allowed: frozenset[str]) -> None:
    url = "http://127.0.0.1:8765"
    assert check_site_url(url, allowed, resolve=must_not_resolve) == url
    assert check_site_url(url + "/cw/", allowed, resolve=must_not_resolve) == url + "/cw"
    check_connect_target(url + "/cw/tickets?page=2", allowed, resolve=must_not_resolve)


def _refused(check: Any, url: str, allowed: frozenset[str]) -> None:
    with pytest.raises(UnsafeUrlError):
        check(url, allowed, resolve=must_not_resolve)


def test_allow_list_port_must_match() -> None:
    allowed = frozenset({"127.0.0.1:8765"})
    _refused(check_site_url, "http://127.0.0.1:9999", allowed)
    _refused(check_connect_target, "http://127.0.0.1:9999", allowed)
    _refused(check_site_url, "http://127.0.0.1", allowed)


@pytest.mark.parametrize("url", ["http://127.0.0.1", "http://127.0.0.1:6379", "http://127.0.0.1:8765",
                                 "https://127.0.0.1:6379", "https://127.0.0.1:8443"])
def test_a_portless_entry_no_longer_opens_every_port(url: str) -> None:
    """`host` lifts the address rules for https on 443 only; other ports and plain http need `host:port`."""
    allowed = frozenset({"127.0.0.1"})
    with pytest.raises(UnsafeUrlError):
        check_site_url(url, allowed, resolve=must_not_resolve)
    with pytest.raises(UnsafeUrlError):
        check_connect_target(url + "/apis/3.0/x?y=1", allowed, resolve=must_not_resolve)


def test_a_portless_entry_still_allows_https_on_443() -> None:
    allowed = frozenset({"127.0.0.1", "psa.corp.lan"})
    assert check_site_url("https://127.0.0.1", allowed, resolve=must_not_resolve) == "https://127.0.0.1"
    assert check_site_url("https://127.0.0.1:443/cw", allowed, resolve=must_not_resolve) == "https://127.0.0.1/cw"
    check_connect_target("https://psa.corp.lan/apis/3.0/x?y=1", allowed, resolve=must_not_resolve)


def test_a_wildcard_port_entry_opens_every_port_of_that_host_only() -> None:
    allowed = frozenset({"127.0.0.1:*"})
    for url in ("http://127.0.0.1:1234", "https://127.0.0.1:8443", "http://127.0.0.1"):
        check_connect_target(url, allowed, resolve=must_not_resolve)
    with pytest.raises(UnsafeUrlError):
        check_site_url("http://127.0.0.2:1234", allowed, resolve=must_not_resolve)


def test_allow_list_still_rejects_userinfo_and_other_hosts() -> None:
    allowed = frozenset({"127.0.0.1:*"})
    _refused(check_site_url, "http://user:pw@127.0.0.1:8765", allowed)
    _refused(check_site_url, "http://127.0.0.2", allowed)


def test_allow_listed_names_and_ipv6() -> None:
    assert check_site_url("http://localhost:8765", frozenset({"localhost:8765"}), resolve=must_not_resolve)
    assert check_site_url("https://localhost", frozenset({"localhost"}), resolve=must_not_resolve)
    assert check_site_url("http://psa-stub", frozenset({"psa-stub:80"}), resolve=must_not_resolve) == "http://psa-stub"
    assert check_site_url("http://[::1]:8765", frozenset({"[::1]:8765"}), resolve=must_not_resolve)


@pytest.mark.parametrize("resolver", [unresolvable, lambda host, port: []])
def test_unresolvable_host(resolver) -> None:  # type: ignore[no-untyped-def]
    url = "https://psa.example.com"
    assert check_site_url(url, NONE, resolve=resolver) == url
    with pytest.raises(UnsafeUrlError) as exc:
        check_connect_target(url, NONE, resolve=resolver)
    assert exc.value.code == "unresolvable_host"


@pytest.mark.parametrize("url", ["https://psa.example.com/?q=1", "https://psa.example.com?", "https://psa.example.com/x?a@b"])
def test_site_url_rejects_query(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_site_url(url, NONE, resolve=public)


def test_connect_target_allows_query_but_not_userinfo_tricks() -> None:
    check_connect_target("https://psa.example.com/apis/3.0/tickets?conditions=a@b", NONE, resolve=public)
    for url in ("https://good.example.com@127.0.0.1/?x=1", "https://127.0.0.1?@good.example.com"):
        with pytest.raises(UnsafeUrlError):
            check_connect_target(url, NONE, resolve=must_not_resolve)


def test_default_resolver_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int, int]] = []

    def fake_getaddrinfo(host: str, port: int, *args: object, proto: int = 0, **kw: object) -> list[tuple]:
        calls.append((host, port, proto))
        return [(socket.AF_INET, socket.SOCK_STREAM, proto, "", ("10.1.2.3", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeUrlError):
        check_site_url("https://psa.example.com", NONE)
    assert calls == [("psa.example.com", 443, socket.IPPROTO_TCP)]
