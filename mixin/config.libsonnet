// The mixin's settings. Override any of them in your own jsonnet:
//
//   (import 'kube-garbage-audit-mixin/mixin.libsonnet') + {
//     _config+:: { selector: 'job="kube-garbage-audit"', clusterLabel: 'k8s_cluster' },
//   }
{
  _config+:: {
    // Label matchers added to every selector of the daemon's own metrics (garbage_audit_*), e.g.
    // 'job="kube-garbage-audit"' when other jobs could export the same names. Empty: any job.
    selector: '',
    // The label that tells clusters apart in a multi-cluster Prometheus/Thanos. Every by()/on()
    // keeps it and every annotation query filters on it; harmless when the series lack it.
    clusterLabel: 'cluster',
    // How GarbageAuditAbsent recognises the daemon's scrape targets among all `up` series.
    jobSelector: 'job=~".*garbage-audit.*"',

    // Thresholds.
    findingFor: '15m',  // a finding (stuck namespace, unresolvable reference, orphan) lasts this long
    keepFiringFor: '5m',  // finding and discovery alerts survive a daemon restart or scrape gap
    discoveryLookback: '10m',  // max_over_time window: intermittent discovery failures still fire
    discoveryFor: '15m',
    scanFailingAfterSeconds: 900,  // no successful scan for this long (assumes --interval <= ~10m)
    scanFailingFor: '10m',
    scanPartialWindow: '15m',  // a successful scan within this window while findings are stale
    scanPartialFor: '1h',
    absentFor: '15m',
    remediationFailingWindow: '30m',  // a failed remediation attempt within this window...
    remediationFailingFor: '15m',  // ...or an unresolved action, for this long
    remediationHaltedFor: '10m',

    // Where each alert's runbook lives: <runbookURLBase><AlertName>.md.
    runbookURLBase: 'https://github.com/kube-garbage-audit/kube-garbage-audit/blob/v0.1.0/docs/runbooks/',

    // The Grafana dashboard.
    dashboardUid: 'kube-garbage-audit',
    dashboardTitle: 'kube-garbage-audit',
    dashboardRefresh: '1m',
    dashboardTimezone: 'browser',
    dashboardTags: ['kubernetes', 'kube-garbage-audit', 'garbage-collection'],
    runbooksLink: 'https://github.com/kube-garbage-audit/kube-garbage-audit/tree/main/docs/runbooks',
  },
}
