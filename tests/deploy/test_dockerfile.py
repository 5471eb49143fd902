"""The Dockerfile, read statically (no Docker engine here): the properties every image needs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for line in lines
        if line and not line.startswith("#")
        for parts in [line.split(None, 1)]
    ]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def build_args() -> dict[str, str]:
    return {
        name: value for op, args in instructions() if op == "ARG" for name, _, value in [args.partition("=")]
    }


def test_build_is_multi_stage_on_a_slim_python_base() -> None:
    froms = [args for op, args in instructions() if op == "FROM"]
    assert len(froms) >= 2
    assert "slim" in build_args()["PYTHON_IMAGE"]
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)


def test_build_installs_only_the_chosen_package_from_the_lock() -> None:
    runs = " ".join(args for op, args in instructions() if op == "RUN")
    sync = re.search(r"uv sync ([^&;]*)", runs)
    assert sync is not None
    flags = sync.group(1)
    assert "--frozen" in flags and "--no-default-groups" in flags and "--no-editable" in flags
    assert '--package "$PACKAGE"' in flags
    assert "--all-packages" not in flags


def test_dependencies_are_installed_from_the_lock_and_pyproject_files_before_the_sources() -> None:
    steps = instructions()
    first_sync = next(i for i, (op, args) in enumerate(steps) if op == "RUN" and "uv sync" in args)
    assert "--no-install-workspace" in steps[first_sync][1]
    assert "--mount=type=cache,target=/root/.cache/uv" in steps[first_sync][1]
    copied = {
        source
        for op, args in steps[:first_sync]
        if op == "COPY"
        for source in args.split()[:-1]
        if not source.startswith("--")
    }
    assert all(Path(source).name in {"pyproject.toml", "uv.lock"} for source in copied)
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    workspace = {
        str(path.relative_to(ROOT)) for pattern in members for path in ROOT.glob(f"{pattern}/pyproject.toml")
    }
    assert workspace - copied == set()


def test_image_uses_the_uv_version_the_makefile_pins() -> None:
    pinned = re.search(r"^UV_VERSION = (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert pinned is not None
    assert build_args()["UV_VERSION"] == pinned.group(1)


def test_final_image_runs_as_a_non_root_user() -> None:
    users = [args for op, args in final_stage() if op == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid not in ("0", "root")


def test_final_image_has_no_build_tools() -> None:
    runs = " ".join(args for op, args in final_stage() if op == "RUN")
    assert not re.search(r"\b(apt-get install|pip install|uv |gcc|build-essential)\b", runs)
    copies = [args for op, args in final_stage() if op == "COPY"]
    assert copies and all(c.startswith("--from=build /app/venv") for c in copies)


def test_final_image_has_a_health_check_on_the_ops_port() -> None:
    checks = [args for op, args in final_stage() if op == "HEALTHCHECK"]
    assert len(checks) == 1 and "/healthz" in checks[0] and "OPS_PORT" in checks[0]


def test_output_is_unbuffered() -> None:
    envs = " ".join(args for op, args in final_stage() if op == "ENV")
    assert "PYTHONUNBUFFERED=1" in envs


def test_dockerignore_keeps_the_local_environment_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git"} <= set(ignored)
