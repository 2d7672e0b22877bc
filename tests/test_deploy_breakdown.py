"""The deploy benchmark's pure parts: the breakdown of a run from its timeline, the scaling
curve's growth, the --scaling list (benchmarks/deploy_benchmark.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from deploy_benchmark import (  # noqa: E402 - after the sys.path line
    before_first_phase,
    counts,
    critical_path_seconds,
    ending_chain,
    first_check_at_or_after,
    growth_exponents,
    phase_breakdown,
    render_breakdown,
    steps_of,
)

STACK = "urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev"
PROVIDER = "urn:pulumi:dev::proj::pulumi:providers:kubernetes::default"
COMPONENT = "urn:pulumi:dev::proj::app:Storage::storage"
VOLUME = "urn:pulumi:dev::proj::app:Storage$openstack:blockstorage/volumeV3:VolumeV3::volume"
CLAIM = "urn:pulumi:dev::proj::app:Storage$kubernetes:core/v1:PersistentVolumeClaim::claim"
PODS = "urn:pulumi:dev::proj::kubernetes:core/v1:ReplicationController::server"


def start(t: float, urn: str, custom: bool = True, op: str = "create") -> dict:
    return {"event": "step-start", "t": t, "urn": urn, "type": urn.split("::")[2].split("$")[-1], "op": op,
            "custom": custom}


def end(t: float, urn: str, event: str = "step-end") -> dict:
    return {"event": event, "t": t, "urn": urn}


# An `up`: process ready at 100, preview 100.5-103, update 103-120.
TIMELINE = [
    {"event": "process-ready", "t": 100.3},
    {"event": "phase-start", "t": 100.5, "phase": "preview"},
    {"event": "program-start", "t": 101.0}, {"event": "program-end", "t": 102.0},
    start(102.1, PROVIDER), end(102.3, PROVIDER),
    {"event": "phase-end", "t": 103.0, "phase": "preview"},
    {"event": "phase-start", "t": 103.0, "phase": "update"},
    {"event": "program-start", "t": 103.5}, {"event": "program-end", "t": 104.0},
    start(104.0, STACK, custom=False),
    start(104.1, COMPONENT, custom=False), end(104.1, COMPONENT),
    start(104.2, PROVIDER), end(104.5, PROVIDER),
    start(104.6, VOLUME), end(110.0, VOLUME),
    start(104.7, PODS), end(106.0, PODS),
    start(110.4, CLAIM), end(118.0, CLAIM),
    end(119.0, STACK),  # the stack's outputs wait for everything: not part of the chain
    {"event": "phase-end", "t": 120.0, "phase": "update"},
]


def test_the_update_is_split_into_engine_start_program_steps_and_tail():
    part = phase_breakdown(TIMELINE, "update")
    assert part.seconds == pytest.approx(17.0)
    assert part.engine_start == pytest.approx(0.5)
    assert part.program == pytest.approx(0.5)
    assert part.tail == pytest.approx(2.0)  # 118 -> 120
    assert [s.name for s in part.providers] == ["default"]
    assert [s.name for s in part.resources] == ["volume", "server", "claim"]
    assert part.resources[0].seconds == pytest.approx(5.4)


def test_the_chain_that_ended_the_update_follows_the_last_outputs_back():
    part = phase_breakdown(TIMELINE, "update")
    assert [(link.step.name, round(link.wait_before, 2)) for link in part.chain] == [
        ("default", 0.2), ("volume", 0.1), ("claim", 0.4)]


def test_the_preview_is_its_own_phase():
    part = phase_breakdown(TIMELINE, "preview")
    assert part.seconds == pytest.approx(2.5)
    assert part.program == pytest.approx(1.0)
    assert [s.name for s in part.steps] == ["default"]


def test_a_missing_or_unfinished_phase_has_no_breakdown():
    assert phase_breakdown(TIMELINE, "destroy") is None
    assert phase_breakdown(TIMELINE[:-1], "update") is None


def test_a_step_without_outputs_has_no_end_and_a_failed_one_says_so():
    steps = steps_of([start(1.0, VOLUME), start(2.0, CLAIM), end(5.0, CLAIM, "step-failed")], origin=1.0)
    assert [(s.name, s.end, s.failed) for s in steps] == [("volume", None, False), ("claim", 4.0, True)]


def test_a_chain_of_steps_that_ran_side_by_side_is_the_one_that_ended_last():
    steps = steps_of([start(0.0, VOLUME), start(0.0, PODS), end(3.0, PODS), end(7.0, VOLUME)], origin=0.0)
    assert [link.step.name for link in ending_chain(steps)] == ["volume"]
    assert ending_chain([]) == []


def test_before_the_first_phase_the_process_start_and_the_stack_selection():
    assert before_first_phase(TIMELINE, launched=100.0) == (pytest.approx(0.3), pytest.approx(0.2))
    assert before_first_phase([], launched=100.0) == (None, None)


def test_the_rendered_breakdown_names_every_part():
    text = "\n".join(render_breakdown(TIMELINE, launched=100.0, total=20.5, label="`up`"))
    assert text.startswith("`up` 20.5 s")
    for expected in ("preview 2.5 s", "update 17.0 s", "program evaluation 0.5 s", "claim", "+ 0.4 s",
                     "to the process's exit: 0.5 s"):
        assert expected in text


def test_growth_exponents_are_one_for_a_linear_curve_and_none_without_a_time():
    assert growth_exponents([(8, 10.0), (32, 40.0), (128, 80.0)]) == [pytest.approx(1.0), pytest.approx(0.5)]
    assert growth_exponents([(8, 0.0), (32, 4.0)]) == [None]
    assert growth_exponents([(8, 1.0)]) == []


@pytest.mark.parametrize("text", ["", "0,8", "8,x", "32,8", "8,8"])
def test_the_scaling_list_is_increasing_whole_numbers(text):
    with pytest.raises(argparse.ArgumentTypeError):
        counts(text)


def test_the_scaling_list_parses():
    assert counts("8,32,128") == [8, 32, 128]


def test_a_polling_controller_sees_a_state_at_its_first_check_after_it_arrives():
    sleeps = [1.0, 1.2, 1.44, 1.728]
    assert first_check_at_or_after(0.0, sleeps) == 0.0
    assert first_check_at_or_after(1.0, sleeps) == 1.0
    assert first_check_at_or_after(1.1, sleeps) == pytest.approx(2.2)
    assert first_check_at_or_after(4.0, sleeps) == pytest.approx(5.368)


def test_the_critical_path_counts_the_cloud_controllers_polling_of_the_amphora_boot():
    # devstack x 0.1: a 24 s boot, seen at the backoff's check at 25.96 s (1 + 1.2 + ... + 1.2**9)
    critical, chains = critical_path_seconds(0.1, "devstack")
    assert critical == pytest.approx(sum(1.2 ** i for i in range(10)))
    assert max(chains, key=chains.get).startswith("load balancer")
