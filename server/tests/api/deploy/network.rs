//! The NetworkPolicies of `deploy/k8s`, evaluated the way Kubernetes does (label
//! selectors, namespace selectors, named ports, the sender's egress and the receiver's
//! ingress) between the workloads of the manifests and the pods around them: the peers the
//! base assumes (the ingress controller, Prometheus, the cluster DNS; deploy/k8s/README.md)
//! and strangers. Each side must admit exactly the connections the manifests and the code
//! need: the Ingress backends, the scrape annotations, the app's `DATABASE_URL`,
//! `COUPAN_PAYMENT_URL` and S3 picture store (`COUPAN_IMAGE_STORE`, `AWS_ENDPOINT`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{
    APP_BINARY, Doc, Manifests, Mutation, app_container, arr, assert_breaks_are_caught, doc_mut,
    kind, load, name, parse_url, resolve_port, s, selects, service_target, u,
};

/// A pod that opens or accepts connections, as the NetworkPolicies see it.
#[derive(Clone, Debug)]
struct Peer {
    /// How a problem names it (a workload: its name).
    what: String,
    /// `None`: an address outside the cluster (only an `ipBlock` names it).
    namespace: Option<String>,
    labels: Value,
    /// The ports it accepts: (name, number, protocol).
    ports: Vec<(Option<String>, u64, String)>,
}

/// A pod (or an address) that is not one of the manifests' workloads.
fn extra_peer(what: &str, namespace: Option<&str>, labels: Value, ports: &[(u64, &str)]) -> Peer {
    Peer {
        what: what.into(),
        namespace: namespace.map(str::to_string),
        labels,
        ports: ports
            .iter()
            .map(|(p, proto)| (None, *p, (*proto).to_string()))
            .collect(),
    }
}

// The peers outside the namespace that the policies admit: the base's assumptions
// (deploy/k8s/README.md, "Network policies").
const INGRESS_CONTROLLER: &str = "the ingress controller";
const PROMETHEUS: &str = "Prometheus";
const CLUSTER_DNS: &str = "the cluster DNS";
/// An address on the internet (only an `ipBlock` names it): AWS's S3 endpoint, for one.
const OUTSIDE: &str = "an address outside the cluster";

/// The namespace the kustomization puts every resource in.
fn namespace_of(m: &Manifests) -> String {
    s(&m.kustomization, "/namespace").unwrap_or_else(|| "default".into())
}

