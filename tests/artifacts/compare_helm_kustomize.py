#!/usr/bin/env python3
"""The Helm chart and the kustomize manifests must deploy the same thing.

  compare_helm_kustomize.py equivalent KUSTOMIZE.yaml HELM.yaml
      KUSTOMIZE: `kubectl kustomize tests/artifacts/kustomize/kube-prometheus-stack` (the
      prometheus-operator overlay with the kube-prometheus-stack and network-policy components);
      HELM: the chart rendered as release `kube-garbage-audit` with serviceMonitor, prometheusRule
      (release kube-prometheus-stack), dashboard and networkPolicy enabled. Compares what matters:
      RBAC rules and binding, the Deployment's args, image, probes, security contexts, resources,
      ports and rollout settings, the Service, the ServiceMonitor endpoints (and that its selector
      matches the Service's), the PrometheusRule groups, the dashboard JSON and the NetworkPolicy.
  compare_helm_kustomize.py remediation DEFAULT.yaml REMEDIATION.yaml KUSTOMIZE_REMEDIATION.yaml
      DEFAULT: the chart with default values (no write verb anywhere, no remediation flag or env);
      REMEDIATION: with remediation.mode=enforce; KUSTOMIZE_REMEDIATION: `kubectl kustomize
      tests/artifacts/kustomize/remediation` (deploy/base + deploy/components/remediation). The
      two must have the same ClusterRoles, Roles and bindings (names, rules, subjects) and the same
      container args and env; no write verb on a wildcard.
Prints one line per difference and exits 1 if there was any.
"""

import json
import sys

import yaml

errors = []


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def one(kinds, kind, where):
    items = kinds.get(kind, [])
    if len(items) != 1:
        errors.append(f"{where}: expected one {kind}, found {len(items)}")
        return None
    return items[0]


def same(what, a, b):
    if a != b:
        errors.append(f"{what} differs:\n    kustomize: {json.dumps(a, sort_keys=True)}\n    helm:      {json.dumps(b, sort_keys=True)}")


def container(dep):
    return dep["spec"]["template"]["spec"]["containers"][0]


def equivalent(kustomize_path, helm_path):
    k, h = by_kind(load(kustomize_path)), by_kind(load(helm_path))
    # Kinds: the chart creates no Namespace (helm install --create-namespace does); otherwise the same.
    same("kinds", sorted(set(k) - {"Namespace"}), sorted(h))

    kcr, hcr = one(k, "ClusterRole", "kustomize"), one(h, "ClusterRole", "helm")
    if kcr and hcr:
        same("ClusterRole rules", kcr["rules"], hcr["rules"])
    kb, hb = one(k, "ClusterRoleBinding", "kustomize"), one(h, "ClusterRoleBinding", "helm")
    if kb and hb:
        same("ClusterRoleBinding roleRef", kb["roleRef"], hb["roleRef"])
        same("ClusterRoleBinding subjects", kb["subjects"], hb["subjects"])
    ksa, hsa = one(k, "ServiceAccount", "kustomize"), one(h, "ServiceAccount", "helm")
    if ksa and hsa:
        same("ServiceAccount automount", ksa.get("automountServiceAccountToken"), hsa.get("automountServiceAccountToken"))

    kd, hd = one(k, "Deployment", "kustomize"), one(h, "Deployment", "helm")
    if kd and hd:
        for field in ("replicas", "revisionHistoryLimit", "progressDeadlineSeconds", "strategy"):
            same(f"Deployment spec.{field}", kd["spec"].get(field), hd["spec"].get(field))
        kp, hp = kd["spec"]["template"]["spec"], hd["spec"]["template"]["spec"]
        for field in ("serviceAccountName", "automountServiceAccountToken", "securityContext"):
            same(f"pod {field}", kp.get(field), hp.get(field))
        kc, hc = container(kd), container(hd)
        for field in ("name", "image", "imagePullPolicy", "args", "ports", "securityContext", "resources",
                      "livenessProbe", "readinessProbe", "startupProbe", "env"):
            same(f"container {field}", kc.get(field), hc.get(field))
        # The pod template must carry what the Service and the NetworkPolicy select.
        labels = hd["spec"]["template"]["metadata"]["labels"]
        sel = hd["spec"]["selector"]["matchLabels"]
        if any(labels.get(key) != v for key, v in sel.items()):
            errors.append("helm: Deployment selector does not match its pod template")

    ks, hs = one(k, "Service", "kustomize"), one(h, "Service", "helm")
    if ks and hs and hd:
        same("Service ports", ks["spec"]["ports"], hs["spec"]["ports"])
        same("Service type", ks["spec"].get("type"), hs["spec"].get("type"))
        same("Service name (the scrape job label)", ks["metadata"]["name"], hs["metadata"]["name"])
        pod = hd["spec"]["template"]["metadata"]["labels"]
        if any(pod.get(key) != v for key, v in hs["spec"]["selector"].items()):
            errors.append("helm: Service selector does not match the Deployment's pods")

    ksm, hsm = one(k, "ServiceMonitor", "kustomize"), one(h, "ServiceMonitor", "helm")
    if ksm and hsm and hs:
        same("ServiceMonitor endpoints", ksm["spec"]["endpoints"], hsm["spec"]["endpoints"])
        same("ServiceMonitor release label", ksm["metadata"]["labels"].get("release"), hsm["metadata"]["labels"].get("release"))
        svc_labels = hs["metadata"]["labels"]
        if any(svc_labels.get(key) != v for key, v in hsm["spec"]["selector"]["matchLabels"].items()):
            errors.append("helm: ServiceMonitor selector does not match the Service")

    kpr, hpr = one(k, "PrometheusRule", "kustomize"), one(h, "PrometheusRule", "helm")
    if kpr and hpr:
        same("PrometheusRule groups", kpr["spec"]["groups"], hpr["spec"]["groups"])
        same("PrometheusRule release label", kpr["metadata"]["labels"].get("release"), hpr["metadata"]["labels"].get("release"))

    kcm, hcm = one(k, "ConfigMap", "kustomize"), one(h, "ConfigMap", "helm")
    if kcm and hcm:
        same("dashboard ConfigMap keys", sorted(kcm["data"]), sorted(hcm["data"]))
        for key in kcm["data"]:
            if key in hcm["data"]:
                same(f"dashboard {key}", json.loads(kcm["data"][key]), json.loads(hcm["data"][key]))
        same("dashboard grafana_dashboard label", kcm["metadata"]["labels"].get("grafana_dashboard"),
             hcm["metadata"]["labels"].get("grafana_dashboard"))

    knp, hnp = one(k, "NetworkPolicy", "kustomize"), one(h, "NetworkPolicy", "helm")
    if knp and hnp and hd:
        same("NetworkPolicy ingress", knp["spec"]["ingress"], hnp["spec"]["ingress"])
        same("NetworkPolicy policyTypes", knp["spec"]["policyTypes"], hnp["spec"]["policyTypes"])
        pod = hd["spec"]["template"]["metadata"]["labels"]
        if any(pod.get(key) != v for key, v in hnp["spec"]["podSelector"]["matchLabels"].items()):
            errors.append("helm: NetworkPolicy does not select the daemon's pods")
    return f"{sum(len(v) for v in h.values())} Helm objects equivalent to the kustomize overlay + components"


