//! The Kubernetes manifests in `deploy/k8s` agree with the code: every manifest is listed in
//! the kustomization, probe paths answer on the real routers, ports agree with each other
//! and with the listen addresses, env names are ones the programs read, and the rollout
//! and shutdown settings keep requests from failing during a deploy.
//!
//! `check` collects every problem; `mutations_are_caught` breaks the manifests in memory
//! one way at a time and proves that `check` notices each. The NetworkPolicies have a
//! module of their own (`network`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::TestApp;

mod network;

/// Marks the values of the Secret template; the server must refuse such a `JWT_SECRET`.
const PLACEHOLDER: &str = "REPLACE_ME";
/// PostgreSQL's defaults: `max_connections` and `superuser_reserved_connections`.
const PG_DEFAULT_MAX_CONNECTIONS: u64 = 100;
const PG_RESERVED_CONNECTIONS: u64 = 3;
/// The app should fit in this (issue #4: about 150-256 MiB).
const APP_MEMORY_LIMIT_MAX: u64 = 256 * 1024 * 1024;

const APP_BINARY: &str = "/app/server";
const PAYGATE_BINARY: &str = "/app/paygate";
/// The image the Dockerfile builds, as the manifests name it.
const IMAGE: &str = "coupan";

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s")
}

#[derive(Clone, Debug)]
struct Doc {
    file: String,
    value: Value,
}

/// The kustomization and every YAML document of the other files in the folder.
#[derive(Clone, Debug)]
struct Manifests {
    /// YAML files in the folder (without the kustomization).
    files: BTreeSet<String>,
    kustomization: Value,
    docs: Vec<Doc>,
}

fn parse_yaml(file: &str, text: &str) -> Vec<Doc> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| {
            Value::deserialize(doc).unwrap_or_else(|e| panic!("{file} is not valid YAML: {e}"))
        })
        .filter(|v| !v.is_null())
        .map(|value| Doc {
            file: file.to_string(),
            value,
        })
        .collect()
}

fn load() -> Manifests {
    let dir = k8s_dir();
    let mut files = BTreeSet::new();
    let mut docs = Vec::new();
    let mut kustomization = None;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = parse_yaml(&name, &text);
        if name == "kustomization.yaml" || name == "kustomization.yml" {
            assert_eq!(parsed.len(), 1, "{name}: one document");
            kustomization = Some(parsed.into_iter().next().unwrap().value);
        } else {
            assert!(!parsed.is_empty(), "{name} has no document");
            files.insert(name);
            docs.extend(parsed);
        }
    }
    Manifests {
        files,
        kustomization: kustomization.expect("deploy/k8s has a kustomization.yaml"),
        docs,
    }
}

// ---------------------------------------------------------------------------------------
// Small readers
// ---------------------------------------------------------------------------------------

fn s(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn u(v: &Value, pointer: &str) -> Option<u64> {
    match v.pointer(pointer)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn arr<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn kind(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or("")
}

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or("")
}

/// Memory quantity (`256Mi`, `1Gi`, `500M`, bytes) in bytes.
fn bytes(q: &str) -> Option<u64> {
    let units: [(&str, u64); 6] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("K", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().ok().map(|n| n * factor);
        }
    }
    q.parse().ok()
}

/// A container and the workload it belongs to.
struct Container<'a> {
    workload: &'a Value,
    pod: &'a Value,
    container: &'a Value,
}

impl Manifests {
    fn find(&self, kind_: &str, name_: &str) -> Option<&Value> {
        self.docs
            .iter()
            .map(|d| &d.value)
            .find(|v| kind(v) == kind_ && name(v) == name_)
    }

    fn of_kind<'a>(&'a self, kind_: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.docs
            .iter()
            .map(|d| &d.value)
            .filter(move |v| kind(v) == kind_)
    }

    fn workloads(&self) -> impl Iterator<Item = &Value> {
        self.docs.iter().map(|d| &d.value).filter(|v| {
            matches!(
                kind(v),
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job"
            )
        })
    }

    /// Containers whose command runs `binary`.
    fn containers_running(&self, binary: &str) -> Vec<Container<'_>> {
        let mut found = Vec::new();
        for workload in self.workloads() {
            let pod = &workload["spec"]["template"]["spec"];
            for container in arr(pod, "/containers") {
                if s(container, "/command/0").as_deref() == Some(binary) {
                    found.push(Container {
                        workload,
                        pod,
                        container,
                    });
                }
            }
        }
        found
    }

    /// Services whose selector picks the workload's pods.
    fn services_for(&self, workload: &Value) -> Vec<&Value> {
        let labels = &workload["spec"]["template"]["metadata"]["labels"];
        self.of_kind("Service")
            .filter(|svc| selects(svc, labels))
            .collect()
    }

    /// Value of `key` in the ConfigMap or Secret `name_` (Secrets: `stringData` only).
    fn config_value(&self, kind_: &str, name_: &str, key: &str) -> Option<String> {
        let doc = self.find(kind_, name_)?;
        s(doc, &format!("/data/{key}")).or_else(|| s(doc, &format!("/stringData/{key}")))
    }
}

