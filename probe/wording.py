"""Counts in words: `1 pod`, `2 pods`."""

from __future__ import annotations


def counted(number: int, noun: str) -> str:
    """The number and the noun, plural unless the number is 1 (every noun here takes an s)."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
