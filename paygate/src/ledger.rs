//! The gateway's state and its JSON-lines ledger file.
//!
//! Every state change is a [`Record`]; with a file, records are appended (one JSON line
//! each) before they are applied, and the file is replayed on start. The line format is a
//! contract with files written by earlier versions: `{"type": "payment", "payment": ...}`,
//! `{"type": "ledger", "entry": ...}`, `{"type": "idempotency", "key": ..., "record": ...}`
//! (the tests below pin it).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{Ledger, LedgerEntry, Payment};

/// A stored idempotent response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdemRecord {
    pub method: String,
    pub path: String,
    /// Canonical form of the request body.
    pub fingerprint: String,
    pub status: u16,
    pub body: Value,
    #[serde(default)]
    pub order_id: Option<String>,
}

/// One line of the ledger file; also the unit of every state change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Record {
    Payment { payment: Payment },
    Ledger { entry: LedgerEntry },
    Idempotency { key: String, record: IdemRecord },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open ledger file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("ledger file {path} line {line} is not a valid record: {source}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
}

/// Payments, the ledger and the stored idempotent responses, in memory (and in the file,
/// if there is one).
#[derive(Default)]
pub(crate) struct Store {
    payments: HashMap<String, Payment>,
    /// Payment keys of each order, oldest first.
    orders: HashMap<String, Vec<String>>,
    ledger: Vec<LedgerEntry>,
    idempotency: HashMap<String, IdemRecord>,
    file: Option<File>,
}

impl Store {
    /// Rebuilds the state from the file (created if missing) and keeps appending to it. A
    /// torn last line (a crash mid-write) is cut off; any other bad line is an error.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(open_err)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(open_err)?;

