"""probe/identity.py: the `Server <pod> on <node>` line."""

from __future__ import annotations

import pytest

from probe.identity import Identity, parse_identity

pytestmark = pytest.mark.timeout(60)


def test_parse_identity():
    assert parse_identity("Server server-x7k2p on worker1\n") == Identity("server-x7k2p", "worker1")
    assert parse_identity("<html>\nServer a on b\n</html>") == Identity("a", "b")
    assert parse_identity("Welcome to nginx!") is None
    assert parse_identity("Server  on worker1") is None
