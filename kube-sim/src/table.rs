//! Server-side printing: `meta.k8s.io/v1` `Table` responses with the column definitions and
//! cells of upstream's printers (pkg/printers/internalversion), the default table convertor
//! (NAME, CREATED AT) and the custom-resource convertor (`additionalPrinterColumns`).
use crate::registry::ResourceType;
use crate::schemas::{self, OBJECT_META};
use serde_json::{json, Map, Value};

/// `includeObject` of TableOptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(v: Option<&str>) -> Result<IncludeObject, String> {
        match v.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(format!(
                "includeObject: Unsupported value: \"{other}\": supported values: \"Metadata\", \"None\", \"Object\""
            )),
        }
    }
}

/// One `TableColumnDefinition`.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
}

impl Column {
    fn new(name: &str, kind: &str, description: impl Into<String>) -> Column {
        Column {
            name: name.into(),
            kind: kind.into(),
            format: String::new(),
            description: description.into(),
            priority: 0,
        }
    }
    fn wide(mut self) -> Column {
        self.priority = 1;
        self
    }
    fn to_json(&self) -> Value {
        json!({"name": self.name, "type": self.kind, "format": self.format,
               "description": self.description, "priority": self.priority})
    }
}

/// A printer column of a CRD version (`additionalPrinterColumns`).
#[derive(Debug, Clone)]
struct CrColumn {
    column: Column,
    json_path: String,
}

/// How the rows of one resource are printed.
#[derive(Debug, Clone)]
pub enum Printer {
    Namespace,
    Pod,
    Deployment,
    ReplicaSet,
    Hpa,
    ConfigMap,
    Secret,
    Service,
    ServiceAccount,
    ApiService,
    /// rest.NewDefaultTableConvertor: NAME, CREATED AT.
    Default,
    Custom(Vec<CrColumnDef>),
}

/// Public form of a CRD printer column.
#[derive(Debug, Clone)]
pub struct CrColumnDef(CrColumn);

fn meta_desc(prop: &str) -> String {
    schemas::builtin().description(OBJECT_META, prop)
}

fn desc(def: &str, prop: &str) -> String {
    schemas::builtin().description(def, prop)
}

fn name_column() -> Column {
    let mut c = Column::new("Name", "string", meta_desc("name"));
    c.format = "name".into();
    c
}

fn age_column() -> Column {
    Column::new("Age", "string", meta_desc("creationTimestamp"))
}

const CORE: &str = "io.k8s.api.core.v1.";

