#!/usr/bin/env bash
# Checks of the Helm chart (charts/kube-garbage-audit) with the real helm, built from its Go
# module (tools/helm/go.mod, helm.sh/helm/v3) by scripts/go-tool.sh and cached:
#
#   scripts/check-helm.sh                     lint (strict), template, validate and compare:
#     - `helm lint --strict` with the defaults and with every toggle on;
#     - the default render and the all-toggles render pass tests/artifacts/check_manifests.py
#       (Kubernetes schemas, read-only RBAC, hardened pod, honorLabels, rules == alerts/);
#     - the chart is equivalent to `kubectl kustomize` of the prometheus-operator overlay with the
#       kube-prometheus-stack and network-policy components (compare_helm_kustomize.py);
#     - remediation (mode dry-run/enforce) renders the RBAC, args and env of
#       deploy/components/remediation, and nothing of it by default; never write verbs on `*`;
#     - a bad remediation.mode is refused.
#   scripts/check-helm.sh --install KUBECONFIG
#                                             install the chart into that cluster (a real control
#     plane: scripts/control-plane.sh up DIR writes DIR/admin.kubeconfig), check the Deployment,
#     RBAC and Service were created as rendered, then uninstall. No image needs to run.
#
# Needs: Go (first run only; ~1.5 min cold build of helm, nothing when warm), kubectl (kustomize),
# python3 with PyYAML and kubernetes-validate (scripts/check-artifacts.sh installs them).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

K8S_VERSION=${K8S_VERSION:-1.33.0}
CHART=charts/kube-garbage-audit
helm=$(bash scripts/go-tool.sh helm helm.sh/helm/v3/cmd/helm)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Helm keeps nothing of ours outside $work.
export HELM_CACHE_HOME="$work/cache" HELM_CONFIG_HOME="$work/config" HELM_DATA_HOME="$work/data"

ALL_ON=(--set serviceMonitor.enabled=true --set serviceMonitor.release=kube-prometheus-stack
  --set prometheusRule.enabled=true --set prometheusRule.release=kube-prometheus-stack
  --set dashboard.enabled=true --set networkPolicy.enabled=true)

render() { # OUT ARGS...
  local out=$1
  shift
  "$helm" template kube-garbage-audit "$CHART" --namespace kube-garbage-audit --kube-version "$K8S_VERSION" "$@" >"$out"
}

if [ "${1:-}" = "--install" ]; then
  kubeconfig=${2:?usage: check-helm.sh --install KUBECONFIG}
  ns=kga-helm-check
  k() { kubectl --kubeconfig "$kubeconfig" "$@"; }
  # shellcheck disable=SC2317 # called by the EXIT trap
  cleanup() {
    "$helm" uninstall kga --namespace "$ns" --kubeconfig "$kubeconfig" >/dev/null 2>&1 || true
    k delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
    rm -rf "$work"
  }
  trap cleanup EXIT
  "$helm" install kga "$CHART" --namespace "$ns" --create-namespace --kubeconfig "$kubeconfig" \
    --set networkPolicy.enabled=true --set config.stuckObjects=true --wait=false >"$work/install.log"
  args=$(k -n "$ns" get deployment kga-kube-garbage-audit -o jsonpath='{.spec.template.spec.containers[0].args}')
  [ "$args" = '["run","--stuck-objects","--log-format=json"]' ] || { echo "FAIL Deployment args: $args"; exit 1; }
  verbs=$(k get clusterrole kga-kube-garbage-audit -o jsonpath='{.rules[0].verbs}')
  [ "$verbs" = '["list"]' ] || { echo "FAIL ClusterRole verbs: $verbs"; exit 1; }
  k -n "$ns" get serviceaccount/kga-kube-garbage-audit service/kga-kube-garbage-audit networkpolicy/kga-kube-garbage-audit >/dev/null
  k auth can-i list '*' --as "system:serviceaccount:$ns:kga-kube-garbage-audit" --all-namespaces >/dev/null \
    || { echo "FAIL the service account may not list"; exit 1; }
  if k auth can-i delete pods --as "system:serviceaccount:$ns:kga-kube-garbage-audit" -n default >/dev/null 2>&1; then
    echo "FAIL the service account may delete pods"
    exit 1
  fi
  status=$("$helm" status kga --namespace "$ns" --kubeconfig "$kubeconfig" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["info"]["status"])')
  [ "$status" = deployed ] || { echo "FAIL helm status: $status"; exit 1; }
  # can I VERB RESOURCE [-n NS]: yes/no as the daemon's service account.
  can() { k auth can-i "$@" --as "system:serviceaccount:$ns:kga-kube-garbage-audit" 2>/dev/null || true; }
  [ "$(can patch horizontalpodautoscalers.autoscaling -A)" = no ] || { echo "FAIL read-only release may patch HPAs"; exit 1; }
  # Remediation on: its RBAC appears (and no more); off again: it is gone.
  "$helm" upgrade kga "$CHART" --namespace "$ns" --kubeconfig "$kubeconfig" --reuse-values \
    --set remediation.mode=enforce --wait=false >>"$work/install.log"
  got="$(can patch horizontalpodautoscalers.autoscaling -A) $(can delete horizontalpodautoscalers.autoscaling -A) $(can create events.events.k8s.io -A) $(can update leases.coordination.k8s.io -n "$ns") $(can update leases.coordination.k8s.io -n default) $(can delete pods -A)"
  [ "$got" = "yes yes yes yes no no" ] || { echo "FAIL with remediation, can-i patch/delete HPA, create events, update lease here/elsewhere, delete pods: $got"; exit 1; }
  env=$(k -n "$ns" get deployment kga-kube-garbage-audit -o jsonpath='{.spec.template.spec.containers[0].env[0].name} {.spec.template.spec.containers[0].args}')
  [ "$env" = 'POD_NAMESPACE ["run","--stuck-objects","--log-format=json","--remediation=enforce"]' ] || { echo "FAIL remediation Deployment: $env"; exit 1; }
  "$helm" upgrade kga "$CHART" --namespace "$ns" --kubeconfig "$kubeconfig" --reuse-values \
    --set remediation.mode=off --wait=false >>"$work/install.log"
  [ "$(can patch horizontalpodautoscalers.autoscaling -A)" = no ] || { echo "FAIL remediation RBAC left behind after remediation.mode=off"; exit 1; }
  echo "helm install: deployed; Deployment, read-only RBAC (list yes, delete no), Service, NetworkPolicy; remediation on adds exactly its RBAC, off removes it"
  exit 0
