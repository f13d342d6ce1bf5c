// The alerting rules. Conventions (checked by tests/artifacts/check_alerts_dashboard.py):
// - every alert carries `severity` (warning|info), `summary`, `description` and a `runbook_url`
//   <runbookURLBase><AlertName>.md, a page in docs/runbooks/;
// - the daemon's scrape job has a `job` label containing "garbage-audit" (the ServiceMonitor and
//   the Helm chart yield job="kube-garbage-audit", the Service's name); GarbageAuditAbsent uses it;
// - aggregations keep the cluster label (added by relabelling in multi-cluster setups; harmless
//   when absent); annotation queries filter on it (an empty matcher also selects series without it);
// - the daemon's own `namespace` label must survive scraping (honorLabels: true on the
//   ServiceMonitor), or prometheus-operator renames it to `exported_namespace`;
// - finding and discovery alerts carry keep_firing_for (Prometheus >= 2.42, prometheus-operator
//   >= 0.65): a daemon restart or a scrape gap makes their series vanish for a scan or two, and
//   without it every alert would resolve and only re-fire after `for:` again.
//
// To add an alert: append a rule to a group below (use `runbook(name)` and the metric() helper
// for every garbage_audit_* selector), write docs/runbooks/<AlertName>.md and promtool tests in
// alerts/tests/ (one case where it fires, one where it stays silent), then regenerate with
// `bash scripts/check-mixin.sh --write`.
local lib = import 'lib.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local cl = c.clusterLabel,
    local m(name, matchers=[]) = lib.metric(c, name, matchers),
    local runbook(alert) = c.runbookURLBase + alert + '.md',
    // `{{ with $labels.cluster }} in cluster {{ . }}{{ end }}`
    local inCluster = '{{ with $labels.%s }} in cluster {{ . }}{{ end }}' % cl,
    local v = c {
      inCluster: inCluster,
      // Annotation queries: printf formats, filled with the alert's own labels.
      stuckByReason: m('garbage_audit_namespace_stuck', ['%s=%%q' % cl, 'namespace=%q']),
      blockingInNs: m('garbage_audit_namespace_blocking_objects', ['%s=%%q' % cl, 'namespace=%q']),
      problemInfo: m('garbage_audit_owner_reference_problem_info', ['%s=%%q' % cl, 'resource=%q', 'reason=%q']),
      stuck: m('garbage_audit_namespace_stuck'),
      gcBlocked: m('garbage_audit_gc_blocked_objects'),
      orphans: m('garbage_audit_uncollectable_orphans'),
      discoveryFailed: m('garbage_audit_discovery_failed'),
      lastSuccess: m('garbage_audit_last_successful_scan_timestamp_seconds'),
      stale: m('garbage_audit_findings_stale'),
      buildInfo: m('garbage_audit_build_info'),
      incomplete: m('garbage_audit_scan_incomplete'),
      successfulScans: m('garbage_audit_scans_total', ['result="success"']),
      scanFailingAfterMinutes: std.toString(c.scanFailingAfterSeconds / 60),
      remediationFailed: m('garbage_audit_remediation_actions_total', ['result="failed"']),
      remediationUnresolved: m('garbage_audit_remediation_unresolved'),
      remediationHalted: m('garbage_audit_remediation_halted'),
    },

    groups+: [
      {
        name: 'kube-garbage-audit.findings',
        rules: [
          {
            // The series only exists once the namespace has been Terminating longer than the
            // daemon's --stuck-after, so a namespace that is simply being deleted never gets here.
            // The alert's identity is (cluster, namespace) only: the primary `reason` can change
            // while the namespace stays stuck (e.g. PodsRemaining -> FinalizersRemaining), and a
            // reason label would restart `for:` each time. The summary reads the current reason.
            alert: 'KubeNamespaceStuckTerminating',
            expr: |||
              max by (%(clusterLabel)s, namespace) (%(stuck)s) == 1
            ||| % v,
            'for': c.findingFor,
            keep_firing_for: c.keepFiringFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Namespace {{ $labels.namespace }} is stuck in Terminating{{ with printf "max by (reason) (%(stuckByReason)s)" $labels.%(clusterLabel)s $labels.namespace | query }} ({{ range $i, $r := . }}{{ if $i }}, {{ end }}{{ $r.Labels.reason }}{{ end }}){{ end }}{{ with printf "sort_desc(sum by (finalizer, resource, group) (%(blockingInNs)s))" $labels.%(clusterLabel)s $labels.namespace | query }}, blocked by:{{ range . }} {{ if .Labels.finalizer }}{{ .Labels.finalizer }}{{ else }}(no finalizer){{ end }} on {{ .Value }} {{ .Labels.resource }}{{ if .Labels.group }}.{{ .Labels.group }}{{ end }};{{ end }}{{ end }}' % v,
              description: lib.oneLine(|||
                Namespace {{ $labels.namespace }}%(inCluster)s has
                been Terminating for longer than the daemon's --stuck-after threshold (the summary names
                the current primary cause, the `reason` label of garbage_audit_namespace_stuck). Objects
                left in it keep finalizers that nothing removes (usually their controller was deleted
                first), or API discovery is failing. See the runbook before removing any finalizer.
              ||| % v),
              runbook_url: runbook('KubeNamespaceStuckTerminating'),
            },
          },
          {
            // The description lists at most 10 objects, the first by name (PromQL's topk would
            // pick an arbitrary 10 among equal values, so the template stops after 10 of the
            // sorted list), and says how many more there are; the dashboard table "Objects with
            // faulty owner references" and /findings list them all.
            alert: 'KubeOwnerReferenceUnresolvable',
            expr: |||
              sum by (%(clusterLabel)s, resource, reason) (%(gcBlocked)s) > 0
            ||| % v,
            'for': c.findingFor,
            keep_firing_for: c.keepFiringFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: '{{ $value }} {{ $labels.resource }} object(s) have an ownerReference the garbage collector cannot resolve ({{ $labels.reason }}).',
              description: lib.oneLine(|||
                The garbage collector will never delete these {{ $labels.resource }} objects by itself:
                an ownerReference cannot be mapped ({{ $labels.reason }}), so the object stays even when
                its owners are gone.{{ with printf "max by (namespace, name, owner_api_version, owner_kind, suggested_kind) (%(problemInfo)s)" $labels.%(clusterLabel)s $labels.resource $labels.reason | query | sortByLabel "namespace" | sortByLabel "name" }} Affected:{{ range $i, $o := . }}{{ if lt $i 10 }} {{ if $o.Labels.namespace }}{{ $o.Labels.namespace }}/{{ end }}{{ $o.Labels.name }} (owner {{ $o.Labels.owner_api_version }} {{ $o.Labels.owner_kind }}{{ if $o.Labels.suggested_kind }}, did you mean kind {{ $o.Labels.suggested_kind }}?{{ end }});{{ end }}{{ end }}{{ end }}{{ with printf "count(max by (namespace, name, owner_api_version, owner_kind, suggested_kind) (%(problemInfo)s)) - 10 > 0" $labels.%(clusterLabel)s $labels.resource $labels.reason | query }} and {{ . | first | value }} more (see the dashboard or /findings).{{ end }}
              ||| % v),
              runbook_url: runbook('KubeOwnerReferenceUnresolvable'),
            },
          },
          {
            alert: 'KubeOrphanNotCollectable',
            expr: |||
              sum by (%(clusterLabel)s, resource) (%(orphans)s) > 0
            ||| % v,
            'for': c.findingFor,
            keep_firing_for: c.keepFiringFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: '{{ $value }} orphaned {{ $labels.resource }} object(s) will never be garbage-collected.',
              description: lib.oneLine(|||
                {{ $value }} {{ $labels.resource }} object(s) have no live owner left, yet an
                unresolvable ownerReference stops the garbage collector from deleting them. They stay
                for ever (and keep acting, e.g. an HPA keeps scaling) until someone deletes them.
              |||),
              runbook_url: runbook('KubeOrphanNotCollectable'),
            },
          },
        ],
      },
      {
        name: 'kube-garbage-audit.health',
        rules: [
          {
            // max_over_time: a group/version that fails discovery only in some scans (a flapping
            // APIService backend) has a series only in those scans; looking back keeps it visible
            // across the healthy scans in between, so intermittent failures fire too. A single
            // failure shorter than ~5m stays under `for:`.
            alert: 'GarbageAuditDiscoveryFailing',
            expr: |||
              max by (%(clusterLabel)s, group_version) (max_over_time(%(discoveryFailed)s[%(discoveryLookback)s])) == 1
            ||| % v,
            'for': c.discoveryFor,
            keep_firing_for: c.keepFiringFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'API discovery of {{ if $labels.group_version }}{{ $labels.group_version }}{{ else }}the API group list{{ end }} is failing%(inCluster)s; namespace deletion is blocked cluster-wide.' % v,
              description: lib.oneLine(|||
                {{ if $labels.group_version }}Discovery of the API group/version {{ $labels.group_version }}{{ else }}Reading the API group list itself (group_version="": /api or /apis){{ end }}
                fails, at least intermittently over the last 25 minutes (usually an aggregated
                APIService whose backend is down or flapping). While any group fails discovery the
                namespace controller cannot finish deleting ANY namespace, and the audit's own view of
                the cluster is incomplete.
              |||),
              runbook_url: runbook('GarbageAuditDiscoveryFailing'),
            },
          },
          {
            // Fires when, for scanFailingFor, any of (per cluster, job, instance, scanner):
            //  1. its last successful scan is older than scanFailingAfterSeconds: every scan fails,
            //     or a scan hangs and reports nothing. It reads the last-success timestamp, not a
            //     counter window, so it needs no history: a fresh Prometheus or a restarted daemon
            //     does not see "no increase" in a window that holds one scan. A scan that succeeds
            //     but carries part of its findings over (findings_stale 1, one resource type could
            //     not be listed) does NOT count as failing: that is GarbageAuditScanPartial (info);
            //  2. it never succeeded: the daemon is up (build_info) but no scanner has a
            //     last-success timestamp, or a scanner exports staleness without ever succeeding.
            // The cluster label is part of every on()/by(): in a multi-cluster Prometheus/Thanos two
            // clusters can have daemons with the same pod IP (instance) and job.
            alert: 'GarbageAuditScanFailing',
            expr: |||
              time() - max by (%(clusterLabel)s, job, instance, scanner) (%(lastSuccess)s) > %(scanFailingAfterSeconds)d
              or
              (
                group by (%(clusterLabel)s, job, instance, scanner) (%(stale)s)
                unless on (%(clusterLabel)s, job, instance, scanner)
                %(lastSuccess)s
              )
              or
              (
                group by (%(clusterLabel)s, job, instance) (%(buildInfo)s)
                unless on (%(clusterLabel)s, job, instance)
                group by (%(clusterLabel)s, job, instance) (%(lastSuccess)s)
              )
            ||| % v,
            // On top of the age threshold: about 25 minutes after the last success by default.
            'for': c.scanFailingFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'kube-garbage-audit on {{ $labels.instance }}%(inCluster)s has not completed a successful scan{{ with $labels.scanner }} of the {{ . }} scanner{{ end }} recently.' % v,
              description: lib.oneLine(|||
                {{ $labels.job }}/{{ $labels.instance }}{{ with $labels.scanner }} ({{ . }} scanner){{ end }}
                keeps failing, has not succeeded for more than %(scanFailingAfterMinutes)s minutes, or has never succeeded. Its
                exported findings are from an earlier scan or missing, so problems fixed or created
                since are not reflected and finding alerts may not fire. The daemon's logs name the
                error (RBAC, API-server connectivity, timeouts).
              ||| % v),
              runbook_url: runbook('GarbageAuditScanFailing'),
            },
          },
          {
            // Scans succeed, but part of the cluster is not (re-)checked: the last successful scan
            // was incomplete (a group failed discovery, a resource could not be listed, ...), or
            // some findings are carried over from an earlier scan while scans still succeed.
            // Informational and slow on purpose: the findings that are exported stay valid.
            alert: 'GarbageAuditScanPartial',
            expr: |||
              max by (%(clusterLabel)s, job, instance, scanner) (%(incomplete)s) == 1
              or
              (
                max by (%(clusterLabel)s, job, instance, scanner) (%(stale)s) == 1
                and on (%(clusterLabel)s, job, instance, scanner)
                sum by (%(clusterLabel)s, job, instance, scanner) (increase(%(successfulScans)s[%(scanPartialWindow)s])) > 0
              )
            ||| % v,
            'for': c.scanPartialFor,
            labels: { severity: 'info' },
            annotations: {
              summary: "kube-garbage-audit's {{ $labels.scanner }} scanner on {{ $labels.instance }}%(inCluster)s sees only part of the cluster." % v,
              description: lib.oneLine(|||
                Scans of the {{ $labels.scanner }} scanner succeed, but for more than an hour each one
                has been incomplete or has carried some findings over from an earlier scan because a
                resource type could not be listed or an API group failed discovery. Findings about
                that part of the cluster are not refreshed. The daemon's logs name the resource.
              |||),
              runbook_url: runbook('GarbageAuditScanPartial'),
            },
          },
          {
            // Per cluster: every cluster that has some scrape target (`up`) but no garbage-audit
            // target that is up. Without a cluster label (single Prometheus) both sides group to {}
            // and it behaves like absent(); `absent(up)` covers a Prometheus with no targets at all.
            alert: 'GarbageAuditAbsent',
            expr: |||
              (
                group by (%(clusterLabel)s) (up)
                unless on (%(clusterLabel)s)
                group by (%(clusterLabel)s) (up{%(jobSelector)s} == 1)
              )
              or
              absent(up)
            ||| % v,
            'for': c.absentFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'kube-garbage-audit has disappeared from Prometheus target discovery%(inCluster)s.' % v,
              description: lib.oneLine(|||
                No target whose job label contains "garbage-audit"%(inCluster)s has been up for 15 minutes. Stuck namespaces and uncollectable garbage
                are not being watched.
              ||| % v),
              runbook_url: runbook('GarbageAuditAbsent'),
            },
          },
        ],
      },
      {
        // Only with --remediation dry-run|enforce: the series do not exist otherwise.
        name: 'kube-garbage-audit.remediation',
        rules: [
          {
            // A write the API server refused (a webhook, RBAC, a dead backend), or an action that
            // was applied but whose finding was still there in the next complete round.
            alert: 'GarbageAuditRemediationFailing',
            expr: |||
              sum by (%(clusterLabel)s, job, instance, action) (increase(%(remediationFailed)s[%(remediationFailingWindow)s])) > 0
              or
              max by (%(clusterLabel)s, job, instance) (%(remediationUnresolved)s) > 0
            ||| % v,
            'for': c.remediationFailingFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'kube-garbage-audit on {{ $labels.instance }}%(inCluster)s cannot repair what it found{{ with $labels.action }} ({{ . }}){{ end }}.' % v,
              description: lib.oneLine(|||
                The remediation queue's attempts fail (the API server refused the write or its dry
                run) or an applied action did not resolve its finding. The queue backs off (5 minutes,
                doubling); /remediations and the daemon's log name the object and the error, and a
                Warning Event (reason RemediationFailed) is recorded.
              |||),
              runbook_url: runbook('GarbageAuditRemediationFailing'),
            },
          },
          {
            alert: 'GarbageAuditRemediationHalted',
            expr: |||
              max by (%(clusterLabel)s, job, instance) (%(remediationHalted)s) == 1
            ||| % v,
            'for': c.remediationHaltedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'kube-garbage-audit remediation on {{ $labels.instance }}%(inCluster)s is halted: too many candidates.' % v,
              description: lib.oneLine(|||
                A round planned more candidates than --remediation-halt-above, so the queue acts on
                none until the plan shrinks. Something changed at scale (a mass deletion, a removed
                operator, an upgrade that mis-cased many owner kinds): review /remediations before
                raising the limit.
              |||),
              runbook_url: runbook('GarbageAuditRemediationHalted'),
            },
          },
        ],
      },
    ],
  },
}
