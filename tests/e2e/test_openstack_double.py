"""The OpenStack double (lab/openstack/) against the real pulumi-openstack provider plugin.

Only what needs the Go tools lives here: the provider (gophercloud) manages a volume type through
the double started through `Lab` (its openstack part alone, fast profile), with Cinder's policy
answer for the demo user. Everything else about the double is in tests/lab/openstack (fast, no
Go tools).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openstack.config
import openstack.connection
import pytest


@pytest.fixture(scope="module")
def double(make_lab):
    """The lab's OpenStack double alone (fast profile), started through Lab, with its clouds.yaml,
    the lab's environment (PULUMI_HOME with the plugins, pulumi on PATH) and its log."""
    lab = make_lab("openstack-double", parts=["openstack"])
    env = lab.env()
    env.pop("OS_CLOUD", None)
    yield {"clouds": Path(env["OS_CLIENT_CONFIG_FILE"]), "env": env, "log": Path(lab.process("openstack").log)}


def connect(double, cloud: str = "devstack-admin") -> openstack.connection.Connection:
    config = openstack.config.OpenStackConfig(config_files=[str(double["clouds"])])
    return openstack.connection.Connection(config=config.get_one(cloud=cloud))


# ----------------------------------------------------------------------------- pulumi provider
PROGRAM = '''
import pulumi, pulumi_openstack
provider = pulumi_openstack.Provider("admin", cloud=CLOUD)
vtype = pulumi_openstack.blockstorage.VolumeTypeV3("multiattach", name=NAME, description="lab",
    extra_specs={"multiattach": "<is> True"}, opts=pulumi.ResourceOptions(provider=provider))
pulumi.export("id", vtype.id)
'''

DRIVER = '''
import json, os, sys
from pulumi import automation as auto
cloud, name, work = sys.argv[1], sys.argv[2], sys.argv[3]
def program():
    exec(os.environ["PROGRAM"], {"CLOUD": cloud, "NAME": name})
stack = auto.create_or_select_stack(f"s-{cloud}", project_name="openstack-double", program=program,
                                    opts=auto.LocalWorkspaceOptions(work_dir=work))
result = {}
try:
    result["up"] = stack.up().outputs["id"].value
except Exception as error:
    result["error"] = str(error)
finally:
    stack.destroy()
print(json.dumps(result))
'''


def test_the_pulumi_openstack_provider_manages_a_volume_type(double, tmp_path):
    conn = connect(double)
    state = tmp_path / "state"
    state.mkdir()
    env = {**double["env"], "PULUMI_BACKEND_URL": f"file://{state}", "PROGRAM": PROGRAM}
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    results = {}
    for cloud, name in (("devstack-admin", "pulumi-multiattach"), ("devstack", "pulumi-demo")):
        work = tmp_path / cloud
        work.mkdir()
        run = subprocess.run([sys.executable, str(driver), cloud, name, str(work)], env=env, capture_output=True,
                             text=True, timeout=120, cwd=work)
        assert run.returncode == 0, run.stderr[-3000:]
        results[cloud] = json.loads(run.stdout.strip().splitlines()[-1])
    created = results["devstack-admin"]
    assert "error" not in created, created
    assert "Policy doesn't allow volume_extension:type_create to be performed." in results["devstack"]["error"]
    log = double["log"].read_text()
    specs = "{'multiattach': '<is> True'}"
    assert f"volume type pulumi-multiattach ({created['up']}) created, extra_specs {specs}" in log
    assert f"volume type pulumi-multiattach ({created['up']}) deleted" in log
    assert conn.block_storage.find_type("pulumi-multiattach", ignore_missing=True) is None
    assert conn.block_storage.find_type("pulumi-demo", ignore_missing=True) is None
