"""The OpenStack API double: Keystone, Cinder, Nova, Neutron and Octavia on one loopback port.

A double, documented as such. It stands for the Devstack cloud's public APIs as the project
and its tools use them: openstacksdk, the `openstack` CLI (python-openstackclient and
python-octaviaclient) and the pulumi-openstack provider (terraform-provider-openstack over
gophercloud). State lives in memory; one HTTP server on 127.0.0.1:<port>; service base URLs:

    identity        /identity            (v3 under /identity/v3; version discovery at /identity)
    volumev3,
    block-storage   /volume/v3/<project_id>
    compute         /compute/v2.1
    network         /networking          (API under /v2.0)
    load-balancer   /load-balancer       (API under /v2 or /v2.0)

One sub-package per service, each with models.py (state and domain rules, no HTTP),
responses.py (handlers: parse, call the model, shape the answer) and urls.py (the route table):
identity/ (Keystone), block_storage/ (Cinder; volume_types.py and volumes.py hold its rules),
compute/ (Nova), network/ (Neutron), load_balancer/ (Octavia and its haproxy amphorae).
core/ has what they share; backends.py the one container through which they reach each other;
lab_faults.py the lab's fault injection (not OpenStack); server.py the HTTP server.

What it does, like the real services (JSON shapes, status codes, error bodies, microversion
headers):
- Keystone v3: version discovery, password (and token) authentication, project-scoped tokens
  with the catalog above, token validation; users `admin` (role admin, project admin) and
  `demo` (role member, project demo), domain Default; 401 without a valid X-Auth-Token.
- Cinder v3 (microversions up to 3.70): volume types (extra specs, os-volume-type-access,
  admin-only management with Cinder's policy names, schema-checked bodies, lookups by id, "in
  use" refusals), the default type `lvmdriver-1`; volumes (create by type name or id, literal
  `multiattach="<is> True"` matching, creating -> available and deleting -> gone after the
  profile's delays, all_tenants for admins, detail, show, update, delete refusals, extend,
  reset-status/force-delete), attachments reserved -> attaching -> in-use and detaching.
- Nova v2.1 (microversions up to 2.96): the three lab nodes as ACTIVE servers (ids from
  lab.cluster.ClusterShape.nodes), volume attach/detach/list with Nova's multiattach and 2.60
  rules, through Cinder's attachment states (so concurrent attaches of one volume get a 400).
- Neutron v2.0: networks `public` (external) and `private`, their subnets, a router, ports
  (the Octavia VIP ports), floating IPs from ClusterShape.floating_prefix (create, associate,
  list filters, delete).
- Octavia v2: load balancers (also fully populated in one call), listeners, pools, members (incl.
  batch update), health monitors, status tree, PENDING_* -> ACTIVE after the profile's delays,
  409 on mutations of a PENDING_* load balancer; a real haproxy per ACTIVE load balancer.

What it does not do: other services and resources (images, flavors, snapshots, backups,
security groups, quotas, QoS, L7 policies, TLS, amphora failover), real block devices or VMs,
policy beyond "admin or not", persistence across restarts.

    python -m lab.openstack --port P --state-dir D [--profile fast|devstack] [--delay-scale F]

Passwords: read from <state-dir>/passwords.json ({"admin": ..., "demo": ...}) when it exists,
else Devstack's conventional `secret` for both (written there). The double also writes
<state-dir>/clouds.yaml (entries devstack and devstack-admin) once it listens.
"""
from lab.openstack.clouds_yaml import load_passwords, write_clouds_yaml
from lab.openstack.server import OpenStackDouble

__all__ = ["OpenStackDouble", "load_passwords", "write_clouds_yaml"]
