//! The serde types of the request and error bodies, and what makes a body valid.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::domain::{ConfirmRequest, Mode};

/// A body field of type `T`, or the fact that it had another type: the field's value is
/// typed by serde, while the checks of [`ConfirmBody::parse`] decide, in the documented
/// order, which message a bad body gets. Absent and `null` are both `Ok(None)`.
#[derive(Debug)]
struct Field<T>(Result<Option<T>, WrongType>);

#[derive(Debug)]
struct WrongType;

impl<T> Default for Field<T> {
    fn default() -> Self {
        Field(Ok(None))
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Field(match Option::<Value>::deserialize(d)? {
            None => Ok(None),
            Some(v) => T::deserialize(v).map(Some).map_err(|_| WrongType),
        }))
    }
}

/// Body of `POST /v1/payments/confirm`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ConfirmBody {
    order_id: Field<String>,
    amount: Field<i64>,
    /// Accepted (a string or null) and not used.
    order_name: Field<String>,
    /// Accepted (a string or null) and not used.
    customer_key: Field<String>,
}

impl ConfirmBody {
    /// The confirm request in `body`, or why it is not one.
    pub fn parse(body: Option<&Value>) -> Result<ConfirmRequest, String> {
        let body = json_object(body)?;
        let body = ConfirmBody::deserialize(body).map_err(|e| format!("bad confirm body: {e}"))?;
        let order_id = match body.order_id.0 {
            Ok(Some(id)) if !id.trim().is_empty() => id,
            Ok(_) => return Err("orderId is required".to_owned()),
            Err(WrongType) => return Err("orderId must be a string".to_owned()),
        };
        let amount = match body.amount.0 {
            Ok(None) => return Err("amount is required".to_owned()),
            Ok(Some(amount)) if amount > 0 => amount,
            _ => return Err("amount must be a whole number of KRW greater than 0".to_owned()),
        };
        for (name, field) in [
            ("orderName", &body.order_name),
            ("customerKey", &body.customer_key),
        ] {
            if field.0.is_err() {
                return Err(format!("{name} must be a string"));
            }
        }
        Ok(ConfirmRequest { order_id, amount })
    }
}

/// Body of `POST /v1/payments/{paymentKey}/cancel`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CancelBody {
    cancel_reason: Option<String>,
    cancel_amount: Option<Value>,
}

impl CancelBody {
    /// Whether `body` is a cancel request.
    #[cfg(test)]
    pub fn is_valid(body: Option<&Value>) -> bool {
        Self::parse(body).is_ok()
    }

    /// The amount a cancel request asks for: `None` for the whole balance, else its
    /// `cancelAmount` (an integer above 0); `Err` (the answer's message) for anything that
    /// is not a cancel request.
    pub fn parse(body: Option<&Value>) -> Result<Option<i64>, &'static str> {
        const NO_REASON: &str =
            "the body must be a JSON object with a non-empty string cancelReason";
        let body = json_object(body)
            .ok()
            .and_then(|b| CancelBody::deserialize(b).ok())
            .ok_or(NO_REASON)?;
        if !body.cancel_reason.is_some_and(|r| !r.trim().is_empty()) {
            return Err(NO_REASON);
        }
        match body.cancel_amount {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|a| *a > 0)
                .map(Some)
                .ok_or("cancelAmount must be an integer above 0"),
        }
    }
}

/// A JSON object, or the message that the body is not one (a struct would otherwise
/// accept an array of its fields).
fn json_object(body: Option<&Value>) -> Result<&Value, String> {
    match body {
        Some(v @ Value::Object(_)) => Ok(v),
        _ => Err("the body must be a JSON object".to_owned()),
    }
}

/// Body of `POST /admin/mode`: only the fields present change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModeUpdate {
    failure_rate: Option<f64>,
    latency_ms: Option<u64>,
    decline_all: Option<bool>,
    /// Absent: unchanged; `null` or `""`: cleared.
    #[serde(default, deserialize_with = "present")]
    decline_order_prefix: Option<Option<String>>,
}

impl ModeUpdate {
    /// The message for a value out of range, if any.
    pub fn check(&self) -> Result<(), String> {
        match self.failure_rate {
            Some(rate) if !Mode::valid_failure_rate(rate) => {
                Err(format!("failure_rate must be from 0 to 1, got {rate}"))
            }
            _ => Ok(()),
        }
    }

