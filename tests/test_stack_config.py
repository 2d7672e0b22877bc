"""components/stack_config.py: the config the engine passes the program, read from the project's
files, against both shipped stacks and a small project of its own."""

from __future__ import annotations

import json

import pytest

from components.settings import CONFIG_KEYS, PROJECT, parse_settings
from components.stack_config import (
    bare,
    engine_config,
    engine_string,
    namespaced,
    project_defaults,
    project_name,
    stack_names,
    stack_values,
)

pytestmark = pytest.mark.timeout(60)


def settings_of(stack: str):
    """The program's Settings for a shipped stack, from the config the engine would pass."""
    return parse_settings({bare(key, PROJECT): value for key, value in engine_config(stack).items()})


def test_the_shipped_stacks():
    assert stack_names() == ["devstack", "devstack-single"]


def test_the_project_name_is_the_namespace_the_settings_report():
    assert project_name() == PROJECT


def test_the_multi_attach_stack_as_the_engine_passes_it():
    config = engine_config("devstack")
    assert all(key.startswith(f"{PROJECT}:") for key in config), config
    assert config[f"{PROJECT}:multiattach"] == "true" and config[f"{PROJECT}:volumeMode"] == "Block"
    assert config[f"{PROJECT}:serverReplicas"] == "8"
    assert config[f"{PROJECT}:loadBalancerAnnotations"] == "{}", "an object default arrives as JSON"
    settings = settings_of("devstack")
    assert settings.multiattach is True and settings.schedule_on_control_plane is True
    assert settings.server_replicas == 8 and settings.volume_type_name == "multiattach-type"


def test_the_single_attach_stack_over_the_defaults():
    config = engine_config("devstack-single")
    assert config[f"{PROJECT}:multiattach"] == "false" and config[f"{PROJECT}:volumeMode"] == "Filesystem"
    assert config[f"{PROJECT}:scheduleOnControlPlane"] == "false"
    assert config[f"{PROJECT}:servicePort"] == "80", "what the stack leaves unset comes from Pulumi.yaml"
    # Its own namespace and class, so that it can run beside `devstack` in one cluster.
    assert config[f"{PROJECT}:namespace"] == "devstack-single" and config[f"{PROJECT}:createNamespace"] == "true"
    assert config[f"{PROJECT}:storageClassName"] != engine_config("devstack")[f"{PROJECT}:storageClassName"]
    settings = settings_of("devstack-single")
    assert settings.multiattach is False and settings.server_replicas == 4 and settings.lbserver_replicas == 8


@pytest.mark.parametrize("stack", ["devstack", "devstack-single"])
def test_every_setting_has_a_value_and_the_stack_file_wins(stack):
    config = engine_config(stack)
    assert {bare(key, PROJECT) for key in config} >= set(CONFIG_KEYS)
    for key, value in stack_values(stack).items():
        assert config[key] == value


def test_overrides_replace_or_remove_a_key():
    config = engine_config("devstack", {"serverReplicas": 3, "multiattach": False, "namespace": None,
                                        "loadBalancerAnnotations": {"a/b": "c"}})
    assert config[f"{PROJECT}:serverReplicas"] == "3" and config[f"{PROJECT}:multiattach"] == "false"
    assert f"{PROJECT}:namespace" not in config
    assert json.loads(config[f"{PROJECT}:loadBalancerAnnotations"]) == {"a/b": "c"}


@pytest.mark.parametrize("value, expected", [
    (True, "true"), (False, "false"), (8, "8"), ("Block", "Block"), ({}, "{}"), ([1, "a"], '[1, "a"]'),
])
def test_engine_strings(value, expected):
    assert engine_string(value) == expected


def test_keys_of_another_namespace_keep_it():
    assert namespaced("servicePort", "p") == "p:servicePort"
    assert namespaced("kubernetes:context", "p") == "kubernetes:context"
    assert bare("p:servicePort", "p") == "servicePort"
    assert bare("kubernetes:context", "p") == "kubernetes:context"


def test_a_project_of_its_own(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text(
        "name: small\nruntime: python\nconfig:\n"
        "  replicas: {type: integer, default: 2}\n  open: {type: boolean, default: true}\n"
        "  described: {type: string, description: no default}\n")
    (tmp_path / "Pulumi.lab.yaml").write_text("config:\n  small:replicas: 5\n  kubernetes:context: lab\n")
    (tmp_path / "Pulumi.empty.yaml").write_text("")
    assert project_name(tmp_path) == "small" and stack_names(tmp_path) == ["empty", "lab"]
    assert project_defaults(tmp_path) == {"replicas": "2", "open": "true"}
    assert engine_config("lab", project_dir=tmp_path) == {"small:replicas": "5", "small:open": "true",
                                                          "kubernetes:context": "lab"}
    assert engine_config("empty", project_dir=tmp_path) == {"small:replicas": "2", "small:open": "true"}
