"""The OpenStack double (lab/openstack/) against the real pulumi-openstack provider plugin.

Only what needs the Go tools lives here: the provider (gophercloud) manages a volume type through
the double run as the lab runs it (`python -m lab.openstack`, fast profile), with Cinder's policy
answer for the demo user. Everything else about the double is in tests/lab/openstack (fast, no
Go tools).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import openstack.config
import openstack.connection
import pytest

from lab.openstack import write_clouds_yaml
from lab.ports import free_port, listening, wait_until

REPO = Path(__file__).resolve().parents[2]
PASSWORDS = {"admin": "admin-pw-lab", "demo": "demo-pw-lab"}


@pytest.fixture(scope="module")
def double(tmp_path_factory):
    """`python -m lab.openstack` on a free port (fast profile), and its clouds.yaml."""
    folder = tmp_path_factory.mktemp("openstack-double")
    state = folder / "state"
    state.mkdir()
    (state / "passwords.json").write_text(json.dumps(PASSWORDS))
    port = free_port()
    log = open(folder / "double.log", "wb")  # noqa: SIM115 - held open for the module's lifetime, closed below
    process = subprocess.Popen([sys.executable, "-m", "lab.openstack", "--port", str(port),
                                "--state-dir", str(state), "--profile", "fast"],
                               cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until("the double to listen", lambda: listening("127.0.0.1", port) or process.poll() is not None, 30)
        assert process.poll() is None and listening("127.0.0.1", port), (folder / "double.log").read_text()
        clouds = write_clouds_yaml(folder / "clouds.yaml", f"http://127.0.0.1:{port}", PASSWORDS)
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds)}
        env.pop("OS_CLOUD", None)
        yield {"clouds": clouds, "env": env, "log": folder / "double.log"}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=20) == 0, "the double did not exit cleanly on SIGTERM"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()


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


def test_the_pulumi_openstack_provider_manages_a_volume_type(double, tools_bin, tmp_path):
    conn = connect(double)
    state = tmp_path / "state"
    state.mkdir()
    env = {**double["env"], "PATH": f"{tools_bin}:{os.environ['PATH']}", "PULUMI_BACKEND_URL": f"file://{state}",
           "PULUMI_CONFIG_PASSPHRASE": "x", "PULUMI_SKIP_UPDATE_CHECK": "true",
           "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true", "PROGRAM": PROGRAM}
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
