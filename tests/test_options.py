"""One definition of each battery option: the pytest flag, its ini key and `actassert check`'s flag."""

import argparse

import pytest

from actassert.cli.parser import add_check_parser
from actassert.settings import BATTERY_OPTIONS, INI, BatteryOptions, parse_share


def _check_parser() -> argparse.ArgumentParser:
    return add_check_parser(argparse.ArgumentParser().add_subparsers())


def test_every_battery_option_is_a_pytest_flag_an_ini_key_and_a_check_flag(pytester):
    result = pytester.runpytest("--help")
    check_help = _check_parser().format_help()
    for option in BATTERY_OPTIONS:
        assert INI[option.pytest_flag] == f"actassert_{option.field}"
        result.stdout.fnmatch_lines([f"*{option.pytest_flag}*", f"*{INI[option.pytest_flag]} *"])
        assert f"--{option.name}" in check_help
        assert option.field in {f.name for f in BatteryOptions.__dataclass_fields__.values()}


def test_check_flags_take_the_dataclass_defaults_and_the_shared_parsing():
    args = _check_parser().parse_args(["mobilenet_v2"])
    defaults = BatteryOptions()
    assert {o.field: getattr(args, o.field) for o in BATTERY_OPTIONS} == {
        o.field: getattr(defaults, o.field) for o in BATTERY_OPTIONS}
    assert _check_parser().parse_args(["m", "--max-dead", "0.25"]).max_dead == 0.25


def test_a_bad_share_says_why_on_the_command_line(capsys):
    with pytest.raises(SystemExit):
        _check_parser().parse_args(["m", "--max-dead", "2"])
    assert "2 must lie between 0 and 1 (a share of kernels)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="'x' is not a number between 0 and 1"):
        parse_share("x")
