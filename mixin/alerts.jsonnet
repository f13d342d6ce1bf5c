// Renders alerts/garbage-audit.rules.yaml: `jsonnet -S mixin/alerts.jsonnet`.
local mixin = import 'mixin.libsonnet';

|||
  # GENERATED from mixin/ (jsonnet) — DO NOT EDIT. Edit mixin/alerts.libsonnet or mixin/config.libsonnet
  # and run `bash scripts/check-mixin.sh --write`; scripts/check-artifacts.sh fails when this drifts.
  #
  # A plain Prometheus rules file (`rule_files:`). The prometheus-operator PrometheusRule in
  # deploy/overlays/prometheus-operator/ and the Helm chart's copy are generated from it by
  # `python3 alerts/generate.py`. Conventions and the reasoning behind each expression are in
  # mixin/alerts.libsonnet; runbooks are in docs/runbooks/.
||| + std.manifestYamlDoc(mixin.prometheusAlerts, indent_array_in_object=true, quote_keys=false)
