#!/usr/bin/env python3
"""Deployment checks that need no cluster and no Rust build (run by scripts/deploy-check.sh
inside its virtualenv, with the tools pinned in deploy/requirements.txt):

1. render the kustomize base deploy/k8s (a small renderer for the kustomization features
   the base uses, so no kubectl is needed; when kubectl or kustomize is on PATH its output
   must be the same objects);
2. validate every rendered resource against the Kubernetes API schemas of the oldest and
   the newest version we support (kubernetes-validate, strict: an unknown or misspelt field
   is an error, and so is a kind without a schema);
3. scan the rendered manifests and the Dockerfile with checkov: no failed check, and every
   skipped check gives its reason (Kubernetes: a `checkov.io/skipN: CKV_...=reason`
   annotation; Dockerfile: a `# checkov:skip=CKV_...:reason` comment).

Exit status 0 when all pass; every problem is printed.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
# The oldest Kubernetes minor version the manifests must work on, and the newest schema
# kubernetes-validate ships.
OLDEST_VERSION = "1.30.0"

# Kinds without a namespace (the renderer leaves them alone, except that a Namespace takes
# the kustomization's namespace as its name, as kustomize does).
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "PersistentVolume",
    "PriorityClass",
    "StorageClass",
    "ValidatingWebhookConfiguration",
}
# The kustomization fields the renderer implements; anything else is refused, so that a new
# feature in kustomization.yaml cannot be skipped silently.
SUPPORTED_FIELDS = {"apiVersion", "kind", "namespace", "labels", "resources", "images"}


class Problem(Exception):
    pass


def load_docs(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def pod_specs(doc: dict) -> list[dict]:
    """The pod specs inside a resource (workloads, CronJobs, bare Pods)."""
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        return [spec]
    if doc.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template") or {}
    return [template["spec"]] if "spec" in template else []


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """`name[:tag][@digest]` -> (name, tag, digest); a registry port is not a tag."""
    name, _, digest = image.partition("@")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def set_image(image: str, rule: dict) -> str:
    name, tag, digest = split_image(image)
    if name != rule["name"]:
        return image
    name = rule.get("newName", name)
    if "digest" in rule:
        return f"{name}@{rule['digest']}"
    if "newTag" in rule:
        return f"{name}:{rule['newTag']}"
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def render(base: Path) -> list[dict]:
    """The resources `kubectl kustomize base` gives, for the features the base uses."""
    kustomization = load_docs(base / "kustomization.yaml")[0]
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise Problem(
            f"kustomization.yaml uses {sorted(unknown)}, which deploy/check.py does not render "
            "(extend render() and check it against kubectl kustomize)"
        )
    docs: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = base / resource
        if not path.is_file():
            raise Problem(f"kustomization.yaml: resource {resource} is not a file here")
        for doc in load_docs(path):
            if not isinstance(doc, dict) or "kind" not in doc:
                raise Problem(f"{resource}: a document without kind")
            docs.append(doc)

    namespace = kustomization.get("namespace")
    labels: dict[str, str] = {}
    for entry in kustomization.get("labels", []):
        if entry.get("includeSelectors") or entry.get("includeTemplates"):
            raise Problem("kustomization.yaml: labels with includeSelectors/includeTemplates are not rendered")
        labels.update(entry.get("pairs", {}))
    images = kustomization.get("images", [])

    out = []
    for doc in docs:
        doc = copy.deepcopy(doc)
        meta = doc.setdefault("metadata", {})
        if namespace:
            if doc["kind"] == "Namespace":
                meta["name"] = namespace
            elif doc["kind"] not in CLUSTER_SCOPED:
                meta["namespace"] = namespace
        if labels:
            meta["labels"] = {**(meta.get("labels") or {}), **labels}
        for pod in pod_specs(doc):
            for field in ("initContainers", "containers"):
                for container in pod.get(field) or []:
                    for rule in images:
                        container["image"] = set_image(container["image"], rule)
        out.append(doc)
    return out


def key(doc: dict) -> tuple[str, str, str, str]:
    meta = doc.get("metadata") or {}
    return (doc.get("apiVersion", ""), doc["kind"], meta.get("namespace", ""), meta.get("name", ""))


def compare_with_kustomize(ours: list[dict]) -> str | None:
    """Renders with kubectl or kustomize when one is installed: the objects must be equal.
    Returns the tool used, or None."""
    if shutil.which("kubectl"):
        cmd, tool = ["kubectl", "kustomize", str(BASE)], "kubectl kustomize"
    elif shutil.which("kustomize"):
        cmd, tool = ["kustomize", "build", str(BASE)], "kustomize build"
    else:
        return None
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise Problem(f"{tool} failed:\n{result.stderr}")
    theirs = {key(d): d for d in yaml.safe_load_all(result.stdout) if d}
    mine = {key(d): d for d in ours}
    if len(mine) != len(ours):
        raise Problem("the base has two resources with the same kind, namespace and name")
    problems = []
    for k in sorted(set(mine) | set(theirs)):
        if k not in theirs:
            problems.append(f"only deploy/check.py renders {k}")
        elif k not in mine:
            problems.append(f"only {tool} renders {k}")
        elif mine[k] != theirs[k]:
            problems.append(
                f"{k} differs:\n  deploy/check.py: {json.dumps(mine[k], sort_keys=True)}\n"
                f"  {tool}: {json.dumps(theirs[k], sort_keys=True)}"
            )
    if problems:
        raise Problem("the renderer disagrees with " + tool + ":\n" + "\n".join(problems))
    return tool


def validate(docs: list[dict], versions: list[str]) -> list[str]:
    problems = []
    for doc in docs:
        what = f"{doc['kind']}/{doc['metadata'].get('name', '?')}"
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path) or "(top)"
                problems.append(f"{what} (Kubernetes {version}): {path}: {e.message}")
            except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as e:
                problems.append(f"{what} (Kubernetes {version}): no schema: {e}")
    return problems


# checkov's text when a skip gives no reason.
NO_REASON = {"", "No comment provided"}


def checkov(rendered: Path) -> tuple[dict[str, dict], list[str], list[str]]:
    """Runs checkov on the rendered manifests and the Dockerfile. Returns the summary per
    framework, the skipped checks with their reasons, and the problems (failed checks, skips
    without a reason, parse errors)."""
    exe = Path(sys.executable).parent / "checkov"
    cmd = [
        str(exe),
        "--file", str(rendered),
        "--file", str(DOCKERFILE),
        "--framework", "kubernetes", "dockerfile",
        # Offline: no download of guidelines or mappings from the vendor's platform.
        "--skip-download",
        "--output", "json",
        "--compact",
    ]
    env = {**os.environ, "LOG_LEVEL": "ERROR"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    try:
        reports = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise Problem(f"checkov gave no JSON report (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    if isinstance(reports, dict):
        reports = [reports]
    summaries: dict[str, dict] = {}
    problems: list[str] = []
    skips: list[str] = []
    for report in reports:
        framework = report["check_type"]
        summary = report["summary"]
        summaries[framework] = summary
        if summary.get("parsing_errors"):
            problems.append(f"checkov {framework}: {summary['parsing_errors']} file(s) could not be parsed")
        results = report.get("results", {})
        for check in results.get("failed_checks", []):
            problems.append(
                f"checkov {framework}: FAILED {check['check_id']} {check['check_name']!r} "
                f"for {check['resource']} ({check['file_path']}:{check['file_line_range']})"
            )
        for check in results.get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment", "")
            skips.append(f"{check['check_id']} {check['resource']}: {reason}")
            if reason.strip() in NO_REASON:
                problems.append(
                    f"checkov {framework}: {check['check_id']} is skipped for {check['resource']} "
                    "without a reason (write CKV_...=reason / CKV_...:reason)"
                )
    for framework in ("kubernetes", "dockerfile"):
        if framework not in summaries:
            problems.append(f"checkov ran no {framework} checks")
        elif summaries[framework]["passed"] == 0:
            problems.append(f"checkov passed no {framework} check: did it read the file?")
    return summaries, skips, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--versions",
        default=f"{OLDEST_VERSION},{kubernetes_validate.latest_version()}",
        help="Kubernetes versions to validate against (comma-separated; default: %(default)s)",
    )
    parser.add_argument("--out", default=str(ROOT / "target" / "deploy" / "k8s.yaml"))
    parser.add_argument("-v", "--verbose", action="store_true", help="list the skipped checks")
    args = parser.parse_args()

    timings = []
    t = time.monotonic()

    def lap(what: str) -> None:
        nonlocal t
        now = time.monotonic()
        timings.append(f"{what} {now - t:.1f} s")
        t = now

    try:
        docs = render(BASE)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        tool = compare_with_kustomize(docs)
        lap("render")
        print(
            f"deploy/k8s: rendered {len(docs)} resources to {out.relative_to(ROOT)}"
            + (f" (the same objects as {tool})" if tool else " (no kubectl or kustomize here to compare with)")
        )

        versions = [v.strip() for v in args.versions.split(",") if v.strip()]
        problems = validate(docs, versions)
        lap("schemas")
        if problems:
            raise Problem("invalid resources:\n  " + "\n  ".join(problems))
        print(f"deploy/k8s: {len(docs)} resources valid for Kubernetes {', '.join(versions)} (strict)")

        summaries, skips, problems = checkov(out)
        lap("checkov")
        for framework, s in sorted(summaries.items()):
            print(
                f"checkov {framework}: {s['passed']} passed, {s['failed']} failed, "
                f"{s['skipped']} skipped (each with its reason)"
            )
        if problems:
            raise Problem("\n  ".join(["checkov:"] + problems))
        if args.verbose:
            for skip in skips:
                print(f"  skipped {skip}")
    except Problem as e:
        print(f"deploy checks FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if timings:
            print("deploy checks: " + ", ".join(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
