// kube-garbage-audit monitoring mixin: alerts (prometheusAlerts) and the Grafana dashboard
// (grafanaDashboards), configured by _config (config.libsonnet). See README.md.
(import 'config.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards.libsonnet')