impl Printer {
    /// The printer for a resource; `crd` is the CRD object for custom resources.
    pub fn for_resource(rt: &ResourceType, crd: Option<&Value>) -> Printer {
        if rt.is_crd {
            return Printer::Custom(crd_columns(crd, &rt.version));
        }
        match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "namespaces") => Printer::Namespace,
            ("", "pods") => Printer::Pod,
            ("apps", "deployments") => Printer::Deployment,
            ("apps", "replicasets") => Printer::ReplicaSet,
            ("autoscaling", "horizontalpodautoscalers") => Printer::Hpa,
            ("", "configmaps") => Printer::ConfigMap,
            ("", "secrets") => Printer::Secret,
            ("", "services") => Printer::Service,
            ("", "serviceaccounts") => Printer::ServiceAccount,
            ("apiregistration.k8s.io", "apiservices") => Printer::ApiService,
            _ => Printer::Default,
        }
    }

    pub fn columns(&self) -> Vec<Column> {
        let core = |t: &str| format!("{CORE}{t}");
        match self {
            Printer::Namespace => vec![
                name_column(),
                Column::new("Status", "string", "The status of the namespace"),
                age_column(),
            ],
            Printer::Pod => vec![
                name_column(),
                Column::new("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
                Column::new("Status", "string", "The aggregate status of the containers in this pod."),
                Column::new(
                    "Restarts",
                    "string",
                    "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                ),
                age_column(),
                Column::new("IP", "string", desc(&core("PodStatus"), "podIP")).wide(),
                Column::new("Node", "string", desc(&core("PodSpec"), "nodeName")).wide(),
                Column::new("Nominated Node", "string", desc(&core("PodStatus"), "nominatedNodeName")).wide(),
                Column::new("Readiness Gates", "string", desc(&core("PodSpec"), "readinessGates")).wide(),
            ],
            Printer::Deployment => vec![
                name_column(),
                Column::new("Ready", "string", "Number of the pod with ready state"),
                Column::new(
                    "Up-to-date",
                    "string",
                    desc("io.k8s.api.apps.v1.DeploymentStatus", "updatedReplicas"),
                ),
                Column::new(
                    "Available",
                    "string",
                    desc("io.k8s.api.apps.v1.DeploymentStatus", "availableReplicas"),
                ),
                age_column(),
                Column::new("Containers", "string", "Names of each container in the template.").wide(),
                Column::new("Images", "string", "Images referenced by each container in the template.").wide(),
                Column::new("Selector", "string", desc("io.k8s.api.apps.v1.DeploymentSpec", "selector")).wide(),
            ],
            Printer::ReplicaSet => vec![
                name_column(),
                Column::new("Desired", "integer", desc("io.k8s.api.apps.v1.ReplicaSetSpec", "replicas")),
                Column::new("Current", "integer", desc("io.k8s.api.apps.v1.ReplicaSetStatus", "replicas")),
                Column::new("Ready", "integer", desc("io.k8s.api.apps.v1.ReplicaSetStatus", "readyReplicas")),
                age_column(),
                Column::new("Containers", "string", "Names of each container in the template.").wide(),
                Column::new("Images", "string", "Images referenced by each container in the template.").wide(),
                Column::new("Selector", "string", desc("io.k8s.api.apps.v1.ReplicaSetSpec", "selector")).wide(),
            ],
            Printer::Hpa => {
                let spec = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec";
                let status = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus";
                vec![
                    name_column(),
                    Column::new("Reference", "string", desc(spec, "scaleTargetRef")),
                    Column::new("Targets", "string", desc(spec, "metrics")),
                    Column::new("MinPods", "string", desc(spec, "minReplicas")),
                    Column::new("MaxPods", "string", desc(spec, "maxReplicas")),
                    Column::new("Replicas", "string", desc(status, "currentReplicas")),
                    age_column(),
                ]
            }
            Printer::ConfigMap => vec![
                name_column(),
                Column::new("Data", "string", desc(&core("ConfigMap"), "data")),
                age_column(),
            ],
            Printer::Secret => vec![
                name_column(),
                Column::new("Type", "string", desc(&core("Secret"), "type")),
                Column::new("Data", "string", desc(&core("Secret"), "data")),
                age_column(),
            ],
            Printer::Service => vec![
                name_column(),
                Column::new("Type", "string", desc(&core("ServiceSpec"), "type")),
                Column::new("Cluster-IP", "string", desc(&core("ServiceSpec"), "clusterIP")),
                Column::new("External-IP", "string", desc(&core("ServiceStatus"), "loadBalancer")),
                Column::new("Port(s)", "string", desc(&core("ServiceSpec"), "ports")),
                age_column(),
                Column::new("Selector", "string", desc(&core("ServiceSpec"), "selector")).wide(),
            ],
            Printer::ServiceAccount => vec![
                name_column(),
                Column::new("Secrets", "string", desc(&core("ServiceAccount"), "secrets")),
                age_column(),
            ],
            Printer::ApiService => vec![
                name_column(),
                Column::new("Service", "string", "The reference to the service that hosts this API endpoint."),
                Column::new("Available", "string", "Whether this service is available."),
                age_column(),
            ],
            Printer::Default => {
                vec![name_column(), Column::new("Created At", "date", meta_desc("creationTimestamp"))]
            }
            Printer::Custom(cols) => {
                let mut out = vec![name_column()];
                out.extend(cols.iter().map(|c| c.0.column.clone()));
                out
            }
        }
    }

    /// The cells of one row.
    pub fn cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        let name = json!(obj["metadata"]["name"].as_str().unwrap_or_default());
        let age = json!(age_of(&obj["metadata"]["creationTimestamp"], now));
        match self {
            Printer::Namespace => vec![name, json!(obj["status"]["phase"].as_str().unwrap_or_default()), age],
            Printer::Pod => pod_cells(obj, now, name, age),
            Printer::Deployment => {
                let (containers, images) = template_containers(&obj["spec"]["template"]);
                vec![
                    name,
                    json!(format!(
                        "{}/{}",
                        int(&obj["status"]["readyReplicas"]),
                        obj["spec"]["replicas"].as_i64().unwrap_or(1)
                    )),
                    json!(int(&obj["status"]["updatedReplicas"])),
                    json!(int(&obj["status"]["availableReplicas"])),
                    age,
                    json!(containers),
                    json!(images),
                    json!(selector_string(&obj["spec"]["selector"])),
                ]
            }
            Printer::ReplicaSet => {
                let (containers, images) = template_containers(&obj["spec"]["template"]);
                vec![
                    name,
                    json!(obj["spec"]["replicas"].as_i64().unwrap_or(1)),
                    json!(int(&obj["status"]["replicas"])),
                    json!(int(&obj["status"]["readyReplicas"])),
                    age,
                    json!(containers),
                    json!(images),
                    json!(selector_string(&obj["spec"]["selector"])),
                ]
            }
            Printer::Hpa => {
                let r = &obj["spec"]["scaleTargetRef"];
                let min = match obj["spec"]["minReplicas"].as_i64() {
                    Some(m) => json!(m),
                    None => json!("<unset>"),
                };
                vec![
                    name,
                    json!(format!(
                        "{}/{}",
                        r["kind"].as_str().unwrap_or_default(),
                        r["name"].as_str().unwrap_or_default()
                    )),
                    json!(hpa_metrics(obj)),
                    min,
                    json!(int(&obj["spec"]["maxReplicas"])),
                    json!(int(&obj["status"]["currentReplicas"])),
                    age,
                ]
            }
            Printer::ConfigMap => vec![name, json!(len(&obj["data"]) + len(&obj["binaryData"])), age],
            Printer::Secret => vec![
                name,
                json!(obj["type"].as_str().unwrap_or_default()),
                json!(len(&obj["data"])),
                age,
            ],
            Printer::Service => service_cells(obj, name, age),
            Printer::ServiceAccount => vec![name, json!(len(&obj["secrets"])), age],
            Printer::ApiService => {
                let svc = &obj["spec"]["service"];
                let service = if svc.is_object() {
                    format!(
                        "{}/{}",
                        svc["namespace"].as_str().unwrap_or_default(),
                        svc["name"].as_str().unwrap_or_default()
                    )
                } else {
                    "Local".to_string()
                };
                let available = obj["status"]["conditions"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["type"] == "Available"))
                    .map(|c| {
                        let s = c["status"].as_str().unwrap_or_default();
                        match c["reason"].as_str() {
                            Some(r) if s != "True" && !r.is_empty() => format!("{s} ({r})"),
                            _ => s.to_string(),
                        }
                    })
                    .unwrap_or_else(|| "Unknown".to_string());
                vec![name, json!(service), json!(available), age]
            }
            Printer::Default => vec![name, obj["metadata"]["creationTimestamp"].clone()],
            Printer::Custom(cols) => {
                let mut out = vec![name];
                for c in cols {
                    out.push(cr_cell(&c.0, obj, now));
                }
                out
            }
        }
    }

    /// Row conditions (upstream marks finished pods `Completed`).
    fn conditions(&self, obj: &Value) -> Option<Value> {
        if !matches!(self, Printer::Pod) {
            return None;
        }
        let (reason, message) = match obj["status"]["phase"].as_str() {
            Some("Succeeded") => ("Succeeded", "The pod has completed successfully."),
            Some("Failed") => ("Failed", "The pod failed."),
            _ => return None,
        };
        Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn len(v: &Value) -> usize {
    match v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    }
}

