"""Render a kustomization the way `kustomize build` does, for the subset deploy/k8s uses.

Supported: resources (files and directories), components, patches (strategic merge, matched by
kind and name), generators with literals (name hash suffix disabled), namespace, labels, images,
replicas, replacements (a source field or value copied into target fields, `*` over list items,
`delimiter`/`index` for part of a string), and resources annotated local-config (inputs to
replacements, left out of the output). Anything else raises, so a manifest cannot quietly use a
feature this renderer (and so the tests) would ignore.
`python -m devstack.kustomize deploy/k8s/overlays/dev` prints the YAML.
"""

from __future__ import annotations

import base64
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]
SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "components",
    "patches",
    "namespace",
    "labels",
    "images",
    "replicas",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "replacements",
}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
LOCAL_CONFIG = "config.kubernetes.io/local-config"


class KustomizeError(ValueError):
    """A kustomization this renderer cannot build (unsupported field, missing file, bad patch)."""


def load_yaml(path: Path) -> list[Resource]:
    """Every non-empty document of a YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kustomization(directory: Path) -> Resource:
    path = directory / "kustomization.yaml"
    if not path.exists():
        raise KustomizeError(f"{directory}: no kustomization.yaml")
    spec: Resource = yaml.safe_load(path.read_text()) or {}
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{path}: unsupported fields {sorted(unknown)}")
    return spec


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge: maps merge, lists of named items merge by name, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        by_name = {item["name"]: item for item in base}
        result = [merge(by_name[item["name"]], item) if item["name"] in by_name else item for item in patch]
        patched = {item["name"] for item in patch}
        return [item for item in base if item["name"] not in patched] + result
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _apply_patch(resources: list[Resource], patch: Resource, source: Path) -> None:
    kind, name = patch.get("kind"), patch.get("metadata", {}).get("name")
    for i, resource in enumerate(resources):
        if resource["kind"] == kind and resource["metadata"]["name"] == name:
            resources[i] = merge(resource, patch)
            return
    raise KustomizeError(f"{source}: patch targets {kind}/{name}, which no resource is")


def _generate(spec: Resource, directory: Path, kind: str, options: Resource) -> list[Resource]:
    key = "configMapGenerator" if kind == "ConfigMap" else "secretGenerator"
    out = []
    for gen in spec.get(key, []):
        if not options.get("disableNameSuffixHash"):
            raise KustomizeError(f"{directory}: generators need generatorOptions.disableNameSuffixHash here")
        if set(gen) - {"name", "literals", "behavior", "type"}:
            raise KustomizeError(f"{directory}: {key} supports name, literals, behavior, type")
        data = dict(line.split("=", 1) for line in gen.get("literals", []))
        resource: Resource = {"apiVersion": "v1", "kind": kind, "metadata": {"name": gen["name"]}}
        if kind == "Secret":
            resource["type"] = gen.get("type", "Opaque")
            data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        resource["data"] = data
        resource["_behavior"] = gen.get("behavior", "create")
        out.append(resource)
    return out


def _add_generated(resources: list[Resource], generated: list[Resource]) -> None:
    for resource in generated:
        behavior = resource.pop("_behavior")
        if behavior == "create":
            resources.append(resource)
        elif behavior == "merge":
            _apply_patch(resources, resource, Path(resource["metadata"]["name"]))
        else:
            raise KustomizeError(f"generator behavior {behavior!r} is not supported (create, merge)")


def _pod_specs(resource: Resource) -> list[Resource]:
    if resource["kind"] in WORKLOADS:
        return [resource["spec"]["template"]["spec"]]
    return []


def _transform(resources: list[Resource], spec: Resource) -> None:
    namespace = spec.get("namespace")
    for resource in resources:
        meta = resource.setdefault("metadata", {})
        if namespace and resource["kind"] not in CLUSTER_SCOPED:
            meta["namespace"] = namespace
        for label in spec.get("labels", []):
            meta["labels"] = {**meta.get("labels", {}), **label["pairs"]}
            if label.get("includeTemplates") or label.get("includeSelectors"):
                raise KustomizeError("labels: only includeSelectors/includeTemplates false are supported")
        for pod in _pod_specs(resource):
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                _retag(container, spec.get("images", []))
        for rule in spec.get("replicas", []):
            if resource["kind"] in WORKLOADS and meta["name"] == rule["name"]:
                resource["spec"]["replicas"] = rule["count"]


def _retag(container: Resource, images: list[Resource]) -> None:
    image: str = container["image"]
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    for rule in images:
        if rule["name"] == name:
            tag = rule.get("newTag") or (image[len(name) + 1 :] if image != name else "")
            new = rule.get("newName", name)
            container["image"] = (
                f"{new}@{rule['digest']}" if "digest" in rule else (f"{new}:{tag}" if tag else new)
            )


def _collect(directory: Path, component: bool) -> list[Resource]:
    spec = _kustomization(directory)
    if (spec.get("kind") == "Component") != component:
        raise KustomizeError(f"{directory}: kind must be {'Component' if component else 'Kustomization'}")
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        resources += _collect(path, False) if path.is_dir() else load_yaml(path)
    return _finish(resources, spec, directory)


def _finish(resources: list[Resource], spec: Resource, directory: Path) -> list[Resource]:
    for entry in spec.get("components", []):
        comp_dir = (directory / entry).resolve()
        comp_spec = _kustomization(comp_dir)
        if comp_spec.get("kind") != "Component":
            raise KustomizeError(f"{comp_dir}: not a Component")
        for res in comp_spec.get("resources", []):
            resources += load_yaml(comp_dir / res)
        resources = _finish(resources, {**comp_spec, "resources": [], "components": []}, comp_dir)
    options = spec.get("generatorOptions", {})
    _add_generated(resources, _generate(spec, directory, "ConfigMap", options))
    _add_generated(resources, _generate(spec, directory, "Secret", options))
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise KustomizeError(f"{directory}: only patches given by path (strategic merge) are supported")
        for doc in load_yaml(directory / patch["path"]):
            _apply_patch(resources, doc, directory / patch["path"])
    _transform(resources, spec)
    for replacement in spec.get("replacements", []):
        _replace(resources, replacement, directory)
    return resources


def _field_path(path: str) -> list[str]:
    if "[" in path or "\\" in path:
        raise KustomizeError(f"field path {path!r}: only dotted names, list indexes and * are supported")
    return path.split(".")


def _get(node: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KustomizeError(f"field {path} not found")
    return node


def _targets(node: Any, parts: list[str]) -> list[tuple[Any, Any]]:
    """(container, key) of every field `parts` reaches; `*` walks every item of a list."""
    head, rest = parts[0], parts[1:]
    if head == "*":
        keys: list[Any] = list(range(len(node))) if isinstance(node, list) else []
    elif isinstance(node, list) and head.isdigit():
        keys = [int(head)] if int(head) < len(node) else []
    else:
        keys = [head] if isinstance(node, dict) and head in node else []
    if not rest:
        return [(node, key) for key in keys]
    return [found for key in keys for found in _targets(node[key], rest)]


def _selected(resource: Resource, select: Resource) -> bool:
    if set(select) - {"kind", "name"}:
        raise KustomizeError(f"replacement select supports kind and name, not {sorted(select)}")
    kind, name = resource["kind"], resource["metadata"]["name"]
    return bool(kind == select.get("kind", kind) and name == select.get("name", name))


def _replace(resources: list[Resource], replacement: Resource, directory: Path) -> None:
    if "path" in replacement or set(replacement) - {"source", "sourceValue", "targets"}:
        raise KustomizeError(
            f"{directory}: replacements are supported inline (source or sourceValue, targets)"
        )
    if "sourceValue" in replacement:
        value = replacement["sourceValue"]
    else:
        source = replacement["source"]
        if set(source) - {"kind", "name", "fieldPath"}:
            raise KustomizeError(f"{directory}: a replacement source supports kind, name and fieldPath")
        matches = [
            r for r in resources if _selected(r, {k: source[k] for k in ("kind", "name") if k in source})
        ]
        if len(matches) != 1:
            raise KustomizeError(f"{directory}: replacement source {source} matches {len(matches)} resources")
        path = source.get("fieldPath", "metadata.name")
        value = _get(matches[0], _field_path(path), path)
    for target in replacement["targets"]:
        options = target.get("options", {})
        if set(target) - {"select", "fieldPaths", "options"} or set(options) - {"delimiter", "index"}:
            raise KustomizeError(f"{directory}: a replacement target supports select, fieldPaths, options")
        selected = [r for r in resources if _selected(r, target["select"])]
        if not selected:
            raise KustomizeError(f"{directory}: replacement target {target['select']} selects nothing")
        for resource in selected:
            for path in target["fieldPaths"]:
                fields = _targets(resource, _field_path(path))
                if not fields:
                    raise KustomizeError(
                        f"{directory}: {resource['kind']}/{resource['metadata']['name']} has no {path}"
                    )
                for container, key in fields:
                    container[key] = _substitute(container[key], value, options)


def _substitute(current: Any, value: Any, options: Resource) -> Any:
    if "delimiter" not in options:
        return copy.deepcopy(value)
    parts = str(current).split(options["delimiter"])
    index = options.get("index", 0)
    if not 0 <= index < len(parts):
        raise KustomizeError(f"index {index} is out of range in {current!r}")
    parts[index] = str(value)
    return options["delimiter"].join(parts)


def build(directory: Path) -> list[Resource]:
    """The resources `kustomize build <directory>` would print, in the same order."""
    resources = _collect(directory.resolve(), component=False)
    return [r for r in resources if r["metadata"].get("annotations", {}).get(LOCAL_CONFIG) != "true"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m devstack.kustomize DIRECTORY  (prints the rendered YAML)")
        return 0 if args and args[0] in ("-h", "--help") else 2
    print(yaml.safe_dump_all(build(Path(args[0])), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
