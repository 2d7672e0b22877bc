"""Stack configuration: every key's parser and rule, checked before any resource exists.

Plain functions only, so tests call them directly. Defaults live in Pulumi.yaml (the
engine passes them with the stack's values). Each key's Settings field is the key in
snake_case (`volumeSizeGi` -> `volume_size_gi`), and components take the same name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from policy.devstack_domain import image_pin_problem

PROJECT = "devstack-k8s-apps"
# The program's two apps (ReplicationController names and `app` labels): the storage app mounts
# the claim, the load-balanced one is behind the Service. __main__.py, verify and the lab name them.
STORAGE_APP = "server"
LOAD_BALANCED_APP = "lbserver"
VOLUME_MODES = ("Block", "Filesystem")

_RFC1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_RFC1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
# str.isdigit() and int() also take "٣", "²" and "1_000": config integers are ASCII digits only.
_ASCII_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Settings:
    server_replicas: int
    lbserver_replicas: int
    multiattach: bool
    volume_mode: str
    volume_type_name: str
    storage_class_name: str
    claim_name: str
    volume_size_gi: int
    image: str
    schedule_on_control_plane: bool
    namespace: str
    create_namespace: bool
    service_name: str
    cluster_name: str
    service_port: int
    load_balancer_annotations: dict[str, str]
    load_balancer_timeout_minutes: int
    admin_cloud: str
    volume_release_timeout_minutes: int


class SettingsError(ValueError):
    """All the invalid configuration values of a stack, each naming key, value and rule."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid stack configuration, nothing was created:\n{lines}")


class _Invalid(ValueError):
    """Raised by a parser; the message is the rule the value breaks."""


Parser = tuple[Callable[[str], Any], str]


def _integer(minimum: int, maximum: int | None = None) -> Parser:
    bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
    rule = f"an integer {bound}, in ASCII digits"

    def parse(raw: str) -> int:
        if not _ASCII_DIGITS.fullmatch(raw):
            raise _Invalid(rule)
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            raise _Invalid(rule)
        return value

    return parse, rule


def _boolean() -> Parser:
    rule = "true or false"

    def parse(raw: str) -> bool:
        lowered = raw.strip().lower()
        if lowered not in ("true", "false"):
            raise _Invalid(rule)
        return lowered == "true"

    return parse, rule


def _text(rule: str, is_valid: Callable[[str], bool]) -> Parser:
    def parse(raw: str) -> str:
        if not is_valid(raw):
            raise _Invalid(rule)
        return raw

    return parse, rule


def _matching(pattern: re.Pattern[str], max_length: int, rule: str) -> Parser:
    return _text(rule, lambda raw: len(raw) <= max_length and bool(pattern.fullmatch(raw)))


_SUBDOMAIN_RULE = (
    "an RFC 1123 subdomain: lowercase letters, digits, '-' and '.', "
    "starting and ending with a letter or digit, at most 253 characters"
)
_LABEL_RULE = (
    "an RFC 1123 label: lowercase letters, digits and '-', "
    "starting and ending with a letter or digit, at most 63 characters"
)
_SUBDOMAIN = _matching(_RFC1123_SUBDOMAIN, 253, _SUBDOMAIN_RULE)
_LABEL = _matching(_RFC1123_LABEL, 63, _LABEL_RULE)
_VOLUME_TYPE_NAME = _text(
    "a non-empty name of at most 255 characters, without surrounding spaces",
    lambda raw: 0 < len(raw) <= 255 and raw == raw.strip(),
)
_CLOUD_NAME = _text("a non-empty clouds.yaml entry name", lambda raw: bool(raw.strip()))
_VOLUME_MODE = _text(" or ".join(VOLUME_MODES), lambda raw: raw in VOLUME_MODES)


def _pinned_image() -> Parser:
    rule = "an image pinned to a tag or digest, such as nginx:1.27.4 (not latest, not untagged)"

    def parse(raw: str) -> str:
        problem = image_pin_problem(raw)
        if problem:
            raise _Invalid(f"{rule}; this one {problem}")
        return raw

    return parse, rule


