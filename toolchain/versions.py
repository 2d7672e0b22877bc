"""The pinned tools: one entry per wrapper module under gomod/.

The Python SDKs in requirements.txt are pinned to the plugin versions built here
(a plugin older than its SDK fails at run time).
"""
from __future__ import annotations

from dataclasses import dataclass, field

PULUMI_VERSION = "3.274.1"
KUBERNETES_PROVIDER_VERSION = "4.25.0"
# The plugin the pulumi_openstack SDK of this version drives, rebuilt from the Terraform
# provider and the bridge (gomod/pulumi-resource-openstack/README.md says why and how).
OPENSTACK_PROVIDER_VERSION = "5.5.3"
ETCD_VERSION = "3.6.16"
KUBERNETES_VERSION = "1.36.3"
KWOK_VERSION = "0.8.0"
# The newest served pulumi SDK module that still ships the policy-pack analyzer script.
LEGACY_POLICY_SHIM_SDK = "3.218.0"

_K8S_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
_K8S_MAJOR, _K8S_MINOR, _ = KUBERNETES_VERSION.split(".")


@dataclass(frozen=True)
class Tool:
    """One wrapper module and what it builds.

    name: the wrapper's folder under gomod/ and the tool's name in reports.
    version: the upstream version the binaries report.
    packages: {binary name: Go main package} built from the wrapper module.
    ldflags: -X settings (the version each binary reports).
    tags: Go build tags.
    version_command: argv whose output must contain ``version``; {folder} is the tool's folder
        (None: the binary reports its version only over gRPC, checked by the tests).
    prepare: name of an extra step in build.py run in the build folder before compiling.
    finish: name of an extra step in build.py run after compiling (helper files).
    """

    name: str
    version: str
    packages: dict[str, str]
    version_command: tuple[str, ...] | None
    ldflags: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    prepare: str | None = None
    finish: str | None = None
    env: dict[str, str] = field(default_factory=dict)


TOOLS: tuple[Tool, ...] = (
    Tool(
        name="pulumi",
        version=PULUMI_VERSION,
        packages={"pulumi": "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"},
        ldflags=(f"github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v{PULUMI_VERSION}",),
        tags=("osusergo", "grpcnotrace"),
        version_command=("{folder}/pulumi", "version"),
        finish="pulumi_python_plugins",
    ),
    Tool(
        name="pulumi-resource-kubernetes",
        version=KUBERNETES_PROVIDER_VERSION,
        packages={"pulumi-resource-kubernetes": "."},
        ldflags=(
            "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version="
            f"{KUBERNETES_PROVIDER_VERSION}",
        ),
        # No version flag: it reports its version over gRPC (GetPluginInfo), which
        # tests/e2e/test_tools.py checks against the SDK pinned in requirements.txt.
        version_command=None,
        prepare="kubernetes_provider_schema",
    ),
    Tool(
        name="pulumi-resource-openstack",
        version=OPENSTACK_PROVIDER_VERSION,
        packages={"pulumi-resource-openstack": "./cmd/pulumi-resource-openstack"},
        ldflags=("devstack-k8s-apps/gomod/pulumi-resource-openstack/version.Version="
                 f"{OPENSTACK_PROVIDER_VERSION}",),
        version_command=("{folder}/pulumi-resource-openstack", "-version"),
        prepare="openstack_provider_schema",
    ),
    Tool(
        name="etcd",
        version=ETCD_VERSION,
        packages={"etcd": "go.etcd.io/etcd/server/v3"},
        version_command=("{folder}/etcd", "--version"),
    ),
    Tool(
        name="kubernetes",
        version=KUBERNETES_VERSION,
        packages={
            "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
            "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
            "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
            # The article's own client, so `scripts/lab env` gives its commands as written.
            "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        },
        ldflags=tuple(
            f"{package}.{name}={value}"
            for package in _K8S_VERSION_PACKAGES
            for name, value in (
                ("gitVersion", f"v{KUBERNETES_VERSION}"),
                ("gitMajor", _K8S_MAJOR),
                ("gitMinor", _K8S_MINOR),
                ("gitTreeState", "clean"),
            )
        ),
        version_command=("{folder}/kube-apiserver", "--version"),
    ),
    Tool(
        name="kwok",
        version=KWOK_VERSION,
        packages={"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
        version_command=("{folder}/kwok", "--version"),
        finish="kwok_stages",
    ),
)
