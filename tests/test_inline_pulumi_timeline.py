"""lab/inline_pulumi.py's own parts: the timeline it records from engine events, `up` without
the Automation API's reads after it (the outputs come from the update's root-stack event), and
how it tells an existing stack of a file backend."""
from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from pulumi.automation import events

from lab.inline_pulumi import ROOT_STACK_TYPE, Collector, program_for, stack_file_exists, up_as_the_cli_does

STACK_URN = "urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev"
CLAIM_URN = "urn:pulumi:dev::proj::kubernetes:core/v1:PersistentVolumeClaim::claim"


def metadata(urn: str, type_: str, outputs: dict | None = None, custom: bool = True) -> events.StepEventMetadata:
    state = events.StepEventStateMetadata(type=type_, urn=urn, custom=custom, delete=False, id="", parent="",
                                          protect=False, inputs={}, outputs=outputs or {}, provider="")
    return events.StepEventMetadata(op=events.OpType.CREATE, urn=urn, type=type_, provider="", new=state)


def engine_event(**kind) -> events.EngineEvent:
    return events.EngineEvent(sequence=0, timestamp=0, **kind)


def stack_outputs_event(outputs: dict) -> events.EngineEvent:
    return engine_event(res_outputs_event=events.ResOutputsEvent(metadata(STACK_URN, ROOT_STACK_TYPE, outputs)))


def test_the_timeline_has_each_step_start_and_end_in_order():
    collector = Collector(echo=False)
    kind = "kubernetes:core/v1:PersistentVolumeClaim"
    collector(engine_event(resource_pre_event=events.ResourcePreEvent(metadata(CLAIM_URN, kind))))
    collector(engine_event(res_outputs_event=events.ResOutputsEvent(metadata(CLAIM_URN, kind))))
    assert [(e["event"], e["urn"]) for e in collector.timeline] == [("step-start", CLAIM_URN),
                                                                    ("step-end", CLAIM_URN)]
    assert collector.timeline[0]["custom"] is True and collector.timeline[0]["op"] == "create"
    assert collector.timeline[0]["t"] <= collector.timeline[1]["t"]


def test_the_program_marks_its_evaluation_even_when_it_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the program changes into its folder: back afterwards
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "__main__.py").write_text("raise RuntimeError('broken')\n")
    marks: list[str] = []
    with pytest.raises(RuntimeError):
        program_for(tmp_path, marks.append)()
    assert marks == ["program-start", "program-end"]


class FakeStack:
    """What up_as_the_cli_does uses of auto.Stack: up() calls outputs() and info() as the SDK's does."""

    def __init__(self, collector: Collector, event_outputs: dict, stored: dict):
        self.collector, self.event_outputs, self.stored = collector, event_outputs, stored
        self.cli_reads = 0

    def up(self, **_options):
        self.collector(stack_outputs_event(self.event_outputs))
        self.outputs()
        assert self.info(True) is not None
        return SimpleNamespace()

    def outputs(self):
        self.cli_reads += 1
        return {key: SimpleNamespace(value=value) for key, value in self.stored.items()}

    def info(self, _show_secrets=False):
        self.cli_reads += 1
        return SimpleNamespace()


def test_up_takes_the_outputs_from_the_update_event_and_reads_nothing_after():
    collector = Collector(echo=False)
    stack = FakeStack(collector, {"url": "http://172.24.4.238:80/", "serverReplicas": 8}, stored={"url": "stale"})
    assert up_as_the_cli_does(stack, collector) == {"url": "http://172.24.4.238:80/", "serverReplicas": 8}
    assert stack.cli_reads == 0
    assert stack.outputs() == {"url": SimpleNamespace(value="stale")}  # the class's methods are back


def test_a_secret_output_is_read_from_the_stack_as_the_event_masks_it():
    collector = Collector(echo=False)
    stack = FakeStack(collector, {"token": "[secret]"}, stored={"token": "s3cr3t"})
    assert up_as_the_cli_does(stack, collector) == {"token": "s3cr3t"}
    assert stack.cli_reads == 1


def test_a_stack_exists_when_its_file_backend_holds_its_checkpoint(tmp_path):
    folder = tmp_path / ".pulumi" / "stacks" / "proj"
    folder.mkdir(parents=True)
    (folder / "dev.json").write_text("{}")
    (folder / "zipped.json.gz").write_bytes(b"")
    backend = f"file://{tmp_path}"
    assert stack_file_exists(backend, "proj", "dev") is True
    assert stack_file_exists(backend, "proj", "zipped") is True
    assert stack_file_exists(backend, "proj", "new") is False
    assert stack_file_exists(backend, "other", "dev") is False, "stacks are per project"
    # Another backend, or none given: not known here, the CLI is asked.
    assert stack_file_exists("https://api.pulumi.com", "proj", "dev") is None
    assert stack_file_exists("", "proj", "dev") is None
