//! Command-line interface. Every flag can also be set through `GARBAGE_AUDIT_<FLAG>`.
//! Invalid values are rejected by clap with exit status 2 and a message naming the flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::kubeapi::{ApiLimits, Connection};
use crate::scanners::owner_references::AuditedResources;

#[derive(Debug, Parser)]
#[command(
    name = "kube-garbage-audit",
    version,
    about = "Finds the garbage Kubernetes fails to collect: namespaces stuck in Terminating and objects whose ownerReferences the garbage collector cannot resolve."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: scan on an interval, serve /metrics, /findings, /healthz, /readyz.
    Run(RunArgs),
    /// Scan once, print the findings and exit (0 clean, 1 findings, 2 could not run, 3 partial data without findings).
    Scan(ScanArgs),
    /// Start a simulated cluster with the `aibrix` scenario and run the daemon against it.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Print the remediation plan with its digest (writes nothing); `--confirm DIGEST` applies exactly that plan.
    Remediate(RemediateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RemediateOutput {
    Table,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct RemediateArgs {
    /// Output format.
    #[arg(short = 'o', long, env = "GARBAGE_AUDIT_OUTPUT", value_enum, default_value = "table")]
    pub output: RemediateOutput,
    /// Apply the plan whose digest `remediate` printed; refused if anything changed since.
    #[arg(long)]
    pub confirm: Option<String>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
    #[command(flatten)]
    pub remediation: crate::remediation::flags::RemediationArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Tables that fit a terminal (about 160 columns); the suggested fixes are in `wide` and `json`.
    Table,
    /// The tables with full resource names, apiVersions and a FIX column.
    Wide,
    Json,
    /// SARIF 2.1.0: one result per finding, rule ids are the reasons.
    Sarif,
    /// JUnit XML: one test case per check, one failure per finding.
    Junit,
}

/// The longest duration a flag takes: far beyond any useful interval, deadline or age, and far
/// from where adding it to the clock overflows (a `--request-timeout` of 500000000000y used to
/// panic on the first request).
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

fn duration(s: &str) -> Result<Duration, String> {
    if s.trim_start().starts_with('-') {
        return Err("must be greater than zero".into());
    }
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (expected a duration such as 30s, 1m or 1h30m)"))?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    if d > MAX_DURATION {
        return Err("must be at most 10 years (3650d)".into());
    }
    Ok(d)
}

fn audited_resources(s: &str) -> Result<AuditedResources, String> {
    if s.trim() == "all" {
        return Ok(AuditedResources::All);
    }
    let names: Vec<String> = s
        .split(',')
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err("expected `all` or a comma list of resource names".into());
    }
    // Names are resolved against discovery at scan time, as kubectl does (plural, singular, short
    // name or kind, optionally `.group`); here only what can never be a resource name is refused.
    if let Some(bad) = names
        .iter()
        .find(|n| n.contains('/') || n.chars().any(char::is_whitespace))
    {
        return Err(format!(
            "{bad:?} is not a resource name (e.g. hpa, deployments.apps, pods, horizontalpodautoscalers.autoscaling)"
        ));
    }
    Ok(AuditedResources::Named(names))
}

/// A whole number of at least 1 (a negative one is refused by name, not as a stray argument).
pub(crate) fn positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) if s.trim().parse::<i128>().is_ok() => Err("must be at least 1".into()),
        Err(e) => Err(format!("{e} (expected a whole number of at least 1)")),
    }
}

fn qps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(q) if (0.001..=1_000_000.0).contains(&q) => Ok(q),
        Ok(_) => Err("must be between 0.001 and 1000000".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn whole(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) => Ok(n),
        Err(_) if s.trim().parse::<i128>().is_ok() => Err("must not be negative".into()),
        Err(e) => Err(format!("{e} (expected a whole number)")),
    }
}

