//! Kubeconfig for clients (kubectl, kube-rs) pointed at the simulator.

pub const CONTEXT: &str = "kube-sim";
pub const TOKEN: &str = "kube-sim-dummy-token";

pub fn render(server_url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: {server_url}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: default
current-context: {CONTEXT}
users:
- name: {CONTEXT}
  user:
    token: {TOKEN}
preferences: {{}}
"
    )
}
