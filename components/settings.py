"""Stack configuration: every key's parser and rule, checked before any resource exists.

Plain functions only, so tests call them directly. Defaults live in Pulumi.yaml (the
engine passes them with the stack's values); the one object-valued key,
loadBalancerAnnotations, cannot be declared there and defaults to no annotations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.images import image_pin_problem

PROJECT = "devstack-k8s-apps"

_RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_RFC1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_KUBERNETES_VERSION = re.compile(r"^1\.\d{1,3}\.\d{1,3}$")


@dataclass(frozen=True)
class Settings:
    replicas: int
    multiattach: bool
    volume_type_name: str
    storage_class_name: str
    claim_name: str
    volume_size_gi: int
    image: str
    schedule_on_control_plane: bool
    namespace: str
    service_name: str
    service_port: int
    load_balancer_timeout_minutes: int
    admin_cloud: str
    volume_release_timeout_minutes: int
    kubernetes_version: str
    load_balancer_annotations: dict[str, str] = field(default_factory=dict)


class SettingsError(ValueError):
    """All the invalid configuration values of a stack, each naming key, value and rule."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid stack configuration, nothing was created:\n{lines}")


class _Invalid(ValueError):
    """Raised by a parser; the message is the rule the value breaks."""


def _integer(minimum: int, maximum: int | None = None) -> tuple[Callable[[str], int], str]:
    rule = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"

    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise _Invalid(rule) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise _Invalid(rule)
        return value

    return parse, rule


def _boolean() -> tuple[Callable[[str], bool], str]:
    rule = "true or false"

    def parse(raw: str) -> bool:
        lowered = raw.strip().lower()
        if lowered not in ("true", "false"):
            raise _Invalid(rule)
        return lowered == "true"

    return parse, rule


def _text(rule: str, is_valid: Callable[[str], bool]) -> tuple[Callable[[str], str], str]:
    def parse(raw: str) -> str:
        if not is_valid(raw):
            raise _Invalid(rule)
        return raw

    return parse, rule


def _matching(pattern: re.Pattern[str], max_length: int, rule: str) -> tuple[Callable[[str], str], str]:
    return _text(rule, lambda raw: len(raw) <= max_length and bool(pattern.match(raw)))


_SUBDOMAIN_RULE = (
    "an RFC 1123 subdomain: lowercase letters, digits, '-' and '.', "
    "starting and ending with a letter or digit, at most 253 characters"
)
_LABEL_RULE = (
    "an RFC 1123 label: lowercase letters, digits and '-', "
    "starting and ending with a letter or digit, at most 63 characters"
)
_VOLUME_TYPE_NAME = _text(
    "a non-empty name of at most 255 characters, without surrounding spaces",
    lambda raw: 0 < len(raw) <= 255 and raw == raw.strip(),
)
_CLOUD_NAME = _text("a non-empty clouds.yaml entry name", lambda raw: bool(raw.strip()))


def _pinned_image() -> tuple[Callable[[str], str], str]:
    rule = "an image pinned to a tag or digest, such as nginx:1.27.4 (not latest, not untagged)"

    def parse(raw: str) -> str:
        problem = image_pin_problem(raw)
        if problem:
            raise _Invalid(f"{rule}; this one {problem}")
        return raw

    return parse, rule


def _annotations() -> tuple[Callable[[str], dict[str, str]], str]:
    rule = (
        "a JSON object of string keys to string, number or boolean values, "
        'such as {"loadbalancer.openstack.org/keep-floatingip": "true"}'
    )

    def as_text(value: Any) -> str:
        # `pulumi config set --path` stores true/8 typed; Kubernetes wants strings.
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float, str)):
            return str(value)
        raise _Invalid(rule)

    def parse(raw: str) -> dict[str, str]:
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            raise _Invalid(rule) from None
        if not isinstance(value, dict) or not all(isinstance(key, str) and key for key in value):
            raise _Invalid(rule)
        return {key: as_text(item) for key, item in value.items()}

    return parse, rule


# config key -> (Settings field, parser, default when the key is absent or None if required)
_KEYS: dict[str, tuple[str, tuple[Callable[[str], Any], str], Any]] = {
    "replicas": ("replicas", _integer(1), None),
    "multiattach": ("multiattach", _boolean(), None),
    "volumeTypeName": ("volume_type_name", _VOLUME_TYPE_NAME, None),
    "storageClassName": ("storage_class_name", _matching(_RFC1123_SUBDOMAIN, 253, _SUBDOMAIN_RULE), None),
    "claimName": ("claim_name", _matching(_RFC1123_SUBDOMAIN, 253, _SUBDOMAIN_RULE), None),
    "volumeSizeGi": ("volume_size_gi", _integer(1), None),
    "image": ("image", _pinned_image(), None),
    "scheduleOnControlPlane": ("schedule_on_control_plane", _boolean(), None),
    "namespace": ("namespace", _matching(_RFC1123_LABEL, 63, _LABEL_RULE), None),
    "serviceName": ("service_name", _matching(_RFC1123_LABEL, 63, _LABEL_RULE), None),
    "servicePort": ("service_port", _integer(1, 65535), None),
    "loadBalancerAnnotations": ("load_balancer_annotations", _annotations(), "{}"),
    "loadBalancerTimeoutMinutes": ("load_balancer_timeout_minutes", _integer(1), None),
    "adminCloud": ("admin_cloud", _CLOUD_NAME, None),
    "volumeReleaseTimeoutMinutes": ("volume_release_timeout_minutes", _integer(1), None),
    "kubernetesVersion": (
        "kubernetes_version",
        _matching(_KUBERNETES_VERSION, 11, "a Kubernetes release such as 1.35.0 (major.minor.patch)"),
        None,
    ),
}

CONFIG_KEYS = tuple(_KEYS)


def parse_settings(raw: Mapping[str, str | None]) -> Settings:
    """Build Settings from raw config strings (key -> value, None when unset).

    Raises SettingsError listing every bad key at once, so one fix-and-retry suffices.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, (field_name, (parse, rule), default) in _KEYS.items():
        value = raw.get(key)
        if value is None:
            value = default
        if value is None:
            problems.append(f"{PROJECT}:{key} is not set: it must be {rule} (Pulumi.yaml declares its default)")
            continue
        try:
            values[field_name] = parse(value)
        except _Invalid as invalid:
            problems.append(f"{PROJECT}:{key} = {value!r} is invalid: it must be {invalid}")
    if problems:
        raise SettingsError(problems)
    return Settings(**values)
