"""python -m verify: the checks in order over replaced sides, the exit codes (usage 2,
unreachable 3) and the JSON document."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from verify_builders import (
    EXTERNAL_IP,
    LB_ID,
    SERVER_IDS,
    STORAGE_CLASS,
    VOLUME_ID,
    claim,
    cloud_facts,
    controller,
    fake_sides,
    kube_facts,
    service,
    target,
    verify,
    volume,
)

from components.settings import LOAD_BALANCED_APP, STORAGE_APP
from verify.checks import FAIL, OK, WARN
from verify.cli import main, probe_url
from verify.facts import Attachment
from verify.target import Unreachable

pytestmark = pytest.mark.timeout(60)


def test_all_checks_hold_exit_0_with_the_json_document(stack_files, capsys):
    calls = []
    code = main([*stack_files, "--json", "--http-deadline", "7"], fake_sides(calls=calls))
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document
    assert set(document) == {"stack", "checks", "verdict"} and document["verdict"] == "pass"
    assert document["stack"] is None
    for check in document["checks"]:
        assert set(check) == {"side", "name", "status", "evidence", "next"}
        assert check["status"] in (OK, WARN, FAIL) and check["evidence"]
    names = [(check["side"], check["name"]) for check in document["checks"]]
    assert names == [
        ("kubernetes", "replicas/server"), ("kubernetes", "placement/server"), ("kubernetes", "template/server"),
        ("kubernetes", "leftover/server"), ("kubernetes", "replicas/lbserver"), ("kubernetes", "placement/lbserver"),
        ("kubernetes", "template/lbserver"), ("kubernetes", "leftover/lbserver"), ("kubernetes", "claim"),
        ("kubernetes", "service"), ("cinder", "volume"), ("cinder", "volume-type"), ("cinder", "attachments"),
        ("cinder", "size/claim"), ("octavia", "load-balancer"), ("octavia", "listeners"), ("octavia", "members"),
        ("octavia", "health-monitor"), ("octavia", "address"), ("octavia", "floating-ips"), ("http", "probe"),
    ]
    assert [check["status"] for check in document["checks"]].count(WARN) == 1, "only the health monitor warns"
    probe_options = next(call[1] for call in calls if call[0] == "probe")
    assert (probe_options.url, probe_options.min_pods, probe_options.min_nodes, probe_options.deadline) == (
        f"http://{EXTERNAL_IP}:80/", 2, 2, 7.0)
    assert ("cloud", VOLUME_ID, "lb-webserver") in calls


def test_a_failing_check_exits_1_and_the_text_says_what_to_look_at(stack_files, capsys):
    cloud = cloud_facts(volume=volume(attachments=(Attachment(SERVER_IDS["worker1"]),)))
    code = main(stack_files, fake_sides(cloud=cloud))
    text = capsys.readouterr().out
    assert code == 1
    lines = text.splitlines()
    assert lines[0] == f"verify: {stack_files[1]} and {stack_files[3]}; namespace default, cloud devstack-admin"
    assert "✓ kubernetes  server: 8/8 ready and available (server-3f9a1c0d2e) on master1, worker1, worker2" in lines
    failing = [line for line in lines if line.startswith("✗")]
    assert failing == [f"✗ cinder      volume {VOLUME_ID} attached to worker1 only; server pods run on master1, "
                       f"worker1, worker2 → openstack volume show {VOLUME_ID}; kubectl describe pod "
                       "server-3f9a1c0d2e-00000 (Multi-Attach error?)"]
    assert any(line.startswith("! octavia     no health monitor") for line in lines)
    assert lines[-1] == "FAIL: 1 of 21 checks fail, 1 warning"


def test_an_unreachable_cloud_exits_3_after_the_kubernetes_checks(stack_files, capsys):
    error = Unreachable("openstack", "cloud devstack-admin: authenticating: the credentials are refused (HTTP 401)",
                        "openstack --os-cloud devstack-admin token issue")
    code = main([*stack_files, "--json"], fake_sides(cloud=error))
    document = json.loads(capsys.readouterr().out)
    assert code == 3 and document["verdict"] == "unreachable"
    assert [check["side"] for check in document["checks"]] == ["kubernetes"] * 10 + ["openstack"]
    last = document["checks"][-1]
    assert last["name"] == "unreachable" and last["status"] == FAIL and "HTTP 401" in last["evidence"]


def test_a_stack_without_outputs_exits_3(tmp_path, capsys):
    (tmp_path / "outputs.json").write_text("{}")
    code = main(["--outputs-json", str(tmp_path / "outputs.json"), "--json"], fake_sides())
    document = json.loads(capsys.readouterr().out)
    assert code == 3 and document["checks"][0]["side"] == "pulumi"
    assert "not deployed" in document["checks"][0]["evidence"] and document["checks"][0]["next"].startswith("pulumi up")


def test_a_single_attach_stack_from_the_pulumi_cli_shape(tmp_path, capsys):
    """devstack-single read through the (replaced) pulumi CLI: default type, one node, workers only."""
    outputs = {"externalIp": EXTERNAL_IP, "url": f"http://{EXTERNAL_IP}:80/", "loadBalancerId": LB_ID,
               "storageClassName": "csi-sc-cinderplugin", "claimName": "claim1", "serviceName": "lb-webserver",
               "serverReplicas": 4, "lbserverReplicas": 8}
    config = {"devstack-k8s-apps:multiattach": {"value": "false", "secret": False},
              "devstack-k8s-apps:volumeMode": {"value": "Filesystem", "secret": False},
              "devstack-k8s-apps:scheduleOnControlPlane": {"value": "false", "secret": False}}
    kube = kube_facts(controllers={"server": controller("server", {"worker1": 4}),
                                   "lbserver": controller("lbserver", {"worker1": 4, "worker2": 4})},
                      claim=claim(access_modes=("ReadWriteOnce",), volume_mode="Filesystem"),
                      storage_class=replace(STORAGE_CLASS, parameters={}))
    cloud = cloud_facts(volume=volume(multiattach=False, volume_type="lvmdriver-1",
                                      attachments=(Attachment(SERVER_IDS["worker1"]),)),
                        type_name=None, volume_type=None)
    sides = fake_sides(kube=kube, cloud=cloud)
    asked = []
    sides.outputs = lambda stack: asked.append(("outputs", stack)) or outputs
    sides.config = lambda stack: asked.append(("config", stack)) or config
    code = main(["--stack", "devstack-single", "--json"], sides)
    document = json.loads(capsys.readouterr().out)
    assert code == 0, [check for check in document["checks"] if check["status"] != OK]
    assert document["stack"] == "devstack-single"
    assert asked == [("outputs", "devstack-single"), ("config", "devstack-single")]


@pytest.mark.parametrize("args, message", [
    (["--stack", "devstack", "--outputs-json", "o.json"], "leave out --outputs-json"),
    (["--no-stack", "--config-json", "c.json"], "--no-stack uses no stack"),
    (["--no-stack", "--http-deadline", "nan"], "not a finite number"),
    (["--no-stack", "--http-deadline", "0"], "below the minimum"),
    (["--no-stack", "--skip-http"], "unrecognized arguments: --skip-http"),
    (["--outputs-json", "/nonexistent/outputs.json"], "cannot read the outputs file"),
    (["--no-stack", "--kubeconfig", "/nonexistent/kubeconfig"], "--kubeconfig /nonexistent/kubeconfig: no such file"),
])
def test_usage_errors_exit_2(args, message):
    result = verify(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and result.stdout == ""


def test_invalid_config_and_outputs_files_exit_2(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"servicePort": 70000}))
    (tmp_path / "outputs.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{")
    bad_config = verify("--config-json", str(tmp_path / "config.json"))
    assert bad_config.returncode == 2 and "devstack-k8s-apps:servicePort = '70000' is invalid" in bad_config.stderr
    assert verify("--outputs-json", str(tmp_path / "outputs.json")).returncode == 2
    broken = verify("--outputs-json", str(tmp_path / "broken.json"))
    assert broken.returncode == 2 and "is not JSON" in broken.stderr


def test_the_probe_url_is_the_stacks_else_the_programs_for_the_external_ip():
    assert probe_url(target(url="http://stack.example/"), service()) == "http://stack.example/"
    assert probe_url(target(url=None), service()) == f"http://{EXTERNAL_IP}:80/"
    assert probe_url(target(url=None, external_ip=None, service_port=8080), service(ingress="fd00::2")) == (
        "http://[fd00::2]:8080/"), "an IPv6 address in brackets, as the program's url output has it"
    assert probe_url(target(url=None, external_ip=None), service(ingress=None)) is None
    assert probe_url(target(url=None, external_ip=None), None) is None


def test_both_apps_are_read_under_the_programs_names(stack_files, capsys):
    calls = []
    main(stack_files, fake_sides(calls=calls))
    capsys.readouterr()
    assert next(call[2] for call in calls if call[0] == "kube") == (STORAGE_APP, LOAD_BALANCED_APP) == (
        "server", "lbserver")