/// Flags shared by every command that audits a cluster.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// A namespace Terminating for longer than this is stuck.
    #[arg(long, env = "GARBAGE_AUDIT_STUCK_AFTER", default_value = "15m", value_parser = duration, allow_hyphen_values = true)]
    pub stuck_after: Duration,
    /// Resources whose ownerReferences are audited: `all`, or a comma list of resource names as kubectl takes them (`hpa`, `deployments.apps`, `pods`).
    #[arg(long, env = "GARBAGE_AUDIT_OWNER_RESOURCES", default_value = "horizontalpodautoscalers.autoscaling", value_parser = audited_resources)]
    pub owner_resources: AuditedResources,
    /// Also report objects anywhere deleted longer than --stuck-after ago that still carry finalizers.
    #[arg(long, env = "GARBAGE_AUDIT_STUCK_OBJECTS")]
    pub stuck_objects: bool,
    /// Cap on per-object metric series (garbage_audit_owner_reference_problem_info).
    #[arg(long, env = "GARBAGE_AUDIT_MAX_OBJECT_SERIES", default_value = "1000", value_parser = whole, allow_hyphen_values = true)]
    pub max_object_series: usize,
    /// Maximum API requests in flight.
    #[arg(long, env = "GARBAGE_AUDIT_CONCURRENCY", default_value = "4", value_parser = positive, allow_hyphen_values = true)]
    pub concurrency: usize,
    /// Maximum API requests started per second.
    #[arg(long, env = "GARBAGE_AUDIT_QPS", default_value = "50", value_parser = qps, allow_hyphen_values = true)]
    pub qps: f64,
    /// API requests that may start at once before --qps applies (client-go's burst).
    #[arg(long, env = "GARBAGE_AUDIT_BURST", default_value = "100", value_parser = positive, allow_hyphen_values = true)]
    pub burst: usize,
    /// Items per page when listing.
    #[arg(long, env = "GARBAGE_AUDIT_PAGE_SIZE", default_value = "500", value_parser = positive, allow_hyphen_values = true)]
    pub page_size: usize,
    /// Deadline for one API request.
    #[arg(long, env = "GARBAGE_AUDIT_REQUEST_TIMEOUT", default_value = "30s", value_parser = duration, allow_hyphen_values = true)]
    pub request_timeout: Duration,
    /// Log format.
    #[arg(long, env = "GARBAGE_AUDIT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax, e.g. `info` or `kube_garbage_audit=debug`); RUST_LOG when unset.
    #[arg(long, env = "GARBAGE_AUDIT_LOG_LEVEL", value_parser = crate::telemetry::parse_filter)]
    pub log_level: Option<String>,
}

impl AuditArgs {
    pub fn limits(&self) -> ApiLimits {
        ApiLimits {
            concurrency: self.concurrency,
            min_interval: Duration::from_secs_f64(1.0 / self.qps),
            burst: u32::try_from(self.burst).unwrap_or(u32::MAX),
            page_size: u32::try_from(self.page_size).unwrap_or(u32::MAX),
            request_timeout: self.request_timeout,
        }
    }
}

/// Where the cluster is.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Path to a kubeconfig; default: KUBECONFIG, ~/.kube/config, then in-cluster.
    #[arg(long, env = "GARBAGE_AUDIT_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use; default: the current context.
    #[arg(long, env = "GARBAGE_AUDIT_CONTEXT")]
    pub context: Option<String>,
}

