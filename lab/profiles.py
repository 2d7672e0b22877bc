"""The lab's delay profiles: one table for every double.

A profile says how long each slow step of the real services takes (seconds); `--delay-scale`
multiplies all of them. ``fast`` keeps the suite quick; ``devstack`` is what a Devstack on
nested virtualisation shows (an amphora VM boots in minutes). A double never waits less than its
profile says, and no double reads the profile at import time: each main() takes --profile and
--delay-scale and builds its delays with ``delays()``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Delays:
    """Seconds each slow step takes.

    volume_create / volume_delete: Cinder's `creating` / `deleting` states.
    volume_attach / volume_detach: Nova's attach (`reserved` -> `attaching` -> `in-use`) and detach
        (`detaching`) of a volume to a server.
    volume_extend: Cinder's `extending` of a volume (os-extend; on LVM an lvextend and, for an
        attached volume, the host's rescan: a few seconds).
    amphora_boot: Octavia's PENDING_CREATE of a new load balancer (the amphora VM boots).
    lb_update: a listener, pool, member or monitor change (the parent is PENDING_UPDATE).
    lb_delete: the load balancer's PENDING_DELETE.
    pod_start: from a pod's binding to its containers running (image pull and start).
    csi_cinder_wait: how long the CSI driver waits for Cinder before it gives up and retries.
    """

    volume_create: float
    volume_delete: float
    volume_attach: float
    volume_detach: float
    volume_extend: float
    amphora_boot: float
    lb_update: float
    lb_delete: float
    pod_start: float
    csi_cinder_wait: float

    def scaled(self, factor: float) -> Delays:
        """Every delay times ``factor`` (a finite number above 0). The CSI driver's patience is
        never shortened below the profile's: a wait is a limit, not a delay."""
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"delay scale {factor!r} must be a finite number above 0")
        scaled = {f.name: getattr(self, f.name) * factor for f in fields(self)}
        scaled["csi_cinder_wait"] = self.csi_cinder_wait * max(1.0, factor)
        return replace(self, **scaled)


PROFILES: dict[str, Delays] = {
    "fast": Delays(volume_create=0.3, volume_delete=0.3, volume_attach=0.3, volume_detach=0.3,
                   volume_extend=0.3, amphora_boot=1.0, lb_update=0.2, lb_delete=0.3, pod_start=0.1,
                   csi_cinder_wait=60.0),
    "devstack": Delays(volume_create=20.0, volume_delete=20.0, volume_attach=10.0, volume_detach=10.0,
                       volume_extend=5.0, amphora_boot=240.0, lb_update=5.0, lb_delete=10.0, pod_start=90.0,
                       csi_cinder_wait=300.0),
}


def delays(profile: str, delay_scale: float = 1.0) -> Delays:
    """The named profile's delays, scaled; a clear error for an unknown profile."""
    try:
        base = PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown delay profile {profile!r}; known: {', '.join(sorted(PROFILES))}") from None
    return base.scaled(delay_scale)
