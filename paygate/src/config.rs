//! The binary's configuration: `PAYGATE_*` environment variables, each with its default
//! here and nowhere else. An empty variable counts as unset; every bad value is reported.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::domain::Mode;

pub const DEFAULT_ADDR: &str = "127.0.0.1:3002";

/// Every environment variable the binary reads (`RUST_LOG` is the log filter). The
/// deployment manifests are checked against this list (`server/tests/api/deploy.rs`).
pub const ENV_VARS: &[&str] = &[
    "PAYGATE_SECRET_KEY",
    "PAYGATE_ADMIN_ROUTES",
    "PAYGATE_ADDR",
    "PAYGATE_LATENCY_MS",
    "PAYGATE_FAILURE_RATE",
    "PAYGATE_LEDGER_FILE",
    "RUST_LOG",
];

/// The binary's configuration, read from `PAYGATE_*` variables.
#[derive(Clone, PartialEq)]
pub struct Config {
    /// The key every caller must send (`PAYGATE_SECRET_KEY`, required).
    pub secret_key: String,
    /// Serve `/admin/mode` and `/v1/ledger` (`PAYGATE_ADMIN_ROUTES`, default false).
    pub admin_routes: bool,
    pub addr: SocketAddr,
    pub latency_ms: u64,
    pub failure_rate: f64,
    pub ledger_file: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("secret_key", &"<redacted>")
            .field("admin_routes", &self.admin_routes)
            .field("addr", &self.addr)
            .field("latency_ms", &self.latency_ms)
            .field("failure_rate", &self.failure_rate)
            .field("ledger_file", &self.ledger_file)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{name} is not set: the secret key every caller must send (Authorization: Basic base64(key + \":\"))"
    )]
    MissingSecretKey { name: &'static str },
    #[error("{name}={value:?} is not a boolean (use true or false)")]
    Flag { name: &'static str, value: String },
    #[error("{name} is not valid UTF-8")]
    NotUnicode { name: &'static str },
    #[error("{name}={value:?} is not a socket address like 127.0.0.1:3002")]
    Addr { name: &'static str, value: String },
    #[error("{name}={value:?} is not a whole number of milliseconds (0 or more)")]
    Latency { name: &'static str, value: String },
    #[error("{name}={value:?} is not a number from 0 to 1")]
    FailureRate { name: &'static str, value: String },
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut vars = HashMap::new();
        for &name in ENV_VARS.iter().filter(|n| n.starts_with("PAYGATE_")) {
            match std::env::var(name) {
                Ok(v) => {
                    vars.insert(name, v);
                }
                Err(std::env::VarError::NotPresent) => {}
                Err(std::env::VarError::NotUnicode(_)) => {
                    errors.push(ConfigError::NotUnicode { name })
                }
            }
        }
        match Config::from_lookup(|name| vars.get(name).cloned()) {
            Ok(c) if errors.is_empty() => Ok(c),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }

    /// Reads the configuration through `lookup` (a variable's value, `None` if unset).
    /// Empty values count as unset. Returns every bad value, not just the first.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut errors = Vec::new();

        const KEY: &str = "PAYGATE_SECRET_KEY";
        let secret_key = get(KEY).unwrap_or_else(|| {
            errors.push(ConfigError::MissingSecretKey { name: KEY });
            String::new()
        });

        const ADMIN: &str = "PAYGATE_ADMIN_ROUTES";
        let admin_routes = match get(ADMIN).map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => true,
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => false,
            Some(v) => {
                errors.push(ConfigError::Flag {
                    name: ADMIN,
                    value: v,
                });
                false
            }
        };

        const ADDR: &str = "PAYGATE_ADDR";
        let default_addr = || DEFAULT_ADDR.parse().expect("default address");
        let addr = match get(ADDR) {
            None => default_addr(),
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                errors.push(ConfigError::Addr {
                    name: ADDR,
                    value: v,
                });
                default_addr()
            }),
        };

        const LATENCY: &str = "PAYGATE_LATENCY_MS";
        let latency_ms = match get(LATENCY) {
            None => Mode::default().latency_ms,
            Some(v) => v.trim().parse::<u64>().unwrap_or_else(|_| {
                errors.push(ConfigError::Latency {
                    name: LATENCY,
                    value: v,
                });
                0
            }),
        };

        const RATE: &str = "PAYGATE_FAILURE_RATE";
        let failure_rate = match get(RATE) {
            None => Mode::default().failure_rate,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(r) if Mode::valid_failure_rate(r) => r,
                _ => {
                    errors.push(ConfigError::FailureRate {
                        name: RATE,
                        value: v,
                    });
                    0.0
                }
            },
        };

        let ledger_file = get("PAYGATE_LEDGER_FILE").map(PathBuf::from);

        if errors.is_empty() {
            Ok(Config {
                secret_key,
                admin_routes,
                addr,
                latency_ms,
                failure_rate,
                ledger_file,
            })
        } else {
            Err(errors)
        }
    }

    /// Who may call the gateway and which routes it serves.
    pub fn access(&self) -> crate::Access {
        let access = crate::Access::new(&self.secret_key);
        if self.admin_routes {
            access.with_admin_routes()
        } else {
            access
        }
    }

    /// The mode this configuration starts the gateway in.
    pub fn mode(&self) -> Mode {
        Mode {
            failure_rate: self.failure_rate,
            latency_ms: self.latency_ms,
            ..Mode::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    const KEY: (&str, &str) = ("PAYGATE_SECRET_KEY", "test_sk_0123");

    #[test]
    fn config_defaults() {
        let c = Config::from_lookup(lookup(&[KEY])).unwrap();
        assert_eq!(c.secret_key, "test_sk_0123");
        assert!(!c.admin_routes);
        assert!(!c.access().admin_routes());
        assert_eq!(c.addr, "127.0.0.1:3002".parse().unwrap());
        assert_eq!(c.latency_ms, 0);
        assert_eq!(c.failure_rate, 0.0);
        assert_eq!(c.ledger_file, None);
        let c = Config::from_lookup(lookup(&[
            KEY,
            ("PAYGATE_LEDGER_FILE", ""),
            ("PAYGATE_ADDR", ""),
        ]))
        .unwrap();
        assert_eq!(c.ledger_file, None);
        assert_eq!(c.addr, "127.0.0.1:3002".parse().unwrap());
    }

    #[test]
    fn config_values() {
        let c = Config::from_lookup(lookup(&[
            KEY,
            ("PAYGATE_ADMIN_ROUTES", "true"),
            ("PAYGATE_ADDR", "0.0.0.0:4000"),
            ("PAYGATE_LATENCY_MS", "25"),
            ("PAYGATE_FAILURE_RATE", "0.5"),
            ("PAYGATE_LEDGER_FILE", "/tmp/x.jsonl"),
        ]))
        .unwrap();
        assert_eq!(c.addr, "0.0.0.0:4000".parse().unwrap());
        assert_eq!(c.latency_ms, 25);
        assert_eq!(c.failure_rate, 0.5);
        assert_eq!(c.ledger_file, Some(PathBuf::from("/tmp/x.jsonl")));
        assert_eq!(c.mode().failure_rate, 0.5);
        assert_eq!(c.mode().latency_ms, 25);
        assert!(c.admin_routes && c.access().admin_routes());
        assert!(!format!("{c:?}").contains("test_sk_0123"), "{c:?}");
    }

    #[test]
    fn config_reports_every_bad_value() {
        let errors = Config::from_lookup(lookup(&[
            ("PAYGATE_ADMIN_ROUTES", "maybe"),
            ("PAYGATE_ADDR", "localhost"),
            ("PAYGATE_LATENCY_MS", "-1"),
            ("PAYGATE_FAILURE_RATE", "1.5"),
        ]))
        .unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:?}");
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text[0].contains("PAYGATE_SECRET_KEY is not set"),
            "{text:?}"
        );
        assert!(text[1].contains("PAYGATE_ADMIN_ROUTES"), "{text:?}");
        assert!(text[2].contains("PAYGATE_ADDR"), "{text:?}");
        assert!(text[3].contains("PAYGATE_LATENCY_MS"), "{text:?}");
        assert!(text[4].contains("PAYGATE_FAILURE_RATE"), "{text:?}");
        for bad in ["NaN", "inf", "x", "-0.1"] {
            assert!(
                Config::from_lookup(lookup(&[KEY, ("PAYGATE_FAILURE_RATE", bad)])).is_err(),
                "{bad}"
            );
        }
        // A blank key is no key.
        assert_eq!(
            Config::from_lookup(lookup(&[("PAYGATE_SECRET_KEY", "  ")])).unwrap_err(),
            vec![ConfigError::MissingSecretKey {
                name: "PAYGATE_SECRET_KEY"
            }]
        );
    }

    #[test]
    fn every_variable_read_is_listed() {
        // Each `PAYGATE_*` name in the crate's sources is in ENV_VARS (`from_env` reads
        // exactly the listed ones).
        fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        let mut texts = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut texts,
        );
        assert!(texts.len() >= 5, "read {} source files", texts.len());
        let mut seen = std::collections::BTreeSet::new();
        for source in &texts {
            for part in source.split('"').skip(1).step_by(2) {
                if part.starts_with("PAYGATE_")
                    && part.len() > 8
                    && part.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                {
                    assert!(
                        ENV_VARS.contains(&part),
                        "{part} is read but not in ENV_VARS"
                    );
                    seen.insert(part);
                }
            }
        }
        assert!(seen.len() >= 4, "{seen:?}");
    }
}
