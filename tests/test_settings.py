"""Every configuration rule: a bad value stops the program, naming key, value and rule."""

from __future__ import annotations

import pytest
import yaml

from components.images import image_pin_problem
from components.settings import CONFIG_KEYS, PROJECT, SettingsError, parse_settings
from harness import PROJECT_DIR, ProgramFailed, run_program, stack_config


def defaults() -> dict[str, str]:
    prefix = f"{PROJECT}:"
    return {key[len(prefix):]: value for key, value in stack_config("devstack").items()}


def test_pulumi_yaml_declares_every_key_but_the_object_one():
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == set(CONFIG_KEYS) - {"loadBalancerAnnotations"}
    for key, spec in declared.items():
        assert spec["type"] in ("string", "integer", "boolean") and "default" in spec and spec["description"], key


def test_defaults_are_the_multiattach_devstack_scenario():
    settings = parse_settings(defaults())
    assert settings.replicas == 8 and settings.multiattach and settings.schedule_on_control_plane
    assert settings.volume_type_name == "multiattach-type"
    assert settings.storage_class_name == "csi-sc-cinderplugin" and settings.claim_name == "claim1"
    assert settings.service_name == "lb-webserver" and settings.service_port == 80
    assert settings.admin_cloud == "devstack-admin" and settings.load_balancer_annotations == {}
    assert settings.load_balancer_timeout_minutes == 20
    assert image_pin_problem(settings.image) is None


BAD_VALUES = [
    ("replicas", "0", "integer >= 1"),
    ("replicas", "three", "integer >= 1"),
    ("multiattach", "yes", "true or false"),
    ("volumeTypeName", "", "non-empty"),
    ("volumeTypeName", "x" * 256, "at most 255"),
    ("storageClassName", "CSI_SC", "RFC 1123 subdomain"),
    ("storageClassName", "a" * 254, "RFC 1123 subdomain"),
    ("claimName", "claim-", "RFC 1123 subdomain"),
    ("volumeSizeGi", "0", "integer >= 1"),
    ("volumeSizeGi", "1.5", "integer >= 1"),
    ("image", "nginx", "pinned"),
    ("image", "nginx:latest", "pinned"),
    ("image", "registry:5000/nginx", "pinned"),
    ("image", "nginx@sha256:abc", "pinned"),
    ("scheduleOnControlPlane", "1", "true or false"),
    ("namespace", "my.namespace", "RFC 1123 label"),
    ("namespace", "a" * 64, "RFC 1123 label"),
    ("serviceName", "LB", "RFC 1123 label"),
    ("servicePort", "0", "from 1 to 65535"),
    ("servicePort", "65536", "from 1 to 65535"),
    ("loadBalancerAnnotations", '["a"]', "JSON object"),
    ("loadBalancerAnnotations", '{"loadbalancer.openstack.org/keep-floatingip": {"nested": 1}}', "boolean values"),
    ("loadBalancerAnnotations", '{"loadbalancer.openstack.org/keep-floatingip": null}', "boolean values"),
    ("loadBalancerAnnotations", "{not json", "JSON object"),
    ("loadBalancerTimeoutMinutes", "0", "integer >= 1"),
    ("adminCloud", " ", "clouds.yaml entry"),
    ("volumeReleaseTimeoutMinutes", "0", "integer >= 1"),
    ("kubernetesVersion", "v1.35", "Kubernetes release"),
    ("kubernetesVersion", "1.35", "Kubernetes release"),
]


@pytest.mark.parametrize("key,value,rule", BAD_VALUES, ids=[f"{k}={v[:20]}" for k, v, _ in BAD_VALUES])
def test_bad_value_is_named_with_its_rule(key, value, rule):
    with pytest.raises(SettingsError) as raised:
        parse_settings({**defaults(), key: value})
    (problem,) = raised.value.problems
    assert f"{PROJECT}:{key} = {value!r}" in problem
    assert rule in problem


@pytest.mark.parametrize("key,value,rule", BAD_VALUES[::4], ids=[f"{k}" for k, _, _ in BAD_VALUES[::4]])
def test_bad_value_stops_the_program_before_any_registration(key, value, rule):
    with pytest.raises(ProgramFailed) as raised:
        run_program("devstack", True, {key: value})
    assert f"{PROJECT}:{key} = {value!r}" in str(raised.value) and rule in str(raised.value)
    assert raised.value.registrations == []


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(ProgramFailed) as raised:
        run_program("devstack-single", False, {"replicas": "-1", "servicePort": "http", "claimName": "Claim"})
    message = str(raised.value)
    for key in ("replicas", "servicePort", "claimName"):
        assert f"{PROJECT}:{key} = " in message
    assert raised.value.registrations == []


def test_a_missing_key_is_named():
    with pytest.raises(ProgramFailed) as raised:
        run_program("devstack", True, {"replicas": None})
    assert f"{PROJECT}:replicas is not set" in str(raised.value)
    assert raised.value.registrations == []


@pytest.mark.parametrize("image", ["nginx:1.27.4", "docker.io/library/nginx:1.27", "registry:5000/team/nginx:v2",
                                   "nginx@sha256:" + "a" * 64, "nginx:1.27@sha256:" + "b" * 64])
def test_pinned_images_are_accepted(image):
    assert image_pin_problem(image) is None


def test_annotations_parse_to_a_string_map():
    annotations = '{"loadbalancer.openstack.org/keep-floatingip": "true", "x/enable-health-monitor": true, "x/port": 8}'
    settings = parse_settings({**defaults(), "loadBalancerAnnotations": annotations})
    assert settings.load_balancer_annotations == {
        "loadbalancer.openstack.org/keep-floatingip": "true", "x/enable-health-monitor": "true", "x/port": "8"}