        let mut store = Store::default();
        let mut valid_len = 0usize;
        let mut offset = 0usize;
        let mut lines = text.split_inclusive('\n').enumerate().peekable();
        while let Some((index, line)) = lines.next() {
            offset += line.len();
            let is_last = lines.peek().is_none();
            let complete = line.ends_with('\n');
            let content = line.trim();
            if content.is_empty() {
                if complete {
                    valid_len = offset;
                }
                continue;
            }
            match serde_json::from_str::<Record>(content) {
                Ok(record) if complete || !is_last => {
                    store.apply(record);
                    valid_len = offset;
                }
                // A complete record that lacks only its newline: keep it.
                Ok(record) => {
                    store.apply(record);
                    file.write_all(b"\n").map_err(open_err)?;
                    valid_len = offset + 1;
                }
                Err(e) if is_last && !complete => {
                    tracing::warn!(
                        path = %path.display(),
                        line = index + 1,
                        error = %e,
                        "dropping a torn last line of the ledger file"
                    );
                }
                Err(source) => {
                    return Err(StoreError::Corrupt {
                        path: path.to_owned(),
                        line: index + 1,
                        source,
                    });
                }
            }
        }
        let len = file.seek(SeekFrom::End(0)).map_err(open_err)? as usize;
        if len > valid_len {
            file.set_len(valid_len as u64).map_err(open_err)?;
        }
        store.file = Some(file);
        Ok(store)
    }

    fn apply(&mut self, record: Record) {
        match record {
            Record::Payment { payment } => {
                let keys = self.orders.entry(payment.order_id.clone()).or_default();
                if !keys.contains(&payment.payment_key) {
                    keys.push(payment.payment_key.clone());
                }
                self.payments.insert(payment.payment_key.clone(), payment);
            }
            Record::Ledger { entry } => self.ledger.push(entry),
            Record::Idempotency { key, record } => {
                self.idempotency.insert(key, record);
            }
        }
    }

    /// Writes the records to the file (if any), then applies them. On a write error
    /// nothing is applied and the file is cut back to where it was.
    pub fn commit(&mut self, records: Vec<Record>) -> io::Result<()> {
        if let Some(file) = &mut self.file {
            let mut buf = Vec::new();
            for record in &records {
                serde_json::to_writer(&mut buf, record)?;
                buf.push(b'\n');
            }
            let before = file.metadata()?.len();
            if let Err(e) = file.write_all(&buf).and_then(|()| file.flush()) {
                let _ = file.set_len(before);
                return Err(e);
            }
        }
        for record in records {
            self.apply(record);
        }
        Ok(())
    }

    pub fn payment(&self, payment_key: &str) -> Option<&Payment> {
        self.payments.get(payment_key)
    }

    fn order_payments<'a>(&'a self, order_id: &str) -> impl Iterator<Item = &'a Payment> + 'a {
        self.orders
            .get(order_id)
            .into_iter()
            .flatten()
            .filter_map(|key| self.payments.get(key))
    }

    /// The order's payment that is (or was) charged: `DONE` or `CANCELED`.
    pub fn charged_payment(&self, order_id: &str) -> Option<&Payment> {
        self.order_payments(order_id).find(|p| p.was_charged())
    }

    pub fn latest_payment(&self, order_id: &str) -> Option<&Payment> {
        self.order_payments(order_id).last()
    }

    pub fn idempotent(&self, key: &str) -> Option<&IdemRecord> {
        self.idempotency.get(key)
    }

    pub fn next_seq(&self) -> u64 {
        self.ledger.last().map_or(1, |e| e.seq + 1)
    }

    pub fn ledger(&self) -> Ledger {
        Ledger::new(self.ledger.clone())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{LedgerKind, PaymentStatus};

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "paygate-unit-{name}-{}.jsonl",
            uuid::Uuid::new_v4().simple()
        ))
    }

    /// Lines written by the gateway before it was split into modules (a confirm, its
    /// cancel, a declined confirm, an invalid one): the file format must not change.
    const V1_FILE: &str = r#"{"type":"payment","payment":{"paymentKey":"pay_574e279c79354d36a6da2e9a5fd94a76","orderId":"order-1","status":"DONE","totalAmount":9900,"balanceAmount":9900,"approvedAt":"2026-11-26T13:54:18.235030617Z","canceledAt":null}}
{"type":"ledger","entry":{"seq":1,"kind":"charge","orderId":"order-1","paymentKey":"pay_574e279c79354d36a6da2e9a5fd94a76","amount":9900,"at":"2026-11-26T13:54:18.235030617Z"}}
{"type":"idempotency","key":"k-1","record":{"method":"POST","path":"/v1/payments/confirm","fingerprint":"json:{\"amount\":9900,\"orderId\":\"order-1\",\"orderName\":\"x\"}","status":200,"body":{"approvedAt":"2026-11-26T13:54:18.235030617Z","balanceAmount":9900,"canceledAt":null,"orderId":"order-1","paymentKey":"pay_574e279c79354d36a6da2e9a5fd94a76","status":"DONE","totalAmount":9900},"order_id":"order-1"}}
{"type":"payment","payment":{"paymentKey":"pay_574e279c79354d36a6da2e9a5fd94a76","orderId":"order-1","status":"CANCELED","totalAmount":9900,"balanceAmount":0,"approvedAt":"2026-11-26T13:54:18.235030617Z","canceledAt":"2026-11-26T13:54:18.235597430Z"}}
{"type":"ledger","entry":{"seq":2,"kind":"refund","orderId":"order-1","paymentKey":"pay_574e279c79354d36a6da2e9a5fd94a76","amount":9900,"at":"2026-11-26T13:54:18.235597430Z"}}
{"type":"idempotency","key":"c-1","record":{"method":"POST","path":"/v1/payments/pay_574e279c79354d36a6da2e9a5fd94a76/cancel","fingerprint":"json:{\"cancelReason\":\"customer asked\"}","status":200,"body":{"approvedAt":"2026-11-26T13:54:18.235030617Z","balanceAmount":0,"canceledAt":"2026-11-26T13:54:18.235597430Z","orderId":"order-1","paymentKey":"pay_574e279c79354d36a6da2e9a5fd94a76","status":"CANCELED","totalAmount":9900},"order_id":"order-1"}}
{"type":"payment","payment":{"paymentKey":"pay_6cfd56bab0a3458690af548d6026948a","orderId":"order-3","status":"ABORTED","totalAmount":100,"balanceAmount":0,"approvedAt":null,"canceledAt":null}}
{"type":"idempotency","key":"k-3","record":{"method":"POST","path":"/v1/payments/confirm","fingerprint":"json:{\"amount\":100,\"orderId\":\"order-3\"}","status":400,"body":{"code":"REJECT_CARD_PAYMENT","message":"the card issuer declined the payment (simulated)"},"order_id":"order-3"}}
{"type":"idempotency","key":"k-4","record":{"method":"POST","path":"/v1/payments/confirm","fingerprint":"json:{\"amount\":0,\"orderId\":\"order-4\"}","status":400,"body":{"code":"INVALID_REQUEST","message":"amount must be a whole number of KRW greater than 0"},"order_id":"order-4"}}
"#;

    #[test]
    fn the_file_format_reads_and_writes_as_before() {
        // Every line reads, and writes back byte for byte.
        for line in V1_FILE.lines() {
            let record: Record = serde_json::from_str(line).unwrap();
            assert_eq!(serde_json::to_string(&record).unwrap(), line);
        }
        let path = temp_path("v1");
        std::fs::write(&path, V1_FILE).unwrap();
        let store = Store::open(&path).unwrap();
        let ledger = store.ledger();
        assert_eq!((ledger.charges, ledger.refunds), (1, 1));
        assert_eq!(ledger.entries[1].kind, LedgerKind::Refund);
        assert_eq!(store.next_seq(), 3);
        let paid = store.charged_payment("order-1").unwrap();
        assert_eq!(paid.status, PaymentStatus::Canceled);
        assert_eq!(
            store.latest_payment("order-3").unwrap().status,
            PaymentStatus::Aborted
        );
        assert!(store.charged_payment("order-3").is_none());
        let declined = store.idempotent("k-3").unwrap();
        assert_eq!(
            (declined.status, declined.order_id.as_deref()),
            (400, Some("order-3"))
        );
        assert_eq!(
            store.idempotent("k-4").unwrap().body["code"],
            "INVALID_REQUEST"
        );
        drop(store);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), V1_FILE);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn torn_last_line_is_dropped_and_file_stays_appendable() {
        let path = temp_path("torn");
        let payment = Payment {
            payment_key: "pay_1".into(),
            order_id: "o-1".into(),
            status: PaymentStatus::Done,
            total_amount: 100,
            balance_amount: 100,
            approved_at: Some(Utc::now()),
            canceled_at: None,
        };
        let line = serde_json::to_string(&Record::Payment {
            payment: payment.clone(),
        })
        .unwrap();
        std::fs::write(&path, format!("{line}\n{{\"type\":\"ledg")).unwrap();
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.payment("pay_1"), Some(&payment));
        let canceled = Payment {
            status: PaymentStatus::Canceled,
            ..payment.clone()
        };
        store
            .commit(vec![Record::Payment {
                payment: canceled.clone(),
            }])
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.payment("pay_1"), Some(&canceled));
        assert_eq!(store.orders["o-1"], vec!["pay_1".to_string()]);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_complete_last_line_without_newline_is_kept() {
        let path = temp_path("no-newline");
        let first = V1_FILE.lines().next().unwrap();
        std::fs::write(&path, first).unwrap();
        let store = Store::open(&path).unwrap();
        assert!(store.charged_payment("order-1").is_some());
        drop(store);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{first}\n")
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn corrupt_middle_line_is_an_error() {
        let path = temp_path("corrupt");
        std::fs::write(&path, "not json\n{}\n").unwrap();
        let err = Store::open(&path)
            .err()
            .expect("corrupt file must not load");
        assert!(matches!(err, StoreError::Corrupt { line: 1, .. }), "{err}");
        let _ = std::fs::remove_file(&path);
    }
}
