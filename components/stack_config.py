"""A stack's config as the Pulumi engine passes it to the program: Pulumi.yaml's defaults, then
Pulumi.<stack>.yaml's values, every value a string, every key namespaced `project:key`.

Plain functions over the project's files, no Pulumi runtime: the mock tests feed this to the
program, and `python -m verify` fills in what a stack leaves unset. components/settings.py
then parses the strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _project_file(project_dir: Path) -> dict:
    return yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}


def project_name(project_dir: Path = PROJECT_DIR) -> str:
    """The project's name in Pulumi.yaml: the namespace of its own config keys."""
    return _project_file(project_dir)["name"]


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    """The stacks the project ships a Pulumi.<stack>.yaml for."""
    return sorted(path.name[len("Pulumi."):-len(".yaml")] for path in project_dir.glob("Pulumi.*.yaml"))


def engine_string(value: Any) -> str:
    """A config value as the program receives it: booleans as true/false, objects and arrays
    (Pulumi.yaml `type: object` defaults included) as JSON, the rest as str()."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def namespaced(key: str, project: str) -> str:
    """`project:key` for a bare key; a key that names its namespace (`kubernetes:context`) stays."""
    return key if ":" in key else f"{project}:{key}"


def bare(key: str, project: str) -> str:
    """The key without the project's own namespace; another namespace (`kubernetes:context`) stays."""
    prefix = f"{project}:"
    return key[len(prefix):] if key.startswith(prefix) else key


def project_defaults(project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """The defaults Pulumi.yaml declares, bare key -> engine string."""
    declared = _project_file(project_dir).get("config") or {}
    return {key: engine_string(spec["default"]) for key, spec in declared.items()
            if isinstance(spec, dict) and "default" in spec}


def stack_values(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """The values Pulumi.<stack>.yaml sets, namespaced key -> engine string."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text()) or {}
    project = project_name(project_dir)
    return {namespaced(key, project): engine_string(value) for key, value in (document.get("config") or {}).items()}


def engine_config(stack: str, overrides: Mapping[str, Any] | None = None,
                  project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """What the engine passes the program for `stack`: defaults, then the stack file, then the
    overrides (bare or namespaced keys; None removes a key, as if neither file set it)."""
    project = project_name(project_dir)
    config = {namespaced(key, project): value for key, value in project_defaults(project_dir).items()}
    config.update(stack_values(stack, project_dir))
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(namespaced(key, project), None)
        else:
            config[namespaced(key, project)] = engine_string(value)
    return config
