"""The destroy-time wait for Cinder, against a loopback Keystone + Cinder."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from fake_openstack import FakeOpenStack, volume
from harness import PROJECT_DIR

from components.volume_release import (
    VolumeInfo,
    VolumeReleaseError,
    VolumeReleaseProvider,
    VolumeReleaseTimeout,
    openstack_volume_lister,
    volumes_of_type,
    wait_for_volume_type_release,
)

pytestmark = pytest.mark.timeout(20)

TYPE = "multiattach-type"
TYPE_ID = "5b7ad2b1-5a0e-4c53-8e0f-0f4f6b2c9d11"
FAST = {"first_delay": 0.05, "max_delay": 0.2}


@pytest.fixture
def cloud(tmp_path, monkeypatch):
    """Start a fake cloud with a volume-list script and point openstacksdk's clouds.yaml at it."""

    def start(script, password=None):
        fake = FakeOpenStack(script).__enter__()
        started.append(fake)
        clouds = fake.write_clouds_yaml(tmp_path / "clouds.yaml", **({"password": password} if password else {}))
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
        return fake

    started: list[FakeOpenStack] = []
    yield start
    for fake in started:
        fake.__exit__(None, None, None)


def wait(timeout: float, logs: list[str] | None = None) -> int:
    return wait_for_volume_type_release(
        openstack_volume_lister("devstack-admin"), TYPE, TYPE_ID, timeout,
        log=(logs if logs is not None else []).append, **FAST,
    )


def test_returns_once_the_volumes_are_gone(cloud):
    pvc = volume("pvc-3f1c", TYPE, status="deleting")
    other = volume("boot-disk", "lvmdriver-1", status="in-use")
    fake = cloud([[pvc, other], [pvc, other], [other]])
    logs: list[str] = []
    assert wait(5, logs) == 3
    assert fake.volume_list_calls == 3
    assert any("pvc-3f1c" in line and "deleting" in line for line in logs)
    assert fake.token_requests == 1, "one token serves every poll"


def test_times_out_naming_the_volumes_left(cloud):
    stuck = [volume("pvc-aaaa", TYPE, status="deleting"), volume("pvc-bbbb", TYPE, status="in-use")]
    fake = cloud([stuck])
    started = time.monotonic()
    with pytest.raises(VolumeReleaseTimeout) as raised:
        wait(0.6)
    assert time.monotonic() - started < 3
    message = str(raised.value)
    for item in stuck:
        assert item["name"] in message and item["id"] in message and item["status"] in message
    assert TYPE in message and "volumeReleaseTimeoutMinutes" in message
    assert {v.name for v in raised.value.remaining} == {"pvc-aaaa", "pvc-bbbb"}
    assert fake.volume_list_calls >= 2


def test_transient_api_errors_are_retried(cloud):
    fake = cloud([503, 502, [volume("pvc-1", TYPE)], []])
    logs: list[str] = []
    assert wait(5, logs) == 4
    assert fake.volume_list_calls == 4
    assert sum("did not answer" in line for line in logs) == 2


def test_an_api_that_never_recovers_times_out_clearly(cloud):
    cloud([503])
    with pytest.raises(VolumeReleaseError, match="Cinder did not answer"):
        wait(0.4)


def test_auth_failure_stops_at_once_with_a_clear_error(cloud):
    fake = cloud([[]], password="wrong")
    started = time.monotonic()
    with pytest.raises(VolumeReleaseError) as raised:
        wait(30)
    assert time.monotonic() - started < 3, "bad credentials are not retried until the deadline"
    assert "devstack-admin" in str(raised.value) and "adminCloud" in str(raised.value)
    assert fake.volume_list_calls == 0


def test_unknown_cloud_entry_is_named(cloud):
    cloud([[]])
    with pytest.raises(VolumeReleaseError, match="'no-such-cloud'"):
        openstack_volume_lister("no-such-cloud")


def test_volumes_match_by_type_name_or_id():
    volumes = [
        VolumeInfo("1", "by-name", "available", TYPE),
        VolumeInfo("2", "by-id", "available", "renamed-type", TYPE_ID),
        VolumeInfo("3", "other", "available", "lvmdriver-1", "0000"),
        VolumeInfo("4", "no-type", "available", None),
    ]
    assert [v.id for v in volumes_of_type(volumes, TYPE, TYPE_ID)] == ["1", "2"]


def test_backoff_grows_and_is_bounded_by_the_deadline():
    sleeps: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    with pytest.raises(VolumeReleaseTimeout):
        wait_for_volume_type_release(
            lambda: [VolumeInfo("1", "pvc", "deleting", TYPE)], TYPE, None, 100,
            log=lambda _: None, sleep=sleep, clock=lambda: now[0], first_delay=2, max_delay=30,
        )
    assert sleeps[:5] == [2, 4, 8, 16, 30]
    assert sum(sleeps) == pytest.approx(100)


def test_a_volume_cinder_failed_to_delete_fails_at_once_naming_it():
    sleeps: list[float] = []
    listings = iter([[VolumeInfo("1", "pvc-a", "deleting", TYPE)], [VolumeInfo("1", "pvc-a", "error_deleting", TYPE)]])
    with pytest.raises(VolumeReleaseError) as raised:
        wait_for_volume_type_release(lambda: next(listings), TYPE, None, 600,
                                     log=lambda _: None, sleep=sleeps.append, first_delay=2)
    assert not isinstance(raised.value, VolumeReleaseTimeout) and sleeps == [2]
    assert "pvc-a (1, error_deleting)" in str(raised.value) and "openstack volume show 1" in str(raised.value)


PROPS = {"admin_cloud": "devstack-admin", "volume_type_name": TYPE, "volume_type_id": TYPE_ID, "timeout_seconds": 1}


def test_provider_create_touches_nothing_remote(cloud):
    fake = cloud([[]])
    result = VolumeReleaseProvider().create(dict(PROPS))
    assert result.outs == PROPS and TYPE_ID in result.id
    assert fake.requests == []


def test_provider_delete_waits_for_cinder(cloud):
    fake = cloud([[volume("pvc-1", TYPE, status="in-use")]])
    with pytest.raises(VolumeReleaseTimeout, match="pvc-1"):
        VolumeReleaseProvider().delete("release-x", dict(PROPS))
    fake.volume_script[:] = [[]]
    VolumeReleaseProvider().delete("release-x", dict(PROPS))


def test_provider_diff_replaces_only_for_a_new_type():
    provider = VolumeReleaseProvider()
    assert not provider.diff("id", PROPS, dict(PROPS)).changes
    longer = provider.diff("id", PROPS, dict(PROPS, timeout_seconds=1200))
    assert longer.changes and not longer.replaces
    new_type = provider.diff("id", PROPS, dict(PROPS, volume_type_id="other"))
    assert new_type.changes and new_type.replaces == ["volume_type_id"]


def test_serialized_provider_loads_where_the_engine_runs_it():
    """The engine runs dynamic providers as `python -m pulumi.dynamic` from the project
    directory; the serialized provider must load and work there."""
    from pulumi.dynamic.dynamic import serialize_provider

    blob = serialize_provider(VolumeReleaseProvider())
    code = (
        "import base64, sys, dill\n"
        "provider = dill.loads(base64.b64decode(sys.argv[1]))\n"
        "print(provider.create({'volume_type_id': 'abc'}).id)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, blob], cwd=PROJECT_DIR, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "release-abc"