fi

failed=0
step() { # NAME COMMAND...
  local name=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    echo "ok    $name $(tail -n 1 "$work/out" | cut -c1-100)"
  else
    echo "FAIL  $name"
    sed 's/^/      /' "$work/out" | tail -n 40
    failed=1
  fi
}

step "helm lint --strict (defaults)" "$helm" lint --strict "$CHART"
step "helm lint --strict (all toggles, remediation)" "$helm" lint --strict "$CHART" "${ALL_ON[@]}" --set remediation.mode=enforce
step "helm template (defaults)" render "$work/default.yaml"
step "helm template (all toggles)" render "$work/all.yaml" "${ALL_ON[@]}"
step "helm template (remediation enforce)" render "$work/remediation.yaml" --set remediation.mode=enforce
step "helm template (remediation, every flag)" render "$work/remediation-flags.yaml" --set remediation.mode=dry-run \
  --set 'remediation.finalizers={adapter.model.aibrix.ai/finalizer}' --set 'remediation.namespaces={llm,ml}' \
  --set remediation.maxPerHour=10 --set 'remediation.finalizerResources[0].apiGroups={model.aibrix.ai}' \
  --set 'remediation.finalizerResources[0].resources={modeladapters}'
step "rendered manifests valid (k8s $K8S_VERSION), RBAC rules, hardened" \
  python3 tests/artifacts/check_manifests.py "$K8S_VERSION" "$work/default.yaml" "$work/all.yaml" "$work/remediation.yaml"
step "remediation renders valid (k8s $K8S_VERSION), flags passed" python3 - "$K8S_VERSION" "$work/remediation.yaml" "$work/remediation-flags.yaml" <<'PY'
import sys, yaml, kubernetes_validate
n = 0
for path in sys.argv[2:]:
    for d in (d for d in yaml.safe_load_all(open(path)) if d):
        kubernetes_validate.validate(d, sys.argv[1], strict=True)
        n += 1
        if d["kind"] == "Deployment" and path.endswith("flags.yaml"):
            args = d["spec"]["template"]["spec"]["containers"][0]["args"]
            want = ["--remediation=dry-run", "--remediation-finalizers=adapter.model.aibrix.ai/finalizer",
                    "--remediation-namespaces=llm,ml", "--remediation-max-per-hour=10"]
            missing = [w for w in want if w not in args]
            assert not missing, f"args {args} lack {missing}"
        if d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("-finalizers") and path.endswith("flags.yaml"):
            assert d["rules"] == [{"apiGroups": ["model.aibrix.ai"], "resources": ["modeladapters"], "verbs": ["get", "patch"]}], d["rules"]
print(f"{n} objects valid; every remediation value reaches its flag or rule")
PY
step "kubectl kustomize (overlay + components)" bash -c \
  "kubectl kustomize tests/artifacts/kustomize/kube-prometheus-stack >'$work/kustomize.yaml'"
step "chart equivalent to the kustomize manifests" \
  python3 tests/artifacts/compare_helm_kustomize.py equivalent "$work/kustomize.yaml" "$work/all.yaml"
step "kubectl kustomize (base + remediation component)" bash -c \
  "kubectl kustomize tests/artifacts/kustomize/remediation >'$work/kustomize-remediation.yaml'"
step "remediation: RBAC, args, env = deploy/components/remediation; none by default" \
  python3 tests/artifacts/compare_helm_kustomize.py remediation "$work/default.yaml" "$work/remediation.yaml" \
  "$work/kustomize-remediation.yaml"
refuses() { ! render "$work/bad.yaml" --set remediation.mode=yes && echo "refused remediation.mode=yes"; }
step "bad remediation.mode refused" refuses
refuses_wildcard() {
  ! render "$work/bad.yaml" --set remediation.mode=dry-run --set 'remediation.resources[0].apiGroups={*}' \
    --set 'remediation.resources[0].resources={*}' && echo "refused write verbs on *"
}
step "remediation on * refused" refuses_wildcard

if [ "$failed" -ne 0 ]; then
  echo "helm: FAILED"
  exit 1
fi
echo "helm: ok ($("$helm" version --short))"