fn parse_time(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str()?.parse::<jiff::Timestamp>().ok()
}

/// `translateTimestampSince`: a human duration, `<unknown>` without a timestamp.
pub fn age_of(ts: &Value, now: jiff::Timestamp) -> String {
    match parse_time(ts) {
        Some(t) => {
            let d = now.duration_since(t);
            human_duration(d.as_secs(), d.as_nanos() < 0)
        }
        None => "<unknown>".to_string(),
    }
}

/// apimachinery's `duration.HumanDuration`, from whole seconds.
pub fn human_duration(seconds: i64, negative: bool) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 || (negative && seconds == 0) {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{}h", hours / 24, h)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{}d", hours / 24 / 365, dy)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn template_containers(template: &Value) -> (String, String) {
    let cs = template["spec"]["containers"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = cs.iter().filter_map(|c| c["name"].as_str()).collect();
    let images: Vec<&str> = cs.iter().filter_map(|c| c["image"].as_str()).collect();
    (names.join(","), images.join(","))
}

/// `metav1.FormatLabelSelector`.
fn selector_string(sel: &Value) -> String {
    if !sel.is_object() {
        return "<none>".into();
    }
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = sel["matchLabels"].as_object() {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for k in keys {
            parts.push(format!("{k}={}", m[k].as_str().unwrap_or_default()));
        }
    }
    if let Some(exprs) = sel["matchExpressions"].as_array() {
        for e in exprs {
            let key = e["key"].as_str().unwrap_or_default();
            let vals: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let s = match e["operator"].as_str().unwrap_or_default() {
                "In" => format!("{key} in ({})", vals.join(",")),
                "NotIn" => format!("{key} notin ({})", vals.join(",")),
                "Exists" => key.to_string(),
                "DoesNotExist" => format!("!{key}"),
                op => format!("{key} {op} ({})", vals.join(",")),
            };
            parts.push(s);
        }
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

fn pod_cells(obj: &Value, now: jiff::Timestamp, name: Value, age: Value) -> Vec<Value> {
    let spec = &obj["spec"];
    let status = &obj["status"];
    let total = len(&spec["containers"]);
    let mut ready = 0;
    let mut restarts: i64 = 0;
    let mut last_restart: Option<jiff::Timestamp> = None;
    let mut note_restart = |cs: &Value| {
        if let Some(t) = parse_time(&cs["lastState"]["terminated"]["finishedAt"]) {
            if last_restart.is_none_or(|l| t > l) {
                last_restart = Some(t);
            }
        }
    };
    let mut reason = status["phase"].as_str().unwrap_or_default().to_string();
    if let Some(r) = status["reason"].as_str().filter(|r| !r.is_empty()) {
        reason = r.to_string();
    }
    if status["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated")
    }) {
        reason = "SchedulingGated".into();
    }
    let init_specs = spec["initContainers"].as_array().cloned().unwrap_or_default();
    let mut initializing = false;
    let mut sidecar_restarts: i64 = 0;
    for (i, cs) in status["initContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let rc = int(&cs["restartCount"]);
        restarts += rc;
        note_restart(cs);
        let restartable = init_specs.get(i).is_some_and(|s| s["restartPolicy"] == "Always");
        if restartable {
            sidecar_restarts += rc;
        }
        let term = &cs["state"]["terminated"];
        let wait = &cs["state"]["waiting"];
        if term.is_object() && int(&term["exitCode"]) == 0 {
            continue;
        }
        if restartable && cs["started"] == true {
            continue;
        }
        if term.is_object() {
            reason = match term["reason"].as_str().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None if int(&term["signal"]) != 0 => format!("Init:Signal:{}", int(&term["signal"])),
                None => format!("Init:ExitCode:{}", int(&term["exitCode"])),
            };
        } else if let Some(r) = wait["reason"]
            .as_str()
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    let initialized = status["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Initialized" && c["status"] == "True"));
    if !initializing || initialized {
        restarts = sidecar_restarts;
        let mut has_running = false;
        let statuses = status["containerStatuses"].as_array().cloned().unwrap_or_default();
        for cs in statuses.iter().rev() {
            restarts += int(&cs["restartCount"]);
            note_restart(cs);
            let term = &cs["state"]["terminated"];
            let wait = &cs["state"]["waiting"];
            if let Some(r) = wait["reason"].as_str().filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(r) = term["reason"].as_str().filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if term.is_object() {
                reason = if int(&term["signal"]) != 0 {
                    format!("Signal:{}", int(&term["signal"]))
                } else {
                    format!("ExitCode:{}", int(&term["exitCode"]))
                };
            } else if cs["ready"] == true && cs["state"]["running"].is_object() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = status["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }
    let deleting = obj["metadata"]["deletionTimestamp"].is_string();
    let phase = status["phase"].as_str().unwrap_or_default();
    if deleting && status["reason"] == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }
    let restarts_str = match last_restart {
        Some(t) => format!("{restarts} ({} ago)", age_of(&json!(t.to_string()), now)),
        None => restarts.to_string(),
    };
    let none = |v: Option<&str>| v.filter(|s| !s.is_empty()).unwrap_or("<none>").to_string();
    let ip = none(
        status["podIPs"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|p| p["ip"].as_str())
            .or_else(|| status["podIP"].as_str()),
    );
    let gates = match spec["readinessGates"].as_array().filter(|g| !g.is_empty()) {
        Some(gates) => {
            let conds = status["conditions"].as_array().cloned().unwrap_or_default();
            let true_count = gates
                .iter()
                .filter(|g| {
                    conds
                        .iter()
                        .any(|c| c["type"] == g["conditionType"] && c["status"] == "True")
                })
                .count();
            format!("{true_count}/{}", gates.len())
        }
        None => "<none>".into(),
    };
    vec![
        name,
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_str),
        age,
        json!(ip),
        json!(none(spec["nodeName"].as_str())),
        json!(none(status["nominatedNodeName"].as_str())),
        json!(gates),
    ]
}

fn service_cells(obj: &Value, name: Value, age: Value) -> Vec<Value> {
    let spec = &obj["spec"];
    let svc_type = spec["type"].as_str().unwrap_or("ClusterIP");
    let cluster_ip = spec["clusterIPs"]
        .as_array()
        .filter(|a| !a.is_empty())
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
        .or_else(|| spec["clusterIP"].as_str().map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".into());
    let lb_ips: Vec<String> = obj["status"]["loadBalancer"]["ingress"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["ip"].as_str().or_else(|| i["hostname"].as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let external: Vec<String> = spec["externalIPs"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let external_ip = match svc_type {
        "ClusterIP" | "NodePort" if !external.is_empty() => external.join(","),
        "ClusterIP" | "NodePort" => "<none>".into(),
        "LoadBalancer" => {
            let mut all = lb_ips.clone();
            all.extend(external);
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => spec["externalName"].as_str().unwrap_or_default().to_string(),
        _ => "<unknown>".into(),
    };
    let ports: Vec<String> = spec["ports"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64().filter(|n| *n != 0) {
                        Some(np) => format!("{}:{np}/{proto}", int(&p["port"])),
                        None => format!("{}/{proto}", int(&p["port"])),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    let selector = match spec["selector"].as_object().filter(|m| !m.is_empty()) {
        Some(m) => {
            let mut kv: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            kv.sort();
            kv.join(",")
        }
        None => "<none>".into(),
    };
    vec![
        name,
        json!(svc_type),
        json!(cluster_ip),
        json!(external_ip),
        json!(ports),
        age,
        json!(selector),
    ]
}

fn quantity(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// `formatHPAMetrics` (autoscaling/v2 shape; autoscaling/v1's targetCPUUtilizationPercentage too).
fn hpa_metrics(obj: &Value) -> String {
    let spec = &obj["spec"];
    let mut list: Vec<String> = Vec::new();
    if let Some(pct) = spec["targetCPUUtilizationPercentage"].as_i64() {
        let current = obj["status"]["currentCPUUtilizationPercentage"]
            .as_i64()
            .map(|c| format!("{c}%"))
            .unwrap_or_else(|| "<unknown>".into());
        return format!("cpu: {current}/{pct}%");
    }
    let Some(specs) = spec["metrics"].as_array().filter(|m| !m.is_empty()) else {
        return "<none>".into();
    };
    let statuses = obj["status"]["currentMetrics"].as_array().cloned().unwrap_or_default();
    let unknown = || "<unknown>".to_string();
    for (i, m) in specs.iter().enumerate() {
        let st = statuses.get(i).cloned().unwrap_or(Value::Null);
        let entry = match m["type"].as_str().unwrap_or_default() {
            "Resource" | "ContainerResource" => {
                let key = if m["type"] == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let r = &m[key];
                let cur = &st[key]["current"];
                if r["target"]["averageValue"].is_string() {
                    let c = if cur.is_object() {
                        quantity(&cur["averageValue"])
                    } else {
                        unknown()
                    };
                    format!("{c}/{}", quantity(&r["target"]["averageValue"]))
                } else {
                    let c = cur["averageUtilization"]
                        .as_i64()
                        .map(|u| format!("{u}%"))
                        .unwrap_or_else(unknown);
                    let t = r["target"]["averageUtilization"]
                        .as_i64()
                        .map(|u| format!("{u}%"))
                        .unwrap_or_else(|| "<auto>".into());
                    format!("{}: {c}/{t}", r["name"].as_str().unwrap_or_default())
                }
            }
            "Pods" => {
                let c = st["pods"]["current"]["averageValue"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(unknown);
                format!("{c}/{}", quantity(&m["pods"]["target"]["averageValue"]))
            }
            "Object" | "External" => {
                let key = if m["type"] == "Object" { "object" } else { "external" };
                let t = &m[key]["target"];
                let cur = &st[key]["current"];
                if t["value"].is_string() {
                    let c = cur["value"].as_str().map(str::to_string).unwrap_or_else(unknown);
                    format!("{c}/{}", quantity(&t["value"]))
                } else {
                    let c = cur["averageValue"].as_str().map(str::to_string).unwrap_or_else(unknown);
                    format!("{c}/{} (avg)", quantity(&t["averageValue"]))
                }
            }
            _ => "<unknown type>".into(),
        };
        list.push(entry);
    }
    if list.len() > 2 {
        let more = list.len() - 2;
        format!("{} + {more} more...", list[..2].join(", "))
    } else {
        list.join(", ")
    }
}

fn crd_columns(crd: Option<&Value>, version: &str) -> Vec<CrColumnDef> {
    let cols: Vec<Value> = crd
        .and_then(|c| c["spec"]["versions"].as_array())
        .and_then(|vs| vs.iter().find(|v| v["name"] == version))
        .and_then(|v| v["additionalPrinterColumns"].as_array().cloned())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| {
            vec![
                json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                        "description": meta_desc("creationTimestamp")}),
            ]
        });
    cols.iter()
        .map(|c| {
            let json_path = c["jsonPath"].as_str().unwrap_or_default().to_string();
            let description = c["description"]
                .as_str()
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| format!("Custom resource definition column (in JSONPath format): {json_path}"));
            CrColumnDef(CrColumn {
                column: Column {
                    name: c["name"].as_str().unwrap_or_default().into(),
                    kind: c["type"].as_str().unwrap_or("string").into(),
                    format: c["format"].as_str().unwrap_or_default().into(),
                    description,
                    priority: c["priority"].as_i64().unwrap_or(0) as i32,
                },
                json_path,
            })
        })
        .collect()
}

/// A minimal JSONPath (`.a.b`, `[N]`, `[*]`, `[?(@.k=="v")]`) returning the first match.
pub fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let p = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur = vec![obj];
    let mut rest = p.trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            cur = cur.into_iter().filter_map(|v| v.get(key)).collect();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if inner == "*" {
                cur = cur.into_iter().filter_map(Value::as_array).flatten().collect();
            } else if let Ok(i) = inner.parse::<usize>() {
                cur = cur.into_iter().filter_map(|v| v.get(i)).collect();
            } else if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (k, want) = f.split_once("==")?;
                let want = want.trim().trim_matches('"').trim_matches('\'');
                let k = k.trim();
                cur = cur
                    .into_iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter(|item| match item.get(k) {
                        Some(Value::String(s)) => s == want,
                        Some(other) => *other == serde_json::from_str::<Value>(want).unwrap_or(Value::Null),
                        None => false,
                    })
                    .collect();
            } else {
                return None;
            }
        } else {
            return None;
        }
    }
    cur.into_iter().next()
}

fn cr_cell(col: &CrColumn, obj: &Value, now: jiff::Timestamp) -> Value {
    let Some(v) = json_path(obj, &col.json_path) else {
        return Value::Null;
    };
    match col.column.kind.as_str() {
        "date" => match v.as_str() {
            Some(s) if parse_time(v).is_some() => json!(age_of(&json!(s), now)),
            _ => json!("<invalid>"),
        },
        "integer" => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map_or(Value::Null, |i| json!(i)),
        "number" => v.as_f64().map_or(Value::Null, |f| json!(f)),
        "boolean" => v.as_bool().map_or(Value::Null, |b| json!(b)),
        _ => match v {
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        },
    }
}

/// The row's `object` per includeObject.
fn row_object(obj: &Value, include: IncludeObject) -> Option<Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Metadata => Some(crate::media::partial(obj)),
        IncludeObject::Object => Some(obj.clone()),
    }
}

