"""Fixtures for the OpenStack double's fast tests: one in-process double per module (fast
profile), its clouds.yaml, and openstacksdk connections as admin and demo."""
from __future__ import annotations

import pytest
from openstack_double_testing import PASSWORDS, connect_with

from lab.openstack import OpenStackDouble, write_clouds_yaml


@pytest.fixture(scope="module")
def double(tmp_path_factory):
    folder = tmp_path_factory.mktemp("openstack-double")
    with OpenStackDouble(port=0, state_dir=folder / "state", passwords=PASSWORDS) as running:
        running.clouds = write_clouds_yaml(folder / "clouds.yaml", running.base_url, PASSWORDS)
        yield running


@pytest.fixture(scope="module")
def admin(double):
    return connect_with(double.clouds, "devstack-admin")


@pytest.fixture(scope="module")
def demo(double):
    return connect_with(double.clouds, "devstack")
