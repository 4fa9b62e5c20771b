"""The second CI lane's set-up: ``scripts/bootstrap.sh --py3`` (.venv-py3 with the machine's
python3 >= 3.11) and ``scripts/test-py3.sh`` (skipped, with a line, without one)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("bash", "cat", "sha256sum", "cut", "dirname", "grep", "sort", "rm", "echo")


def _copy_project(tmp_path):
    (tmp_path / "scripts").mkdir()
    for name in ("bootstrap.sh", "test-py3.sh"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path / "scripts"


def _bare_path(tmp_path, extra=()):
    """A PATH with basic tools only (no python at all), plus ``extra`` (name, target) links."""
    bare = tmp_path / "bare_bin"
    bare.mkdir()
    for tool in TOOLS:
        path = shutil.which(tool)
        if path:
            os.symlink(path, bare / tool)
    for name, target in extra:
        os.symlink(target, bare / name)
    return bare


def _python3_new():
    """The machine's python3 when it is 3.11 or newer (what the lane uses), else None."""
    path = shutil.which("python3")
    if not path:
        return None
    res = subprocess.run([path, "-c", "import sys; print(sys.version_info >= (3, 11))"],
                         capture_output=True, text=True, timeout=60)
    return path if res.stdout.strip() == "True" else None


def test_py3_lane_without_python311_is_one_line(tmp_path):
    scripts = _copy_project(tmp_path)
    bare = _bare_path(tmp_path)
    env = {"PATH": str(bare), "HOME": str(tmp_path / "home")}
    res = subprocess.run([str(bare / "bash"), str(scripts / "bootstrap.sh"), "--py3", "true"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "python3 >= 3.11" in lines[0]
    assert not (tmp_path / ".venv-py3").exists()
    # the lane itself is skipped (and passes) with a line saying so
    res = subprocess.run([str(bare / "bash"), str(scripts / "test-py3.sh")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    assert res.stderr.strip() == "test-py3: skipped (no python3 >= 3.11 on PATH)"


def test_py3_lane_reuses_its_venv_without_reinstall(tmp_path):
    """A .venv-py3 of the found python3's version with a matching stamp is used as is (no pip
    run); the stamp covers pyproject.toml and the lane's torch choice."""
    py = _python3_new()
    if py is None:
        pytest.skip("needs python3 >= 3.11 first on PATH: inside the 3.10 lane .venv/bin's python3 (3.10) "
                    "comes first; `make test`'s second lane (scripts/test-py3.sh) runs this test")
    scripts = _copy_project(tmp_path)
    venv = tmp_path / ".venv-py3"
    (venv / "bin").mkdir(parents=True)
    os.symlink(py, venv / "bin" / "python")
    torch_spec = "torch==2.13.0"
    stamp_input = (tmp_path / "pyproject.toml").read_bytes() + f"py3 {torch_spec}\n".encode()
    digest = hashlib.sha256(stamp_input).hexdigest()  # what `... | sha256sum` prints
    (venv / ".lava-sleep-installed").write_text(digest + "\n")
    env = {**os.environ, "LAVA_SLEEP_PY3_TORCH": torch_spec}
    res = subprocess.run(["bash", str(scripts / "bootstrap.sh"), "--py3", "python", "-c",
                          "import sys; print(sys.version_info >= (3, 11))"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "True" and "installing" not in res.stderr
    assert not (tmp_path / ".venv").exists()  # the 3.10 environment is not touched


def test_gitignore_and_makefile_wire_the_lane():
    assert ".venv-py3/" in (ROOT / ".gitignore").read_text().splitlines()
    make = (ROOT / "Makefile").read_text()
    test_rule = make.split("\ntest:\n", 1)[1].split("\n\n", 1)[0]
    assert "./scripts/bootstrap.sh ./scripts/test.sh" in test_rule and "./scripts/test-py3.sh" in test_rule
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")
