"""The waits' progress lines (components/progress.py): a state once, again when it changes or
after PROGRESS_EVERY_SECONDS unchanged."""

from components.progress import PROGRESS_EVERY_SECONDS, ProgressLog


def test_a_state_is_logged_once_until_it_changes_or_the_interval_passes():
    lines = []
    progress = ProgressLog(lines.append)
    progress.update("creating", 0.0)
    progress.update("creating", 1.0)
    progress.update("creating", PROGRESS_EVERY_SECONDS - 0.1)
    assert lines == ["creating"]
    progress.update("available", PROGRESS_EVERY_SECONDS)
    assert lines == ["creating", "available"]
    progress.update("available", 2 * PROGRESS_EVERY_SECONDS)
    assert lines == ["creating", "available", "available"]


def test_the_line_can_differ_from_the_state_it_compares():
    lines = []
    progress = ProgressLog(lines.append, every_seconds=5)
    progress.update("bound", 0.0, "claim c: bound (0s)")
    progress.update("bound", 4.0, "claim c: bound (4s)")  # same state: the elapsed time alone is no news
    progress.update("bound", 5.0, "claim c: bound (5s)")
    assert lines == ["claim c: bound (0s)", "claim c: bound (5s)"]
    assert progress.last == "bound"


def test_nothing_logged_yet_is_none():
    assert ProgressLog(lambda _line: None).last is None
