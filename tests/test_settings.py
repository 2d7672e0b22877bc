"""Every configuration rule: a bad value stops the program, naming key, value and rule."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from harness import PROJECT_DIR, ProgramFailed, run_program, stack_config

from components.settings import (
    CONFIG_KEYS,
    PROJECT,
    Settings,
    SettingsError,
    annotation_key_problem,
    field_name,
    parse_settings,
)
from policy.devstack_domain import image_pin_problem


def defaults() -> dict[str, str]:
    """Pulumi.yaml's defaults as the engine passes them (strings; objects as JSON)."""
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    prefix = f"{PROJECT}:"
    return {key[len(prefix):]: value for key, value in stack_config("devstack").items()
            if key[len(prefix):] in declared and "default" in declared[key[len(prefix):]]}


def test_pulumi_yaml_declares_every_key_with_type_default_and_description():
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == set(CONFIG_KEYS)
    for key, spec in declared.items():
        assert spec["type"] in ("string", "integer", "boolean", "object"), key
        assert "default" in spec and spec["description"], key
    annotations = declared["loadBalancerAnnotations"]
    assert annotations == {**annotations, "type": "object", "default": {}}


def test_kubernetes_version_is_policy_config_not_program_config():
    assert "kubernetesVersion" not in CONFIG_KEYS


def test_one_name_per_concept_from_config_key_to_settings_field():
    assert [field.name for field in dataclasses.fields(Settings)] == [field_name(key) for key in CONFIG_KEYS]
    assert field_name("volumeSizeGi") == "volume_size_gi" and field_name("multiattach") == "multiattach"


def test_defaults_are_the_multiattach_devstack_scenario():
    settings = parse_settings(defaults())
    assert settings.server_replicas == 8 and settings.lbserver_replicas == 8
    assert settings.multiattach and settings.volume_mode == "Block" and settings.schedule_on_control_plane
    assert settings.volume_type_name == "multiattach-type"
    assert settings.storage_class_name == "csi-sc-cinderplugin" and settings.claim_name == "claim1"
    assert settings.service_name == "lb-webserver" and settings.service_port == 80
    assert settings.admin_cloud == "devstack-admin" and settings.load_balancer_annotations == {}
    assert settings.load_balancer_timeout_minutes == 20
    assert image_pin_problem(settings.image) is None


def test_the_object_default_reaches_the_program_as_json():
    assert defaults()["loadBalancerAnnotations"] == "{}"


def test_unset_annotations_mean_none():
    values = {key: value for key, value in defaults().items() if key != "loadBalancerAnnotations"}
    assert parse_settings(values).load_balancer_annotations == {}


BAD_VALUES = [
    ("serverReplicas", "0", "integer >= 1"),
    ("serverReplicas", "three", "integer >= 1"),
    ("serverReplicas", "1_000", "ASCII digits"),
    ("serverReplicas", "٣", "ASCII digits"),
    ("serverReplicas", "+5", "ASCII digits"),
    ("serverReplicas", " 5", "ASCII digits"),
    ("lbserverReplicas", "0", "integer >= 1"),
    ("lbserverReplicas", "²", "ASCII digits"),
    ("multiattach", "yes", "true or false"),
    ("volumeMode", "block", "Block or Filesystem"),
    ("volumeMode", "", "Block or Filesystem"),
    ("volumeTypeName", "", "non-empty"),
    ("volumeTypeName", "x" * 256, "at most 255"),
    ("storageClassName", "CSI_SC", "RFC 1123 subdomain"),
    ("storageClassName", "a" * 254, "RFC 1123 subdomain"),
    ("claimName", "claim-", "RFC 1123 subdomain"),
    ("claimName", "claim1\n", "RFC 1123 subdomain"),
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
    ("clusterName", "my_cluster", "RFC 1123 label"),
    ("servicePort", "0", "from 1 to 65535"),
    ("servicePort", "65536", "from 1 to 65535"),
    ("servicePort", "8_080", "ASCII digits"),
    ("loadBalancerAnnotations", '["a"]', "JSON object"),
    ("loadBalancerAnnotations", "{not json", "JSON object"),
    ("loadBalancerAnnotations", '{"loadbalancer.openstack.org/keep-floatingip": {"nested": 1}}',
     "key 'loadbalancer.openstack.org/keep-floatingip' has the value {'nested': 1}"),
    ("loadBalancerAnnotations", '{"loadbalancer.openstack.org/lb-method": ["ROUND_ROBIN"]}',
     "key 'loadbalancer.openstack.org/lb-method' has the value ['ROUND_ROBIN']"),
    ("loadBalancerAnnotations", '{"loadbalancer.openstack.org/keep-floatingip": null}',
     "key 'loadbalancer.openstack.org/keep-floatingip' has the value None"),
    ("loadBalancerAnnotations", '{"x.example/weight": NaN}', "key 'x.example/weight' has the value nan"),
    ("loadBalancerAnnotations", '{"x.example/weight": Infinity}', "not a finite number"),
    ("loadBalancerAnnotations", '{"floating network": "x"}', "key 'floating network' has the name"),
    ("loadBalancerAnnotations", '{"Example.org/x": "y"}', "prefix 'Example.org'"),
    ("loadBalancerAnnotations", '{"": "y"}', "key '' has the name ''"),
    ("loadBalancerTimeoutMinutes", "0", "integer >= 1"),
    ("adminCloud", " ", "clouds.yaml entry"),
    ("volumeReleaseTimeoutMinutes", "0", "integer >= 1"),
]


