//! `remediate`: the queue for humans, one shot. Without `--confirm` it scans once, prints the plan
//! (every gate but the round count, which the human's confirmation replaces) with a digest of
//! exactly those objects, actions and resourceVersions, and writes nothing. With `--confirm
//! DIGEST` it scans again, refuses unless the new plan has that digest, then runs each action
//! through the same guarded sequence as the daemon (re-read, verify, dry run, write, Event).

use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::app::{auditor, cannot_run, exit, init_logging};
use crate::cli::{RemediateArgs, RemediateOutput};
use crate::kubeapi::ClusterApi;
use crate::kubewrite::ClusterWriter;
use crate::remediation::candidates::{candidates, incomplete_because};
use crate::remediation::digest::plan_digest;
use crate::remediation::executor::{Executor, Outcome, ResultKind};
use crate::remediation::policy::Mode;
use crate::remediation::queue::{Decision, Plan, Queue};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Printed<'a> {
    digest: String,
    plan: &'a Plan,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    results: Vec<Outcome>,
}

fn table(plan: &Plan, digest: &str, kubeconfig: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(why) = &plan.blocked {
        out.push_str(&format!("NOTHING PLANNED: {why}\n"));
    }
    if let Some(why) = &plan.halted {
        out.push_str(&format!("HALTED: {why}\n"));
    }
    let acts: Vec<_> = plan.to_act().collect();
    out.push_str(&format!("PLAN ({} action(s)):\n", acts.len()));
    for e in &acts {
        out.push_str(&format!("  {:<17} {}\n", e.action.action.as_str(), e.action.describe()));
        out.push_str(&format!(
            "  {:<17} same by hand: {}\n",
            "",
            e.action.kubectl(kubeconfig)
        ));
    }
    let held: Vec<_> = plan.entries.iter().filter(|e| e.decision != Decision::Act).collect();
    if !held.is_empty() {
        out.push_str("NOT PLANNED:\n");
        for e in held {
            let why = match &e.decision {
                Decision::Wait(w) | Decision::Refused(w) | Decision::BackingOff(w) | Decision::Capped(w) => w.as_str(),
                Decision::Act => "",
            };
            out.push_str(&format!(
                "  {:<17} {}: {why}\n",
                e.action.action.as_str(),
                e.action.describe()
            ));
        }
    }
    if !acts.is_empty() {
        out.push_str(&format!("DIGEST: {digest}\nApply exactly this plan with: kube-garbage-audit remediate --confirm {digest} (same flags)\n"));
    }
    out
}

pub async fn run(args: RemediateArgs) -> ExitCode {
    if let Err(e) = init_logging(&args.audit) {
        return cannot_run(e);
    }
    match remediate(args).await {
        Ok(code) => code,
        Err(e) => cannot_run(e),
    }
}

async fn remediate(args: RemediateArgs) -> anyhow::Result<ExitCode> {
    let api = ClusterApi::connect(&args.cluster.connection(), args.audit.limits())
        .await
        .context("connecting to the cluster")?;
    api.server_version().await.context("reaching the API server")?;
    let mut auditor = auditor(api.clone(), &args.audit)?;
    auditor.one_shot = true;
    let report = auditor.scan_once().await;
    let mut policy = crate::remediation::setup::policy(&args.remediation, &args.audit);
    // The human's confirmation stands in for the daemon's consecutive rounds.
    policy.min_rounds = 1;
    policy.mode = if args.confirm.is_some() {
        Mode::Enforce
    } else {
        Mode::Off
    };
    let now = jiff::Timestamp::now();
    let plan = Queue::default().plan(&policy, candidates(&report, now), &incomplete_because(&report), now);
    let digest = plan_digest(plan.to_act().map(|e| &e.action));
    let kubeconfig = args.cluster.kubeconfig.as_ref().map(|p| p.display().to_string());

    let Some(confirm) = &args.confirm else {
        match args.output {
            RemediateOutput::Json => println!(
                "{}",
                serde_json::to_string_pretty(&Printed {
                    digest,
                    plan: &plan,
                    results: vec![]
                })?
            ),
            RemediateOutput::Table => print!("{}", table(&plan, &digest, kubeconfig.as_deref())),
        }
        return Ok(ExitCode::from(exit::CLEAN));
    };
    if *confirm != digest {
        eprintln!(
            "error: --confirm {confirm} does not match the current plan ({digest}): the cluster changed since the plan was shown (or the flags differ). Nothing was written; run `remediate` again and review the new plan."
        );
        return Ok(ExitCode::from(exit::CANNOT_RUN));
    }
    if plan.to_act().next().is_none() {
        eprintln!("error: the plan is empty; nothing to apply");
        return Ok(ExitCode::from(exit::CANNOT_RUN));
    }
    let executor = Executor::new(
        ClusterWriter::new(api.client(), args.audit.request_timeout),
        Mode::Enforce,
    );
    let mut results = Vec::new();
    for entry in plan.to_act() {
        results.push(executor.attempt(&entry.key, &entry.action).await);
    }
    let all_applied = results.iter().all(|r| r.result == ResultKind::Applied);
    match args.output {
        RemediateOutput::Json => println!(
            "{}",
            serde_json::to_string_pretty(&Printed {
                digest,
                plan: &plan,
                results
            })?
        ),
        RemediateOutput::Table => {
            for r in &results {
                println!("{:<8} {} — {}", r.result.as_str(), r.action.describe(), r.detail);
            }
        }
    }
    Ok(ExitCode::from(if all_applied { exit::CLEAN } else { exit::FINDINGS }))
}
