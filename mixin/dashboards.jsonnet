// Renders dashboards/kube-garbage-audit.json: `jsonnet mixin/dashboards.jsonnet`.
(import 'mixin.libsonnet').grafanaDashboards['kube-garbage-audit.json']