/// Build a Table. `meta` is the ListMeta (or `{resourceVersion}` of a single object).
pub fn build(
    printer: &Printer,
    objects: &[Value],
    meta: Map<String, Value>,
    include: IncludeObject,
    api_version: &str,
    with_headers: bool,
    now: jiff::Timestamp,
) -> Value {
    let columns: Vec<Value> = if with_headers {
        printer.columns().iter().map(Column::to_json).collect()
    } else {
        vec![]
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(printer.cells(o, now)));
            if let Some(c) = printer.conditions(o) {
                row.insert("conditions".into(), c);
            }
            if let Some(obj) = row_object(o, include) {
                row.insert("object".into(), obj);
            }
            Value::Object(row)
        })
        .collect();
    json!({"kind": "Table", "apiVersion": api_version, "metadata": meta,
           "columnDefinitions": columns, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn now() -> jiff::Timestamp {
        "2025-01-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn human_durations_match_upstream() {
        assert_eq!(human_duration(5, false), "5s");
        assert_eq!(human_duration(119, false), "119s");
        assert_eq!(human_duration(150, false), "2m30s");
        assert_eq!(human_duration(11 * 60, false), "11m");
        assert_eq!(human_duration(3 * 3600, false), "3h");
        assert_eq!(human_duration(3 * 3600 + 120, false), "3h2m");
        assert_eq!(human_duration(20 * 3600, false), "20h");
        assert_eq!(human_duration(3 * 86400 + 3600, false), "3d1h");
        assert_eq!(human_duration(20 * 86400, false), "20d");
        assert_eq!(human_duration(-5, true), "<invalid>");
    }

    #[test]
    fn namespace_table() {
        let rt = Registry::builtin().resolve("", "v1", "namespaces").unwrap();
        let p = Printer::for_resource(&rt, None);
        let ns = json!({"metadata": {"name": "aibrix-system", "creationTimestamp": "2025-01-01T09:00:00Z", "resourceVersion": "7"},
                        "status": {"phase": "Terminating"}});
        let t = build(
            &p,
            &[ns],
            Map::new(),
            IncludeObject::Metadata,
            "meta.k8s.io/v1",
            true,
            now(),
        );
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Status", "Age"]);
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(t["rows"][0]["cells"], json!(["aibrix-system", "Terminating", "3h"]));
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn hpa_cells() {
        let rt = Registry::builtin()
            .resolve("autoscaling", "v2", "horizontalpodautoscalers")
            .unwrap();
        let p = Printer::for_resource(&rt, None);
        let hpa = json!({"metadata": {"name": "llama-3-8b-hpa", "creationTimestamp": "2024-12-12T12:00:00Z"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "llama-3-8b"}, "minReplicas": 1, "maxReplicas": 4,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}});
        assert_eq!(
            p.cells(&hpa, now()),
            vec![
                json!("llama-3-8b-hpa"),
                json!("Deployment/llama-3-8b"),
                json!("cpu: <unknown>/50%"),
                json!(1),
                json!(4),
                json!(0),
                json!("20d")
            ]
        );
        let cols: Vec<String> = p.columns().iter().map(|c| c.name.to_uppercase()).collect();
        assert_eq!(
            cols,
            ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
        );
    }

    #[test]
    fn pod_status_and_wide_cells() {
        let rt = Registry::builtin().resolve("", "v1", "pods").unwrap();
        let p = Printer::for_resource(&rt, None);
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": "2025-01-01T11:00:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                 "lastState": {"terminated": {"finishedAt": "2025-01-01T11:55:00Z"}}},
                {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        let c = p.cells(&pod, now());
        assert_eq!(c[1], "1/2");
        assert_eq!(c[2], "CrashLoopBackOff");
        assert_eq!(c[3], "2 (5m ago)");
        assert_eq!(c[4], "60m");
        assert_eq!(c[5], "<none>");
        assert_eq!(c[6], "n1");
    }

    #[test]
    fn custom_resource_columns() {
        let crd = json!({"spec": {"versions": [{"name": "v1", "additionalPrinterColumns": [
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1}]}]}});
        let rt = crate::registry::ResourceType {
            group: "x.io".into(),
            version: "v1".into(),
            plural: "things".into(),
            singular: "thing".into(),
            kind: "Thing".into(),
            namespaced: true,
            verbs: vec![],
            subresources: vec![],
            is_crd: true,
        };
        let p = Printer::for_resource(&rt, Some(&crd));
        let cols = p.columns();
        assert_eq!(cols.len(), 4);
        assert_eq!(
            cols[1].description,
            "Custom resource definition column (in JSONPath format): .status.phase"
        );
        let obj = json!({"metadata": {"name": "t"}, "spec": {"replicas": 3},
            "status": {"phase": "Up", "conditions": [{"type": "X", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(
            p.cells(&obj, now()),
            vec![json!("t"), json!("Up"), json!("True"), json!(3)]
        );
        let p = Printer::for_resource(&rt, None);
        let cols = p.columns();
        assert_eq!((cols[1].name.as_str(), cols[1].kind.as_str()), ("Age", "date"));
        let obj = json!({"metadata": {"name": "t", "creationTimestamp": "2025-01-01T11:59:00Z"}});
        assert_eq!(p.cells(&obj, now()), vec![json!("t"), json!("60s")]);
    }
}
