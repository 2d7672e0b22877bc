"""python -m verify: the options, the checks in order, then the verdict as its exit code
(probe/exit_codes.py, shared with the probe)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from components.load_balancer import service_url
from components.settings import LOAD_BALANCED_APP, STORAGE_APP
from policy.devstack_domain import LOAD_BALANCER_ID_ANNOTATION
from probe.check import ProbeOptions, ProbeResult, run_probe
from probe.cli import MAX_DEADLINE, in_range
from probe.exit_codes import UsageError, exit_code, exit_codes_epilog, report_usage_error
from probe.target import checked_url
from verify import checks as rules
from verify.checks import FAIL, Check
from verify.facts import CloudFacts, KubeFacts, ServiceFacts
from verify.report import UNREACHABLE, render_text, to_json, verdict
from verify.target import (
    Target,
    Unreachable,
    build_target,
    config_values,
    read_json,
    stack_config,
    stack_outputs,
)

APPS = (STORAGE_APP, LOAD_BALANCED_APP)
DEFAULT_HTTP_DEADLINE = 120.0


@dataclass
class Sides:
    """How each side is read; tests replace them."""

    kube: Callable[[Target, tuple[str, ...]], KubeFacts]
    cloud: Callable[[Target, str | None, ServiceFacts | None], CloudFacts]
    probe: Callable[[ProbeOptions, Callable[[str], None]], ProbeResult]
    outputs: Callable[[str | None], dict] = stack_outputs
    config: Callable[[str | None], object] = stack_config  # the document `pulumi config --json` prints


def real_sides() -> Sides:
    from verify.cloud_side import fetch_cloud
    from verify.kube_side import fetch_kube

    return Sides(kube=fetch_kube, cloud=fetch_cloud, probe=lambda options, progress: run_probe(options, progress))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m verify",
        description="Check a deployed stack from both sides: the Kubernetes objects (replicas, nodes, the pods' "
                    "template, left-over controllers, claim, Service), Cinder (volume, type, attachments, size) and "
                    "Octavia (status, listeners, members, floating IPs), then HTTP through the load balancer. "
                    "Reads only; nothing is written to either side.",
        epilog=exit_codes_epilog(passes="all checks hold (warnings allowed)", fails="a check fails",
                                 unreachable="a side cannot be read (API down, credentials, stack not deployed)"),
    )
    source = parser.add_argument_group("what to check (default: the selected stack, through the pulumi CLI)")
    source.add_argument("--stack", help="read this stack's outputs and config with the pulumi CLI")
    source.add_argument("--outputs-json", metavar="FILE",
                        help="the stack's outputs as `pulumi stack output --json` prints them (no pulumi CLI)")
    source.add_argument("--config-json", metavar="FILE",
                        help="the stack's config as `pulumi config --json` prints it, or {\"key\": value}; "
                             "Pulumi.yaml's defaults fill the rest (no pulumi CLI)")
    source.add_argument("--no-stack", action="store_true",
                        help="no stack at all: Pulumi.yaml's defaults and the flags below")
    names = parser.add_argument_group("names and access (override the stack's)")
    names.add_argument("--kubeconfig", help="kubeconfig file (default: the stack's kubernetes:kubeconfig, "
                                            "else $KUBECONFIG or ~/.kube/config)")
    names.add_argument("--context", help="kubeconfig context (default: the stack's kubernetes:context, else current)")
    names.add_argument("--cloud", help="clouds.yaml entry with admin rights (default: the stack's adminCloud); "
                                       "clouds.yaml is found as openstacksdk does ($OS_CLIENT_CONFIG_FILE, ...)")
    names.add_argument("--namespace", help="namespace of the apps, claim and Service (default: the stack's)")
    names.add_argument("--service-name", help="the LoadBalancer Service (default: the stack's serviceName)")
    names.add_argument("--claim-name", help="the PersistentVolumeClaim (default: the stack's claimName)")
    names.add_argument("--cluster-name",
                       help="the cloud controller's cluster name, in the load balancer's name "
                            "kube_service_<cluster>_<namespace>_<service> (default: the stack's clusterName)")
    parser.add_argument("--http-deadline", type=in_range(0.1, MAX_DEADLINE, kind=float), default=DEFAULT_HTTP_DEADLINE,
                        metavar="SECONDS",
                        help=f"how long the HTTP probe may take in all (default {DEFAULT_HTTP_DEADLINE:g})")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    return parser


def load_target(args: argparse.Namespace, sides: Sides) -> Target:
    files = args.outputs_json or args.config_json
    if args.stack and (files or args.no_stack):
        raise UsageError("--stack reads the stack with the pulumi CLI: leave out --outputs-json, --config-json "
                         "and --no-stack")
    if args.no_stack and files:
        raise UsageError("--no-stack uses no stack: leave out --outputs-json and --config-json")
    if args.kubeconfig is not None and not Path(args.kubeconfig).expanduser().is_file():
        raise UsageError(f"--kubeconfig {args.kubeconfig}: no such file")
    if args.no_stack:
        outputs, config = None, {}
    elif files:
        outputs = read_json(args.outputs_json, "outputs") if args.outputs_json else None
        if outputs is not None and not isinstance(outputs, dict):
            raise UsageError(f"the outputs file {args.outputs_json} is not a JSON object")
        config = config_values(read_json(args.config_json, "config")) if args.config_json else {}
    else:
        outputs = sides.outputs(args.stack)
        config = config_values(sides.config(args.stack))
    overrides = {"namespace": args.namespace, "service_name": args.service_name, "claim_name": args.claim_name,
                 "kubeconfig": args.kubeconfig, "context": args.context, "cloud": args.cloud,
                 "cluster_name": args.cluster_name}
    return build_target(args.stack, outputs, config, overrides)


def unreachable_check(error: Unreachable) -> Check:
    return Check(error.side, UNREACHABLE, FAIL, error.cause, error.next_step)


def app_checks(app: str, kube: KubeFacts, target: Target, kept_together: bool) -> list[Check]:
    controller = kube.controllers.get(app)
    expected = target.replicas_of(app)
    return [
        rules.check_replicas(app, expected, controller, target),
        rules.check_placement(app, expected, controller, kube.nodes, target, kept_together=kept_together),
        rules.check_template(app, kube.app_pods.get(app, ()), rules.declared_template_hash(app, controller, target),
                             target),
        rules.check_leftovers(app, controller, kube.leftover_controllers.get(app, ()), target),
    ]


def kube_checks(kube: KubeFacts, target: Target) -> list[Check]:
    return [
        *app_checks(STORAGE_APP, kube, target, kept_together=not target.multiattach),
        *app_checks(LOAD_BALANCED_APP, kube, target, kept_together=False),
        rules.check_claim(kube.claim, kube.volume, kube.storage_class, target),
        rules.check_service(kube.service, target),
    ]


def cinder_volume_id(kube: KubeFacts) -> str | None:
    volume = kube.volume
    if volume is None or volume.driver != rules.CINDER_CSI_DRIVER:
        return None
    return volume.volume_handle or None


def cloud_checks(kube: KubeFacts, cloud: CloudFacts, target: Target) -> list[Check]:
    lb = cloud.load_balancer
    expected_type = rules.expected_volume_type(target, kube.storage_class)
    return [
        rules.check_volume(cloud.volume_id, cloud.volume, expected_type, cloud.volume_type, target, cloud.admin),
        rules.check_volume_type(cloud.type_name, cloud.volume_type, target),
        rules.check_attachments(cloud.volume_id, cloud.volume, kube.controllers.get(STORAGE_APP), kube.nodes,
                                cloud.servers, target),
        rules.check_size(kube.claim, kube.volume, cloud.volume, target),
        rules.check_load_balancer(lb, cloud.load_balancer_lookup, target, cloud.admin,
                                  annotated_id=annotated_load_balancer(kube.service)),
        rules.check_listeners(lb, kube.service, target),
        rules.check_members(lb, kube.service, kube.nodes, target),
        rules.check_health_monitor(lb),
        rules.check_address(lb, kube.service, target),
        rules.check_floating_ips(cloud.service_floating_ips, kube.service, target),
    ]


def annotated_load_balancer(service: ServiceFacts | None) -> str | None:
    return (service.annotations.get(LOAD_BALANCER_ID_ANNOTATION) or None) if service else None


def probe_url(target: Target, service: ServiceFacts | None) -> str | None:
    """The stack's url output, else the one the program would export for the external IP."""
    return target.url or service_url(target.external_ip or (service.ingress if service else None),
                                     target.service_port)