impl ClusterArgs {
    pub fn connection(&self) -> Connection {
        Connection {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Address for /metrics, /findings, /remediations, /healthz and /readyz.
    #[arg(long, env = "GARBAGE_AUDIT_LISTEN", default_value = "0.0.0.0:9090")]
    pub listen: SocketAddr,
    /// Time between scans (plus up to 10 % jitter).
    #[arg(long, env = "GARBAGE_AUDIT_INTERVAL", default_value = "1m", value_parser = duration, allow_hyphen_values = true)]
    pub interval: Duration,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
    #[command(flatten)]
    pub remediation: crate::remediation::flags::RemediationArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Output format.
    #[arg(short = 'o', long, env = "GARBAGE_AUDIT_OUTPUT", value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Report only findings in this namespace (the scan still reads the whole cluster: owners and
    /// discovery are cluster-wide); the exit status follows the findings shown.
    #[arg(short = 'n', long, env = "GARBAGE_AUDIT_NAMESPACE")]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
}

#[cfg(feature = "demo")]
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Address for the daemon's /metrics, /findings, /healthz and /readyz.
    #[arg(long, env = "GARBAGE_AUDIT_LISTEN", default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// Time between scans.
    #[arg(long, env = "GARBAGE_AUDIT_INTERVAL", default_value = "5s", value_parser = duration, allow_hyphen_values = true)]
    pub interval: Duration,
    /// Where to write the simulated cluster's kubeconfig (default: a new file under the temp dir).
    #[arg(long, env = "GARBAGE_AUDIT_KUBECONFIG_OUT")]
    pub kubeconfig_out: Option<PathBuf>,
    #[command(flatten)]
    pub audit: AuditArgs,
    #[command(flatten)]
    pub remediation: crate::remediation::flags::RemediationArgs,
}

/// The executable name kubectl looks for on PATH when the user types `kubectl garbage-audit`.
pub const KUBECTL_PLUGIN_EXECUTABLE: &str = "kubectl-garbage_audit";

/// True when the process was started as the kubectl plugin (a copy of or link to this binary named
/// `kubectl-garbage_audit`, which kubectl runs for `kubectl garbage-audit ...`).
pub fn invoked_as_kubectl_plugin(argv0: &std::ffi::OsStr) -> bool {
    std::path::Path::new(argv0)
        .file_stem()
        .is_some_and(|name| name == KUBECTL_PLUGIN_EXECUTABLE)
}

/// Parses `args` (argv[0] first). Run as the kubectl plugin, usage and help name the command the
/// user typed, `kubectl garbage-audit`; otherwise this is `Cli::parse_from`.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let mut command = Cli::command();
    if args.first().is_some_and(|a| invoked_as_kubectl_plugin(a)) {
        command = command.bin_name("kubectl garbage-audit");
    }
    let matches = command
        .try_get_matches_from(args.clone())
        .map_err(|e| name_env_source(e, &args))?;
    let cli = Cli::from_arg_matches(&matches)?;
    if let Some((command, sub)) = matches.subcommand() {
        check_combinations(command, sub, &cli.command)
            .map_err(|message| clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, format!("{message}\n")))?;
    }
    Ok(cli)
}

/// How the user set the argument `id` (`--flag-name`): the flag, or the `GARBAGE_AUDIT_*` variable.
fn given_as(sub: &clap::ArgMatches, id: &str) -> String {
    let flag = format!("--{}", id.replace('_', "-"));
    match sub.value_source(id) {
        Some(clap::parser::ValueSource::EnvVariable) => {
            format!("GARBAGE_AUDIT_{} ({flag})", id.to_ascii_uppercase())
        }
        _ => flag,
    }
}

/// Combinations of valid values that cannot work: each is refused (exit 2) naming the flags (or
/// variables) involved, before anything starts. Every value on its own was checked by its parser.
fn check_combinations(command: &str, sub: &clap::ArgMatches, parsed: &Command) -> Result<(), String> {
    let remediation = match parsed {
        Command::Run(a) => &a.remediation,
        #[cfg(feature = "demo")]
        Command::Demo(a) => &a.remediation,
        Command::Remediate(a) => &a.remediation,
        Command::Scan(_) => return Ok(()),
    };
    use crate::remediation::action::ActionKind;
    // `--remediation off` ignores the other remediation settings on purpose: it is the kill
    // switch, flipped without removing the rest of the configuration.
    if command == "remediate" {
        for id in ["remediation", "remediation_min_rounds"] {
            // Only on the command line: the daemon's environment may well set the mode.
            if sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
                return Err(format!(
                    "{} does not apply to remediate (it prints the plan, or applies it with --confirm: your confirmation stands in for the mode and the rounds)",
                    given_as(sub, id)
                ));
            }
        }
    }
    if let Some(ns) = remediation
        .remediation_namespaces
        .iter()
        .find(|n| remediation.remediation_exclude_namespaces.contains(n))
    {
        return Err(format!(
            "namespace {ns:?} is both in {} and in {}: say once whether the queue may act there",
            given_as(sub, "remediation_namespaces"),
            given_as(sub, "remediation_exclude_namespaces")
        ));
    }
    // Finalizers listed while remove_finalizer is not allowed are inert, not contradictory: it is
    // how one action is switched off without losing its allowlist.
    if remediation
        .remediation_actions
        .iter()
        .all(|a| *a == ActionKind::RemoveFinalizer)
        && remediation.remediation_finalizers.is_empty()
    {
        return Err(format!(
            "{} allows only remove_finalizer but --remediation-finalizers lists none: the queue could never act (name the finalizers that are safe to strip)",
            given_as(sub, "remediation_actions")
        ));
    }
    Ok(())
}

