"""verify/target.py: the target from the stack's outputs and config over Pulumi.yaml's defaults."""

from __future__ import annotations

import os

import pytest
from verify_builders import EXTERNAL_IP, LB_ID

from components.stack_config import project_defaults, stack_values
from probe import pulumi_cli
from probe.pulumi_cli import PulumiCliError
from verify.target import Unreachable, UsageError, build_target, config_values, pulumi_cli_failure, stack_outputs

pytestmark = pytest.mark.timeout(60)


def test_pulumi_config_json_and_plain_documents():
    pulumi_shape = {"devstack-k8s-apps:multiattach": {"value": "false", "secret": False},
                    "devstack-k8s-apps:token": {"secret": True},
                    "kubernetes:context": {"value": "lab", "secret": False}}
    assert config_values(pulumi_shape) == {"multiattach": "false", "kubernetes:context": "lab"}
    assert config_values({"multiattach": False, "servicePort": 8080}) == {"multiattach": False, "servicePort": 8080}
    with pytest.raises(UsageError):
        config_values(["not", "an", "object"])


def test_defaults_come_from_pulumi_yaml():
    defaults = project_defaults()
    assert defaults["namespace"] == "default" and defaults["adminCloud"] == "devstack-admin"
    assert defaults["multiattach"] == "true" and defaults["loadBalancerAnnotations"] == "{}"


def test_target_from_outputs_config_and_overrides():
    outputs = {"externalIp": EXTERNAL_IP, "url": f"http://{EXTERNAL_IP}:80/", "loadBalancerId": LB_ID,
               "storageClassName": "csi-sc-cinderplugin", "claimName": "claim1", "serviceName": "lb-webserver",
               "serverReplicas": 4.0, "lbserverReplicas": 8}
    config = {"multiattach": "false", "volumeMode": "Filesystem", "scheduleOnControlPlane": False,
              "kubernetes:context": "lab"}
    made = build_target("devstack-single", outputs, config, {"namespace": "apps", "cloud": "other"})
    assert made.multiattach is False and made.volume_type_name is None and made.volume_mode == "Filesystem"
    assert made.server_replicas == 4 and made.lbserver_replicas == 8 and made.external_ip == EXTERNAL_IP
    assert made.namespace == "apps" and made.admin_cloud == "other" and made.context == "lab"
    multi = build_target("devstack", dict(outputs, volumeTypeName="mtype"), {}, {})
    assert multi.multiattach is True and multi.volume_type_name == "mtype" and multi.admin_cloud == "devstack-admin"
    bare = build_target(None, None, {}, {"service_name": "web"})
    assert bare.service_name == "web" and bare.external_ip is None and bare.volume_type_name == "multiattach-type"


def test_a_stack_without_outputs_is_not_deployed_and_bad_config_is_usage():
    with pytest.raises(Unreachable, match="not deployed"):
        build_target("devstack", {}, {}, {})
    with pytest.raises(UsageError, match="servicePort"):
        build_target("devstack", {"url": "http://x/"}, {"servicePort": "0"}, {})
    with pytest.raises(UsageError, match="serverReplicas"):
        build_target("devstack", {"serverReplicas": "eight"}, {}, {})


@pytest.mark.parametrize("stack, multiattach, volume_mode, replicas, control_plane", [
    ("devstack", True, "Block", 8, True),
    ("devstack-single", False, "Filesystem", 4, False),
])
def test_each_shipped_stack_file_gives_its_target(stack, multiattach, volume_mode, replicas, control_plane):
    """The stack file's values as `pulumi config --json` would show them, over Pulumi.yaml's defaults."""
    shown = {key: {"value": value, "secret": False} for key, value in stack_values(stack).items()}
    made = build_target(stack, {"url": f"http://{EXTERNAL_IP}/"}, config_values(shown), {})
    assert (made.multiattach, made.volume_mode, made.server_replicas, made.schedule_on_control_plane) == (
        multiattach, volume_mode, replicas, control_plane)
    assert made.volume_type_name == ("multiattach-type" if multiattach else None)
    # A stack file that names no namespace gets Pulumi.yaml's default.
    assert made.namespace == stack_values(stack).get("devstack-k8s-apps:namespace", "default")
    assert made.service_name == "lb-webserver", "from Pulumi.yaml's defaults"


def cli_error(kind: str, detail: str = "") -> PulumiCliError:
    return PulumiCliError(kind, ["pulumi", "stack", "output", "--json"], detail)


def test_a_missing_cli_or_an_unknown_stack_is_a_usage_error():
    missing = pulumi_cli_failure(cli_error(pulumi_cli.MISSING))
    assert isinstance(missing, UsageError) and "pass --outputs-json and --config-json" in str(missing)
    unknown = pulumi_cli_failure(cli_error(pulumi_cli.FAILED, "error: no stack named 'nope' found"))
    assert isinstance(unknown, UsageError) and str(unknown).endswith("(pulumi stack ls lists the stacks)")


@pytest.mark.parametrize("kind, detail, next_step", [
    (pulumi_cli.TIMED_OUT, "120", "pulumi whoami -v (is the backend reachable?)"),
    (pulumi_cli.FAILED, "error: failed to decrypt", "pulumi whoami -v; export PULUMI_CONFIG_PASSPHRASE"),
    (pulumi_cli.NOT_JSON, "Current stack outputs (0):", ""),
])
def test_a_backend_that_fails_leaves_the_stack_side_unreadable(kind, detail, next_step):
    error = pulumi_cli_failure(cli_error(kind, detail))
    assert isinstance(error, Unreachable) and error.side == "pulumi"
    assert error.cause == str(cli_error(kind, detail)) and error.next_step.startswith(next_step)


def test_outputs_that_are_not_an_object_are_unreadable(monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text("#!/bin/sh\necho '[1, 2]'\n")
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    with pytest.raises(Unreachable, match=r"stack outputs are not a JSON object: \[1, 2\]"):
        stack_outputs("devstack")
