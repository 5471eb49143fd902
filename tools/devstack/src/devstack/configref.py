"""The configuration reference, derived from the services' Config structs (docs/configuration.md).

`python -m devstack.configref` rewrites the document; `--check` exits 1 when it is stale. The
compose and Kubernetes tests use `service_fields` to check that every variable they set exists.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec
from notify_common.config import CommonConfig, env_name

SERVICE_PACKAGES: dict[str, str] = {
    "gateway": "gateway",
    "router": "router",
    "push-worker": "push_worker",
    "history": "history",
}
"""Service name (compose service, Kubernetes Deployment) -> its Python package."""

PUBLIC_PORT_VARS: dict[str, str] = {
    "gateway": "PORT",
    "router": "HTTP_PORT",
    "push-worker": "API_PORT",
    "history": "API_PORT",
}
"""The variable holding each service's public HTTP port (compose publishes it, k8s names it http)."""

DOC_PATH = Path("docs/configuration.md")
_CONSTRAINTS = ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")


@dataclass(frozen=True)
class FieldDoc:
    """One configuration variable of one service."""

    env: str
    type: str
    default: str | None
    """The default as an environment value would spell it; None = required."""
    description: str
    shared: bool
    """True for CommonConfig's own fields (every service has them)."""


def config_class(service: str) -> type[CommonConfig]:
    """The CommonConfig subclass defined in `<package>.config` of a service."""
    module = importlib.import_module(f"{SERVICE_PACKAGES[service]}.config")
    for _, value in inspect.getmembers(module, inspect.isclass):
        if (
            issubclass(value, CommonConfig)
            and value is not CommonConfig
            and value.__module__ == module.__name__
        ):
            return value
    raise LookupError(f"no CommonConfig subclass in {module.__name__}")


def _unwrap(tp: Any) -> tuple[Any, list[msgspec.Meta]]:
    metas: list[msgspec.Meta] = []
    while typing.get_origin(tp) is Annotated:
        args = typing.get_args(tp)
        metas.extend(a for a in args[1:] if isinstance(a, msgspec.Meta))
        tp = args[0]
    return tp, metas


def _type_name(tp: Any) -> str:
    base, metas = _unwrap(tp)
    origin = typing.get_origin(base)
    if origin is typing.Literal:
        text = " \\| ".join(f"`{a}`" for a in typing.get_args(base))
    elif origin is list:
        text = f"list of {_type_name(typing.get_args(base)[0])} (JSON or comma-separated)"
    elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        text = " or ".join(_type_name(a) for a in typing.get_args(base))
    else:
        text = getattr(base, "__name__", str(base))
    limits = [f"{c} {getattr(m, c)}" for m in metas for c in _CONSTRAINTS if getattr(m, c) is not None]
    limits = [
        limit.replace("pattern ", "pattern `") + "`" if limit.startswith("pattern") else limit
        for limit in limits
    ]
    return f"{text} ({', '.join(limits)})" if limits else text


def _description(tp: Any) -> str:
    _, metas = _unwrap(tp)
    texts = [m.description for m in metas if m.description]
    return texts[-1] if texts else ""


def _env_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return msgspec.json.encode(value).decode()


def _field_docs(cls: type[msgspec.Struct]) -> list[FieldDoc]:
    hints = typing.get_type_hints(cls, include_extras=True)
    docs = []
    for info in msgspec.structs.fields(cls):
        if info.required:
            default = None
        elif info.default_factory is not msgspec.NODEFAULT:
            default = _env_value(info.default_factory())
        else:
            default = _env_value(info.default)
        tp = hints[info.name]
        docs.append(FieldDoc(env_name(info.name), _type_name(tp), default, _description(tp), shared=False))
    return docs


def service_fields(service: str) -> list[FieldDoc]:
    """Every variable a service reads, in declaration order.

    `shared` marks CommonConfig fields the service leaves as they are; one it re-declares (its
    own OPS_PORT default) is the service's own.
    """
    common = {f.env: f for f in _field_docs(CommonConfig)}
    docs = _field_docs(config_class(service))
    return [dataclasses.replace(f, shared=common.get(f.env) == f) for f in docs]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if "\\|" not in text else text


def _table(fields: list[FieldDoc]) -> list[str]:
    rows = ["| variable | type | default | description |", "|---|---|---|---|"]
    for f in fields:
        default = "**required**" if f.default is None else (f"`{f.default}`" if f.default else '`""` (empty)')
        rows.append(f"| `{f.env}` | {_cell(f.type)} | {_cell(default)} | {_cell(f.description)} |")
    return rows


def render() -> str:
    """The whole configuration reference as Markdown."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from the services' Config structs (`services/*/src/*/config.py`) by",
        "`python -m devstack.configref` (`make docs`); a test fails when this file is stale.",
        "Each field is one environment variable: the field name upper-cased. Values are read once",
        "at start-up; a bad value stops the service with one line naming the variable (exit 2).",
        "Numbers, booleans and lists are parsed as JSON (lists may also be comma-separated).",
        "",
        "## Every service",
        "",
        "`notify_common.config.CommonConfig`. A service that re-declares one of these (each has its",
        "own `OPS_PORT` default) lists it again in its own section.",
        "",
    ]
    lines += _table(_field_docs(CommonConfig))
    for service in SERVICE_PACKAGES:
        cls = config_class(service)
        own = [f for f in service_fields(service) if not f.shared]
        lines += ["", f"## {service}", "", f"`{cls.__module__}.{cls.__name__}`", ""]
        lines += _table(own)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.configref", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the document is stale")
    parser.add_argument("--path", type=Path, default=DOC_PATH, help="where the document lives")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text() if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(text)
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
