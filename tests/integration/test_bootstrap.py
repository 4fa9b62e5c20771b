"""The README's setup script: finds Python 3.10 by itself or says what to install."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _copy_project(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts" / "bootstrap.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path / "scripts" / "bootstrap.sh"


def test_no_python310_gives_one_line_and_exit_2(tmp_path):
    script = _copy_project(tmp_path)
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    for tool in ("bash", "cat", "sha256sum", "cut", "dirname", "grep", "sort", "rm"):
        path = shutil.which(tool)
        if path:
            os.symlink(path, empty / tool)
    env = {"PATH": str(empty), "HOME": str(tmp_path / "home"), "PYENV_ROOT": str(tmp_path / "nopyenv")}
    res = subprocess.run([str(empty / "bash"), str(script), "true"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Python 3.10" in lines[0] and "install" in lines[0]
    assert not (tmp_path / ".venv").exists()


def test_reuses_existing_310_venv_without_reinstall(tmp_path):
    """A .venv with Python 3.10 and a matching stamp is used as is (no pip run)."""
    if sys.version_info[:2] != (3, 10):
        pytest.skip("needs the project's Python 3.10 environment "
                    "(the suite runs in .venv, so only a foreign interpreter skips)")
    script = _copy_project(tmp_path)
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    os.symlink(sys.executable, venv / "bin" / "python")
    digest = subprocess.run(["sha256sum", str(tmp_path / "pyproject.toml")], capture_output=True,
                            text=True, check=True).stdout.split()[0]
    (venv / ".lava-sleep-installed").write_text(digest + "\n")
    res = subprocess.run(["bash", str(script), "python", "-c", "import sys; print(sys.version_info[:2])"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "(3, 10)"
    assert "installing" not in res.stderr
