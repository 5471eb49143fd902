"""`make install` on a machine like a fresh Debian/Ubuntu: no uv, and a python3 that will not pip-install.

The "system" python3 is built from the interpreter running the tests: a copy of its binary in a
prefix whose stdlib entries are symlinks to the real ones, plus an EXTERNALLY-MANAGED marker
(PEP 668), so pip in it refuses to install, as Debian's does. Without its `ensurepip` it cannot
create virtual environments either, as on Debian without python3-venv.

Needs PyPI (or pip's cache) for the uv wheel; the workspace packages come from uv's cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("make") is None, reason="no make on PATH"),
    pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout: nothing to copy from"),
]


def system_python(prefix: Path, *, with_ensurepip: bool = True) -> Path:
    """A non-venv python3 under `prefix` that pip refuses to install into; returns its bin dir."""
    base = Path(sys.base_prefix)
    stdlib = Path(sysconfig.get_path("stdlib"))  # the base interpreter's, also from inside a venv
    fake_stdlib = prefix / stdlib.relative_to(base)
    fake_stdlib.mkdir(parents=True)
    for entry in stdlib.iterdir():
        if entry.name == "EXTERNALLY-MANAGED" or (entry.name == "ensurepip" and not with_ensurepip):
            continue
        (fake_stdlib / entry.name).symlink_to(entry)
    (fake_stdlib / "EXTERNALLY-MANAGED").write_text(
        "[externally-managed]\nError=This Python is managed by the system's package manager.\n"
    )
    (prefix / "lib").mkdir(exist_ok=True)
    for library in (base / "lib").glob("libpython*"):  # where the binary finds it relative to itself
        (prefix / "lib" / library.name).symlink_to(library)
    bin_dir = prefix / "bin"
    bin_dir.mkdir()
    # A copy, not a symlink: Python finds its prefix from where the executable really is.
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    shutil.copy2(base / "bin" / f"python{version}", bin_dir / "python3")
    return bin_dir


def refuses_pip_install(python: Path) -> bool:
    """True where `python -m pip install` fails as on Debian: externally managed, or no pip at all."""
    # --dry-run --no-index: even if the marker were ignored, nothing could be installed.
    attempt = subprocess.run(
        [python, "-m", "pip", "install", "--dry-run", "--no-index", "uv"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    refusal = "externally-managed-environment" in attempt.stderr or "No module named pip" in attempt.stderr
    return attempt.returncode != 0 and refusal


def checkout_copy(target: Path) -> Path:
    """The files a clone of this working tree would have (tracked and new, with local edits)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is listed too
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def make_env(python_bin: Path) -> dict[str, str]:
    """The caller's environment with `python_bin` first on PATH and no uv anywhere on it."""
    dirs = [d for d in os.environ["PATH"].split(os.pathsep) if d and not (Path(d) / "uv").exists()]
    env = {
        name: value
        for name, value in os.environ.items()
        # Settings of an enclosing `make`/`uv run` that would redirect the inner one.
        if name not in {"UV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }
    env["PATH"] = os.pathsep.join([str(python_bin), *dirs])
    assert shutil.which("uv", path=env["PATH"]) is None
    assert shutil.which("make", path=env["PATH"]) is not None
    return env


def make_install(checkout: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "install"], cwd=checkout, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.mark.timeout(300)
def test_make_install_bootstraps_uv_where_the_system_python_refuses_pip(tmp_path: Path) -> None:
    python_bin = system_python(tmp_path / "system")
    assert refuses_pip_install(python_bin / "python3")
    checkout = checkout_copy(tmp_path / "checkout")

    done = make_install(checkout, make_env(python_bin))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (checkout / ".tools/venv/bin/uv").is_file()
    python = checkout / ".venv/bin/python"
    imported = subprocess.run(
        [python, "-c", "import notify_common"], capture_output=True, text=True, timeout=60
    )
    assert imported.returncode == 0, imported.stderr


def test_make_install_names_the_package_when_python3_cannot_create_a_venv(tmp_path: Path) -> None:
    python_bin = system_python(tmp_path / "system", with_ensurepip=False)
    checkout = checkout_copy(tmp_path / "checkout")

    done = make_install(checkout, make_env(python_bin))

    assert done.returncode != 0
    assert "apt-get install python3-venv" in done.stderr
    assert not (checkout / ".tools/venv").exists()
