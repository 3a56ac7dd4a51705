"""Database URLs: parsing, rendering without the password, and typed driver options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any, Literal

from ommi import errors

if TYPE_CHECKING:
    from dataclasses import dataclass
else:  # the same classes, built without compiling their methods at import (see there)
    from ommi._dataclasses import dataclass

__all__ = ["URL", "Option", "flag", "parse_url"]


def flag(value: Any) -> bool:
    """Read a boolean option: ``true/false``, ``1/0``, ``yes/no``, ``on/off`` (or a bool)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, not {value!r}")


@dataclass(frozen=True, slots=True)
class Option:
    """One option a driver accepts in its URL query or as a keyword argument.

    Args:
        convert: turns the text from a URL (or a keyword value) into the
            option's value; raise ``ValueError``/``TypeError`` for bad input.
            ``bool`` options use :func:`flag`.
        doc: what the option does (shown when an unknown option is given).
        multiple: the option may repeat in the URL; its value is then a list.
    """

    convert: Callable[[Any], Any] = str
    doc: str = ""
    multiple: bool = False


@dataclass(frozen=True)
class URL:
    """A parsed database URL; the password never appears in ``repr`` or ``str``."""

    scheme: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    path: str = ""
    query: Mapping[str, str] = field(default_factory=dict)
    """The query options (the last value of a repeated key; see :attr:`query_items`)."""
    hosts: tuple[str, ...] = ()
    """Several ``host[:port]`` entries (``mongodb://h1,h2:27018/db``); then ``host`` and ``port`` are ``None``."""
    query_items: tuple[tuple[str, str], ...] = ()
    """Every ``key=value`` pair of the query, in order, repeated keys included."""

    @property
    def database(self) -> str:
        """The path without its leading slash (a database name for server URLs)."""
        return self.path[1:] if self.path.startswith("/") else self.path

    def render(self, *, hide_password: bool = True) -> str:
        """The URL as text; the password shows as ``***`` unless ``hide_password=False``."""
        from urllib.parse import quote  # when needed: see _plain_url

        netloc = ""
        if self.username is not None or self.password is not None:
            netloc = quote(self.username or "", safe="")
            if self.password is not None:
                netloc += ":" + ("***" if hide_password else quote(self.password, safe=""))
            netloc += "@"
        if self.hosts:
            netloc += ",".join(self.hosts)
        elif self.host:
            netloc += f"[{self.host}]" if ":" in self.host else quote(self.host, safe="")
        if self.port is not None:
            netloc += f":{self.port}"
        text = f"{self.scheme}://{netloc}{self.path}"
        items = self.query_items or tuple(self.query.items())
        if items:
            text += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='/')}" for k, v in items)
        return text

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"URL({self.render()!r})"

    def options(
        self,
        known: Mapping[str, Option],
        given: Mapping[str, Any] | None = None,
        *,
        backend: str,
        unknown: Literal["error", "keep"] = "error",
    ) -> dict[str, Any]:
        """The driver options this URL's query and the keyword options ``given`` set, converted.

        Keyword options win over query options of the same name. Options the
        user did not set are absent from the result (the driver's own
        defaults apply).

        Args:
            known: the driver's options by name.
            given: keyword options passed to ``Ommi.connect(url, **options)``.
            backend: the backend's name, for messages.
            unknown: ``"error"`` refuses options not in ``known``;
                ``"keep"`` passes them through unchanged (for drivers whose
                native library validates its own options).

        Raises:
            ConnectionFailed: an unknown option, or a value that does not convert.
        """
        raw: dict[str, Any] = {}
        for key, value in self.query_items or tuple(self.query.items()):
            spec = known.get(key)
            if spec is not None and spec.multiple:
                raw.setdefault(key, []).append(value)
            else:
                raw[key] = value
        raw.update(given or {})
        out: dict[str, Any] = {}
        strange: list[str] = []
        for key, value in raw.items():
            spec = known.get(key)
            if spec is None:
                if unknown == "keep":
                    out[key] = value
                else:
                    strange.append(key)
                continue
            try:
                if spec.multiple:
                    values = value if isinstance(value, list) else [value]
                    out[key] = [spec.convert(v) for v in values]
                else:
                    out[key] = spec.convert(value)
            except (TypeError, ValueError) as exc:
                raise errors.ConnectionFailed(f"{backend} option {key}={value!r} is not valid: {exc}") from None
        if strange:
            listing = ", ".join(f"{k} ({o.doc})" if o.doc else k for k, o in known.items()) or "none"
            raise errors.ConnectionFailed(
                f"unknown {backend} option(s): {', '.join(sorted(strange))}; known options: {listing}"
            )
        return out


def parse_url(url: str) -> URL:
    """Parse ``scheme://user:password@host:port/path?key=value``.

    Raises:
        ConnectionFailed: the URL is malformed (the message never shows the password).
    """
    if not isinstance(url, str) or "://" not in url:
        raise errors.ConnectionFailed(
            "malformed database URL: expected scheme://..., e.g. sqlite:///app.db"
        )
    plain = _plain_url(url)
    return plain if plain is not None else _split_url(url)


def _split_url(url: str) -> URL:
    from urllib.parse import parse_qsl, unquote, urlsplit  # when needed: see _plain_url

    scheme = url.split("://", 1)[0].lower()
    try:
        parts = urlsplit(url)
        items = tuple(parse_qsl(parts.query, keep_blank_values=True))
        userinfo, _, hostlist = parts.netloc.rpartition("@")
        if "," in hostlist:  # a host list, as MongoDB replica sets and PostgreSQL failover use
            user, colon, password = userinfo.partition(":")
            return URL(
                scheme=scheme,
                username=unquote(user) if userinfo else None,
                password=unquote(password) if colon else None,
                path=unquote(parts.path),
                query=dict(items),
                hosts=tuple(h for h in hostlist.split(",") if h),
                query_items=items,
            )
        port = parts.port
    except ValueError as exc:
        raise errors.ConnectionFailed(f"malformed {scheme} URL: bad host or port") from exc
    return URL(
        scheme=scheme,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        path=unquote(parts.path),
        query=dict(items),
        query_items=items,
    )


_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")
_PLAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/")


def _plain_url(url: str) -> URL | None:
    """``scheme://host/path`` with nothing to split or decode, as :func:`parse_url` reads it; else ``None``.

    ``sqlite://``, ``sqlite:///app.db`` or ``postgresql://localhost/app``
    (no user, port, query, escapes or IPv6 brackets) need none of
    :mod:`urllib.parse`, whose import (with :mod:`ipaddress`) is about 2 ms
    of every program's start-up. The result is the one the general path
    gives (a test compares them).
    """
    scheme, sep, rest = url.partition("://")
    if not (sep and scheme and scheme[0].isascii() and scheme[0].isalpha()):
        return None
    if not (_SCHEME_CHARS.issuperset(scheme) and _PLAIN_CHARS.issuperset(rest)):
        return None
    host, slash, path = rest.partition("/")
    return URL(scheme=scheme.lower(), host=host.lower() or None, path=slash + path, query={})
