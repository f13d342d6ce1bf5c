#!/usr/bin/env python3
"""Offline checks of rendered kustomize output (one multi-document YAML file per argument).

Usage: check_manifests.py KUBERNETES_VERSION RENDERED.yaml [RENDERED.yaml ...]

For every document:
- built-in kinds are validated (strict: unknown fields are errors) with kubernetes-validate
  against the given Kubernetes version's OpenAPI schema;
- CRD kinds kubernetes-validate has no schema for (ServiceMonitor, PrometheusRule) get a
  required-field check written here;
- ClusterRoles/Roles must be read-only (the opt-in remediation component's roles, named
  kube-garbage-audit-remediation*, may only grant get/patch/delete on HPAs, create/patch on Events,
  a Lease Role, and get/patch on allowlisted custom resources; never write verbs on `*`): only get/list/watch, no wildcard verb, no escalate/bind/
  impersonate, no write verb on any resource; on wildcard resources (`resources: ["*"]`) only
  `list` (no `get`: it would cover nodes/proxy, pods/proxy, pods/log, single Secrets; no `watch`);
  nonResourceURLs only `get`, and only on the discovery URLs the daemon reads;
- ServiceMonitor endpoints must set honorLabels: true (the daemon's `namespace` label) and the
  ServiceMonitor must not pin a namespace (namespaceSelector.matchNames);
- the kube-garbage-audit Deployment must be hardened (non-root 65532, read-only root FS, no
  privilege escalation, all capabilities dropped, RuntimeDefault seccomp, requests and limits,
  /healthz liveness and /readyz readiness probes, service-account token mounted);
- a rendered PrometheusRule's groups must equal alerts/garbage-audit.rules.yaml's groups.
Prints one line per failure and exits 1 if there was any.
"""

import os
import re
import sys

import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READ_VERBS = {"get", "list", "watch"}
WILDCARD_RESOURCE_VERBS = {"list"}
DISCOVERY_URLS = {"/api", "/api/*", "/apis", "/apis/*", "/version"}
DURATION = re.compile(r"^((([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?|0)$")
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

errors = []


def fail(where, msg):
    errors.append(f"{where}: {msg}")


def check_metadata(where, doc, namespaced=True):
    md = doc.get("metadata")
    if not isinstance(md, dict) or not isinstance(md.get("name"), str) or not NAME.match(md["name"]):
        fail(where, "metadata.name missing or not a DNS subdomain")
        return
    if namespaced and not md.get("namespace"):
        fail(where, "metadata.namespace missing")
    for key in ("labels", "annotations"):
        v = md.get(key, {})
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
            fail(where, f"metadata.{key} must map strings to strings")


def check_servicemonitor(where, doc):
    check_metadata(where, doc)
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return fail(where, "spec missing")
    sel = spec.get("selector")
    if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        fail(where, "spec.selector needs matchLabels or matchExpressions")
    eps = spec.get("endpoints")
    if not isinstance(eps, list) or not eps:
        return fail(where, "spec.endpoints must be a non-empty list")
    for i, ep in enumerate(eps):
        if not isinstance(ep, dict) or not (ep.get("port") or ep.get("targetPort")):
            fail(where, f"spec.endpoints[{i}] needs port (a Service port name) or targetPort")
            continue
        for k in ("interval", "scrapeTimeout"):
            if k in ep and not DURATION.match(str(ep[k])):
                fail(where, f"spec.endpoints[{i}].{k} {ep[k]!r} is not a Prometheus duration")
        if ep.get("honorLabels") is not True:
            fail(where, f"spec.endpoints[{i}] needs honorLabels: true, or prometheus-operator's namespace "
                        "target label replaces the daemon's own `namespace` (renamed exported_namespace)")
    if ((spec.get("namespaceSelector") or {}).get("matchNames")):
        fail(where, "spec.namespaceSelector.matchNames pins a namespace; the default (own namespace) "
                    "follows a kustomize namespace override")
    allowed = {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels",
               "podTargetLabels", "sampleLimit", "targetLimit", "labelLimit", "attachMetadata",
               "scrapeProtocols", "fallbackScrapeProtocol", "bodySizeLimit", "scrapeClass",
               "labelNameLengthLimit", "labelValueLengthLimit", "keepDroppedTargets",
               "selectorMechanism", "serviceDiscoveryRole"}
    for k in spec:
        if k not in allowed:
            fail(where, f"spec.{k} is not a ServiceMonitor field")


