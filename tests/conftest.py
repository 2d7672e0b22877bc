"""One run of the real program under mocks per stack file and mode, shared by the suites.

A test about one scenario takes that stack's fixture (`devstack`, `devstack_single`);
a test of what every stack must hold takes `any_stack`. Runs are plain data: tests
that change properties work on copies (policy_harness.stack_resources).
"""

from __future__ import annotations

import pytest
from harness import STACKS, ProgramRun, run_program

_MODES = [True, False]
_MODE_IDS = ["preview", "update"]


@pytest.fixture(scope="session", params=_MODES, ids=_MODE_IDS)
def devstack(request) -> ProgramRun:
    return run_program("devstack", request.param)


@pytest.fixture(scope="session", params=_MODES, ids=_MODE_IDS)
def devstack_single(request) -> ProgramRun:
    return run_program("devstack-single", request.param)


@pytest.fixture(scope="session", params=[(stack, preview) for stack in STACKS for preview in _MODES],
                ids=[f"{stack}-{mode}" for stack in STACKS for mode in _MODE_IDS])
def any_stack(request) -> ProgramRun:
    stack, preview = request.param
    return run_program(stack, preview)
