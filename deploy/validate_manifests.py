"""Validates deployment manifests offline.

    validate_manifests.py [--kubernetes-version V ...] FILE...

Each FILE holds one or more YAML documents (a rendered kustomization, Cloud Run's
service.yaml). Built-in Kubernetes kinds are checked against the schemas that the
`kubernetes-validate` package ships, strictly (unknown fields are errors), for every version
given. KEDA's ScaledObject and Knative's Service (Cloud Run's format) are checked against the
CustomResourceDefinitions in deploy/schemas/, made strict the same way; a Knative Service that
carries Cloud Run's location label also gets Cloud Run's own rules for a GPU service. Any kind
without a schema is an error, so nothing passes unchecked. Prints one line per object; exits 1
on the first file with a problem after reporting all of its objects.
"""

import argparse
import copy
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

SCHEMAS = pathlib.Path(__file__).with_name("schemas")
CRDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_scaledobjects.yaml",
    ("serving.knative.dev/v1", "Service"): "knative-serving-service.yaml",
}


def strict(schema):
    """The CRD's openAPIV3Schema as a JSON Schema in which unknown fields are errors, as
    `kubectl apply --validate=strict` reports them (a CRD would silently prune them)."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(s)
    # Every object has these; CRD schemas leave them implicit.
    s.setdefault("properties", {})
    for k in ("apiVersion", "kind"):
        s["properties"].setdefault(k, {"type": "string"})
    s["properties"]["metadata"] = {"type": "object"}
    return s


def crd_validator(api_version, kind):
    crd = yaml.safe_load((SCHEMAS / CRDS[(api_version, kind)]).read_text())
    version = api_version.split("/")[1]
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return jsonschema.Draft7Validator(strict(v["schema"]["openAPIV3Schema"]))
    raise SystemExit(f"{CRDS[(api_version, kind)]} has no version {version}")


def cloud_run_rules(doc):
    """Cloud Run's requirements for a GPU service that its CRD-shaped schema cannot express
    (cloud.google.com/run/docs/configuring/services/gpu, .../reference/yaml/v1)."""
    problems = []
    tmpl = doc.get("spec", {}).get("template", {})
    ann = tmpl.get("metadata", {}).get("annotations", {})
    spec = tmpl.get("spec", {})
    containers = spec.get("containers", [])
    known = {
        "autoscaling.knative.dev/minScale", "autoscaling.knative.dev/maxScale",
        "run.googleapis.com/cpu-throttling", "run.googleapis.com/startup-cpu-boost",
        "run.googleapis.com/gpu-zonal-redundancy-disabled", "run.googleapis.com/execution-environment",
        "run.googleapis.com/vpc-access-connector", "run.googleapis.com/vpc-access-egress",
        "run.googleapis.com/network-interfaces", "run.googleapis.com/cloudsql-instances",
        "run.googleapis.com/sessionAffinity", "run.googleapis.com/container-dependencies",
        "run.googleapis.com/secrets", "run.googleapis.com/base-images",
    }
    problems += [f"unknown revision annotation {k}" for k in ann if k not in known]
    for k in ("autoscaling.knative.dev/minScale", "autoscaling.knative.dev/maxScale"):
        if k in ann and not str(ann[k]).isdigit():
            problems.append(f"{k} must be a whole number in a string, not {ann[k]!r}")
    if len(containers) != 1 or len(containers[0].get("ports", [])) != 1:
        problems.append("one serving container with exactly one port")
    else:
        port = containers[0]["ports"][0]
        if port.get("name", "http1") not in ("http1", "h2c"):
            problems.append("the port name is http1 or h2c")
    for c in containers:
        limits = c.get("resources", {}).get("limits", {})
        if "nvidia.com/gpu" not in limits:
            continue
        accel = spec.get("nodeSelector", {}).get("run.googleapis.com/accelerator")
        if accel not in ("nvidia-l4", "nvidia-rtx-pro-6000"):
            problems.append(f"a GPU needs nodeSelector run.googleapis.com/accelerator: nvidia-l4 or nvidia-rtx-pro-6000, not {accel!r}")
        if str(limits["nvidia.com/gpu"]) != "1":
            problems.append("one GPU per instance")
        if ann.get("run.googleapis.com/cpu-throttling") != "false":
            problems.append('a GPU needs run.googleapis.com/cpu-throttling: "false" (CPU always allocated)')
        cpu = float(str(limits.get("cpu", "0")).rstrip("m")) / (1000 if str(limits.get("cpu", "")).endswith("m") else 1)
        mem = str(limits.get("memory", "0"))
        gib = float(mem[:-2]) if mem.endswith("Gi") else float(mem[:-2]) / 1024 if mem.endswith("Mi") else 0
        if cpu < 4 or gib < 16:
            problems.append(f"a GPU needs at least 4 CPUs and 16Gi of memory, not {limits.get('cpu')} / {mem}")
    timeout = spec.get("timeoutSeconds", 300)
    if not 1 <= timeout <= 3600:
        problems.append("timeoutSeconds is 1..3600")
    if not 1 <= spec.get("containerConcurrency", 80) <= 1000:
        problems.append("containerConcurrency is 1..1000")
    return problems


def check(doc, versions, validators):
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in CRDS:
        v = validators.setdefault(key, crd_validator(*key))
        problems = [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in v.iter_errors(doc)]
        if key[1] == "Service" and "cloud.googleapis.com/location" in doc.get("metadata", {}).get("labels", {}):
            problems += cloud_run_rules(doc)
        return problems, "published CRD schema"
    problems = []
    for version in versions:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.utils.ValidationError as e:
            path = ".".join(map(str, e.path)) or "(root)"
            problems.append(f"Kubernetes {version}: {path}: {e.message}")
        except kubernetes_validate.utils.SchemaNotFoundError:
            problems.append(f"no schema for {key[0]} {key[1]} in Kubernetes {version}")
    return problems, "Kubernetes " + ", ".join(versions)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kubernetes-version", action="append", dest="versions")
    p.add_argument("files", nargs="+", type=pathlib.Path)
    a = p.parse_args()
    versions = a.versions or ["1.30", kubernetes_validate.utils.latest_version()]
    validators = {}
    failed = False
    for f in a.files:
        docs = [d for d in yaml.safe_load_all(f.read_text()) if d]
        if not docs:
            print(f"{f}: no objects")
            failed = True
        for doc in docs:
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            problems, against = check(doc, versions, validators)
            if problems:
                failed = True
                print(f"FAIL {f}: {name}")
                for pr in problems:
                    print(f"    {pr}")
            else:
                print(f"ok   {f}: {name} ({against})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
