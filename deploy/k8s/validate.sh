#!/usr/bin/env bash
# Renders the kustomize base and validates every resource against the Kubernetes API
# schemas (strict: unknown fields are errors), with no cluster needed. Needs kubectl (or
# kustomize) and Python 3; installs the PyPI package kubernetes-validate into
# target/deploy-venv on first use. Usage: deploy/k8s/validate.sh [kubernetes version]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="${1:-1.30.0}"
out="$root/target/deploy-k8s.yaml"
mkdir -p "$root/target"
if command -v kubectl >/dev/null; then
    kubectl kustomize "$here" >"$out"
elif command -v kustomize >/dev/null; then
    kustomize build "$here" >"$out"
else
    echo "validate.sh: needs kubectl or kustomize on PATH" >&2
    exit 2
fi
venv="$root/target/deploy-venv"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q kubernetes-validate
fi
# --quiet prints only failures, and the exit status is 0 either way: fail on any output.
report="$("$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$out" 2>&1 || true)"
if [ -n "$report" ]; then
    printf '%s\n' "$report" >&2
    echo "validate.sh: $out has invalid resources" >&2
    exit 1
fi
echo "deploy/k8s: $(grep -c '^kind:' "$out") resources valid for Kubernetes $version"
