"""Write a JSON Schema of KServe's InferenceService from the models of the KServe Python SDK.

The SDK cannot be installed beside the service (it pins protobuf < 7, the service's stubs need
protobuf 7), so this reads its generated model classes from the wheel without importing them:
each class's ``openapi_types`` (attribute -> type), ``attribute_map`` (attribute -> JSON key)
and the setters that refuse ``None`` (required fields). KServe's own objects get
``additionalProperties: false``, so a misspelt field fails; embedded Kubernetes types
(``V1Container``, ``V1ObjectMeta``, ...) are plain objects here.

Usage (regenerate after a KServe release):
  pip download kserve==0.21.0 --no-deps -d /tmp/kserve
  python deploy/schemas/generate_kserve_schema.py /tmp/kserve/kserve-0.21.0-py3-none-any.whl
"""

from __future__ import annotations

import ast
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "kserve-inferenceservice-v1beta1.json"
SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"}, "int": {"type": "integer"}, "bool": {"type": "boolean"},
    "float": {"type": "number"}, "object": {}, "datetime": {"type": "string"},
    "date": {"type": "string"}, "ResourceQuantity": {"type": ["string", "number"]}}
REQUIRED = re.compile(r"client_side_validation and (\w+) is None:")


def read_models(wheel: Path) -> dict[str, dict[str, Any]]:
    """Class name -> {types, keys, required} of every generated model in the wheel."""
    models: dict[str, dict[str, Any]] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not re.match(r"kserve/models/v1(alpha|beta)1_\w+\.py$", name):
                continue
            source = archive.read(name).decode()
            for node in ast.parse(source).body:
                if not isinstance(node, ast.ClassDef):
                    continue
                found: dict[str, Any] = {}
                for item in node.body:
                    if isinstance(item, ast.Assign) and isinstance(item.targets[0], ast.Name):
                        if item.targets[0].id in ("openapi_types", "attribute_map"):
                            found[item.targets[0].id] = ast.literal_eval(item.value)
                if "openapi_types" in found:
                    models[node.name] = {"types": found["openapi_types"],
                                         "keys": found["attribute_map"],
                                         "required": sorted(set(REQUIRED.findall(source)))}
    return models


def type_schema(kind: str, models: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of one openapi-generator type string."""
    if kind in SCALARS:
        return dict(SCALARS[kind])
    if kind.startswith("list["):
        return {"type": "array", "items": type_schema(kind[5:-1], models)}
    if kind.startswith("dict("):
        value = kind[5:-1].split(",", 1)[1].strip()
        return {"type": "object", "additionalProperties": type_schema(value, models)}
    if kind in models:
        return {"$ref": f"#/definitions/{kind}"}
    return {"type": "object", "description": f"Kubernetes {kind}"}


def build_schema(models: dict[str, dict[str, Any]], version: str) -> dict[str, Any]:
    """The InferenceService schema: the top-level object and every KServe type it reaches."""
    definitions: dict[str, dict[str, Any]] = {}
    for name, model in sorted(models.items()):
        keys = model["keys"]
        definitions[name] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {keys[attr]: type_schema(kind, models)
                           for attr, kind in model["types"].items()},
            "required": [keys[attr] for attr in model["required"]],
        }
    root: dict[str, Any] = dict(definitions["V1beta1InferenceService"])
    root["properties"] = {**root["properties"],
                          "apiVersion": {"const": "serving.kserve.io/v1beta1"},
                          "kind": {"const": "InferenceService"}}
    root["required"] = ["apiVersion", "kind", "metadata", "spec"]
    return {"$schema": "http://json-schema.org/draft-07/schema#",
            "title": f"KServe InferenceService v1beta1 (from the kserve {version} SDK models)",
            **root, "definitions": definitions}


def main() -> int:
    """Read the wheel named on the command line and write the schema beside this script."""
    wheel = Path(sys.argv[1])
    version = wheel.name.split("-")[1]
    models = read_models(wheel)
    OUT.write_text(json.dumps(build_schema(models, version), indent=1, sort_keys=True) + "\n")
    print(f"{len(models)} KServe models -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
