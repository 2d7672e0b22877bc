"""The kubelet double mounts an attachable volume only once the node's status lists it as attached
(lab/kubelet.py listed_as_attached; the real kubelet's controller-attached check)."""
from __future__ import annotations

from lab.kubelet import listed_as_attached, unique_volume_name

PV = {"metadata": {"name": "pvc-1"},
      "spec": {"csi": {"driver": "cinder.csi.openstack.org", "volumeHandle": "141f938f"}}}
NAME = "kubernetes.io/csi/cinder.csi.openstack.org^141f938f"


def test_the_unique_name_is_the_attach_detach_controllers():
    assert unique_volume_name(PV) == NAME
    assert unique_volume_name({"spec": {"nfs": {"server": "x"}}}) is None


def test_a_volume_counts_as_attached_only_when_the_node_status_lists_it():
    listed = {"status": {"volumesAttached": [{"name": NAME, "devicePath": ""}]}}
    assert listed_as_attached(listed, NAME)
    assert not listed_as_attached({"status": {"volumesAttached": [{"name": NAME + "0"}]}}, NAME)
    assert not listed_as_attached({"status": {"volumesInUse": [NAME]}}, NAME)  # in use is not attached
    assert not listed_as_attached(None, NAME)
    assert not listed_as_attached(listed, None)
