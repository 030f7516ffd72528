//! Accounts: who may sign up, and with what.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::fields::{Collector, FieldError, FieldErrors, check_len, check_name};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Customer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Customer => "customer",
        }
    }

    pub fn parse(value: &str) -> Result<Role, FieldError> {
        match value.trim() {
            "owner" => Ok(Role::Owner),
            "customer" => Ok(Role::Customer),
            "" => Err(FieldError::Required),
            _ => Err(FieldError::Invalid),
        }
    }
}

/// A normalised e-mail address: trimmed, lower-case, `local@domain.tld`, at most 254 chars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Email, FieldError> {
        let v = value.trim().to_lowercase();
        if v.is_empty() {
            return Err(FieldError::Required);
        }
        if v.chars().count() > 254 {
            return Err(FieldError::TooLong { max: 254 });
        }
        let (local, domain) = v.rsplit_once('@').ok_or(FieldError::Invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || !domain_ok || v.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(FieldError::Invalid);
        }
        Ok(Email(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password of 8 ..= 128 characters. Never logged, never serialised.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN: u32 = 8;
    pub const MAX: u32 = 128;

    pub fn parse(value: &str) -> Result<Password, FieldError> {
        let n = value.chars().count() as u32;
        if n == 0 {
            Err(FieldError::Required)
        } else if n < Self::MIN {
            Err(FieldError::TooShort { min: Self::MIN })
        } else if n > Self::MAX {
            Err(FieldError::TooLong { max: Self::MAX })
        } else {
            Ok(Password(value.to_string()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The name shown for a person, 1 ..= 50 characters after trimming, one line without
/// control or text-direction characters (`check_name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(value: &str) -> Result<DisplayName, FieldError> {
        let v = value.trim();
        check_len(v, 1, 50)?;
        check_name(v)?;
        Ok(DisplayName(v.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A shop's name, 1 ..= 80 characters after trimming, as plain as a person's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopName(String);

impl ShopName {
    pub fn parse(value: &str) -> Result<ShopName, FieldError> {
        let v = value.trim();
        check_len(v, 1, 80)?;
        check_name(v)?;
        Ok(ShopName(v.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Sign-up request as it arrives (API JSON; the form builds the same).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SignupInput {
    #[cfg_attr(feature = "ssr", schema(format = "email"))]
    pub email: String,
    #[cfg_attr(feature = "ssr", schema(min_length = 8, max_length = 128))]
    pub password: String,
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 50))]
    pub name: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Role))]
    pub role: String,
    /// Required for an owner (1 to 80 characters).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_length = 80))]
    pub shop_name: Option<String>,
}

#[derive(Debug)]
pub struct ValidSignup {
    pub email: Email,
    pub password: Password,
    pub name: DisplayName,
    pub role: Role,
    /// Present exactly when `role` is `Owner`.
    pub shop_name: Option<ShopName>,
}

impl SignupInput {
    pub fn validate(&self) -> Result<ValidSignup, FieldErrors> {
        let mut c = Collector::default();
        let email = c.check("email", Email::parse(&self.email));
        let password = c.check("password", Password::parse(&self.password));
        let name = c.check("name", DisplayName::parse(&self.name));
        let role = c.check("role", Role::parse(&self.role));
        let shop_raw = self.shop_name.as_deref().map(str::trim).unwrap_or("");
        let shop_name = match role {
            Some(Role::Owner) => c.check("shop_name", ShopName::parse(shop_raw)).map(Some),
            _ => Some(None),
        };
        match (email, password, name, role, shop_name) {
            (Some(email), Some(password), Some(name), Some(role), Some(shop_name))
                if c.is_empty() =>
            {
                Ok(ValidSignup {
                    email,
                    password,
                    name,
                    role,
                    shop_name,
                })
            }
            _ => Err(c.into_errors()),
        }
    }
}

/// The signed-in person as every client sees them (`GET /api/v1/me`, the page header).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserView {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shop_name: Option<String>,
    /// Their unread notifications when this was read (the header's bell; the live stream
    /// takes over in the browser). Read with the user, in the same query.
    #[serde(default)]
    pub unread_notifications: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Kim@Example.COM ").unwrap().as_str(),
            "kim@example.com"
        );
        assert_eq!(Email::parse(""), Err(FieldError::Required));
        for bad in [
            "kim",
            "kim@",
            "@example.com",
            "kim@example",
            "kim@.com",
            "kim@example.",
            "k im@example.com",
            "kim@ex..com",
        ] {
            assert_eq!(Email::parse(bad), Err(FieldError::Invalid), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(FieldError::TooLong { max: 254 }));
    }

    #[test]
    fn password_length_edges() {
        assert_eq!(Password::parse("").err(), Some(FieldError::Required));
        assert_eq!(
            Password::parse("1234567").err(),
            Some(FieldError::TooShort { min: 8 })
        );
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"가".repeat(128)).is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(129)).err(),
            Some(FieldError::TooLong { max: 128 })
        );
        assert_eq!(
            format!("{:?}", Password::parse("secret-pass").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  김민수 ").unwrap().as_str(), "김민수");
        assert_eq!(DisplayName::parse("   "), Err(FieldError::Required));
        assert!(DisplayName::parse(&"가".repeat(50)).is_ok());
        assert_eq!(
            DisplayName::parse(&"가".repeat(51)),
            Err(FieldError::TooLong { max: 50 })
        );
        assert_eq!(
            ShopName::parse(&"a".repeat(81)),
            Err(FieldError::TooLong { max: 80 })
        );
        assert_eq!(DisplayName::parse("Kim\u{0}"), Err(FieldError::Invalid));
        assert_eq!(ShopName::parse("\u{202e}pohS"), Err(FieldError::Invalid));
    }

    fn input(role: &str, shop: Option<&str>) -> SignupInput {
        SignupInput {
            email: "a@b.co".into(),
            password: "password1".into(),
            name: "Kim".into(),
            role: role.into(),
            shop_name: shop.map(Into::into),
        }
    }

    #[test]
    fn owners_need_a_shop_customers_do_not() {
        assert!(
            input("customer", None)
                .validate()
                .unwrap()
                .shop_name
                .is_none()
        );
        assert!(
            input("customer", Some("ignored"))
                .validate()
                .unwrap()
                .shop_name
                .is_none()
        );
        let errs = input("owner", Some("  ")).validate().unwrap_err();
        assert_eq!(errs.get("shop_name"), Some(&FieldError::Required));
        assert_eq!(
            input("owner", Some("Cafe"))
                .validate()
                .unwrap()
                .shop_name
                .unwrap()
                .as_str(),
            "Cafe"
        );
        assert_eq!(
            input("admin", None).validate().unwrap_err().get("role"),
            Some(&FieldError::Invalid)
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errs = SignupInput {
            email: "x".into(),
            password: "short".into(),
            name: "".into(),
            role: "".into(),
            shop_name: None,
        }
        .validate()
        .unwrap_err();
        assert_eq!(errs.len(), 4);
    }
}