WRITE = {"create", "update", "patch", "delete", "deletecollection", "*"}


def remediation(default_path, remediation_path, kustomize_path):
    d, r = by_kind(load(default_path)), by_kind(load(remediation_path))
    k = by_kind(load(kustomize_path))
    for doc in load(default_path):
        for rule in doc.get("rules") or []:
            if WRITE & set(rule.get("verbs") or []):
                errors.append(f"default render: {doc['kind']}/{doc['metadata']['name']} grants {rule['verbs']}")
    for kind in ("Role", "RoleBinding"):
        if kind in d:
            errors.append(f"default render has a {kind}")
    if any(a.startswith("--remediation") for a in container(d["Deployment"][0])["args"]):
        errors.append("default render passes a remediation flag")
    if container(d["Deployment"][0]).get("env"):
        errors.append("default render sets env")
    # The same RBAC objects, rules and bindings as deploy/components/remediation on deploy/base.
    for kind in ("ClusterRole", "Role"):
        kn = {x["metadata"]["name"]: x.get("rules") or [] for x in k.get(kind, [])}
        hn = {x["metadata"]["name"]: x.get("rules") or [] for x in r.get(kind, [])}
        same(f"{kind} names (remediation)", sorted(kn), sorted(hn))
        for name in set(kn) & set(hn):
            same(f"{kind} {name} rules", kn[name], hn[name])
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        kn = {x["metadata"]["name"]: (x["roleRef"], x["subjects"]) for x in k.get(kind, [])}
        hn = {x["metadata"]["name"]: (x["roleRef"], x["subjects"]) for x in r.get(kind, [])}
        same(f"{kind}s (remediation)", kn, hn)
    kc, hc = container(k["Deployment"][0]), container(r["Deployment"][0])
    for field in ("args", "env"):
        same(f"remediation container {field}", kc.get(field), hc.get(field))
    for role in r.get("ClusterRole", []) + r.get("Role", []):
        for rule in role.get("rules") or []:
            if WRITE & set(rule.get("verbs") or []) and ("*" in rule.get("resources", []) or "*" in rule.get("apiGroups", [])):
                errors.append(f"{role['metadata']['name']} grants write verbs on a wildcard: {rule}")
    return "read-only by default; with remediation, the RBAC, args and env of deploy/components/remediation"


def main(argv):
    if argv[1:2] == ["equivalent"] and len(argv) == 4:
        summary = equivalent(argv[2], argv[3])
    elif argv[1:2] == ["remediation"] and len(argv) == 5:
        summary = remediation(argv[2], argv[3], argv[4])
    else:
        print(__doc__)
        return 2
    for e in errors:
        print(f"FAIL {e}")
    print("FAILED" if errors else f"ok: {summary}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
