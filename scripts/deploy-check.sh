#!/usr/bin/env bash
# Deployment checks, no cluster and no Rust build needed (scripts/test.sh runs it first):
# renders the kustomize base deploy/k8s, validates every resource against the Kubernetes
# API schemas (kubernetes-validate, strict) and scans the manifests and the Dockerfile with
# checkov (no failed check; every skip gives its reason). See deploy/check.py.
# The Python tools, pinned in deploy/requirements.txt, live in target/deploy-venv: installed
# on the first run (about 30 s), reused while the requirements file is unchanged.
# Usage: scripts/deploy-check.sh [deploy/check.py options, e.g. -v or --versions 1.31.0]
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
t0=$SECONDS

venv="$ROOT/target/deploy-venv"
requirements="$ROOT/deploy/requirements.txt"
stamp="$venv/.requirements.sha256"
# The venv's scripts name its interpreter by absolute path: a venv moved with the target
# directory (a copied build cache) is rebuilt rather than run.
want="$(sha256sum "$requirements" | cut -d' ' -f1) $venv"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$venv/bin/python" -c '' 2>/dev/null; then
    command -v python3 >/dev/null || apt_install python3 python3-venv
    say "installing the deployment check tools into target/deploy-venv (deploy/requirements.txt)"
    rm -rf "$venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
    echo "$want" >"$stamp"
fi

rc=0
"$venv/bin/python" "$ROOT/deploy/check.py" "$@" || rc=$?
[ "$rc" = 0 ] || die "deployment checks failed (after $((SECONDS - t0)) s)"
say "deployment checks passed in $((SECONDS - t0)) s"
