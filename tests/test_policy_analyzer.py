"""The pack as the engine runs it: `python -m pulumi.policy <engine> <pack-dir>` with the pack
folder as working directory, then the Analyzer gRPC API: the program's stacks comply, and
mutated stacks (wrongly typed fields, removed keys, unknown values) draw diagnostics, never an error.

It runs from a copy of policy/ alone, as `pulumi policy publish` ships it: nothing of the
project around it is importable there.
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import sys
import threading

import grpc
import pytest
from devstack_policies import KUBERNETES_VERSION_DEFAULT, POLICIES
from google.protobuf import empty_pb2, json_format, struct_pb2
from harness import PROJECT_DIR, ProgramRun, run_program
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_harness import UNKNOWNS, engine_props, message_problem, mutated, mutations, real_stack
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

pytestmark = pytest.mark.timeout(90)

MANDATORY = analyzer_pb2.MANDATORY
ADVISORY = analyzer_pb2.ADVISORY
ADVISORIES = {"rwx-filesystem-corruption-risk", "container-resource-limits", "load-balancer-health-monitor",
              "load-balancer-traffic-policy-cluster"}


@pytest.fixture(scope="module")
def pack_copy(tmp_path_factory):
    pack = tmp_path_factory.mktemp("published") / "policy"
    shutil.copytree(PROJECT_DIR / "policy", pack, ignore=shutil.ignore_patterns("venv", "__pycache__"))
    return pack


@pytest.fixture(scope="module")
def analyzer(pack_copy):
    # The pack never calls back the engine while validating; the address is only passed along.
    # No PYTHONPATH: only the copy (cwd) and the interpreter's packages are importable.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.Popen([sys.executable, "-m", "pulumi.policy", "127.0.0.1:1", str(pack_copy)],
                               cwd=pack_copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_line: list[str] = []
    reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=30)
    if not first_line or not first_line[0].strip().isdigit():
        process.kill()
        stderr = process.stderr.read() if process.poll() is not None else ""
        pytest.fail(f"the pack printed no port: {first_line} {stderr}")
    channel = grpc.insecure_channel(f"127.0.0.1:{int(first_line[0])}")
    grpc.channel_ready_future(channel).result(timeout=10)
    try:
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        channel.close()
        process.terminate()
        process.wait(timeout=10)


def _struct(props: dict) -> struct_pb2.Struct:
    return json_format.ParseDict(props, struct_pb2.Struct())


def _plain(value):
    """Engine-shaped JSON: drop the dynamic provider's serialized code, unknowns as the engine's sentinel."""
    return engine_props({k: v for k, v in value.items() if not k.startswith("__")})


def stack_request(run: ProgramRun, mutate=None) -> analyzer_pb2.AnalyzeStackRequest:
    resources = []
    for r in run.registrations:
        props = copy.deepcopy(_plain(r.read_state if r.read_id else r.inputs))
        if mutate:
            mutate(r.type, props)
        resources.append(analyzer_pb2.AnalyzerResource(
            type=r.type, properties=_struct(props), urn=r.urn, name=r.name,
            options=analyzer_pb2.AnalyzerResourceOptions(parent=r.parent),
            parent=r.parent, dependencies=sorted(r.dependencies),
            propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=sorted(v))
                                  for k, v in r.property_dependencies.items()},
        ))
    return analyzer_pb2.AnalyzeStackRequest(resources=resources)


def test_analyzer_info_lists_every_policy(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "devstack-k8s-apps"
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert set(levels) == {p.name for p in POLICIES}
    assert {name for name, level in levels.items() if level == ADVISORY} == ADVISORIES
    assert {name for name, level in levels.items() if level == MANDATORY} == {p.name for p in POLICIES} - ADVISORIES
    assert levels["kubernetes-schema-valid"] == MANDATORY
    schema = next(p for p in info.policies if p.name == "cinder-csi-provisioner").configSchema
    assert "allowedProvisioners" in schema.properties
    version = next(p for p in info.policies if p.name == "kubernetes-schema-valid").configSchema
    assert version.properties["kubernetesVersion"]["default"] == KUBERNETES_VERSION_DEFAULT


def test_the_copy_is_the_pack_alone(pack_copy):
    assert {path.name for path in pack_copy.iterdir()} >= {"PulumiPolicy.yaml", "__main__.py", "requirements.txt",
                                                           "devstack_domain.py", "devstack_policies.py"}
    for module in pack_copy.glob("*.py"):
        assert "sys.path" not in module.read_text(), module.name


def test_analyze_names_an_unknown_kubernetes_field(analyzer):
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb-webserver"},
               "spec": {"type": "LoadBalancer", "selector": {"app": "lbserver"},
                        "ports": [{"port": 80, "target_port": 80}]}}
    request = analyzer_pb2.AnalyzeRequest(
        type="kubernetes:core/v1:Service", properties=_struct(service), name="bad",
        urn="urn:pulumi:devstack::devstack-k8s-apps::kubernetes:core/v1:Service::bad")
    (diagnostic,) = [d for d in analyzer.Analyze(request).diagnostics if d.policyName == "kubernetes-schema-valid"]
    assert diagnostic.enforcementLevel == MANDATORY
    assert "'target_port' was unexpected" in diagnostic.message and "spec.ports.0" in diagnostic.message


def test_analyze_flags_a_bad_multiattach_spec(analyzer):
    request = analyzer_pb2.AnalyzeRequest(
        type="openstack:blockstorage/volumeTypeV3:VolumeTypeV3",
        properties=_struct({"name": "multiattach-type", "extraSpecs": {"multiattach": "<is> true"}}),
        urn="urn:pulumi:devstack::devstack-k8s-apps::openstack:blockstorage/volumeTypeV3:VolumeTypeV3::bad",
        name="bad",
    )
    (diagnostic,) = analyzer.Analyze(request).diagnostics
    assert diagnostic.policyName == "cinder-multiattach-extra-spec"
    assert diagnostic.enforcementLevel == MANDATORY and "capital T" in diagnostic.message


@pytest.mark.parametrize("stack", ["devstack", "devstack-single"])
def test_the_programs_resources_pass_analyze_and_analyze_stack(analyzer, stack):
    run = run_program(stack, preview=True)
    diagnostics = []
    for r in run.registrations:
        if r.read_id:
            continue  # the engine analyzes what a program registers, not what it reads
        diagnostics += analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
            type=r.type, properties=_struct(_plain(r.inputs)), urn=r.urn, name=r.name)).diagnostics
    diagnostics += analyzer.AnalyzeStack(stack_request(run)).diagnostics
    assert [d.policyName for d in diagnostics if d.enforcementLevel == MANDATORY] == []
    assert "load-balancer-health-monitor" in {d.policyName for d in diagnostics}


def test_analyze_stack_catches_the_multi_attach_error(analyzer):
    run = run_program("devstack-single", preview=True, overrides={"scheduleOnControlPlane": True})

    def drop_affinity(resource_type, props):
        pod = props["spec"]["template"]["spec"] if resource_type == "kubernetes:core/v1:ReplicationController" else {}
        pod.pop("affinity", None)

    diagnostics = analyzer.AnalyzeStack(stack_request(run, drop_affinity)).diagnostics
    (diagnostic,) = [d for d in diagnostics if d.enforcementLevel == MANDATORY]
    assert diagnostic.policyName == "rwo-claim-on-one-node"
    assert "Multi-Attach error" in diagnostic.message
    assert diagnostic.urn == run.named("kubernetes:core/v1:ReplicationController", "server").urn


# --- mutated stacks over gRPC: diagnostics, never an error (issue 16) ---------------------------

def _analyze_everything(analyzer, resources) -> list:
    """Analyze for each resource, then AnalyzeStack, as the engine calls them at preview."""
    diagnostics = []
    for r in resources:
        diagnostics += analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
            type=r.resource_type, properties=_struct(_plain(r.props)), urn=r.urn, name=r.name)).diagnostics
    diagnostics += analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(type=r.resource_type, properties=_struct(_plain(r.props)), urn=r.urn,
                                      name=r.name)
        for r in resources])).diagnostics
    return diagnostics


def _assert_well_formed(diagnostics, resources, unknowns_sent: bool) -> None:
    descriptions = {p.name: p.description for p in POLICIES}
    for d in diagnostics:
        assert d.policyName in descriptions, d
        # The engine's message is the policy's description, a newline, then the rule's message.
        message = d.message.removeprefix(descriptions[d.policyName] + "\n")
        problem = message_problem(message, d.urn, {r.urn for r in resources}, unknowns_sent)
        assert problem is None, f"{d.policyName}: {problem}"


RC = "kubernetes:core/v1:ReplicationController"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
VOLUME_TYPE = "openstack:blockstorage/volumeTypeV3:VolumeTypeV3"


@pytest.mark.parametrize(("resource_type", "path", "how", "value", "expected"), [
    (RC, ("spec", "replicas"), "other type", "eight", "spec.replicas: 'eight' is not of type 'integer'"),
    (STORAGE_CLASS, ("provisioner",), "other type", 1.5, "provisioner: 1.5 is not of type 'string'"),
    (STORAGE_CLASS, ("parameters",), "other type", "type=multiattach-type", "parameters: 'type=multiattach-type'"),
    (VOLUME_TYPE, ("name",), "other type", {"name": "multiattach-type"}, "which this stack does not declare"),
    (RC, ("spec", "template", "spec"), "wrap in list", None, "spec.template.spec: [{"),
    (RC, ("spec", "template", "metadata"), "remove", None, "selects {'app': 'server', 'pod-template-hash'"),
], ids=["a word for the replica count", "a float provisioner", "a string where the parameters map was",
        "a map as the volume type's name", "a list where the pod spec was", "the template's labels removed"])
def test_a_mutated_stack_draws_diagnostics_never_an_error(analyzer, resource_type, path, how, value, expected):
    original = real_stack("devstack")
    (index,) = [i for i, r in enumerate(original) if r.resource_type == resource_type
                and (resource_type != RC or r.name == "server")]
    resources, changed, _ = mutated(original, [(index, path, how, value)])
    assert changed
    diagnostics = _analyze_everything(analyzer, resources)
    _assert_well_formed(diagnostics, resources, unknowns_sent=False)
    assert any(expected in d.message and d.enforcementLevel == MANDATORY for d in diagnostics), \
        [d.message for d in diagnostics]


def test_an_unknown_replica_count_is_the_engines_advisory(analyzer):
    original = real_stack("devstack")
    (index,) = [i for i, r in enumerate(original) if r.resource_type == RC and r.name == "server"]
    resources, _, _ = mutated(original, [(index, ("spec", "replicas"), "unknown", UNKNOWNS[1])])
    diagnostics = _analyze_everything(analyzer, resources)
    _assert_well_formed(diagnostics, resources, unknowns_sent=True)
    cant_run = {d.policyName for d in diagnostics if "can't be known during preview" in d.message}
    assert cant_run >= {"kubernetes-schema-valid", "rwo-claim-on-one-node"}
    assert [d.policyName for d in diagnostics if d.enforcementLevel == MANDATORY] == []


@pytest.mark.parametrize("stack", ["devstack", "devstack-single"])
@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_mutations_over_grpc_draw_diagnostics_never_an_error(analyzer, stack, data):
    original = real_stack(stack)
    resources, _, unknowns_sent = mutated(original, data.draw(st.lists(mutations(original), min_size=1, max_size=3)))
    _assert_well_formed(_analyze_everything(analyzer, resources), resources, unknowns_sent)


def test_the_engines_sigint_ends_the_pack_with_0_and_without_the_interpreters_teardown(pack_copy, tmp_path):
    # As the engine closes an analyzer at the end of every preview and up: SIGINT, then it waits.
    # An atexit hook from sitecustomize stands for the teardown that is skipped.
    (tmp_path / "sitecustomize.py").write_text("import atexit\natexit.register(lambda: print('teardown'))\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    # SIGINT at its default, as a CLI run from a terminal passes it on: a shell's background job
    # (how CI was started) has it ignored, children inherit that, and the pack then never exits on it.
    process = subprocess.Popen([sys.executable, "-m", "pulumi.policy", "127.0.0.1:1", str(pack_copy)],
                               cwd=pack_copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.poll() is not None else port
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "teardown" not in stdout
    assert "Traceback" not in stderr
