"""Where to probe: a URL given on the command line, or a stack's `url` output."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from probe.exit_codes import UsageError
from probe.pulumi_cli import MISSING, PulumiCliError, pulumi_stack_outputs


def checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url {url!r} is not an http:// or https:// URL with a host")
    try:
        _ = parts.port  # raises ValueError for a port that is out of range or not a number
    except ValueError:
        raise UsageError(f"--url {url!r} has an invalid port") from None
    return url


def url_from_stack(stack: str | None) -> str:
    """The `url` output of a stack (the selected one when stack is None)."""
    name = stack or "the selected stack"
    try:
        outputs = pulumi_stack_outputs(stack)
    except PulumiCliError as error:
        hint = ": install it, or pass --url" if error.kind == MISSING else ""
        raise UsageError(f"{error}{hint}") from None
    url = outputs.get("url") if isinstance(outputs, dict) else None
    if not url:
        raise UsageError(f"{name} has no `url` output yet: run `pulumi up` first, or pass --url")
    try:
        return checked_url(url)
    except UsageError:
        raise UsageError(f"{name} has an unusable `url` output: {url!r}") from None


def resolvable(url: str) -> str:
    """The URL, once its host resolves: a name that never will would otherwise look like a load
    balancer that is not up yet, and be waited for until the deadline."""
    host = urlsplit(url).hostname
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UsageError(f"the host {host!r} of {url} does not resolve: {error.strerror}") from None
    except UnicodeError as error:  # the IDNA codec refuses an empty or over-long label
        raise UsageError(f"the host {host!r} of {url} is not a valid name: {error}") from None
    return url
