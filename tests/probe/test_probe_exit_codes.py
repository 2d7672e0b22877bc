"""probe/exit_codes.py: the exit codes and the usage error the probe and verify share (README:
0 holds, 1 fails, 2 usage error, 3 unreachable / no answer)."""

from __future__ import annotations

import io
import re

import pytest

import verify.cli
from probe import exit_codes
from probe.cli import build_parser
from probe.cli import main as probe_main
from verify.cli import main as verify_main
from verify.target import build_target

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("verdict, code", [("pass", 0), ("fail", 1), ("unreachable", 3)])
def test_each_verdict_has_the_documented_code(verdict, code):
    assert exit_codes.exit_code(verdict) == code


def test_usage_is_2_like_argparse_and_no_verdict_shares_it(capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--min-pods", "0"])
    assert exited.value.code == exit_codes.EXIT_USAGE == 2
    assert exit_codes.EXIT_USAGE not in exit_codes.EXIT_CODES.values()
    capsys.readouterr()


def test_an_unknown_verdict_has_no_code():
    with pytest.raises(KeyError):
        exit_codes.exit_code("warn")


def test_the_usage_error_is_printed_as_argparse_prints_its_own():
    stream = io.StringIO()
    code = exit_codes.report_usage_error("probe", exit_codes.UsageError("--url 'x' is not a URL"), stream)
    assert code == 2
    assert stream.getvalue() == "probe: error: --url 'x' is not a URL\n"


def test_the_epilog_lists_the_codes_in_order_with_usage_at_2():
    epilog = exit_codes.exit_codes_epilog(passes="holds", fails="fails", unreachable="silent")
    assert epilog == "Exit codes: 0 holds, 1 fails, 2 usage error, 3 silent."


def test_both_clis_describe_the_same_codes():
    for parser in (build_parser(), verify.cli.build_parser()):
        codes = re.findall(r"(?:^Exit codes: |, )(\d) ", parser.epilog)
        assert codes == ["0", "1", "2", "3"], parser.epilog
        assert ", 2 usage error, " in parser.epilog


def test_both_clis_report_a_usage_error_the_same_way(capsys):
    assert probe_main(["--url", "ftp://host/"]) == exit_codes.EXIT_USAGE
    probe_error = capsys.readouterr().err
    assert probe_error.startswith("probe: error: --url 'ftp://host/' is not an http:// or https:// URL")
    assert verify_main(["--no-stack", "--config-json", "c.json"]) == exit_codes.EXIT_USAGE
    verify_error = capsys.readouterr().err
    assert verify_error.startswith("verify: error: --no-stack uses no stack")


def test_verify_raises_the_shared_usage_error():
    # One class: the probe's checked_url inside verify and verify's own checks raise the same error.
    with pytest.raises(exit_codes.UsageError, match="servicePort"):
        build_target("devstack", {"url": "http://x/"}, {"servicePort": "0"}, {})