def check_prometheusrule(where, doc):
    check_metadata(where, doc)
    spec = doc.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("groups"), list) or not spec["groups"]:
        return fail(where, "spec.groups must be a non-empty list")
    names = set()
    for gi, g in enumerate(spec["groups"]):
        gw = f"{where} spec.groups[{gi}]"
        if not isinstance(g, dict) or not g.get("name"):
            fail(gw, "name missing")
            continue
        if g["name"] in names:
            fail(gw, f"duplicate group name {g['name']}")
        names.add(g["name"])
        if "interval" in g and not DURATION.match(str(g["interval"])):
            fail(gw, "interval is not a Prometheus duration")
        for ri, r in enumerate(g.get("rules") or []):
            rw = f"{gw}.rules[{ri}]"
            if not isinstance(r, dict):
                fail(rw, "not a mapping")
                continue
            if bool(r.get("alert")) == bool(r.get("record")):
                fail(rw, "exactly one of alert/record is required")
            if not isinstance(r.get("expr"), (str, int)) or not str(r.get("expr")).strip():
                fail(rw, "expr missing")
            for k in ("for", "keep_firing_for"):
                if k in r and not DURATION.match(str(r[k])):
                    fail(rw, f"{k} {r[k]!r} is not a Prometheus duration")
            if "keep_firing_for" in r and not r.get("alert"):
                fail(rw, "keep_firing_for is only valid on alerting rules")
            for key in ("labels", "annotations"):
                v = r.get(key, {})
                if not isinstance(v, dict) or not all(isinstance(x, str) and LABEL_NAME.match(x) for x in v) \
                        or not all(isinstance(x, str) for x in v.values()):
                    fail(rw, f"{key} must map label names to strings")
            if r.get("alert"):
                if (r.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
                    fail(rw, "alert needs a severity label (critical|warning|info)")
                for a in ("summary", "description", "runbook_url"):
                    if not (r.get("annotations") or {}).get(a):
                        fail(rw, f"alert needs annotation {a}")
    with open(os.path.join(ROOT, "alerts", "garbage-audit.rules.yaml"), encoding="utf-8") as f:
        source = yaml.safe_load(f)
    if spec["groups"] != source["groups"]:
        fail(where, "rendered spec.groups differ from alerts/garbage-audit.rules.yaml (run alerts/generate.py)")


# The opt-in remediation component (deploy/components/remediation): write verbs only on named
# resources of named groups, never on `*`, and only these.
REMEDIATION_VERBS = {
    ("autoscaling", "horizontalpodautoscalers"): {"get", "patch", "delete"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("coordination.k8s.io", "leases"): {"get", "list", "watch", "create", "update", "patch"},
}
# Custom resources whose finalizers an operator allowlists: get + patch only.
FINALIZER_VERBS = {"get", "patch"}


def check_remediation_rbac(where, doc):
    name = doc["metadata"]["name"]
    for i, rule in enumerate(doc.get("rules") or []):
        groups, resources, verbs = rule.get("apiGroups") or [], rule.get("resources") or [], set(rule.get("verbs") or [])
        if rule.get("nonResourceURLs") or "*" in groups or "*" in resources or "*" in verbs:
            fail(where, f"rules[{i}]: remediation rules must name their groups, resources and verbs (no `*`)")
            continue
        for g in groups:
            for r in resources:
                if (g, r) == ("coordination.k8s.io", "leases") and doc["kind"] != "Role":
                    fail(where, f"rules[{i}]: leases only through a Role in the daemon's namespace")
                allowed = REMEDIATION_VERBS.get((g, r))
                if allowed is None:
                    allowed = FINALIZER_VERBS if name.endswith("-finalizers") else set()
                bad = sorted(verbs - allowed)
                if bad:
                    fail(where, f"rules[{i}] grants {bad} on {r}.{g}: the remediation component allows {sorted(allowed) or 'nothing'} there")


def check_rbac(where, doc):
    if doc["metadata"]["name"].startswith("kube-garbage-audit-remediation"):
        check_remediation_rbac(where, doc)
        return
    for i, rule in enumerate(doc.get("rules") or []):
        verbs = set(rule.get("verbs") or [])
        bad = sorted(verbs - READ_VERBS)
        if bad:
            fail(where, f"rules[{i}] grants non-read verbs {bad}: the audit must stay read-only")
        if "*" in (rule.get("resources") or []):
            broad = sorted(verbs - WILDCARD_RESOURCE_VERBS)
            if broad:
                fail(where, f"rules[{i}] grants {broad} on resources [\"*\"]: only list is needed "
                            "(get would cover nodes/proxy, pods/proxy, pods/log and single Secrets; "
                            "the daemon never watches)")
        if rule.get("nonResourceURLs"):
            if verbs != {"get"}:
                fail(where, f"rules[{i}] nonResourceURLs may only be granted get")
            extra = sorted(set(rule["nonResourceURLs"]) - DISCOVERY_URLS)
            if extra:
                fail(where, f"rules[{i}] nonResourceURLs {extra} are not discovery URLs the daemon reads")
    if doc.get("aggregationRule"):
        fail(where, "aggregationRule would pull in other roles' (possibly write) rules")


def check_deployment(where, doc):
    spec = doc["spec"]["template"]["spec"]
    psc = spec.get("securityContext") or {}
    if spec.get("automountServiceAccountToken") is not True:
        fail(where, "automountServiceAccountToken must be true (the daemon needs its token)")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        fail(where, "pod seccompProfile must be RuntimeDefault")
    for c in spec.get("containers") or []:
        cw = f"{where} container {c.get('name')}"
        sc = c.get("securityContext") or {}
        run_as_user = sc.get("runAsUser", psc.get("runAsUser"))
        if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True or run_as_user != 65532:
            fail(cw, "must run as non-root user 65532")
        if sc.get("readOnlyRootFilesystem") is not True:
            fail(cw, "readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(cw, "allowPrivilegeEscalation must be false")
        if (sc.get("capabilities") or {}).get("drop") != ["ALL"] or (sc.get("capabilities") or {}).get("add"):
            fail(cw, "capabilities must drop ALL and add none")
        res = c.get("resources") or {}
        if not res.get("requests") or not (res.get("limits") or {}).get("memory"):
            fail(cw, "resources.requests and a memory limit are required")
        if ((c.get("livenessProbe") or {}).get("httpGet") or {}).get("path") != "/healthz":
            fail(cw, "livenessProbe must GET /healthz")
        if ((c.get("readinessProbe") or {}).get("httpGet") or {}).get("path") != "/readyz":
            fail(cw, "readinessProbe must GET /readyz")
        if not any(p.get("name") == "metrics" and p.get("containerPort") == 9090 for p in c.get("ports") or []):
            fail(cw, "needs container port 9090 named metrics")


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    version = argv[1]
    counts = {}
    for path in argv[2:]:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for d in docs:
            kind = d.get("kind")
            where = f"{os.path.basename(path)} {kind}/{(d.get('metadata') or {}).get('name')}"
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "ServiceMonitor":
                check_servicemonitor(where, d)
            elif kind == "PrometheusRule":
                check_prometheusrule(where, d)
            else:
                try:
                    kubernetes_validate.validate(d, version, strict=True)
                except kubernetes_validate.SchemaNotFoundError:
                    fail(where, f"no schema for {d.get('apiVersion')} {kind} in Kubernetes {version} and no custom check")
                except kubernetes_validate.ValidationError as e:
                    fail(where, f"invalid against Kubernetes {version}: {e.message} at {'/'.join(map(str, e.path))}")
            if kind in ("ClusterRole", "Role"):
                check_rbac(where, d)
            if kind == "Deployment" and d["metadata"]["name"] == "kube-garbage-audit":
                check_deployment(where, d)
    for e in errors:
        print(f"FAIL {e}")
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(f"{'FAILED' if errors else 'ok'}: {summary} checked against Kubernetes {version}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
