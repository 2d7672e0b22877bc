"""Keystone v3: users admin and demo, their projects, tokens and the service catalog."""
