"""The README stays true: its commands, the CI script, and every setting documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from choreoscope.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, re.S)


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second_verbatim():
    blocks = _bash_blocks()
    run, test = blocks[0].strip(), blocks[1].strip()
    assert run.startswith("python3 -m venv .venv") and run.endswith("choreoscope demo")
    assert "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines()


def test_every_setting_is_in_the_readme_table_and_help():
    help_text = subprocess.run([sys.executable, "-m", "choreoscope.cli", "serve", "--help"],
                               capture_output=True, text=True, check=True).stdout
    for s in SETTINGS:
        flag = "--" + s.name.replace("_", "-")
        assert f"| `{flag}` | `{s.env}` |" in README, f"{flag} missing from README"
        assert flag in help_text and s.env in help_text


def test_every_subcommand_has_help():
    for cmd in ("serve", "load", "analyze", "replay", "demo"):
        out = subprocess.run([sys.executable, "-m", "choreoscope.cli", cmd, "--help"],
                             capture_output=True, text=True)
        assert out.returncode == 0 and "usage: choreoscope " + cmd in out.stdout


def test_setting_durations_and_sizes():
    from choreoscope.config import parse_duration, parse_size, resolve

    assert parse_duration("24h") == 24 * 3600 * 10**9
    assert parse_duration("1h30m") == 5400 * 10**9
    assert parse_duration("off") is None and parse_duration("0") is None
    assert parse_size("2GB") == 2 * 10**9 and parse_size("16MiB") == 16 * 2**20
    env = {"CHOREOSCOPE_RETENTION": "7d", "CHOREOSCOPE_GRPC_PORT": "5555"}
    got = resolve({"grpc_port": "6666"}, env)
    assert got["grpc_port"] == 6666 and got["retention"] == 7 * 86400 * 10**9
    assert got["http_port"] == 4318  # the default when neither is given
    import pytest

    with pytest.raises(ValueError, match="CHOREOSCOPE_RETENTION"):
        resolve({}, {"CHOREOSCOPE_RETENTION": "soon"})
