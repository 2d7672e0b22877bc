"""One lab's state, as saved in ``<root>/lab.json``: what `scripts/lab status|env|down` in
another process, and each part's command line (lab/parts.py), read."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab import processes
from lab.cluster import ClusterShape
from lab.controlplane import LabError, Paths


@dataclass
class LabState:
    """Everything one lab is, as saved in ``<root>/lab.json``.

    root: the state folder. bin_dir: the tool set's bin folder. pulumi_home: the PULUMI_HOME
    with the provider plugins installed. parts: the parts, in start order. extra_args: arguments
    appended to a part's command line. ports: {port name: port}. processes: what was started,
    in start order (a restarted part's new process replaces the old one). api_token: the admin
    token of the kubeconfig.
    """

    root: Path
    bin_dir: Path
    pulumi_home: Path
    profile: str
    delay_scale: float
    address_block: str
    pulumi_passphrase: str
    parts: tuple[str, ...]
    extra_args: dict[str, list[str]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[processes.Process] = field(default_factory=list)
    api_token: str = ""

    @property
    def paths(self) -> Paths:
        return Paths(self.root)

    @property
    def shape(self) -> ClusterShape:
        return ClusterShape(self.address_block)

    def to_json(self) -> str:
        record = asdict(self)
        record.update(root=str(self.root), bin_dir=str(self.bin_dir), pulumi_home=str(self.pulumi_home),
                      parts=list(self.parts))
        return json.dumps(record, indent=2)

    @classmethod
    def from_json(cls, text: str) -> LabState:
        record = json.loads(text)
        record.update(root=Path(record["root"]), bin_dir=Path(record["bin_dir"]),
                      pulumi_home=Path(record["pulumi_home"]), parts=tuple(record["parts"]),
                      processes=[processes.Process(**p) for p in record["processes"]])
        return cls(**record)

    def process(self, name: str) -> processes.Process:
        for process in self.processes:
            if process.name == name:
                return process
        raise KeyError(f"the lab in {self.root} has no running part {name!r}")


def save(state: LabState) -> None:
    """Write the state file atomically, readable by its owner only (it holds credentials)."""
    path = state.paths.state_file
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    tmp.chmod(0o600)
    tmp.replace(path)


def load(root: Path) -> LabState | None:
    """The saved state of the lab in ``root``; None when there is none."""
    path = Paths(root).state_file
    if not path.exists():
        return None
    try:
        return LabState.from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as error:
        raise LabError(f"{path} is not a state file of this lab ({error!r}): stop its processes "
                       f"by hand and remove {root}") from None
