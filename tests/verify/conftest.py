"""Fixtures of verify's tests: a deployed stack's outputs and config as files."""

from __future__ import annotations

import json

import pytest
from verify_builders import CONTROLLERS, EXTERNAL_IP, HASHES, IMAGE, LB_ID


@pytest.fixture
def stack_files(tmp_path) -> list[str]:
    outputs = {"externalIp": EXTERNAL_IP, "url": f"http://{EXTERNAL_IP}:80/", "loadBalancerId": LB_ID,
               "volumeTypeName": "multiattach-type", "storageClassName": "csi-sc-cinderplugin", "claimName": "claim1",
               "serviceName": "lb-webserver", "serverReplicas": 8, "lbserverReplicas": 8, "namespace": "default",
               "image": IMAGE, "volumeSizeGi": 1,
               **{f"{app}Controller": name for app, name in CONTROLLERS.items()},
               **{f"{app}TemplateHash": hash_ for app, hash_ in HASHES.items()}}
    config = {"devstack-k8s-apps:multiattach": {"value": "true", "secret": False}}
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    (tmp_path / "config.json").write_text(json.dumps(config))
    return ["--outputs-json", str(tmp_path / "outputs.json"), "--config-json", str(tmp_path / "config.json")]