@pytest.mark.parametrize("key,value,rule", BAD_VALUES, ids=[f"{k}={v[:20]!r}" for k, v, _ in BAD_VALUES])
def test_bad_value_is_named_with_its_rule(key, value, rule):
    with pytest.raises(SettingsError) as raised:
        parse_settings({**defaults(), key: value})
    (problem,) = raised.value.problems
    assert f"{PROJECT}:{key} = {value!r}" in problem
    assert rule in problem


@pytest.mark.parametrize("key,value,rule", BAD_VALUES[::5], ids=[f"{k}" for k, _, _ in BAD_VALUES[::5]])
def test_bad_value_stops_the_program_before_any_registration(key, value, rule):
    with pytest.raises(ProgramFailed) as raised:
        run_program("devstack", True, {key: value})
    assert f"{PROJECT}:{key} = {value!r}" in str(raised.value) and rule in str(raised.value)
    assert raised.value.registrations == []


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(ProgramFailed) as raised:
        run_program("devstack-single", False, {"serverReplicas": "-1", "servicePort": "http", "claimName": "Claim"})
    message = str(raised.value)
    for key in ("serverReplicas", "servicePort", "claimName"):
        assert f"{PROJECT}:{key} = " in message
    assert raised.value.registrations == []


def test_a_missing_key_is_named():
    with pytest.raises(ProgramFailed) as raised:
        run_program("devstack", True, {"lbserverReplicas": None})
    assert f"{PROJECT}:lbserverReplicas is not set" in str(raised.value)
    assert raised.value.registrations == []


@pytest.mark.parametrize("image", ["nginx:1.27.4", "docker.io/library/nginx:1.27", "registry:5000/team/nginx:v2",
                                   "nginx@sha256:" + "a" * 64, "nginx:1.27@sha256:" + "b" * 64])
def test_pinned_images_are_accepted(image):
    assert image_pin_problem(image) is None


def test_annotations_parse_to_a_string_map():
    annotations = ('{"loadbalancer.openstack.org/keep-floatingip": "true", "x.example/enable": true, '
                   '"x.example/port": 8, "x.example/weight": 1.5, "plain_name.v2": "ok"}')
    settings = parse_settings({**defaults(), "loadBalancerAnnotations": annotations})
    assert settings.load_balancer_annotations == {
        "loadbalancer.openstack.org/keep-floatingip": "true", "x.example/enable": "true", "x.example/port": "8",
        "x.example/weight": "1.5", "plain_name.v2": "ok"}


@pytest.mark.parametrize("key", ["a", "A-b_c.d", "example.com/name", "a" * 63, "b" * 253 + "/n"])
def test_qualified_annotation_keys_are_accepted(key):
    assert annotation_key_problem(key) is None


@pytest.mark.parametrize("key", ["a" * 64, "-a", "a-", "b" * 254 + "/n", "example.com/", "/name", "a/b/c", "é"])
def test_malformed_annotation_keys_are_refused(key):
    assert repr(key) in annotation_key_problem(key)


def test_every_bad_annotation_is_named_at_once():
    with pytest.raises(SettingsError) as raised:
        parse_settings({**defaults(), "loadBalancerAnnotations": '{"bad key": "x", "x.example/n": null}'})
    (problem,) = raised.value.problems
    assert "'bad key'" in problem and "'x.example/n'" in problem
