//! Failure signals that say what failed: connection errors that name the server and the cause
//! once, no discovery/partial series for a server never reached, resource names as kubectl users
//! write them, and one error (no tables) from a `scan` that cannot run.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

/// A kubeconfig for `server` with a token user.
fn kubeconfig_for(dir: &Path, server: &str) -> std::path::PathBuf {
    write_file(
        dir,
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n- name: staging\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
}

fn scan_against(kubeconfig: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["scan", "--request-timeout", "2s", "--kubeconfig"])
        .arg(kubeconfig)
        .args(extra)
        .env_clear()
        .output()
        .unwrap()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A TCP server that answers every connection with `reply` (or never answers when `None`).
fn fake_server(reply: Option<&'static str>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().map_while(Result::ok) {
            match reply {
                Some(text) => {
                    let mut buf = [0u8; 4096];
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                    let _ = stream.read(&mut buf);
                    let _ = stream.write_all(text.as_bytes());
                }
                None => held.push(stream), // accept, never answer
            }
        }
    });
    addr
}

fn http_reply(code: u16, reason: &str, message: &str) -> &'static str {
    let body = format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"{message}","reason":"{reason}","code":{code}}}"#
    );
    Box::leak(
        format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    )
}

/// The one error line of a `scan` that could not run: exit 2, nothing on stdout.
fn one_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "no tables from a scan that cannot run: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    errors[0].to_string()
}

#[test]
fn each_connection_failure_names_the_server_and_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let tls = format!("https://{}", fake_server(Some("this is not TLS\r\n")));
    let silent = format!("http://{}", fake_server(None));
    let unauthorized = format!(
        "http://{}",
        fake_server(Some(http_reply(401, "Unauthorized", "Unauthorized")))
    );
    let forbidden = format!(
        "http://{}",
        fake_server(Some(http_reply(
            403,
            "Forbidden",
            "forbidden: User \\\"system:anonymous\\\" cannot get path \\\"/version\\\""
        )))
    );
    let dns = "https://kube-garbage-audit-test.invalid:6443".to_string();
    for (server, cause) in [
        (&refused, "connection refused"),
        (&tls, "TLS handshake failed"),
        (&silent, "timed out"),
        (&unauthorized, "401 Unauthorized: the server rejected the credentials"),
        (
            &forbidden,
            "403 Forbidden: forbidden: User \"system:anonymous\" cannot get path \"/version\"",
        ),
        (&dns, "cannot resolve the host name"),
    ] {
        let case = tempfile::tempdir_in(dir.path()).unwrap();
        let line = one_error(&scan_against(&kubeconfig_for(case.path(), server), &[]));
        assert!(line.contains(server.as_str()), "{server}: {line}");
        assert_eq!(line.matches(cause).count(), 1, "{server}: {line}");
        for noise in ["ServiceError", "client error (Connect)", "Failed to parse"] {
            assert!(!line.contains(noise), "{server}: {line}");
        }
    }
}

#[test]
fn kubeconfig_and_context_mistakes_are_said_once_with_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    let missing = one_error(&scan_against(Path::new("/nonexistent/kubeconfig"), &[]));
    assert_eq!(missing.matches("/nonexistent/kubeconfig").count(), 1, "{missing}");
    assert!(!missing.contains("'\""), "no doubled quotes: {missing}");
    let kubeconfig = kubeconfig_for(dir.path(), "http://127.0.0.1:1");
    let context = one_error(&scan_against(&kubeconfig, &["--context", "nope"]));
    assert!(
        context.contains("--context nope") && context.contains("available: c, staging"),
        "{context}"
    );
}