fn selects(service: &Value, labels: &Value) -> bool {
    let Some(selector) = service["spec"]["selector"].as_object() else {
        return false;
    };
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Every environment variable a container gets, with its value where the manifests say it.
/// Broken references are reported in `problems`.
fn container_env(
    m: &Manifests,
    c: &Value,
    what: &str,
    problems: &mut Vec<String>,
) -> BTreeMap<String, Option<String>> {
    let mut env = BTreeMap::new();
    for source in arr(c, "/envFrom") {
        let prefix = s(source, "/prefix").unwrap_or_default();
        let (kind_, reference) = if source.get("configMapRef").is_some() {
            ("ConfigMap", s(source, "/configMapRef/name"))
        } else {
            ("Secret", s(source, "/secretRef/name"))
        };
        let reference = reference.unwrap_or_default();
        let Some(doc) = m.find(kind_, &reference) else {
            problems.push(format!(
                "{what}: envFrom {kind_} {reference:?} is not in deploy/k8s"
            ));
            continue;
        };
        for field in ["data", "stringData"] {
            if let Some(map) = doc[field].as_object() {
                for key in map.keys() {
                    env.insert(
                        format!("{prefix}{key}"),
                        m.config_value(kind_, &reference, key),
                    );
                }
            }
        }
    }
    for var in arr(c, "/env") {
        let var_name = s(var, "/name").unwrap_or_default();
        let value = if let Some(v) = s(var, "/value") {
            Some(v)
        } else if let Some(r) = var.pointer("/valueFrom/configMapKeyRef") {
            let (n, k) = (
                s(r, "/name").unwrap_or_default(),
                s(r, "/key").unwrap_or_default(),
            );
            let v = m.config_value("ConfigMap", &n, &k);
            if v.is_none() {
                problems.push(format!(
                    "{what}: {var_name} refers to ConfigMap {n:?} key {k:?}, which is missing"
                ));
            }
            v
        } else if let Some(r) = var.pointer("/valueFrom/secretKeyRef") {
            let (n, k) = (
                s(r, "/name").unwrap_or_default(),
                s(r, "/key").unwrap_or_default(),
            );
            let v = m.config_value("Secret", &n, &k);
            if v.is_none() {
                problems.push(format!(
                    "{what}: {var_name} refers to Secret {n:?} key {k:?}, which is missing"
                ));
            }
            v
        } else {
            None
        };
        env.insert(var_name, value);
    }
    env
}

/// The port number a probe or Service target names (a number or a container port's name).
fn resolve_port(port: &Value, container: &Value) -> Option<u64> {
    match port {
        Value::Number(n) => n.as_u64(),
        Value::String(p) => p.parse().ok().or_else(|| {
            arr(container, "/ports")
                .iter()
                .find(|cp| s(cp, "/name").as_deref() == Some(p))
                .and_then(|cp| u(cp, "/containerPort"))
        }),
        _ => None,
    }
}

/// Seconds the preStop hook waits: `sleep: {seconds}`, `exec: ["sleep", "N"]` or
/// `exec: ["sh", "-c", "sleep N"]`.
fn pre_stop_secs(container: &Value) -> Option<u64> {
    let hook = container.pointer("/lifecycle/preStop")?;
    if let Some(n) = u(hook, "/sleep/seconds") {
        return Some(n);
    }
    let words: Vec<String> = arr(hook, "/exec/command")
        .iter()
        .filter_map(Value::as_str)
        .flat_map(|w| w.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let at = words
        .iter()
        .position(|w| w == "sleep" || w.ends_with("/sleep"))?;
    words.get(at + 1)?.parse().ok()
}

fn is_non_root(pod: &Value, container: &Value) -> bool {
    let flag = container
        .pointer("/securityContext/runAsNonRoot")
        .or_else(|| pod.pointer("/securityContext/runAsNonRoot"))
        .and_then(Value::as_bool);
    let user =
        u(container, "/securityContext/runAsUser").or_else(|| u(pod, "/securityContext/runAsUser"));
    flag == Some(true) && user != Some(0)
}

/// The checks for one program container (the app or paygate): listen address, ports,
/// probes, Services, env names, security. Returns the port it listens on.
fn check_program(
    m: &Manifests,
    what: &str,
    binary: &str,
    addr_var: &str,
    known_vars: &[&str],
    problems: &mut Vec<String>,
) -> Option<(u64, BTreeMap<String, Option<String>>)> {
    let found = m.containers_running(binary);
    let [c] = found.as_slice() else {
        problems.push(format!(
            "{what}: expected one container with command {binary}, found {}",
            found.len()
        ));
        return None;
    };
    let env = container_env(m, c.container, what, problems);
    for var in env.keys() {
        if !known_vars.contains(&var.as_str()) {
            problems.push(format!(
                "{what}: env {var} is not a variable the program reads"
            ));
        }
    }
    let addr: Option<SocketAddr> = match env.get(addr_var) {
        Some(Some(a)) => a.parse().ok(),
        _ => None,
    };
    let Some(addr) = addr else {
        problems.push(format!(
            "{what}: {addr_var} must be set to an address like 0.0.0.0:3000"
        ));
        return None;
    };
    if !addr.ip().is_unspecified() {
        problems.push(format!(
            "{what}: {addr_var}={addr} listens only inside the pod; use 0.0.0.0"
        ));
    }
    let port = u64::from(addr.port());
    let container_ports: Vec<u64> = arr(c.container, "/ports")
        .iter()
        .filter_map(|p| u(p, "/containerPort"))
        .collect();
    if !container_ports.contains(&port) {
        problems.push(format!(
            "{what}: containerPorts {container_ports:?} do not include {port} ({addr_var})"
        ));
    }
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let Some(p) = c.container.get(probe) else {
            continue;
        };
        let Some(get) = p.get("httpGet") else {
            problems.push(format!("{what}: {probe} is not an httpGet probe"));
            continue;
        };
        if resolve_port(&get["port"], c.container) != Some(port) {
            problems.push(format!(
                "{what}: {probe} port {} is not {port} ({addr_var})",
                get["port"]
            ));
        }
        if !s(get, "/path").is_some_and(|p| p.starts_with('/')) {
            problems.push(format!("{what}: {probe} has no path"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe"] {
        if c.container.get(probe).is_none() {
            problems.push(format!("{what}: no {probe}"));
        }
    }
    let services = m.services_for(c.workload);
    if services.is_empty() {
        problems.push(format!("{what}: no Service selects its pods"));
    }
    for svc in services {
        for sp in arr(svc, "/spec/ports") {
            let target = sp.get("targetPort").or_else(|| sp.get("port"));
            if target.and_then(|t| resolve_port(t, c.container)) != Some(port) {
                problems.push(format!(
                    "{what}: Service {} targetPort {} is not {port}",
                    name(svc),
                    target.unwrap_or(&Value::Null)
                ));
            }
        }
    }
    if !is_non_root(c.pod, c.container) {
        problems.push(format!("{what}: runAsNonRoot must be true (and no uid 0)"));
    }
    if c.container
        .pointer("/securityContext/readOnlyRootFilesystem")
        != Some(&json!(true))
    {
        problems.push(format!("{what}: readOnlyRootFilesystem must be true"));
    }
    Some((port, env))
}

/// `scheme://[user[:password]@]host[:port]/path` split up (enough for these URLs).
struct Url {
    user: String,
    password: String,
    host: String,
    port: Option<u64>,
    path: String,
}

fn parse_url(url: &str) -> Option<Url> {
    let (_, rest) = url.split_once("://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse().ok()?)),
        None => (hostport, None),
    };
    Some(Url {
        user: user.into(),
        password: password.into(),
        host: host.into(),
        port,
        path: path.split('?').next().unwrap_or("").into(),
    })
}

/// The container behind `host:port` when `host` is a Service of the manifests: its target
/// port on that container.
fn service_target<'a>(
    m: &'a Manifests,
    host: &str,
    port: u64,
) -> Option<(Container<'a>, Option<u64>)> {
    let service_name = host.split('.').next()?;
    let svc = m.find("Service", service_name)?;
    let sp = arr(svc, "/spec/ports")
        .iter()
        .find(|sp| u(sp, "/port") == Some(port))?;
    for workload in m.workloads() {
        if !selects(svc, &workload["spec"]["template"]["metadata"]["labels"]) {
            continue;
        }
        let pod = &workload["spec"]["template"]["spec"];
        for container in arr(pod, "/containers") {
            let target = sp.get("targetPort").unwrap_or(&sp["port"]);
            if let Some(p) = resolve_port(target, container)
                && arr(container, "/ports")
                    .iter()
                    .any(|cp| u(cp, "/containerPort") == Some(p))
            {
                return Some((
                    Container {
                        workload,
                        pod,
                        container,
                    },
                    Some(p),
                ));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------

fn check(m: &Manifests) -> Vec<String> {
    let mut problems = Vec::new();

    // Kustomization lists exactly the manifest files.
    let listed: BTreeSet<String> = arr(&m.kustomization, "/resources")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    for missing in m.files.difference(&listed) {
        problems.push(format!(
            "kustomization.yaml does not list {missing} (kubectl apply -k would skip it)"
        ));
    }
    for extra in listed.difference(&m.files) {
        problems.push(format!(
            "kustomization.yaml lists {extra}, which does not exist"
        ));
    }
    // The programs' image is the one this workspace builds, tagged with its version.
    let version = env!("CARGO_PKG_VERSION");
    let tag = arr(&m.kustomization, "/images")
        .iter()
        .find(|i| s(i, "/name").as_deref() == Some(IMAGE))
        .and_then(|i| s(i, "/newTag"));
    if tag.as_deref() != Some(version) {
        problems.push(format!(
            "kustomization.yaml: image {IMAGE} newTag {tag:?} is not the workspace version {version}"
        ));
    }
    for binary in [APP_BINARY, PAYGATE_BINARY] {
        for c in m.containers_running(binary) {
            let image = s(c.container, "/image").unwrap_or_default();
            let image_name = image.split(['@', ':']).next().unwrap_or_default();
            if image_name != IMAGE {
                problems.push(format!(
                    "{binary}: image {image:?} is not {IMAGE} (kustomization.yaml sets its tag)"
                ));
            }
        }
    }
    for doc in &m.docs {
        if s(&doc.value, "/apiVersion").is_none() || kind(&doc.value).is_empty() {
            problems.push(format!("{}: a document without apiVersion/kind", doc.file));
        }
        if name(&doc.value).is_empty() {
            problems.push(format!(
                "{}: a {} without a name",
                doc.file,
                kind(&doc.value)
            ));
        }
    }

    // The app.
    let app = check_program(
        m,
        "app",
        APP_BINARY,
        "LEPTOS_SITE_ADDR",
        server::config::ENV_VARS,
        &mut problems,
    );
    let apps = m.containers_running(APP_BINARY);
    if let (Some((_, env)), [c]) = (&app, apps.as_slice()) {
        check_app(m, c, env, &mut problems);
    }

    // The payment gateway.
    let paygate = check_program(
        m,
        "paygate",
        PAYGATE_BINARY,
        "PAYGATE_ADDR",
        paygate::ENV_VARS,
        &mut problems,
    );
    if let Some((_, env)) = &paygate {
        // Every value passes paygate's own validation.
        match paygate::Config::from_lookup(|n| env.get(n).cloned().flatten()) {
            Err(errors) => {
                for e in errors {
                    problems.push(format!("paygate: {e}"));
                }
            }
            Ok(config) if config.admin_routes => problems.push(
                "paygate: PAYGATE_ADMIN_ROUTES is on (the mode and the ledger are for tests only)"
                    .into(),
            ),
            Ok(_) => {}
        }
        // It checks the key the app sends.
        let app_key = app
            .as_ref()
            .and_then(|(_, app_env)| app_env.get("COUPAN_PAYMENT_SECRET_KEY").cloned().flatten());
        let paygate_key = env.get("PAYGATE_SECRET_KEY").cloned().flatten();
        if app_key.is_none() || paygate_key != app_key {
            problems.push(
                "paygate: PAYGATE_SECRET_KEY is not the app's COUPAN_PAYMENT_SECRET_KEY".into(),
            );
        }
    }
    if let (Some((_, env)), Some(_)) = (&app, &paygate) {
        // COUPAN_PAYMENT_URL reaches paygate when it names a Service of the manifests.
        match env.get("COUPAN_PAYMENT_URL").cloned().flatten() {
            None => problems.push("app: COUPAN_PAYMENT_URL is not set".into()),
            Some(url) => match parse_url(&url) {
                None => problems.push(format!("app: COUPAN_PAYMENT_URL={url:?} is not a URL")),
                Some(url) => {
                    let port = url.port.unwrap_or(80);
                    let short = url.host.split('.').next().unwrap_or("");
                    if m.find("Service", short).is_some() {
                        match service_target(m, &url.host, port) {
                            Some((c, _))
                                if s(c.container, "/command/0").as_deref()
                                    == Some(PAYGATE_BINARY) => {}
                            _ => problems.push(format!(
                                "app: COUPAN_PAYMENT_URL port {port} of Service {short} does not reach paygate's port"
                            )),
                        }
                    }
                }
            },
        }
    }

    check_ingress(m, &mut problems);
    network::check_network_policies(m, app.as_ref().map(|(_, env)| env), &mut problems);
    problems
}

fn check_app(
    m: &Manifests,
    c: &Container<'_>,
    env: &BTreeMap<String, Option<String>>,
    problems: &mut Vec<String>,
) {
    // Every value passes the server's own validation (config.rs), which also gives the
    // settings as the server reads them (defaults included). The template's placeholder
    // secrets must be refused, so that an unedited template never serves.
    let lookup = |n: &str| env.get(n).cloned().flatten();
    let mut stand_ins: BTreeMap<&str, String> = BTreeMap::new();
    for secret in ["JWT_SECRET", "COUPAN_PAYMENT_SECRET_KEY"] {
        if lookup(secret).is_some_and(|v| v.contains(PLACEHOLDER)) {
            match server::config::Config::from_lookup(&lookup) {
                Err(text) if text.contains(secret) => {}
                _ => problems.push(format!("app: the server accepts the placeholder {secret}")),
            }
            stand_ins.insert(
                secret,
                format!("a-stand-in-for-the-real-{secret}-0123456789"),
            );
        }
    }
    let config = server::config::Config::from_lookup(&|n: &str| {
        stand_ins.get(n).cloned().or_else(|| lookup(n))
    });
    let config = match config {
        Ok(config) => config,
        Err(text) => {
            for line in text.lines() {
                problems.push(format!("app: the server refuses the settings: {line}"));
            }
            return;
        }
    };
    let probe_path = |probe: &str| s(c.container, &format!("/{probe}/httpGet/path"));
    if probe_path("readinessProbe").as_deref() != Some("/readyz") {
        problems.push("app: readinessProbe must GET /readyz".into());
    }
    if probe_path("livenessProbe").as_deref() != Some("/healthz") {
        problems.push(
            "app: livenessProbe must GET /healthz (not /readyz: a database outage must not restart pods)"
                .into(),
        );
    }
    // Behind the Ingress every request comes from the controller: without trusted proxies
    // the per-IP rate limits would throttle all clients together.
    if m.of_kind("Ingress").next().is_some() {
        match env.get("COUPAN_TRUSTED_PROXIES") {
            Some(Some(list)) => match app::limits::TrustedProxies::parse(list) {
                Ok(t) if !t.is_empty() => check_trusted_proxies_are_narrow(list, problems),
                _ => problems.push(format!(
                    "app: COUPAN_TRUSTED_PROXIES={list:?} is not a list of addresses"
                )),
            },
            _ => problems.push(
                "app: COUPAN_TRUSTED_PROXIES must name the ingress controller's network".into(),
            ),
        }
    }
    // Browsers reach the app at the Ingress's host over HTTPS: that origin is the one
    // whose forms the app accepts (server/src/csrf.rs); any other refuses every log-in.
    let hosts: Vec<String> = m
        .of_kind("Ingress")
        .flat_map(|i| arr(i, "/spec/rules"))
        .filter_map(|r| s(r, "/host"))
        .collect();
    if !hosts.is_empty()
        && !config
            .public_origin
            .as_ref()
            .is_some_and(|o| hosts.iter().any(|h| *o == format!("https://{h}")))
    {
        problems.push(format!(
            "app: COUPAN_PUBLIC_ORIGIN {:?} is not https:// + the Ingress host ({hosts:?})",
            config.public_origin
        ));
    }
    // /metrics: on its own port (COUPAN_METRICS_ADDR, reachable in the pod network), a
    // declared container port, the one the scrape annotations name, never the site's.
    let annotations = &c.workload["spec"]["template"]["metadata"]["annotations"];
    let site_port = u64::from(config.site_addr.port());
    match config.metrics_addr {
        None => problems
            .push("app: COUPAN_METRICS_ADDR is off: Prometheus has nothing to scrape".into()),
        Some(addr) => {
            let port = u64::from(addr.port());
            if !addr.ip().is_unspecified() {
                problems.push(format!(
                    "app: COUPAN_METRICS_ADDR={addr} listens only inside the pod; use 0.0.0.0"
                ));
            }
            let declared = arr(c.container, "/ports")
                .iter()
                .any(|p| u(p, "/containerPort") == Some(port));
            if !declared {
                problems.push(format!(
                    "app: the metrics port {port} (COUPAN_METRICS_ADDR) is not a containerPort"
                ));
            }
            match s(annotations, "/prometheus.io~1port") {
                Some(scrape) if scrape == port.to_string() => {}
                scrape => problems.push(format!(
                    "app: prometheus.io/port {scrape:?} is not the metrics port {port} (COUPAN_METRICS_ADDR)"
                )),
            }
            if port == site_port {
                problems.push("app: /metrics must not be on the site's port".into());
            }
        }
    }
    if s(annotations, "/prometheus.io~1scrape").as_deref() != Some("true") {
        problems.push("app: prometheus.io/scrape must be \"true\"".into());
    }
    // The payment channel: the key is a Secret, plain http only to the stand-in inside the
    // cluster (paygate.yaml).
    if !secret_keys(m, c.container).contains("COUPAN_PAYMENT_SECRET_KEY") {
        problems.push("app: COUPAN_PAYMENT_SECRET_KEY must come from a Secret".into());
    }
    if config.payment_allow_http {
        let host = parse_url(&config.payment_url)
            .map(|u| u.host)
            .unwrap_or_default();
        if m.find("Service", host.split('.').next().unwrap_or(""))
            .is_none()
        {
            problems.push(format!(
                "app: COUPAN_PAYMENT_ALLOW_HTTP is on for {}, which is not the stand-in gateway of these manifests",
                config.payment_url
            ));
        }
    }
    // Pictures: each replica would keep its uploads in a directory of its own pod (lost with
    // the pod, missing on the others); several replicas need one shared store.
    if !config.images.describe().starts_with("s3://") {
        problems.push(format!(
            "app: COUPAN_IMAGE_STORE must name a shared store (s3://bucket/prefix), not the {} of one pod",
            config.images.describe()
        ));
    }
    for required in ["DATABASE_URL", "JWT_SECRET", "COUPAN_PAYMENT_SECRET_KEY"] {
        if !env.contains_key(required) {
            problems.push(format!("app: {required} is not provided"));
        }
    }

    // Rollout: never below the wanted number of ready pods.
    let deployment = c.workload;
    if kind(deployment) != "Deployment" {
        problems.push("app: should be a Deployment".into());
    }
    if s(deployment, "/spec/strategy/type").as_deref() != Some("RollingUpdate") {
        problems.push("app: strategy.type must be RollingUpdate".into());
    }
    let max_unavailable = s(deployment, "/spec/strategy/rollingUpdate/maxUnavailable");
    if !matches!(max_unavailable.as_deref(), Some("0" | "0%")) {
        problems.push(format!(
            "app: rollingUpdate.maxUnavailable must be 0, is {max_unavailable:?}"
        ));
    }
    let max_surge = u(deployment, "/spec/strategy/rollingUpdate/maxSurge").unwrap_or(0);
    if max_surge == 0 {
        problems.push("app: rollingUpdate.maxSurge must be at least 1 (a whole number)".into());
    }
    if u(deployment, "/spec/replicas").unwrap_or(1) < 2 {
        problems.push("app: at least 2 replicas".into());
    }

    // Shutdown: the kubelet must not SIGKILL the process while it drains.
    let pre_stop = pre_stop_secs(c.container);
    if pre_stop.unwrap_or(0) == 0 {
        problems.push("app: lifecycle.preStop must pause (sleep) before SIGTERM".into());
    }
    let shutdown = config.shutdown_timeout.as_secs();
    let grace = u(c.pod, "/terminationGracePeriodSeconds").unwrap_or(30);
    if grace <= pre_stop.unwrap_or(0) + shutdown {
        problems.push(format!(
            "app: terminationGracePeriodSeconds {grace} must exceed preStop {pre_stop:?} s + shutdown timeout {shutdown} s"
        ));
    }

    // Memory.
    let limit = s(c.container, "/resources/limits/memory").and_then(|q| bytes(&q));
    let request = s(c.container, "/resources/requests/memory").and_then(|q| bytes(&q));
    match (request, limit) {
        (Some(r), Some(l)) if r <= l && l <= APP_MEMORY_LIMIT_MAX => {}
        _ => problems.push(format!(
            "app: memory requests {request:?} and limits {limit:?} must be set, request <= limit <= 256Mi"
        )),
    }
    if s(c.container, "/resources/requests/cpu").is_none() {
        problems.push("app: no cpu request (the HPA scales on it)".into());
    }

    // Autoscaler.
    let hpas: Vec<&Value> = m
        .of_kind("HorizontalPodAutoscaler")
        .filter(|h| s(h, "/spec/scaleTargetRef/name").as_deref() == Some(name(deployment)))
        .collect();
    let max_replicas = match hpas.as_slice() {
        [hpa] => {
            if s(hpa, "/apiVersion").as_deref() != Some("autoscaling/v2") {
                problems.push("app: the HPA must be autoscaling/v2".into());
            }
            if s(hpa, "/spec/scaleTargetRef/kind").as_deref() != Some("Deployment") {
                problems.push("app: the HPA must target the Deployment".into());
            }
            if u(hpa, "/spec/minReplicas").unwrap_or(1) < 2 {
                problems.push("app: HPA minReplicas must be at least 2".into());
            }
            if !arr(hpa, "/spec/metrics")
                .iter()
                .any(|mt| s(mt, "/resource/name").as_deref() == Some("cpu"))
            {
                problems.push("app: the HPA must scale on cpu".into());
            }
            u(hpa, "/spec/maxReplicas").unwrap_or(0)
        }
        _ => {
            problems.push(format!(
                "app: expected one HorizontalPodAutoscaler for Deployment {}, found {}",
                name(deployment),
                hpas.len()
            ));
            u(deployment, "/spec/replicas").unwrap_or(1)
        }
    };

    // Database: DATABASE_URL reaches the PostgreSQL of the manifests with its credentials,
    // and every replica's pool fits in its connection limit.
    let Some(Some(db_url)) = env.get("DATABASE_URL") else {
        problems.push("app: DATABASE_URL has no value in the manifests (Secret stringData)".into());
        return;
    };
    let Some(url) = parse_url(db_url).filter(|_| db_url.starts_with("postgres")) else {
        problems.push("app: DATABASE_URL is not a postgres:// URL".into());
        return;
    };
    let port = url.port.unwrap_or(5432);
    let Some((pg, target)) = service_target(m, &url.host, port) else {
        problems.push(format!(
            "app: DATABASE_URL host {}:{port} is not a Service port of a PostgreSQL pod here",
            url.host
        ));
        return;
    };
    let mut pg_problems = Vec::new();
    let pg_env = container_env(m, pg.container, "postgres", &mut pg_problems);
    problems.extend(pg_problems);
    let pg_var = |n: &str| pg_env.get(n).cloned().flatten();
    // The image reads the password from POSTGRES_PASSWORD or from the file
    // POSTGRES_PASSWORD_FILE names (a Secret volume here, so it is not in the environment).
    let pg_secret = |var: &str, problems: &mut Vec<String>| -> Option<String> {
        let path = pg_var(var)?;
        let value = secret_file(m, &pg, &path);
        if value.is_none() {
            problems.push(format!(
                "postgres: {var}={path} is not a key of a Secret mounted in the container"
            ));
        }
        value
    };
    // The image reads the superuser's password from POSTGRES_PASSWORD or from the file
    // POSTGRES_PASSWORD_FILE names (a Secret volume here, so it is not in the environment).
    let superuser = pg_var("POSTGRES_USER").unwrap_or_else(|| "postgres".into());
    if pg_var("POSTGRES_PASSWORD_FILE").is_some() {
        pg_secret("POSTGRES_PASSWORD_FILE", problems);
    }
    let db = pg_var("POSTGRES_DB")
        .or_else(|| pg_var("POSTGRES_USER"))
        .unwrap_or_else(|| "postgres".into());
    // The app connects as the app's role that postgres-init.yaml creates, never as the
    // superuser; the migrations run as the migrator, in the init container only.
    if url.user == superuser {
        problems.push(format!(
            "app: DATABASE_URL connects as {superuser:?}, PostgreSQL's superuser (POSTGRES_USER)"
        ));
    }
    if pg_var("COUPAN_DB_APP").as_deref() != Some(url.user.as_str()) {
        problems.push(format!(
            "app: the DATABASE_URL user {:?} is not the app's role PostgreSQL creates (COUPAN_DB_APP)",
            url.user
        ));
    }
    if pg_secret("COUPAN_DB_APP_PASSWORD_FILE", problems).as_deref() != Some(url.password.as_str())
    {
        problems.push("app: the DATABASE_URL password is not the app role's password".into());
    }
    if db != url.path {
        problems.push(format!(
            "app: DATABASE_URL database {:?} is not PostgreSQL's {db:?}",
            url.path
        ));
    }
    if env.contains_key("COUPAN_MIGRATE_DATABASE_URL") {
        problems.push(
            "app: the serving container has COUPAN_MIGRATE_DATABASE_URL (the migrator's credentials belong to the init container only)"
                .into(),
        );
    }
    let migrator_password = pg_secret("COUPAN_DB_MIGRATOR_PASSWORD_FILE", problems);
    let roles = Roles {
        superuser: &superuser,
        app: &url.user,
        migrator: pg_var("COUPAN_DB_MIGRATOR"),
        migrator_password,
        database: &db,
    };
    check_migrator(m, c, &pg, &roles, problems);
    check_postgres_init(m, &pg, problems);
    if target != Some(5432) && !arr(pg.container, "/args").iter().any(|a| a == "-p") {
        problems.push("app: PostgreSQL's Service does not target port 5432".into());
    }
    if kind(pg.workload) == "StatefulSet" {
        if arr(pg.workload, "/spec/volumeClaimTemplates").is_empty() {
            problems.push("postgres: the StatefulSet needs a volumeClaimTemplate".into());
        }
    } else {
        problems.push("postgres: should be a StatefulSet".into());
    }
    let args: Vec<String> = arr(pg.container, "/args")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let max_connections = args
        .iter()
        .find_map(|a| a.strip_prefix("max_connections="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(PG_DEFAULT_MAX_CONNECTIONS);
    let pool = u64::from(config.db_max_connections);
    let most_pods = max_replicas + max_surge;
    if most_pods * pool > max_connections - PG_RESERVED_CONNECTIONS {
        problems.push(format!(
            "app: up to {most_pods} pods x {pool} connections exceed PostgreSQL's max_connections {max_connections} - {PG_RESERVED_CONNECTIONS} reserved"
        ));
    }
}

/// The environment variables a container gets from Secrets (whole or by key).
fn secret_keys(m: &Manifests, container: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for source in arr(container, "/envFrom") {
        if let Some(secret) = s(source, "/secretRef/name").and_then(|n| m.find("Secret", &n)) {
            let prefix = s(source, "/prefix").unwrap_or_default();
            for field in ["data", "stringData"] {
                if let Some(map) = secret[field].as_object() {
                    keys.extend(map.keys().map(|k| format!("{prefix}{k}")));
                }
            }
        }
    }
    for var in arr(container, "/env") {
        if var.pointer("/valueFrom/secretKeyRef").is_some() {
            keys.extend(s(var, "/name"));
        }
    }
    keys
}

/// The database roles as the PostgreSQL of the manifests creates them.
struct Roles<'a> {
    superuser: &'a str,
    app: &'a str,
    migrator: Option<String>,
    migrator_password: Option<String>,
    database: &'a str,
}

/// The app's pod migrates in an init container (`/app/server migrate`) as the migrator
/// that PostgreSQL creates: its URL reaches the same database with that role's password,
/// and the role is neither the superuser nor the app's.
fn check_migrator(
    m: &Manifests,
    c: &Container<'_>,
    pg: &Container<'_>,
    roles: &Roles<'_>,
    problems: &mut Vec<String>,
) {
    let inits: Vec<&Value> = arr(c.pod, "/initContainers")
        .iter()
        .filter(|i| {
            arr(i, "/command")
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                == [APP_BINARY, "migrate"]
        })
        .collect();
    let [init] = inits.as_slice() else {
        problems.push(format!(
            "app: expected one init container running {APP_BINARY} migrate, found {}",
            inits.len()
        ));
        return;
    };
    let env = container_env(m, init, "migrate", problems);
    for var in env.keys() {
        if !server::config::ENV_VARS.contains(&var.as_str()) {
            problems.push(format!(
                "migrate: env {var} is not a variable the program reads"
            ));
        }
    }
    if s(init, "/image")
        .unwrap_or_default()
        .split(['@', ':'])
        .next()
        != Some(IMAGE)
    {
        problems.push(format!(
            "migrate: the init container's image is not {IMAGE}"
        ));
    }
    if !is_non_root(c.pod, init)
        || init.pointer("/securityContext/readOnlyRootFilesystem") != Some(&json!(true))
    {
        problems.push("migrate: runAsNonRoot and readOnlyRootFilesystem must be true".into());
    }
    let Some(Some(migrate_url)) = env.get("COUPAN_MIGRATE_DATABASE_URL") else {
        problems.push("migrate: COUPAN_MIGRATE_DATABASE_URL has no value in the manifests".into());
        return;
    };
    if !secret_keys(m, init).contains("COUPAN_MIGRATE_DATABASE_URL") {
        problems.push("migrate: COUPAN_MIGRATE_DATABASE_URL must come from a Secret".into());
    }
    let Some(url) = parse_url(migrate_url) else {
        problems.push("migrate: COUPAN_MIGRATE_DATABASE_URL is not a URL".into());
        return;
    };
    let reaches = service_target(m, &url.host, url.port.unwrap_or(5432))
        .is_some_and(|(target, _)| name(target.workload) == name(pg.workload));
    if !reaches {
        problems.push(
            "migrate: COUPAN_MIGRATE_DATABASE_URL does not reach the PostgreSQL of the manifests"
                .into(),
        );
    }
    if url.path != roles.database {
        problems.push(format!(
            "migrate: COUPAN_MIGRATE_DATABASE_URL database {:?} is not {:?}",
            url.path, roles.database
        ));
    }
    if roles.migrator.as_deref() != Some(url.user.as_str()) {
        problems.push(format!(
            "migrate: COUPAN_MIGRATE_DATABASE_URL user {:?} is not the migrator PostgreSQL creates (COUPAN_DB_MIGRATOR)",
            url.user
        ));
    }
    if roles.migrator_password.as_deref() != Some(url.password.as_str()) {
        problems.push(
            "migrate: the COUPAN_MIGRATE_DATABASE_URL password is not the migrator's password"
                .into(),
        );
    }
    if url.user == roles.superuser || url.user == roles.app {
        problems.push(format!(
            "migrate: the migrator {:?} must be a role of its own (not the superuser, not the app's role)",
            url.user
        ));
    }
}

/// PostgreSQL creates the app's roles on its first start: the ConfigMap of
/// `postgres-init.yaml` is mounted where the image runs its init scripts, its SQL is
/// `scripts/db-roles.sql` (the same roles as the embedded database), and its script passes
/// the names and password files the checks above compare.
fn check_postgres_init(m: &Manifests, pg: &Container<'_>, problems: &mut Vec<String>) {
    const INIT_DIR: &str = "/docker-entrypoint-initdb.d";
    let mounted = arr(pg.container, "/volumeMounts")
        .iter()
        .find(|v| s(v, "/mountPath").as_deref() == Some(INIT_DIR))
        .and_then(|mount| s(mount, "/name"))
        .and_then(|volume| {
            arr(pg.pod, "/volumes")
                .iter()
                .find(|v| s(v, "/name").as_deref() == Some(volume.as_str()))
                .and_then(|v| s(v, "/configMap/name"))
        });
    let Some(config_map) = mounted.and_then(|n| m.find("ConfigMap", &n)) else {
        problems.push(format!(
            "postgres: no ConfigMap is mounted at {INIT_DIR} (the app's roles are never created)"
        ));
        return;
    };
    let sql = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/db-roles.sql"),
    )
    .unwrap();
    if s(config_map, "/data/coupan-roles.psql").as_deref() != Some(sql.as_str()) {
        problems.push(format!(
            "postgres: ConfigMap {} coupan-roles.psql is not scripts/db-roles.sql",
            name(config_map)
        ));
    }
    let scripts: Vec<String> = config_map["data"]
        .as_object()
        .map(|d| {
            d.iter()
                .filter(|(k, _)| k.ends_with(".sh"))
                .filter_map(|(_, v)| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let [script] = scripts.as_slice() else {
        problems.push(format!(
            "postgres: ConfigMap {} needs one .sh script",
            name(config_map)
        ));
        return;
    };
    for needed in [
        "coupan-roles.psql",
        "$POSTGRES_DB",
        "$COUPAN_DB_MIGRATOR\"",
        "$COUPAN_DB_MIGRATOR_PASSWORD_FILE",
        "$COUPAN_DB_APP\"",
        "$COUPAN_DB_APP_PASSWORD_FILE",
    ] {
        if !script.contains(needed) {
            problems.push(format!("postgres: the init script does not use {needed}"));
        }
    }
}

/// The trusted proxies name the ingress controller's addresses, not a whole private range:
/// every address in them may set the client address the rate limits key on. IPv4 blocks up
/// to /16 and IPv6 up to /48 pass (a pod network); the README here says which to choose.
fn check_trusted_proxies_are_narrow(list: &str, problems: &mut Vec<String>) {
    for block in list.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        let (addr, len) = block.split_once('/').unwrap_or((block, ""));
        let v6 = addr.contains(':');
        let (full, widest) = if v6 { (128, 48) } else { (32, 16) };
        let len: u32 = len.parse().unwrap_or(full);
        if len < widest {
            problems.push(format!(
                "app: COUPAN_TRUSTED_PROXIES block {block} is wider than /{widest}: name the ingress controller's addresses"
            ));
        }
    }
}

/// The value of the Secret key that the file `path` of a container is, when a Secret volume
/// is mounted there (e.g. the official images' `*_FILE` variables).
fn secret_file(m: &Manifests, c: &Container<'_>, path: &str) -> Option<String> {
    let (mount, file) = arr(c.container, "/volumeMounts").iter().find_map(|mount| {
        let dir = s(mount, "/mountPath")?;
        let file = path.strip_prefix(&format!("{}/", dir.trim_end_matches('/')))?;
        Some((mount, file.to_string()))
    })?;
    let volume_name = s(mount, "/name")?;
    let volume = arr(c.pod, "/volumes")
        .iter()
        .find(|v| s(v, "/name").as_deref() == Some(volume_name.as_str()))?;
    let secret = s(volume, "/secret/secretName")?;
    // `items` maps keys to file names; without it every key is a file of its own name.
    let key = match volume.pointer("/secret/items").and_then(Value::as_array) {
        Some(items) => items
            .iter()
            .find(|i| s(i, "/path").as_deref() == Some(file.as_str()))
            .and_then(|i| s(i, "/key"))?,
        None => file,
    };
    m.config_value("Secret", &secret, &key)
}

/// Every Ingress backend exists and `/` reaches the app.
fn check_ingress(m: &Manifests, problems: &mut Vec<String>) {
    let ingresses: Vec<&Value> = m.of_kind("Ingress").collect();
    if ingresses.is_empty() {
        problems.push("no Ingress".into());
    }
    let app_labels = m
        .containers_running(APP_BINARY)
        .first()
        .map(|c| c.workload["spec"]["template"]["metadata"]["labels"].clone())
        .unwrap_or(Value::Null);
    // (path, pathType, reaches the app)
    let mut routes: Vec<(String, String, bool)> = Vec::new();
    for ing in ingresses {
        for rule in arr(ing, "/spec/rules") {
            for p in arr(rule, "/http/paths") {
                let path = s(p, "/path").unwrap_or_else(|| "/".into());
                let path_type = s(p, "/pathType").unwrap_or_default();
                let svc_name = s(p, "/backend/service/name").unwrap_or_default();
                let Some(svc) = m.find("Service", &svc_name) else {
                    problems.push(format!(
                        "Ingress {}: backend Service {svc_name:?} does not exist",
                        name(ing)
                    ));
                    continue;
                };
                let port_ok = arr(svc, "/spec/ports").iter().any(|sp| {
                    p.pointer("/backend/service/port/number")
                        .is_some_and(|n| u(sp, "/port") == n.as_u64())
                        || p.pointer("/backend/service/port/name")
                            .is_some_and(|n| sp.get("name") == Some(n))
                });
                if !port_ok {
                    problems.push(format!(
                        "Ingress {}: backend port of {svc_name} is not a port of that Service",
                        name(ing)
                    ));
                }
                routes.push((path, path_type, selects(svc, &app_labels)));
            }
        }
    }
    // The longest matching path wins (Exact before Prefix at equal length).
    let route_for = |request: &str| {
        routes
            .iter()
            .filter(|(path, path_type, _)| match path_type.as_str() {
                "Exact" => request == path,
                _ => {
                    let p = path.trim_end_matches('/');
                    request == p
                        || p.is_empty()
                        || request.starts_with(&format!("{p}/"))
                        || request == path
                }
            })
            .max_by_key(|(path, path_type, _)| (path.len(), path_type == "Exact"))
            .map(|(_, _, app)| *app)
    };
    if route_for("/") != Some(true) {
        problems.push("Ingress: / must route to the app".into());
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn manifests_agree_with_the_code() {
    let m = load();
    assert!(m.docs.len() >= 10, "only {} documents", m.docs.len());
    let problems = check(&m);
    assert!(
        problems.is_empty(),
        "deploy/k8s:\n  {}",
        problems.join("\n  ")
    );
}

/// The image the manifests run: its user, port, binaries and health check agree with them.
#[test]
fn dockerfile_agrees_with_the_manifests() {
    let m = load();
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Dockerfile"))
            .unwrap();
    // The last stage is the runtime image.
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    let directive = |name: &str| -> Vec<String> {
        runtime
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{name} ")))
            .map(|rest| rest.trim().to_string())
            .collect()
    };
    let user = directive("USER");
    let [user] = user.as_slice() else {
        panic!("one USER in the runtime stage: {user:?}")
    };
    let uid: u64 = user.split(':').next().unwrap().parse().unwrap_or_else(|_| {
        panic!("USER {user}: use a numeric uid so that runAsNonRoot can verify it")
    });
    assert_ne!(uid, 0, "the image must not run as root");
    for binary in [APP_BINARY, PAYGATE_BINARY] {
        assert!(
            directive("COPY")
                .iter()
                .any(|c| c.ends_with(&format!(" {binary}"))),
            "the image has no {binary}"
        );
        let c = &m.containers_running(binary)[0];
        let run_as = u(c.container, "/securityContext/runAsUser")
            .or_else(|| u(c.pod, "/securityContext/runAsUser"));
        assert!(
            run_as.is_none() || run_as == Some(uid),
            "{binary}: runAsUser {run_as:?} is not the image's uid {uid}"
        );
    }
    let app = &m.containers_running(APP_BINARY)[0];
    let port = u(app.container, "/ports/0/containerPort").unwrap();
    assert_eq!(directive("EXPOSE"), vec![port.to_string()], "EXPOSE");
    assert!(
        runtime.contains(&format!("LEPTOS_SITE_ADDR=0.0.0.0:{port}")),
        "the image's LEPTOS_SITE_ADDR is not 0.0.0.0:{port}"
    );
    assert!(
        directive("CMD").iter().any(|c| c.contains(APP_BINARY)),
        "the image's default command is not {APP_BINARY}"
    );
    let liveness = s(app.container, "/livenessProbe/httpGet/path").unwrap();
    let health = directive("HEALTHCHECK");
    assert!(
        health.len() == 1 && health[0].contains(&format!("127.0.0.1:{port}{liveness}")),
        "HEALTHCHECK {health:?} should GET {liveness} on port {port}"
    );
}

fn doc_mut<'a>(m: &'a mut Manifests, kind_: &str, name_: &str) -> &'a mut Value {
    m.docs
        .iter_mut()
        .map(|d| &mut d.value)
        .find(|v| kind(v) == kind_ && name(v) == name_)
        .unwrap_or_else(|| panic!("no {kind_} {name_}"))
}

fn app_container(m: &mut Manifests) -> &mut Value {
    doc_mut(m, "Deployment", "coupan")
        .pointer_mut("/spec/template/spec/containers/0")
        .unwrap()
}

/// Each way of breaking the manifests is reported.
#[test]
fn mutations_are_caught() {
    let mutations: Vec<Mutation> = vec![
        ("file not in kustomization", "does not list", |m| {
            let r = m.kustomization["resources"].as_array_mut().unwrap();
            r.retain(|f| f != "paygate.yaml");
        }),
        (
            "kustomization names a missing file",
            "does not exist",
            |m| {
                let r = m.kustomization["resources"].as_array_mut().unwrap();
                r.push(json!("gone.yaml"));
            },
        ),
        ("containerPort moved", "containerPorts", |m| {
            app_container(m)["ports"][0]["containerPort"] = json!(3001);
        }),
        ("listen port moved", "is not 8080", |m| {
            doc_mut(m, "ConfigMap", "coupan-config")["data"]["LEPTOS_SITE_ADDR"] =
                json!("0.0.0.0:8080");
        }),
        ("listen on loopback", "listens only inside the pod", |m| {
            doc_mut(m, "ConfigMap", "coupan-config")["data"]["LEPTOS_SITE_ADDR"] =
                json!("127.0.0.1:3000");
        }),
        ("probe port", "readinessProbe port", |m| {
            app_container(m)["readinessProbe"]["httpGet"]["port"] = json!(8080);
        }),
        ("readiness path", "readinessProbe must GET /readyz", |m| {
            app_container(m)["readinessProbe"]["httpGet"]["path"] = json!("/healthz");
        }),
        (
            "liveness on readiness",
            "livenessProbe must GET /healthz",
            |m| {
                app_container(m)["livenessProbe"]["httpGet"]["path"] = json!("/readyz");
            },
        ),
        ("scrape port", "prometheus.io/port", |m| {
            doc_mut(m, "Deployment", "coupan")["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] =
                json!("9090");
        }),
        ("Service targetPort", "targetPort", |m| {
            doc_mut(m, "Service", "coupan")["spec"]["ports"][0]["targetPort"] = json!(8080);
        }),
        (
            "unknown env name in ConfigMap",
            "COUPAN_NOT_A_SETTING",
            |m| {
                doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_NOT_A_SETTING"] =
                    json!("1");
            },
        ),
        ("unknown env name in env", "PAYGATE_TYPO", |m| {
            doc_mut(m, "Deployment", "paygate")["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "PAYGATE_TYPO", "value": "1"}));
        }),
        ("short grace period", "terminationGracePeriodSeconds", |m| {
            doc_mut(m, "Deployment", "coupan")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] =
                json!(20);
        }),
        ("long shutdown", "terminationGracePeriodSeconds", |m| {
            doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_SHUTDOWN_TIMEOUT_SECS"] =
                json!("60");
        }),
        (
            "public origin not the Ingress host",
            "COUPAN_PUBLIC_ORIGIN",
            |m| {
                doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_PUBLIC_ORIGIN"] =
                    json!("https://elsewhere.example.com");
            },
        ),
        (
            "no public origin behind HTTPS",
            "COUPAN_PUBLIC_ORIGIN",
            |m| {
                let data = &mut doc_mut(m, "ConfigMap", "coupan-config")["data"];
                data.as_object_mut().unwrap().remove("COUPAN_PUBLIC_ORIGIN");
            },
        ),
        ("no trusted proxies", "COUPAN_TRUSTED_PROXIES", |m| {
            let data = &mut doc_mut(m, "ConfigMap", "coupan-config")["data"];
            data.as_object_mut()
                .unwrap()
                .remove("COUPAN_TRUSTED_PROXIES");
        }),
        ("bad trusted proxies", "COUPAN_TRUSTED_PROXIES", |m| {
            doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_TRUSTED_PROXIES"] =
                json!("ingress-nginx");
        }),
        ("value the server refuses", "COUPAN_PAYMENT_WORKERS", |m| {
            doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_PAYMENT_WORKERS"] =
                json!("lots");
        }),
        (
            "placeholder secret accepted",
            "placeholder JWT_SECRET",
            |m| {
                // A placeholder long enough to pass: an unedited template would serve with it.
                doc_mut(m, "Secret", "coupan-secrets")["stringData"]["JWT_SECRET"] =
                    json!(PLACEHOLDER.repeat(4));
            },
        ),
        ("no preStop", "preStop", |m| {
            app_container(m)["lifecycle"] = Value::Null;
        }),
        ("maxUnavailable", "maxUnavailable", |m| {
            doc_mut(m, "Deployment", "coupan")["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] =
                json!(1);
        }),
        ("root", "runAsNonRoot", |m| {
            app_container(m)["securityContext"]["runAsNonRoot"] = json!(false);
        }),
        ("writable root fs", "readOnlyRootFilesystem", |m| {
            doc_mut(m, "Deployment", "paygate")["spec"]["template"]["spec"]["containers"][0]["securityContext"]
                ["readOnlyRootFilesystem"] = json!(false);
        }),
        ("paygate port", "paygate: containerPorts", |m| {
            let c = &mut doc_mut(m, "Deployment", "paygate")["spec"]["template"]["spec"]["containers"]
                [0];
            for var in c["env"].as_array_mut().unwrap() {
                if var["name"] == "PAYGATE_ADDR" {
                    var["value"] = json!("0.0.0.0:4000");
                }
            }
        }),
        ("paygate value", "PAYGATE_FAILURE_RATE", |m| {
            doc_mut(m, "Deployment", "paygate")["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "PAYGATE_FAILURE_RATE", "value": "2"}));
        }),
        ("payment URL port", "COUPAN_PAYMENT_URL", |m| {
            doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_PAYMENT_URL"] =
                json!("http://paygate:3003");
        }),
        (
            "database password",
            "the DATABASE_URL password is not the app role's password",
            |m| {
                doc_mut(m, "Secret", "postgres-secret")["stringData"]["COUPAN_APP_PASSWORD"] =
                    json!("something-else");
            },
        ),
        ("app as the superuser", "PostgreSQL's superuser", |m| {
            doc_mut(m, "Secret", "coupan-secrets")["stringData"]["DATABASE_URL"] =
                json!("postgres://coupan:REPLACE_ME@postgres:5432/coupan");
        }),
        (
            "the migrator's credentials in the app",
            "the serving container has COUPAN_MIGRATE_DATABASE_URL",
            |m| {
                doc_mut(m, "Secret", "coupan-secrets")["stringData"]["COUPAN_MIGRATE_DATABASE_URL"] =
                    json!("postgres://coupan_migrator:REPLACE_ME_MIGRATOR@postgres:5432/coupan");
            },
        ),
        (
            "no migrations",
            "init container running /app/server migrate",
            |m| {
                doc_mut(m, "Deployment", "coupan")["spec"]["template"]["spec"]
                    .as_object_mut()
                    .unwrap()
                    .remove("initContainers");
            },
        ),
        ("migrator password", "the migrator's password", |m| {
            doc_mut(m, "Secret", "postgres-secret")["stringData"]["COUPAN_MIGRATOR_PASSWORD"] =
                json!("something-else");
        }),
        (
            "migrator is the superuser",
            "must be a role of its own",
            |m| {
                doc_mut(m, "Secret", "coupan-migrator")["stringData"]["COUPAN_MIGRATE_DATABASE_URL"] =
                    json!("postgres://coupan:REPLACE_ME@postgres:5432/coupan");
            },
        ),
        ("roles SQL drifted", "is not scripts/db-roles.sql", |m| {
            doc_mut(m, "ConfigMap", "postgres-init")["data"]["coupan-roles.psql"] =
                json!("select 1;\n");
        }),
        (
            "roles never created",
            "no ConfigMap is mounted at /docker-entrypoint-initdb.d",
            |m| {
                doc_mut(m, "StatefulSet", "postgres")["spec"]["template"]["spec"]["containers"][0]
                    ["volumeMounts"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|v| v["name"] != "init");
            },
        ),
        (
            "metrics on the site's port",
            "COUPAN_METRICS_ADDR must differ",
            |m| {
                doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_METRICS_ADDR"] =
                    json!("0.0.0.0:3000");
            },
        ),
        (
            "metrics on loopback",
            "COUPAN_METRICS_ADDR=127.0.0.1:9100 listens only inside the pod",
            |m| {
                doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_METRICS_ADDR"] =
                    json!("127.0.0.1:9100");
            },
        ),
        ("metrics off", "COUPAN_METRICS_ADDR is off", |m| {
            doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_METRICS_ADDR"] = json!("off");
        }),
        ("metrics port in the Service", "targetPort", |m| {
            doc_mut(m, "Service", "coupan")["spec"]["ports"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "metrics", "port": 9100, "targetPort": "metrics"}));
        }),
        ("metrics port not declared", "is not a containerPort", |m| {
            app_container(m)["ports"]
                .as_array_mut()
                .unwrap()
                .truncate(1);
        }),
        (
            "payment key in the ConfigMap",
            "COUPAN_PAYMENT_SECRET_KEY must come from a Secret",
            |m| {
                let key = doc_mut(m, "Secret", "coupan-secrets")["stringData"]
                    .as_object_mut()
                    .unwrap()
                    .remove("COUPAN_PAYMENT_SECRET_KEY")
                    .unwrap();
                doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_PAYMENT_SECRET_KEY"] = key;
            },
        ),
        (
            "placeholder payment key accepted",
            "placeholder COUPAN_PAYMENT_SECRET_KEY",
            |m| {
                doc_mut(m, "Secret", "coupan-secrets")["stringData"]["COUPAN_PAYMENT_SECRET_KEY"] =
                    json!(PLACEHOLDER.repeat(4));
            },
        ),
        (
            "plain http to a gateway outside",
            "COUPAN_PAYMENT_ALLOW_HTTP is on for http://pay.example.com",
            |m| {
                doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_PAYMENT_URL"] =
                    json!("http://pay.example.com");
            },
        ),
        ("paygate admin routes", "PAYGATE_ADMIN_ROUTES is on", |m| {
            doc_mut(m, "Deployment", "paygate")["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "PAYGATE_ADMIN_ROUTES", "value": "true"}));
        }),
        (
            "paygate checks another key",
            "PAYGATE_SECRET_KEY is not the app's COUPAN_PAYMENT_SECRET_KEY",
            |m| {
                for var in
                    doc_mut(m, "Deployment", "paygate")["spec"]["template"]["spec"]["containers"][0]
                        ["env"]
                        .as_array_mut()
                        .unwrap()
                {
                    if var["name"] == "PAYGATE_SECRET_KEY" {
                        *var = json!({"name": "PAYGATE_SECRET_KEY", "value": "test_sk_other_0123456789"});
                    }
                }
            },
        ),
        ("database host", "DATABASE_URL host", |m| {
            doc_mut(m, "Secret", "coupan-secrets")["stringData"]["DATABASE_URL"] =
                json!("postgres://coupan:REPLACE_ME@db:5432/coupan");
        }),
        ("too many connections", "max_connections", |m| {
            doc_mut(m, "HorizontalPodAutoscaler", "coupan")["spec"]["maxReplicas"] = json!(20);
        }),
        ("pictures in a pod's directory", "COUPAN_IMAGE_STORE", |m| {
            let data = &mut doc_mut(m, "ConfigMap", "coupan-config")["data"];
            data.as_object_mut().unwrap().remove("COUPAN_IMAGE_STORE");
        }),
        ("memory", "memory", |m| {
            app_container(m)["resources"]["limits"]["memory"] = json!("1Gi");
        }),
        ("ingress backend", "does not exist", |m| {
            doc_mut(m, "Ingress", "coupan")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
                ["name"] = json!("nobody");
        }),
        ("image tag", "newTag", |m| {
            m.kustomization["images"][0]["newTag"] = json!("latest");
        }),
        ("image renamed", "is not coupan", |m| {
            app_container(m)["image"] = json!("registry.example.com/other:1");
        }),
        (
            "trusted proxies: a whole private range",
            "COUPAN_TRUSTED_PROXIES block 10.0.0.0/8 is wider than /16",
            |m| {
                doc_mut(m, "ConfigMap", "coupan-config")["data"]["COUPAN_TRUSTED_PROXIES"] =
                    json!("10.0.0.0/8");
            },
        ),
        (
            "postgres password file not mounted",
            "POSTGRES_PASSWORD_FILE",
            |m| {
                doc_mut(m, "StatefulSet", "postgres")["spec"]["template"]["spec"]["containers"][0]
                    ["volumeMounts"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|v| v["name"] != "secret");
            },
        ),
    ];
    assert_breaks_are_caught(mutations);
}

/// A way of breaking the manifests in memory: (what, a problem text that must be reported,
/// the change).
type Mutation = (&'static str, &'static str, fn(&mut Manifests));

/// Each mutation, applied alone to the manifests, makes `check` report the expected problem.
fn assert_breaks_are_caught(mutations: Vec<Mutation>) {
    let base = load();
    assert!(check(&base).is_empty(), "the manifests must pass first");
    for (what, expect, mutate) in mutations {
        let mut m = base.clone();
        mutate(&mut m);
        let problems = check(&m);
        assert!(
            problems.iter().any(|p| p.contains(expect)),
            "breaking {what:?} was not reported (expected {expect:?}); got {problems:?}"
        );
    }
}

/// The distinct probe paths of the container running `binary` (at least `min`).
fn probe_paths(m: &Manifests, binary: &str, min: usize) -> BTreeSet<String> {
    let containers = m.containers_running(binary);
    assert_eq!(containers.len(), 1, "{binary}");
    let paths: BTreeSet<String> = ["startupProbe", "livenessProbe", "readinessProbe"]
        .iter()
        .filter_map(|p| s(containers[0].container, &format!("/{p}/httpGet/path")))
        .collect();
    assert!(paths.len() >= min, "{binary}: {paths:?}");
    paths
}

/// Every probe path of the app answers 200 on the real router (database migrated).
#[sqlx::test(migrations = "../migrations")]
async fn app_probe_paths_answer_on_the_real_router(pool: PgPool) {
    let m = load();
    let app = TestApp::spawn(pool).await;
    for path in probe_paths(&m, APP_BINARY, 2) {
        let res = app.get(&path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "app probe {path}");
    }
    // The Prometheus scrape path serves the text format on the metrics listener, and not
    // on the site's port.
    let app_pod = &m.containers_running(APP_BINARY)[0].workload["spec"]["template"];
    let path = s(app_pod, "/metadata/annotations/prometheus.io~1path").expect("a scrape path");
    let res = app
        .client
        .get(format!("{}{path}", app.metrics_base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "scrape path {path}");
    let body = res.text().await.unwrap();
    assert!(
        body.contains("# TYPE "),
        "{path} is not Prometheus text: {body}"
    );
    assert_eq!(
        app.get(&path, None).await.status(),
        StatusCode::NOT_FOUND,
        "{path} on the site's port"
    );
    // And a path that is not served is not 200: the check can fail.
    let res = app.get("/readyz-not-a-route/x", None).await;
    assert_ne!(res.status(), StatusCode::OK);
}

/// Every probe path of paygate answers 200 on its real router.
#[tokio::test]
async fn paygate_probe_paths_answer_on_the_real_router() {
    let m = load();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = paygate::router(
        paygate::Gateway::in_memory(),
        paygate::Access::new(crate::helpers::PAYMENT_KEY),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = reqwest::Client::builder()
        .timeout(crate::helpers::REQUEST_TIMEOUT)
        .build()
        .unwrap();
    for path in probe_paths(&m, PAYGATE_BINARY, 1) {
        let res = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "paygate probe {path}");
    }
    let res = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "paygate has no /readyz"
    );
}