    /// Changes the fields present in the update.
    pub fn apply(self, mode: &mut Mode) {
        if let Some(rate) = self.failure_rate {
            mode.failure_rate = rate;
        }
        if let Some(ms) = self.latency_ms {
            mode.latency_ms = ms;
        }
        if let Some(all) = self.decline_all {
            mode.decline_all = all;
        }
        if let Some(prefix) = self.decline_order_prefix {
            mode.decline_order_prefix = prefix.filter(|p| !p.is_empty());
        }
    }
}

/// Tells a present `null` (`Some(None)`) from an absent field (`None`, via `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Every error body.
#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
}

pub(super) fn error_body(code: &str, message: impl Into<String>) -> Value {
    to_json(&ErrorBody {
        code,
        message: message.into(),
    })
}

pub(super) fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).expect("the gateway's bodies serialise")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn confirm_bodies() {
        let parse = |v: Value| ConfirmBody::parse(Some(&v));
        assert_eq!(
            parse(
                json!({"orderId": "o-1", "amount": 5, "orderName": "x", "customerKey": null, "extra": 1})
            ),
            Ok(ConfirmRequest {
                order_id: "o-1".into(),
                amount: 5
            })
        );
        for bad in [
            json!({"orderId": "o-1", "amount": 0}),
            json!({"orderId": "o-1", "amount": 10.5}),
            json!({"orderId": "o-1", "amount": 10.0}),
            json!({"orderId": "o-1", "amount": "1000"}),
            json!({"orderId": "o-1", "amount": u64::MAX}),
            json!({"orderId": "o-1", "amount": null}),
            json!({"orderId": "  ", "amount": 1}),
            json!({"orderId": null, "amount": 1}),
            json!({"orderId": 7, "amount": 1}),
            json!({"orderId": "o-1", "amount": 1, "orderName": 3}),
            json!({"orderId": "o-1", "amount": 1, "customerKey": {}}),
            json!(["o-1", 5]),
            json!("o-1"),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
        assert!(ConfirmBody::parse(None).is_err());
        // The first problem in the documented order names the field.
        let message = |v: Value| parse(v).unwrap_err();
        assert_eq!(
            message(json!({"orderId": 7, "amount": "x"})),
            "orderId must be a string"
        );
        assert_eq!(message(json!({"amount": "x"})), "orderId is required");
        assert_eq!(message(json!({"orderId": "o"})), "amount is required");
        assert_eq!(
            message(json!({"orderId": "o", "amount": 1.5, "orderName": 1})),
            "amount must be a whole number of KRW greater than 0"
        );
        assert_eq!(
            message(json!({"orderId": "o", "amount": 1, "customerKey": 1, "orderName": 1})),
            "orderName must be a string"
        );
        assert_eq!(message(json!([])), "the body must be a JSON object");
    }

    #[test]
    fn mode_updates_change_only_the_fields_given() {
        let mut mode = Mode {
            latency_ms: 5,
            decline_order_prefix: Some("bad-".into()),
            ..Mode::default()
        };
        let update: ModeUpdate = serde_json::from_value(json!({"decline_all": true})).unwrap();
        update.check().unwrap();
        update.apply(&mut mode);
        assert!(mode.decline_all);
        assert_eq!(mode.latency_ms, 5);
        assert_eq!(mode.decline_order_prefix.as_deref(), Some("bad-"));
        for clear in [
            json!({"decline_order_prefix": null}),
            json!({"decline_order_prefix": ""}),
        ] {
            let mut m = mode.clone();
            serde_json::from_value::<ModeUpdate>(clear)
                .unwrap()
                .apply(&mut m);
            assert_eq!(m.decline_order_prefix, None);
        }
        let bad: ModeUpdate = serde_json::from_value(json!({"failure_rate": 2.0})).unwrap();
        assert!(bad.check().is_err());
        assert!(serde_json::from_value::<ModeUpdate>(json!({"typo": 1})).is_err());
    }

    #[test]
    fn cancel_bodies() {
        assert!(CancelBody::is_valid(Some(&json!({"cancelReason": "x"}))));
        assert_eq!(
            CancelBody::parse(Some(&json!({"cancelReason": "x", "cancelAmount": 300}))),
            Ok(Some(300))
        );
        for bad in [json!(0), json!(-5), json!(1.5), json!("300")] {
            let body = json!({"cancelReason": "x", "cancelAmount": bad});
            assert!(!CancelBody::is_valid(Some(&body)), "{body}");
        }
        for bad in [
            json!({}),
            json!({"cancelReason": " "}),
            json!({"cancelReason": 1}),
            json!({"cancelReason": null}),
            json!(["x"]),
        ] {
            assert!(!CancelBody::is_valid(Some(&bad)), "{bad}");
        }
        assert!(!CancelBody::is_valid(None));
    }
}
