"""Builds, or reuses, the pinned Go tools the real-engine tests and the lab run (see build.py)."""
