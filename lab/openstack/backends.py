"""The one container through which the services reach each other (no lookups by string)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from lab.cluster import ClusterShape
from lab.openstack.block_storage.models import BlockStorageBackend
from lab.openstack.compute.models import ComputeBackend
from lab.openstack.core.ticker import Ticker
from lab.openstack.identity.models import IdentityBackend
from lab.openstack.load_balancer.amphora import AmphoraFleet
from lab.openstack.load_balancer.amphora_sync import AmphoraSync
from lab.openstack.load_balancer.models import LoadBalancerBackend
from lab.openstack.network.models import NetworkBackend


@dataclass
class Backends:
    """Every service's state, one lock for all of them (a change may touch several: an attach
    both Nova and Cinder, a load balancer Octavia and Neutron), one ticker, one delay table."""

    identity: IdentityBackend
    block_storage: BlockStorageBackend
    compute: ComputeBackend
    network: NetworkBackend
    load_balancer: LoadBalancerBackend
    amphorae: AmphoraSync
    ticker: Ticker
    lock: threading.RLock
    delays: dict[str, float] = field(default_factory=dict)


def build_backends(base_url: str, state_dir: Path, delays: dict[str, float], passwords: dict[str, str],
                   cluster: ClusterShape) -> Backends:
    lock = threading.RLock()
    ticker = Ticker(lock)
    amphorae_dirty = threading.Event()
    compute = ComputeBackend(cluster, lock, ticker, delays)
    network = NetworkBackend(cluster, list(compute.servers.values()), lock, amphorae_dirty)
    load_balancer = LoadBalancerBackend(network, lock, ticker, delays, amphorae_dirty)
    return Backends(identity=IdentityBackend(base_url, passwords, lock),
                    block_storage=BlockStorageBackend(lock, ticker, delays), compute=compute, network=network,
                    load_balancer=load_balancer, amphorae=AmphoraSync(load_balancer, AmphoraFleet(state_dir)),
                    ticker=ticker, lock=lock, delays=delays)
