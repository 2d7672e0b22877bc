"""Cinder v3: volume types (volume_types.py), volumes and their attachments (volumes.py)."""
