"""Real previews: the real Pulumi CLI, provider plugins and policy pack against the lab.

Each stack file is previewed with the policy pack from a copy of the project, as a fresh
clone has it. The program reaches the CLI through Pulumi's Automation API (scripts/lab-pulumi,
see lab/inline_pulumi.py: no Python language host can be built here); the CLI reads the
project and stack files itself, and runs the engine, the plugins and the pack.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import lab_pulumi, run
from harness import STACKS, run_program

PACK_NAME = "devstack-k8s-apps"  # policy/__main__.py's PolicyPack(name=...)


def cli(project: Path, env: dict, *args: str) -> None:
    result = run(["pulumi", *args], env=env, cwd=project, timeout=120)
    assert result.returncode == 0, f"pulumi {' '.join(args)}:\n{result.stderr}"


@pytest.mark.parametrize("stack", STACKS)
def test_the_real_preview_plans_what_the_mocks_expect_and_the_pack_reports(stack, project, engine_env):
    code, document, stderr = lab_pulumi(project, engine_env, "preview", "--stack", stack,
                                        "--policy-pack", str(project / "policy"))
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    errors = [d for d in document["diagnostics"] if d["severity"] == "error"]
    assert not errors, errors
    # The plugins come from the lab's PULUMI_HOME, as installed plugins do: no ambient-plugin warning.
    assert "from $PATH" not in stderr, [line for line in stderr.splitlines() if "from $PATH" in line]

    planned = {(step["type"], step["name"]): step["op"] for step in document["steps"]}
    expected = run_program(stack, preview=True)
    missing = [(r.type, r.name) for r in expected.registrations if (r.type, r.name) not in planned]
    assert not missing, f"the mocks register these, the real preview does not plan them: {missing}"
    for registration in expected.registrations:
        op = planned[(registration.type, registration.name)]
        assert op == ("read" if registration.read_id else "create"), (registration.name, op)

    # The pack was loaded and ran: the summary names it, and its advisory policies reported.
    packs = [key.split("|")[0] for key in (document["summary"] or {}).get("policyPacks", {})]
    assert packs == [PACK_NAME], document["summary"]
    advisories = {v["policy"] for v in document["policyViolations"] if v["enforcementLevel"] == "advisory"}
    assert "load-balancer-health-monitor" in advisories
    assert not [v for v in document["policyViolations"] if v["enforcementLevel"] == "mandatory"]


def test_a_bad_config_value_stops_the_real_preview_with_the_programs_message(project, engine_env):
    cli(project, engine_env, "stack", "init", "devstack")
    cli(project, engine_env, "config", "set", "--stack", "devstack", "servicePort", "70000")
    code, document, stderr = lab_pulumi(project, engine_env, "preview", "--stack", "devstack")
    assert code == 1 and not document["succeeded"]
    messages = "\n".join(d["message"] for d in document["diagnostics"]) + document.get("error", "")
    assert "servicePort" in messages and "70000" in messages, messages
    assert not [s for s in document["steps"] if s["type"] != "pulumi:pulumi:Stack"], document["steps"]


def test_a_mandatory_policy_hit_fails_the_real_preview_with_the_policys_message(project, engine_env, tmp_path):
    pack_config = tmp_path / "pack-config.json"
    # Only the retired in-tree provisioner allowed: the Cinder CSI class must be refused.
    pack_config.write_text(json.dumps({"cinder-csi-provisioner": {
        "allowedProvisioners": ["kubernetes.io/cinder"]}}))
    code, document, _ = lab_pulumi(project, engine_env, "preview", "--stack", "devstack",
                                   "--policy-pack", str(project / "policy"),
                                   "--policy-pack-config", str(pack_config))
    assert code == 1 and not document["succeeded"]
    mandatory = [v for v in document["policyViolations"] if v["enforcementLevel"] == "mandatory"]
    assert [v["policy"] for v in mandatory] == ["cinder-csi-provisioner"], mandatory
    assert "cinder.csi.openstack.org" in mandatory[0]["message"]


def test_an_existing_stack_is_previewed_without_selecting_it_as_the_cli_does(project, engine_env):
    """`pulumi preview --stack X` leaves the selected stack as it is; lab-pulumi, which creates and
    selects a new stack, uses an existing one without `pulumi stack select`."""
    def selected() -> str:
        result = run(["pulumi", "stack", "--show-name"], env=engine_env, cwd=project, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    for stack in ("devstack", "devstack-single"):  # both new: created, each selected in turn
        code, document, stderr = lab_pulumi(project, engine_env, "preview", "--stack", stack)
        assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
        assert selected() == stack
    code, document, stderr = lab_pulumi(project, engine_env, "preview", "--stack", "devstack")
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    assert document["summary"]["resourceChanges"], "the existing stack was previewed"
    assert selected() == "devstack-single"