def annotation_key_problem(key: Any) -> str | None:
    """Why `key` is not a Kubernetes annotation key ([prefix/]name), or None when it is."""
    if not isinstance(key, str):
        return f"key {key!r} is not a string"
    prefix, slash, name = key.rpartition("/")
    if slash and not (len(prefix) <= 253 and _RFC1123_SUBDOMAIN.fullmatch(prefix)):
        return f"key {key!r} has the prefix {prefix!r}, which is not a DNS subdomain of at most 253 characters"
    if not (len(name) <= 63 and _QUALIFIED_NAME.fullmatch(name)):
        return (f"key {key!r} has the name {name!r}, which is not 1-63 letters, digits, '-', '_' or '.' "
                f"starting and ending with a letter or digit")
    return None


def annotation_value(key: str, value: Any) -> str:
    """The annotation's text: Kubernetes wants strings, `pulumi config set --path` stores 8 and true typed."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    if isinstance(value, float):
        raise _Invalid(f"key {key!r} has the value {value!r}, which is not a finite number")
    raise _Invalid(f"key {key!r} has the value {value!r}: only a string, number or boolean is allowed, "
                   f"not {'null' if value is None else type(value).__name__}")


def _annotations() -> Parser:
    rule = (
        "a JSON object of Kubernetes annotation keys ([DNS-subdomain/]name) to string, finite number or "
        'boolean values, such as {"loadbalancer.openstack.org/keep-floatingip": "true"}'
    )

    def parse(raw: str) -> dict[str, str]:
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            raise _Invalid(rule) from None
        if not isinstance(value, dict):
            raise _Invalid(rule)
        problems, annotations = [], {}
        for key, item in value.items():
            problem = annotation_key_problem(key)
            try:
                annotations[key] = annotation_value(key, item)
            except _Invalid as invalid:
                problem = "; ".join(filter(None, [problem, str(invalid)]))
            if problem:
                problems.append(problem)
        if problems:
            raise _Invalid(f"{rule}; " + "; ".join(problems))
        return annotations

    return parse, rule


# config key -> parser and rule; Pulumi.yaml declares each key's default.
_KEYS: dict[str, Parser] = {
    "serverReplicas": _integer(1),
    "lbserverReplicas": _integer(1),
    "multiattach": _boolean(),
    "volumeMode": _VOLUME_MODE,
    "volumeTypeName": _VOLUME_TYPE_NAME,
    "storageClassName": _SUBDOMAIN,
    "claimName": _SUBDOMAIN,
    "volumeSizeGi": _integer(1),
    "image": _pinned_image(),
    "scheduleOnControlPlane": _boolean(),
    "namespace": _LABEL,
    "createNamespace": _boolean(),
    "serviceName": _LABEL,
    "clusterName": _LABEL,
    "servicePort": _integer(1, 65535),
    "loadBalancerAnnotations": _annotations(),
    "loadBalancerTimeoutMinutes": _integer(1),
    "adminCloud": _CLOUD_NAME,
    "volumeReleaseTimeoutMinutes": _integer(1),
}

CONFIG_KEYS = tuple(_KEYS)
# Keys whose absence has a safe meaning (no annotations) rather than being an error.
_WHEN_UNSET = {"loadBalancerAnnotations": "{}"}


def field_name(key: str) -> str:
    """The Settings field (and component argument) of a config key: camelCase to snake_case."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def parse_settings(raw: Mapping[str, str | None]) -> Settings:
    """Build Settings from raw config strings (key -> value, None when unset).

    Raises SettingsError listing every bad key at once, so one fix-and-retry suffices.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, (parse, rule) in _KEYS.items():
        value = raw.get(key)
        if value is None:
            value = _WHEN_UNSET.get(key)
        if value is None:
            problems.append(f"{PROJECT}:{key} is not set: it must be {rule} (Pulumi.yaml declares its default)")
            continue
        try:
            values[field_name(key)] = parse(value)
        except _Invalid as invalid:
            problems.append(f"{PROJECT}:{key} = {value!r} is invalid: it must be {invalid}")
    if problems:
        raise SettingsError(problems)
    return Settings(**values)