#[test]
fn flag_errors_name_their_source() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(BIN)
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    // A misspelt level used to be accepted as a target name and silenced every log.
    let (code, stderr) = run(&["scan", "--log-level", "debgu"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--log-level") && stderr.contains("did you mean debug?"),
        "{stderr}"
    );
    // From the environment, the error names the variable the user set.
    let (code, stderr) = run(&["scan"], &[("GARBAGE_AUDIT_STUCK_AFTER", "forever")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("GARBAGE_AUDIT_STUCK_AFTER") && stderr.contains("forever"),
        "{stderr}"
    );
    let (_, stderr) = run(&["scan"], &[("GARBAGE_AUDIT_LOG_LEVEL", "verbose")]);
    assert!(stderr.contains("GARBAGE_AUDIT_LOG_LEVEL"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_raises_scanner_failure_signals_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = format!("http://127.0.0.1:{}", closed_port());
    let kubeconfig = kubeconfig_for(dir.path(), &server);
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--listen", "127.0.0.1:0", "--interval", "1s", "--kubeconfig"])
        .arg(&kubeconfig)
        .env_clear();
    let daemon = spawn_daemon(cmd);
    let text = daemon
        .metrics_until(|t| t.contains("garbage_audit_scans_total{result=\"error\",scanner=\"namespaces\"} 3"))
        .await
        .expect("three failed rounds");
    let samples = parse_exposition(&text);
    for scanner in ["namespaces", "owner_references"] {
        assert_eq!(
            sample(&samples, &["garbage_audit_findings_stale{", scanner]),
            Some(1.0),
            "{text}"
        );
    }
    for absent in [
        "garbage_audit_discovery_failed{",
        "garbage_audit_scan_incomplete{",
        "garbage_audit_last_successful_scan_timestamp_seconds{",
    ] {
        assert!(
            !text.contains(absent),
            "{absent} exported for a server never reached:\n{text}"
        );
    }
    // Discovery is part of the round's duration.
    assert!(
        sample(&samples, &["garbage_audit_round_duration_seconds_count"]).unwrap_or(0.0) >= 3.0,
        "{text}"
    );
    let (status, body) = http_get(daemon.addr, "/readyz");
    assert_eq!(status, 503);
    assert!(body.contains(&server) && body.contains("connection refused"), "{body}");
    // One log line per change, not per round: three failed rounds, one error line.
    let logs: Vec<String> = daemon.logs.try_iter().collect();
    let errors: Vec<&String> = logs.iter().filter(|l| l.contains("scan failed")).collect();
    assert_eq!(errors.len(), 1, "{logs:#?}");
    assert!(
        errors[0].contains(&server) && errors[0].contains("connection refused"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("namespaces, owner_references"),
        "one line for both scanners: {}",
        errors[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_api_group_costs_one_fast_failure_per_round() {
    let c = cluster(Some("aibrix"), &["metrics.k8s.io/v1beta1"]).await;
    let daemon = c.ready_daemon().await;
    let text = daemon
        .metrics_until(|t| {
            parse_exposition(t)
                .iter()
                .any(|(s, v)| s == "garbage_audit_round_duration_seconds_count" && *v >= 3.0)
        })
        .await
        .expect("three rounds");
    let samples = parse_exposition(&text);
    let count = sample(&samples, &["garbage_audit_round_duration_seconds_count"]).unwrap();
    let sum = sample(&samples, &["garbage_audit_round_duration_seconds_sum"]).unwrap();
    let discovery = sample(&samples, &["garbage_audit_discovery_duration_seconds_sum"]).unwrap();
    assert!(sum / count < 5.0, "a round takes {} s on average", sum / count);
    assert!(
        discovery > 0.0 && discovery <= sum,
        "discovery {discovery} s within rounds {sum} s"
    );
    assert_eq!(
        sample(&samples, &["garbage_audit_discovery_failed{", "metrics.k8s.io/v1beta1"]),
        Some(1.0)
    );
    let logs: Vec<String> = daemon.logs.try_iter().collect();
    assert_eq!(
        logs.iter().filter(|l| l.contains("API discovery failed")).count(),
        1,
        "logged once, not per round: {logs:#?}"
    );
    assert!(
        !logs.iter().any(|l| l.contains("scan finished")),
        "per-round lines at INFO: {logs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resource_names_work_as_kubectl_users_write_them() {
    let c = cluster(Some("aibrix"), &[]).await;
    for names in [
        "hpa",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        "hpa.autoscaling,deploy,pods",
    ] {
        let (code, report) = c.scan_json(&["--owner-resources", names]).await;
        assert_eq!(code, 1, "{names}: {report}");
        assert!(
            report["ownerReferenceProblems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["dependent"]["name"] == "mistral-7b-hpa"),
            "{names}"
        );
    }
    let out = c.run(&["scan", "--owner-resources", "hpa,deploymnets"]).await;
    let line = one_error(&out);
    assert!(
        line.contains("--owner-resources") && line.contains("did you mean \"deployments.apps\"?"),
        "{line}"
    );
    assert!(!line.contains("keeping previous findings"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_that_cannot_be_resolved_fails_readiness_with_the_reason() {
    let c = cluster(Some("aibrix"), &[]).await;
    let daemon = spawn_daemon(c.command(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "1s",
        "--owner-resources",
        "deploymnets",
    ]));
    let body = eventually(Duration::from_secs(30), || {
        let (status, body) = http_get(daemon.addr, "/readyz");
        (status == 503 && body.contains("did you mean")).then_some(body)
    })
    .await
    .expect("/readyz names the unresolvable resource");
    assert!(
        body.contains("\"deploymnets\" is not served by this cluster; did you mean \"deployments.apps\"?"),
        "{body}"
    );
    let logged = eventually(Duration::from_secs(10), || {
        daemon
            .logs
            .try_iter()
            .find(|l| l.contains("scan failed") && l.contains("deploymnets"))
    })
    .await;
    assert!(logged.is_some(), "the reason is logged too");
}