/// The pods of the manifests' workloads, then pods outside them: the ones the policies
/// should admit, and others that nothing needs.
fn peers(m: &Manifests) -> Vec<Peer> {
    let ns = namespace_of(m);
    let mut all: Vec<Peer> = m
        .workloads()
        .map(|w| Peer {
            what: name(w).to_string(),
            namespace: Some(ns.clone()),
            labels: w["spec"]["template"]["metadata"]["labels"].clone(),
            ports: arr(w, "/spec/template/spec/containers")
                .iter()
                .flat_map(|c| arr(c, "/ports"))
                .filter_map(|p| {
                    Some((
                        s(p, "/name"),
                        u(p, "/containerPort")?,
                        s(p, "/protocol").unwrap_or_else(|| "TCP".into()),
                    ))
                })
                .collect(),
        })
        .collect();
    all.extend([
        extra_peer(
            INGRESS_CONTROLLER,
            Some("ingress-nginx"),
            json!({"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}),
            &[],
        ),
        extra_peer(
            PROMETHEUS,
            Some("monitoring"),
            json!({"app.kubernetes.io/name": "prometheus"}),
            &[],
        ),
        // CoreDNS keeps kube-dns's label.
        extra_peer(
            CLUSTER_DNS,
            Some("kube-system"),
            json!({"k8s-app": "kube-dns"}),
            &[(53, "UDP"), (53, "TCP")],
        ),
        extra_peer(
            "another pod of this namespace",
            Some(&ns),
            json!({"app.kubernetes.io/name": "stranger"}),
            &[(8080, "TCP")],
        ),
        extra_peer(
            "another pod of ingress-nginx",
            Some("ingress-nginx"),
            json!({"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "admission-webhook"}),
            &[],
        ),
        extra_peer(
            "another pod of monitoring",
            Some("monitoring"),
            json!({"app.kubernetes.io/name": "grafana"}),
            &[],
        ),
        extra_peer(
            "a pod of another namespace",
            Some("default"),
            json!({"app": "stranger"}),
            &[(8080, "TCP")],
        ),
        extra_peer(
            OUTSIDE,
            None,
            json!({}),
            &[(443, "TCP")],
        ),
    ]);
    all
}

/// `matchLabels` and `matchExpressions` of a label selector; an empty one selects all.
fn selector_matches(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let match_labels = selector["matchLabels"]
        .as_object()
        .is_none_or(|want| want.iter().all(|(k, v)| label(k) == v.as_str()));
    let match_expressions = arr(selector, "/matchExpressions").iter().all(|e| {
        let key = s(e, "/key").unwrap_or_default();
        let values: Vec<&str> = arr(e, "/values").iter().filter_map(Value::as_str).collect();
        match s(e, "/operator").as_deref() {
            Some("In") => label(&key).is_some_and(|v| values.contains(&v)),
            Some("NotIn") => label(&key).is_none_or(|v| !values.contains(&v)),
            Some("Exists") => label(&key).is_some(),
            Some("DoesNotExist") => label(&key).is_none(),
            _ => false,
        }
    });
    match_labels && match_expressions
}

fn selector_is_empty(selector: &Value) -> bool {
    selector["matchLabels"]
        .as_object()
        .is_none_or(|l| l.is_empty())
        && arr(selector, "/matchExpressions").is_empty()
}

/// `policyTypes`, or its default: Ingress, and Egress when there are egress rules.
fn policy_types(policy: &Value) -> Vec<String> {
    match policy
        .pointer("/spec/policyTypes")
        .and_then(Value::as_array)
    {
        Some(types) => types
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        None => {
            let mut types = vec!["Ingress".to_string()];
            if policy.pointer("/spec/egress").is_some() {
                types.push("Egress".into());
            }
            types
        }
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Ingress,
    Egress,
}

/// The NetworkPolicies of the manifests' namespace, evaluated the way Kubernetes does: a
/// pod that some policy selects for a direction is isolated in it, and then traffic passes
/// only if a rule of one of those policies admits the peer and the port. A connection needs
/// both the sender's egress and the receiver's ingress.
struct Network<'a> {
    ns: String,
    /// Labels of the manifests' own Namespace (Kubernetes adds `kubernetes.io/metadata.name`).
    ns_labels: Value,
    policies: Vec<&'a Value>,
}

impl<'a> Network<'a> {
    fn new(m: &'a Manifests) -> Self {
        let ns = namespace_of(m);
        let mut ns_labels = m
            .of_kind("Namespace")
            .next()
            .map(|d| d["metadata"]["labels"].clone())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        ns_labels["kubernetes.io/metadata.name"] = json!(ns);
        Network {
            ns,
            ns_labels,
            policies: m.of_kind("NetworkPolicy").collect(),
        }
    }

    /// Whether a `from`/`to` entry names `other`. An `ipBlock` counts as naming every peer:
    /// this check does not know pod addresses, so it assumes the widest reading.
    fn names(&self, entry: &Value, other: &Peer) -> bool {
        if entry.get("ipBlock").is_some() {
            return true;
        }
        let Some(other_ns) = &other.namespace else {
            return false;
        };
        let ns_ok = match entry.get("namespaceSelector") {
            Some(selector) => {
                let labels = if *other_ns == self.ns {
                    self.ns_labels.clone()
                } else {
                    json!({"kubernetes.io/metadata.name": other_ns})
                };
                selector_matches(selector, &labels)
            }
            None => *other_ns == self.ns,
        };
        ns_ok
            && entry
                .get("podSelector")
                .is_none_or(|selector| selector_matches(selector, &other.labels))
    }

    /// Whether a rule's `ports` admit `port`/`protocol` of `dest` (a named port is looked
    /// up among `dest`'s container ports).
    fn admits_port(ports: &[Value], dest: &Peer, port: u64, protocol: &str) -> bool {
        ports.is_empty()
            || ports.iter().any(|p| {
                let proto = s(p, "/protocol").unwrap_or_else(|| "TCP".into());
                proto == protocol
                    && match p.get("port") {
                        None => true,
                        Some(Value::String(named)) => dest.ports.iter().any(|(n, number, pr)| {
                            n.as_deref() == Some(named.as_str())
                                && *number == port
                                && pr == protocol
                        }),
                        Some(number) => {
                            let first = number.as_u64().unwrap_or(0);
                            let last = u(p, "/endPort").unwrap_or(first);
                            (first..=last).contains(&port)
                        }
                    }
            })
    }

    /// Whether `subject`'s policies let it exchange traffic with `other` in `direction`
    /// (Ingress: other → subject; Egress: subject → other) on `dest`'s port.
    fn side_allows(
        &self,
        direction: Direction,
        subject: &Peer,
        other: &Peer,
        dest: &Peer,
        port: u64,
        protocol: &str,
    ) -> bool {
        if subject.namespace.as_deref() != Some(self.ns.as_str()) {
            return true; // not governed by these policies
        }
        let (type_, rules, peers) = match direction {
            Direction::Ingress => ("Ingress", "/spec/ingress", "/from"),
            Direction::Egress => ("Egress", "/spec/egress", "/to"),
        };
        let mut isolated = false;
        for policy in &self.policies {
            if !selector_matches(&policy["spec"]["podSelector"], &subject.labels)
                || !policy_types(policy).iter().any(|t| t == type_)
            {
                continue;
            }
            isolated = true;
            for rule in arr(policy, rules) {
                let listed = arr(rule, peers);
                let peer_ok = listed.is_empty() || listed.iter().any(|e| self.names(e, other));
                if peer_ok && Self::admits_port(arr(rule, "/ports"), dest, port, protocol) {
                    return true;
                }
            }
        }
        !isolated
    }
}

/// (from, to, port, protocol) by the peers' names.
type Connection = (String, String, u64, String);

/// The connections the manifests and the code need: the ingress controller to every pod an
/// Ingress routes to, Prometheus to every scraped pod's scrape port, the app to the
/// PostgreSQL and payment gateway its URLs name, and to the cluster DNS for their names.
fn needed_connections(
    m: &Manifests,
    app_env: Option<&BTreeMap<String, Option<String>>>,
) -> BTreeSet<Connection> {
    let tcp = |from: &str, to: &str, port: u64| {
        (from.to_string(), to.to_string(), port, "TCP".to_string())
    };
    let mut needs = BTreeSet::new();
    for ing in m.of_kind("Ingress") {
        for rule in arr(ing, "/spec/rules") {
            for p in arr(rule, "/http/paths") {
                let service = s(p, "/backend/service/name").unwrap_or_default();
                let Some(svc) = m.find("Service", &service) else {
                    continue;
                };
                for sp in arr(svc, "/spec/ports") {
                    let by_number = p
                        .pointer("/backend/service/port/number")
                        .is_some_and(|n| u(sp, "/port") == n.as_u64());
                    let by_name = p
                        .pointer("/backend/service/port/name")
                        .is_some_and(|n| sp.get("name") == Some(n));
                    if !(by_number || by_name) {
                        continue;
                    }
                    for w in m.workloads() {
                        if !selects(svc, &w["spec"]["template"]["metadata"]["labels"]) {
                            continue;
                        }
                        let target = sp.get("targetPort").unwrap_or(&sp["port"]);
                        for c in arr(w, "/spec/template/spec/containers") {
                            if let Some(port) = resolve_port(target, c) {
                                needs.insert(tcp(INGRESS_CONTROLLER, name(w), port));
                            }
                        }
                    }
                }
            }
        }
    }
    for w in m.workloads() {
        let annotations = &w["spec"]["template"]["metadata"]["annotations"];
        if s(annotations, "/prometheus.io~1scrape").as_deref() == Some("true") {
            let port = u(annotations, "/prometheus.io~1port")
                .or_else(|| u(w, "/spec/template/spec/containers/0/ports/0/containerPort"));
            if let Some(port) = port {
                needs.insert(tcp(PROMETHEUS, name(w), port));
            }
        }
    }
    let apps = m.containers_running(APP_BINARY);
    if let (Some(env), [app]) = (app_env, apps.as_slice()) {
        let app_name = name(app.workload);
        for var in ["DATABASE_URL", "COUPAN_PAYMENT_URL"] {
            let Some(url) = env.get(var).cloned().flatten().and_then(|u| parse_url(&u)) else {
                continue;
            };
            let default_port = if var == "DATABASE_URL" { 5432 } else { 80 };
            let port = url.port.unwrap_or(default_port);
            if let Some((target, Some(target_port))) = service_target(m, &url.host, port) {
                needs.insert(tcp(app_name, name(target.workload), target_port));
            }
            if url.host.parse::<std::net::IpAddr>().is_err() {
                needs.insert(tcp(app_name, CLUSTER_DNS, 53));
                needs.insert((app_name.into(), CLUSTER_DNS.into(), 53, "UDP".into()));
            }
        }
        // Coupon pictures in S3 (COUPAN_IMAGE_STORE=s3://...): AWS's https endpoint
        // outside the cluster, or the S3-compatible service AWS_ENDPOINT names.
        let var = |n: &str| env.get(n).cloned().flatten();
        if var("COUPAN_IMAGE_STORE").is_some_and(|v| v.starts_with("s3://")) {
            let endpoint = var("AWS_ENDPOINT").or_else(|| var("AWS_ENDPOINT_URL"));
            match endpoint.as_deref().and_then(parse_url) {
                None => {
                    needs.insert(tcp(app_name, OUTSIDE, 443));
                }
                Some(url) => {
                    let plain = endpoint.is_some_and(|e| e.starts_with("http://"));
                    let port = url.port.unwrap_or(if plain { 80 } else { 443 });
                    match service_target(m, &url.host, port) {
                        Some((target, Some(target_port))) => {
                            needs.insert(tcp(app_name, name(target.workload), target_port));
                        }
                        _ => {
                            needs.insert(tcp(app_name, OUTSIDE, port));
                        }
                    }
                }
            }
            needs.insert(tcp(app_name, CLUSTER_DNS, 53));
            needs.insert((app_name.into(), CLUSTER_DNS.into(), 53, "UDP".into()));
        }
    }
    needs
}

/// A default deny for the namespace, a policy of its own for every workload, and exactly
/// the needed connections allowed between the workloads and the peers around them.
pub(super) fn check_network_policies(
    m: &Manifests,
    app_env: Option<&BTreeMap<String, Option<String>>>,
    problems: &mut Vec<String>,
) {
    let net = Network::new(m);
    let default_deny = net.policies.iter().any(|p| {
        let types = policy_types(p);
        selector_is_empty(&p["spec"]["podSelector"])
            && types.iter().any(|t| t == "Ingress")
            && types.iter().any(|t| t == "Egress")
            && arr(p, "/spec/ingress").is_empty()
            && arr(p, "/spec/egress").is_empty()
    });
    if !default_deny {
        problems.push(
            "NetworkPolicy: no default-deny policy (podSelector {}, policyTypes Ingress and Egress, no rules)"
                .into(),
        );
    }
    for policy in &net.policies {
        let selector = &policy["spec"]["podSelector"];
        if !selector_is_empty(selector)
            && !m
                .workloads()
                .any(|w| selector_matches(selector, &w["spec"]["template"]["metadata"]["labels"]))
        {
            problems.push(format!(
                "NetworkPolicy {}: its podSelector selects no pod of the manifests",
                name(policy)
            ));
        }
    }
    for w in m.workloads() {
        let labels = &w["spec"]["template"]["metadata"]["labels"];
        if !net.policies.iter().any(|p| {
            !selector_is_empty(&p["spec"]["podSelector"])
                && selector_matches(&p["spec"]["podSelector"], labels)
        }) {
            problems.push(format!(
                "NetworkPolicy: {} {} is selected by no NetworkPolicy of its own",
                kind(w),
                name(w)
            ));
        }
    }
    // Each side on its own: the receiver's ingress admits exactly the needed senders and
    // the sender's egress reaches exactly the needed receivers (so that one loose side is
    // not hidden by the other side's deny).
    let needs = needed_connections(m, app_env);
    let peers = peers(m);
    let ours = |p: &Peer| p.namespace.as_deref() == Some(net.ns.as_str());
    for to in &peers {
        for from in peers.iter().filter(|from| from.what != to.what) {
            for (_, port, protocol) in &to.ports {
                let needed =
                    needs.contains(&(from.what.clone(), to.what.clone(), *port, protocol.clone()));
                let (a, b) = (&from.what, &to.what);
                if ours(to) {
                    let admitted =
                        net.side_allows(Direction::Ingress, to, from, to, *port, protocol);
                    if needed && !admitted {
                        problems.push(format!(
                            "NetworkPolicy: {b} does not admit {a} on port {port}/{protocol}, which it needs"
                        ));
                    } else if admitted && !needed {
                        problems.push(format!(
                            "NetworkPolicy: {b} admits {a} on port {port}/{protocol}, which nothing needs"
                        ));
                    }
                }
                if ours(from) {
                    let reaches = net.side_allows(Direction::Egress, from, to, to, *port, protocol);
                    if needed && !reaches {
                        problems.push(format!(
                            "NetworkPolicy: {a} may not connect to {b} port {port}/{protocol}, which it needs"
                        ));
                    } else if reaches && !needed {
                        problems.push(format!(
                            "NetworkPolicy: {a} may connect to {b} port {port}/{protocol}, which nothing needs"
                        ));
                    }
                }
            }
        }
    }
    // A need whose receiver is not among the peers (a port no container declares) can never
    // be met: report it too.
    for (from, to, port, protocol) in &needs {
        let declared = peers
            .iter()
            .any(|p| p.what == *to && p.ports.iter().any(|(_, n, pr)| n == port && pr == protocol));
        if !declared {
            problems.push(format!(
                "NetworkPolicy: {from} needs {to} port {port}/{protocol}, which no container there declares"
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

fn policy_mut<'a>(m: &'a mut Manifests, name_: &str) -> &'a mut Value {
    doc_mut(m, "NetworkPolicy", name_)
}

/// Each way of breaking the policies is reported.
#[test]
fn breaks_are_caught() {
    let mutations: Vec<Mutation> = vec![
        ("no default deny", "no default-deny policy", |m| {
            m.docs.retain(|d| name(&d.value) != "default-deny");
        }),
        (
            "default deny of ingress only",
            "no default-deny policy",
            |m| {
                policy_mut(m, "default-deny")["spec"]["policyTypes"] = json!(["Ingress"]);
            },
        ),
        (
            "a workload without a policy of its own",
            "StatefulSet postgres is selected by no NetworkPolicy of its own",
            |m| {
                m.docs.retain(|d| {
                    !(kind(&d.value) == "NetworkPolicy" && name(&d.value) == "postgres")
                });
            },
        ),
        (
            "a policy's selector misses its pods",
            "NetworkPolicy paygate: its podSelector selects no pod",
            |m| {
                policy_mut(m, "paygate")["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] =
                    json!("paygat");
            },
        ),
        (
            "the app's port is not the one opened",
            "coupan does not admit the ingress controller on port 3000/TCP",
            |m| {
                policy_mut(m, "coupan")["spec"]["ingress"][0]["ports"][0]["port"] = json!(8080);
            },
        ),
        (
            "the policy names a port the app no longer has",
            "coupan does not admit the ingress controller on port 3000/TCP",
            |m| {
                // Container, probes and Service agree on the new name; the policy still
                // opens the port named `http`.
                let c = app_container(m);
                c["ports"][0]["name"] = json!("web");
                for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                    c[probe]["httpGet"]["port"] = json!("web");
                }
                doc_mut(m, "Service", "coupan")["spec"]["ports"][0]["targetPort"] = json!("web");
            },
        ),
        (
            "the app open to every pod",
            "coupan admits another pod of this namespace on port 3000/TCP",
            |m| {
                policy_mut(m, "coupan")["spec"]["ingress"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("from");
            },
        ),
        (
            "the app open to the whole ingress namespace",
            "coupan admits another pod of ingress-nginx on port 3000/TCP",
            |m| {
                policy_mut(m, "coupan")["spec"]["ingress"][0]["from"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("podSelector");
            },
        ),
        (
            "the app open to an address block",
            "coupan admits an address outside the cluster on port 3000/TCP",
            |m| {
                policy_mut(m, "coupan")["spec"]["ingress"][0]["from"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"ipBlock": {"cidr": "10.0.0.0/8"}}));
            },
        ),
        (
            "no Prometheus rule",
            "coupan does not admit Prometheus on port 9100/TCP",
            |m| {
                policy_mut(m, "coupan")["spec"]["ingress"]
                    .as_array_mut()
                    .unwrap()
                    .remove(1);
            },
        ),
        (
            "Prometheus on the site's port",
            "coupan admits Prometheus on port 3000/TCP, which nothing needs",
            |m| {
                policy_mut(m, "coupan")["spec"]["ingress"][1]["ports"][0]["port"] = json!("http");
            },
        ),
        (
            "the ingress controller on the metrics port",
            "coupan admits the ingress controller on port 9100/TCP, which nothing needs",
            |m| {
                policy_mut(m, "coupan")["spec"]["ingress"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("ports");
            },
        ),
        (
            "paygate open to the namespace",
            "paygate admits postgres on port 3002/TCP",
            |m| {
                policy_mut(m, "paygate")["spec"]["ingress"][0]["from"][0]["podSelector"] =
                    json!({});
            },
        ),
        (
            "postgres admits paygate instead of the app",
            "postgres does not admit coupan on port 5432/TCP",
            |m| {
                policy_mut(m, "postgres")["spec"]["ingress"][0]["from"][0]["podSelector"] =
                    json!({"matchLabels": {"app.kubernetes.io/name": "paygate"}});
            },
        ),
        (
            "postgres may call out",
            "postgres may connect to an address outside the cluster port 443/TCP",
            |m| {
                policy_mut(m, "postgres")["spec"]["egress"] = json!([{}]);
            },
        ),
        (
            "the app's egress to paygate on the wrong port",
            "coupan may not connect to paygate port 3002/TCP",
            |m| {
                policy_mut(m, "coupan")["spec"]["egress"][1]["ports"][0]["port"] = json!(3003);
            },
        ),
        (
            "the app's egress open",
            "coupan may connect to a pod of another namespace port 8080/TCP",
            |m| {
                policy_mut(m, "coupan")["spec"]["egress"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({}));
            },
        ),
        (
            "no egress to the picture store",
            "coupan may not connect to an address outside the cluster port 443/TCP",
            |m| {
                policy_mut(m, "coupan")["spec"]["egress"]
                    .as_array_mut()
                    .unwrap()
                    .remove(3);
            },
        ),
        (
            "the picture store's rule on every port",
            "coupan may connect to a pod of another namespace port 8080/TCP",
            |m| {
                policy_mut(m, "coupan")["spec"]["egress"][3]
                    .as_object_mut()
                    .unwrap()
                    .remove("ports");
            },
        ),
        (
            "the picture store moved into the cluster",
            "coupan may connect to an address outside the cluster port 443/TCP, which nothing needs",
            |m| {
                // An S3-compatible service behind a Service of the manifests (any will do
                // here): the rule for the internet is no longer needed.
                doc_mut(m, "ConfigMap", "coupan-config")["data"]["AWS_ENDPOINT"] =
                    json!("http://paygate:3002");
            },
        ),
        (
            "no DNS for the app",
            "coupan may not connect to the cluster DNS port 53/UDP",
            |m| {
                policy_mut(m, "coupan")["spec"]["egress"]
                    .as_array_mut()
                    .unwrap()
                    .remove(2);
            },
        ),
    ];
    assert_breaks_are_caught(mutations);
}

/// The policy model itself on hand-written policies: label selectors and expressions, a
/// namespace and a pod selector in one entry (both must match) or in two (either does),
/// named ports, port ranges, protocols and the default `policyTypes`.
#[test]
fn policy_model() {
    let mut base = load();
    base.docs.retain(|d| kind(&d.value) != "NetworkPolicy");
    let ns = namespace_of(&base);
    let web = Peer {
        what: "web".into(),
        namespace: Some(ns.clone()),
        labels: json!({"tier": "web", "env": "prod"}),
        ports: vec![
            (Some("http".into()), 8080, "TCP".into()),
            (None, 53, "UDP".into()),
        ],
    };
    let db = extra_peer("db", Some(&ns), json!({"tier": "db"}), &[(5432, "TCP")]);
    let controller = extra_peer("ctl", Some("edge"), json!({"role": "controller"}), &[]);
    let webhook = extra_peer("hook", Some("edge"), json!({"role": "webhook"}), &[]);
    let monitor = extra_peer(
        "mon",
        Some("monitoring"),
        json!({"role": "controller"}),
        &[],
    );
    let with = |spec: Value| {
        let mut m = base.clone();
        m.docs.push(Doc {
            file: "test.yaml".into(),
            value: json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "test"}, "spec": spec}),
        });
        m
    };
    let admits = |m: &Manifests, from: &Peer, port: u64, protocol: &str| {
        Network::new(m).side_allows(Direction::Ingress, &web, from, &web, port, protocol)
    };

    // No policy selects the pod: open.
    assert!(admits(&base, &webhook, 8080, "TCP"));

    // Both selectors in one entry: the controller of namespace `edge` only; a named port.
    let m = with(json!({
        "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]},
        "ingress": [{"from": [{
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}},
            "podSelector": {"matchLabels": {"role": "controller"}}}],
            "ports": [{"port": "http"}]}]}));
    assert!(admits(&m, &controller, 8080, "TCP"));
    assert!(!admits(&m, &webhook, 8080, "TCP"));
    assert!(!admits(&m, &monitor, 8080, "TCP"));
    assert!(!admits(&m, &controller, 53, "UDP"));

    // Two entries: either one; a pod selector alone means this namespace.
    let m = with(json!({"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}}},
        {"podSelector": {"matchLabels": {"tier": "db"}}}]}]}));
    assert!(admits(&m, &webhook, 8080, "TCP"));
    assert!(admits(&m, &db, 8080, "TCP"));
    assert!(!admits(&m, &monitor, 8080, "TCP"));

    // Port ranges and protocols; NotIn, Exists and DoesNotExist select the pod.
    let m = with(json!({
        "podSelector": {"matchExpressions": [
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "tier", "operator": "Exists"},
            {"key": "canary", "operator": "DoesNotExist"}]},
        "ingress": [{"ports": [{"port": 8000, "endPort": 8100}, {"port": 53, "protocol": "UDP"}]}]}));
    assert!(admits(&m, &webhook, 8080, "TCP"));
    assert!(admits(&m, &webhook, 53, "UDP"));
    assert!(!admits(&m, &webhook, 8080, "UDP"));
    assert!(!admits(&m, &webhook, 8200, "TCP"));

    // A selector that misses the pod leaves it open, even with no rules.
    let m = with(json!({
        "podSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]},
        "ingress": []}));
    assert!(admits(&m, &webhook, 8080, "TCP"));

    // Without policyTypes: Ingress always (no rules: nothing admitted), Egress only with
    // egress rules (here: to this namespace only).
    let m = with(json!({"podSelector": {}, "egress": [{"to": [{"podSelector": {}}]}]}));
    let net = Network::new(&m);
    assert!(!admits(&m, &db, 8080, "TCP"));
    assert!(net.side_allows(Direction::Egress, &web, &db, &db, 5432, "TCP"));
    assert!(!net.side_allows(
        Direction::Egress,
        &web,
        &controller,
        &controller,
        443,
        "TCP"
    ));
    let m = with(json!({"podSelector": {}, "ingress": [{}]}));
    assert!(Network::new(&m).side_allows(
        Direction::Egress,
        &web,
        &controller,
        &controller,
        443,
        "TCP"
    ));
}
