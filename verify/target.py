"""What the stack says should be there: its outputs and config, with Pulumi.yaml's defaults
(read as the engine passes them: components/stack_config.py).

From the Pulumi CLI (`pulumi stack output --json`, `pulumi config --json`, run in the project
folder), from JSON files (`--outputs-json`, `--config-json`), or from Pulumi.yaml's defaults
alone (`--no-stack`); flags given on the command line win over all of them. The config is
checked by the program's own rules (components/settings.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.settings import (
    CONFIG_KEYS,
    LOAD_BALANCED_APP,
    PROJECT,
    STORAGE_APP,
    SettingsError,
    parse_settings,
)
from components.stack_config import PROJECT_DIR, bare, engine_string, project_defaults
from policy.devstack_domain import DEFAULT_CLUSTER_NAME
from probe.exit_codes import UsageError
from probe.pulumi_cli import FAILED, MISSING, TIMED_OUT, PulumiCliError, pulumi_config, pulumi_stack_outputs


class Unreachable(Exception):
    """A side that cannot be read (API down, credentials, stack not deployed); exit code 3."""

    def __init__(self, side: str, cause: str, next_step: str = ""):
        self.side, self.cause, self.next_step = side, cause, next_step
        super().__init__(f"{side}: {cause}")


@dataclass(frozen=True)
class Target:
    stack: str | None  # None: no stack (defaults, files and flags)
    namespace: str
    service_name: str
    service_port: int
    claim_name: str
    storage_class_name: str
    volume_type_name: str | None  # the multi-attach type; None: Cinder's default type
    volume_mode: str
    multiattach: bool
    schedule_on_control_plane: bool
    server_replicas: int
    lbserver_replicas: int
    admin_cloud: str
    external_ip: str | None = None
    url: str | None = None
    load_balancer_id: str | None = None
    kubeconfig: str | None = None  # the stack's kubernetes:kubeconfig (a path or the contents)
    context: str | None = None  # the stack's kubernetes:context
    cluster_name: str = DEFAULT_CLUSTER_NAME
    image: str = ""  # the declared nginx image
    volume_size_gi: int = 1  # the claim's declared size
    # app name -> the name of its ReplicationController / the pod-template-hash of its template,
    # from the stack's outputs; an app is missing when a stack deployed by an older program has none
    controller_names: dict[str, str] = field(default_factory=dict)
    template_hashes: dict[str, str] = field(default_factory=dict)

    def replicas_of(self, app: str) -> int:
        return {STORAGE_APP: self.server_replicas, LOAD_BALANCED_APP: self.lbserver_replicas}[app]


def config_values(document: Any) -> dict[str, Any]:
    """`pulumi config --json` ({"project:key": {"value": "...", "secret": false}}) or a plain
    {"key": value} document, as {"key" or "namespace:key": value}; secrets without a value are left out."""
    if not isinstance(document, dict):
        raise UsageError("the config is not a JSON object")
    values: dict[str, Any] = {}
    for key, entry in document.items():
        if isinstance(entry, dict) and ("value" in entry or "secret" in entry or "objectValue" in entry):
            if "value" not in entry:
                continue  # a secret `pulumi config --json` does not show
            entry = entry["value"]
        values[bare(key, PROJECT)] = entry
    return values


def pulumi_cli_failure(error: PulumiCliError) -> Exception:
    """What a failed pulumi CLI means to verify: a missing CLI or an unknown stack is a usage
    error (exit 2); a slow or failing backend makes the stack side unreadable (exit 3)."""
    if error.kind == MISSING:
        return UsageError(f"{error}: install it, or pass --outputs-json and --config-json (or --no-stack)")
    if error.no_such_stack:
        return UsageError(f"{error} (pulumi stack ls lists the stacks)")
    if error.kind == TIMED_OUT:
        return Unreachable("pulumi", str(error), "pulumi whoami -v (is the backend reachable?)")
    if error.kind == FAILED:
        return Unreachable("pulumi", str(error),
                           "pulumi whoami -v; export PULUMI_CONFIG_PASSPHRASE for a local backend")
    return Unreachable("pulumi", str(error))


def stack_outputs(stack: str | None) -> dict[str, Any]:
    try:
        outputs = pulumi_stack_outputs(stack, PROJECT_DIR)
    except PulumiCliError as error:
        raise pulumi_cli_failure(error) from None
    if not isinstance(outputs, dict):
        raise Unreachable("pulumi", f"stack outputs are not a JSON object: {outputs!r}")
    return outputs


def stack_config(stack: str | None) -> Any:
    """`pulumi config --json` as printed (config_values reads it)."""
    try:
        return pulumi_config(stack, PROJECT_DIR)
    except PulumiCliError as error:
        raise pulumi_cli_failure(error) from None


def read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise UsageError(f"cannot read the {what} file {path}: {error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"the {what} file {path} is not JSON: {error}") from None


def _optional_text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _count(outputs: Mapping[str, Any], key: str, fallback: int) -> int:
    value = outputs.get(key)
    if value is None:
        return fallback
    try:
        number = float(value)  # Pulumi outputs numbers as JSON numbers, sometimes 8.0
    except (TypeError, ValueError):
        raise UsageError(f"the stack output {key} = {value!r} is not a number") from None
    if not number.is_integer() or number < 0:
        raise UsageError(f"the stack output {key} = {value!r} is not a whole number")
    return int(number)


def build_target(stack: str | None, outputs: Mapping[str, Any] | None, config: Mapping[str, Any],
                 overrides: Mapping[str, Any] | None = None, defaults: Mapping[str, str] | None = None) -> Target:
    """The target from the stack's outputs (None: no stack) and config over Pulumi.yaml's defaults;
    overrides (the command line's names, None for unset) win. Raises Unreachable for a stack
    without outputs (not deployed), UsageError for a config the program would refuse."""
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    if outputs is not None and not outputs:
        raise Unreachable("pulumi", f"the stack {stack or '(selected)'} has no outputs: it is not deployed",
                          "pulumi up (then pulumi stack output)")
    outputs = outputs or {}
    raw = dict(project_defaults() if defaults is None else defaults)
    for key in CONFIG_KEYS:
        if key in config:
            raw[key] = engine_string(config[key])
    if "namespace" in overrides:
        raw["namespace"] = str(overrides["namespace"])
    try:
        settings = parse_settings(raw)
    except SettingsError as error:
        raise UsageError(str(error)) from None

    def named(output: str, override: str, configured: str) -> str:
        return str(overrides.get(override) or outputs.get(output) or configured)

    volume_type = outputs.get("volumeTypeName") or (settings.volume_type_name if settings.multiattach else None)
    apps = (STORAGE_APP, LOAD_BALANCED_APP)
    return Target(
        stack=stack,
        namespace=str(overrides.get("namespace") or outputs.get("namespace") or settings.namespace),
        service_name=named("serviceName", "service_name", settings.service_name),
        service_port=settings.service_port,
        claim_name=named("claimName", "claim_name", settings.claim_name),
        storage_class_name=named("storageClassName", "storage_class_name", settings.storage_class_name),
        volume_type_name=_optional_text(volume_type),
        volume_mode=settings.volume_mode,
        multiattach=settings.multiattach,
        schedule_on_control_plane=settings.schedule_on_control_plane,
        server_replicas=_count(outputs, "serverReplicas", settings.server_replicas),
        lbserver_replicas=_count(outputs, "lbserverReplicas", settings.lbserver_replicas),
        admin_cloud=str(overrides.get("cloud") or settings.admin_cloud),
        external_ip=_optional_text(outputs.get("externalIp")),
        url=_optional_text(outputs.get("url")),
        load_balancer_id=_optional_text(outputs.get("loadBalancerId")),
        kubeconfig=_optional_text(overrides.get("kubeconfig") or config.get("kubernetes:kubeconfig")),
        context=_optional_text(overrides.get("context") or config.get("kubernetes:context")),
        cluster_name=str(overrides.get("cluster_name") or settings.cluster_name),
        image=str(outputs.get("image") or settings.image),
        volume_size_gi=_count(outputs, "volumeSizeGi", settings.volume_size_gi),
        # outputs `serverController`, `lbserverTemplateHash`, ...: one per app, named after it
        controller_names=_per_app(outputs, apps, "Controller"),
        template_hashes=_per_app(outputs, apps, "TemplateHash"),
    )


def _per_app(outputs: Mapping[str, Any], apps: tuple[str, ...], suffix: str) -> dict[str, str]:
    return {app: str(outputs[f"{app}{suffix}"]) for app in apps if _optional_text(outputs.get(f"{app}{suffix}"))}
