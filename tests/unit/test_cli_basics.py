"""Command-line basics: --version, unknown commands/options, one-line user errors, exit codes."""

from __future__ import annotations

import types

import pytest

import lava_sleep
from lava_sleep import cli
from lava_sleep.errors import UserError


def _one_line(text: str) -> str:
    lines = text.strip("\n").split("\n")
    assert len(lines) == 1, text
    return lines[0]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lava-sleep {lava_sleep.__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-command"],
        ["--no-such-option"],
        ["demo", "--no-such-option"],
        ["demo", "--seed", "not-a-number"],
    ],
)
def test_usage_errors_are_one_line_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith("lava-sleep: error:")
    assert "Traceback" not in captured.err and captured.out == ""


def test_no_command_prints_help_and_returns_2(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    assert "usage: lava-sleep" in out and "demo" in out


def _fake_command(run):
    return types.SimpleNamespace(HELP="fake command for tests", add_arguments=lambda p: None, run=run)


def test_user_error_in_a_command_is_one_line(capsys, monkeypatch):
    def run(args):
        raise UserError("unknown dataset 'foo'; choose one of mnist, kmnist")

    monkeypatch.setattr(cli, "COMMANDS", ("demo",))
    monkeypatch.setattr(cli, "_command_module", lambda name: _fake_command(run))
    assert cli.main(["demo"]) == 2
    captured = capsys.readouterr()
    expect = "lava-sleep demo: error: unknown dataset 'foo'; choose one of mnist, kmnist"
    assert _one_line(captured.err) == expect
    assert captured.out == ""


def test_param_error_is_a_user_error(capsys, monkeypatch):
    from lava_sleep import params as P

    def run(args):
        P.SleepParams(fraction=2.0)

    monkeypatch.setattr(cli, "COMMANDS", ("demo",))
    monkeypatch.setattr(cli, "_command_module", lambda name: _fake_command(run))
    assert cli.main(["demo"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("lava-sleep demo: error: SleepParams.fraction = 2.0")


def test_command_return_code_and_interrupt(capsys, monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", ("demo",))
    monkeypatch.setattr(cli, "_command_module", lambda name: _fake_command(lambda args: 3))
    assert cli.main(["demo"]) == 3
    monkeypatch.setattr(cli, "_command_module", lambda name: _fake_command(lambda args: None))
    assert cli.main(["demo"]) == 0

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_command_module", lambda name: _fake_command(interrupted))
    assert cli.main(["demo"]) == 130
    assert "interrupted" in _one_line(capsys.readouterr().err)


def test_every_available_command_has_the_module_contract():
    """Each command module that exists has HELP (one line), add_arguments and run."""
    found = 0
    for name in cli.COMMANDS:
        try:
            mod = cli._command_module(name)
        except ModuleNotFoundError:
            continue
        found += 1
        assert isinstance(mod.HELP, str) and mod.HELP and "\n" not in mod.HELP
        assert callable(mod.add_arguments) and callable(mod.run)
    assert found >= 1