/// A bad value that came from a `GARBAGE_AUDIT_*` variable, not from the command line, is
/// reported under the variable's name (clap names only the flag, which the user never typed).
fn name_env_source(err: clap::Error, args: &[std::ffi::OsString]) -> clap::Error {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(invalid)) = err.get(ContextKind::InvalidArg) else {
        return err;
    };
    let flag = invalid.split_whitespace().next().unwrap_or_default().to_string();
    let on_command_line = args
        .iter()
        .filter_map(|a| a.to_str())
        .any(|a| a == flag || a.starts_with(&format!("{flag}=")) || (flag.len() == 2 && a.starts_with(&flag)));
    if on_command_line {
        return err;
    }
    let command = Cli::command();
    let env = command
        .get_subcommands()
        .flat_map(|c| c.get_arguments())
        .chain(command.get_arguments())
        .find(|a| {
            let long = a.get_long().map(|l| format!("--{l}"));
            let short = a.get_short().map(|s| format!("-{s}"));
            long.as_deref() == Some(flag.as_str()) || short.as_deref() == Some(flag.as_str())
        })
        .and_then(|a| a.get_env())
        .and_then(|e| e.to_str())
        .map(str::to_string);
    let Some(env) = env.filter(|e| std::env::var_os(e).is_some()) else {
        return err;
    };
    let text = err.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    clap::Error::raw(
        err.kind(),
        text.replace(
            &format!("'{invalid}'"),
            &format!("{env} (--{})", flag.trim_start_matches('-')),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kube-garbage-audit").chain(args.iter().copied()))
    }

    #[test]
    fn bad_values_name_the_flag_and_the_value() {
        for (args, flag, value) in [
            (vec!["run", "--interval", "soon"], "--interval", "soon"),
            (vec!["run", "--listen", "nowhere"], "--listen", "nowhere"),
            (vec!["scan", "-o", "yaml"], "--output", "yaml"),
            (vec!["scan", "--stuck-after", "0s"], "--stuck-after", "0s"),
            (
                vec!["scan", "--owner-resources", "apps/v1"],
                "--owner-resources",
                "apps/v1",
            ),
        ] {
            let err = parse(&args).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(flag) && text.contains(value), "{args:?}: {text}");
            assert_eq!(err.exit_code(), 2);
        }
    }

    #[test]
    fn defaults() {
        let Command::Run(run) = parse(&["run"]).unwrap().command else {
            panic!()
        };
        assert_eq!(run.listen, "0.0.0.0:9090".parse().unwrap());
        assert_eq!(run.interval, Duration::from_secs(60));
        assert_eq!(run.audit.stuck_after, Duration::from_secs(900));
        assert_eq!(run.audit.owner_resources, AuditedResources::default());
        let Command::Scan(scan) = parse(&["scan", "--owner-resources", "all"]).unwrap().command else {
            panic!()
        };
        assert_eq!(scan.audit.owner_resources, AuditedResources::All);
    }

    #[test]
    fn ci_formats_and_namespace_scope_parse() {
        let Command::Scan(scan) = parse(&["scan", "-o", "sarif", "-n", "llm-serving"]).unwrap().command else {
            panic!()
        };
        assert_eq!(scan.output, OutputFormat::Sarif);
        assert_eq!(scan.namespace.as_deref(), Some("llm-serving"));
        let Command::Scan(scan) = parse(&["scan", "--output", "junit"]).unwrap().command else {
            panic!()
        };
        assert_eq!((scan.output, scan.namespace), (OutputFormat::Junit, None));
    }

    #[test]
    fn as_a_kubectl_plugin_usage_names_kubectl_garbage_audit() {
        for argv0 in ["/home/me/.krew/bin/kubectl-garbage_audit", "kubectl-garbage_audit"] {
            let help = parse_from([argv0, "scan", "--help"]).unwrap_err().to_string();
            assert!(help.contains("Usage: kubectl garbage-audit scan [OPTIONS]"), "{help}");
        }
        let help = parse_from(["/usr/bin/kube-garbage-audit", "scan", "--help"]).unwrap_err();
        assert!(
            help.to_string().contains("Usage: kube-garbage-audit scan [OPTIONS]"),
            "{help}"
        );
        assert!(matches!(
            parse_from(["kubectl-garbage_audit", "scan", "--context", "prod"]).unwrap().command,
            Command::Scan(ScanArgs { cluster: ClusterArgs { context: Some(c), .. }, .. }) if c == "prod"
        ));
    }
}