def http_check(kube: KubeFacts, cloud: CloudFacts | None, target: Target, deadline: float, sides: Sides,
               progress: Callable[[str], None]) -> Check:
    min_pods, min_nodes = rules.http_requirements(kube.nodes, target)
    url = probe_url(target, kube.service)
    lb = cloud.load_balancer if cloud else None
    if url:
        try:
            url = checked_url(url)
        except UsageError:
            return Check("http", "probe", FAIL, f"the url {url!r} is not an http:// URL with a host",
                         "pulumi stack output url; pulumi refresh")
        progress(f"probing {url} for {min_pods} pods on {min_nodes} node(s), up to {deadline:g}s")
        result = sides.probe(ProbeOptions(url=url, min_pods=min_pods, min_nodes=min_nodes, deadline=deadline),
                             progress)
    else:
        result = None
    return rules.check_http(url, result, min_pods, min_nodes, lb, target)


def run_checks(target: Target, deadline: float, sides: Sides, progress: Callable[[str], None]) -> list[Check]:
    try:
        progress("reading Kubernetes")
        kube = sides.kube(target, APPS)
    except Unreachable as error:
        return [unreachable_check(error)]
    checks = kube_checks(kube, target)
    try:
        progress(f"reading OpenStack (cloud {target.admin_cloud})")
        cloud = sides.cloud(target, cinder_volume_id(kube), kube.service)
    except Unreachable as error:
        return [*checks, unreachable_check(error)]
    checks += cloud_checks(kube, cloud, target)
    checks.append(http_check(kube, cloud, target, deadline, sides, progress))
    return checks


def _unicode_ok(stream) -> bool:
    try:
        "✓✗→".encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def main(argv: list[str] | None = None, sides: Sides | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on bad arguments

    def progress(message: str) -> None:
        print(f"verify: {message}", file=sys.stderr, flush=True)

    sides = sides or real_sides()
    try:
        target = load_target(args, sides)
    except UsageError as error:
        return report_usage_error("verify", error)
    except Unreachable as error:
        checks, target = [unreachable_check(error)], None
    else:
        checks = run_checks(target, args.http_deadline, sides, progress)
    if args.json:
        print(json.dumps(to_json(args.stack, checks), indent=2, ensure_ascii=False))
    else:
        print(render_text(title(args, target), checks, unicode=_unicode_ok(sys.stdout)))
    return exit_code(verdict(checks))


def title(args: argparse.Namespace, target: Target | None) -> str:
    files = [name for name in (args.outputs_json, args.config_json) if name]
    if args.stack:
        source = f"stack {args.stack}"
    elif files:
        source = " and ".join(files)
    else:
        source = "no stack (Pulumi.yaml's defaults)" if args.no_stack else "the selected stack"
    where = f"; namespace {target.namespace}, cloud {target.admin_cloud}" if target else ""
    return f"verify: {source}{where}"
