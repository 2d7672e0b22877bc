"""probe/wording.py: counts in words."""

from __future__ import annotations

import pytest

from probe.wording import counted

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("number, noun, expected", [
    (1, "pod", "1 pod"),
    (0, "pod", "0 pods"),
    (2, "node", "2 nodes"),
    (64, "failed attempt", "64 failed attempts"),
])
def test_plural_unless_one(number, noun, expected):
    assert counted(number, noun) == expected
