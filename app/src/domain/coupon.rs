//! Coupons: what an owner registers, and what everyone sees.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use super::fields::{
    Collector, FieldError, FieldErrors, check_len, check_name, check_text, parse_whole_number,
};
use super::money::{Krw, parse_won};
use super::time;

pub const MAX_STOCK: i64 = 1_000_000;
pub const MAX_PER_CUSTOMER: i64 = 1_000;
pub const MAX_NAME: u32 = 100;
pub const MAX_DESCRIPTION: u32 = 2_000;
/// Longest search text (`q`, `shop`), in characters.
pub const MAX_SEARCH: u32 = 100;

/// What the catalogue is searched for: trimmed, `None` when empty, at most `MAX_SEARCH`
/// characters of plain text (each term becomes a `%...%` scan).
pub fn parse_search(value: &str) -> Result<Option<String>, FieldError> {
    let v = value.trim();
    check_len(v, 0, MAX_SEARCH)?;
    check_text(v)?;
    Ok(Some(v.to_string()).filter(|v| !v.is_empty()))
}

/// The catalogue's search: `q` (name, description or shop) and `shop` (shop name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Search {
    pub text: Option<String>,
    pub shop: Option<String>,
}

impl Search {
    /// Both terms checked at once (a 422 names each bad one).
    pub fn parse(q: &str, shop: &str) -> Result<Search, FieldErrors> {
        let mut c = Collector::default();
        let text = c.check("q", parse_search(q));
        let shop = c.check("shop", parse_search(shop));
        match (text, shop) {
            (Some(text), Some(shop)) if c.is_empty() => Ok(Search { text, shop }),
            _ => Err(c.into_errors()),
        }
    }
}

/// A coupon's category: a fixed list (the database checks the same values,
/// `coupons_category`). Shown with its Korean or English name (`category_*` in the locales).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Cafe,
    Food,
    Beauty,
    Leisure,
    Shopping,
    Education,
    #[default]
    Other,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Cafe,
        Category::Food,
        Category::Beauty,
        Category::Leisure,
        Category::Shopping,
        Category::Education,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Cafe => "cafe",
            Category::Food => "food",
            Category::Beauty => "beauty",
            Category::Leisure => "leisure",
            Category::Shopping => "shopping",
            Category::Education => "education",
            Category::Other => "other",
        }
    }

    pub fn parse(value: &str) -> Result<Category, FieldError> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == value)
            .ok_or(FieldError::Invalid)
    }
}

/// The catalogue's order (`sort=`). Sold-out coupons come after the others in every order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Newest,
    PriceAsc,
    PriceDesc,
    /// The sale that ends first (coupons without an end last).
    EndingSoon,
    /// Most units sold in the last `POPULAR_DAYS` days.
    Popular,
}

/// The window of `Sort::Popular`.
pub const POPULAR_DAYS: i64 = 7;

impl Sort {
    pub const ALL: [Sort; 5] = [
        Sort::Newest,
        Sort::PriceAsc,
        Sort::PriceDesc,
        Sort::EndingSoon,
        Sort::Popular,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::PriceAsc => "price_asc",
            Sort::PriceDesc => "price_desc",
            Sort::EndingSoon => "ending_soon",
            Sort::Popular => "popular",
        }
    }

    pub fn parse(value: &str) -> Result<Sort, FieldError> {
        Sort::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or(FieldError::Invalid)
    }
}

/// How the catalogue is filtered and ordered: `category=` (none: every category) and
/// `sort=` (none: newest), as the API and the page's URL carry them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub category: Option<Category>,
    pub sort: Sort,
}

impl Listing {
    /// Both parameters checked at once; empty means the default. A 422 names each bad one.
    pub fn parse(category: &str, sort: &str) -> Result<Listing, FieldErrors> {
        let mut c = Collector::default();
        let category = c.check(
            "category",
            match category.trim() {
                "" => Ok(None),
                v => Category::parse(v).map(Some),
            },
        );
        let sort = c.check(
            "sort",
            match sort.trim() {
                "" => Ok(Sort::default()),
                v => Sort::parse(v),
            },
        );
        match (category, sort) {
            (Some(category), Some(sort)) if c.is_empty() => Ok(Listing { category, sort }),
            _ => Err(c.into_errors()),
        }
    }
}

/// The card badges' thresholds, in one place: a sale ending within `ENDING_SOON_HOURS`
/// is "ending soon" (마감임박), and `FEW_LEFT` units or fewer are "few left" (n개 남음).
/// Either replaces the plain "on sale" badge on the catalogue and the coupon page.
pub const ENDING_SOON_HOURS: i64 = 48;
pub const FEW_LEFT: i32 = 10;

/// The badges of a coupon on sale, from its end and the units left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SaleBadges {
    pub ending_soon: bool,
    /// `Some(n)`: only `n` units left.
    pub few_left: Option<i32>,
}

impl SaleBadges {
    pub fn of(
        sale_ends_at: Option<DateTime<Utc>>,
        stock_left: i32,
        now: DateTime<Utc>,
    ) -> SaleBadges {
        SaleBadges {
            ending_soon: sale_ends_at
                .is_some_and(|e| e > now && e - now <= chrono::Duration::hours(ENDING_SOON_HOURS)),
            few_left: (1..=FEW_LEFT).contains(&stock_left).then_some(stock_left),
        }
    }
}

/// The discount of a sale price below a list price, in whole percent rounded down
/// (`None` without a list price above the price).
pub fn discount_percent(price: i64, list_price: Option<i64>) -> Option<i64> {
    list_price
        .filter(|&l| l > price && l > 0)
        .map(|l| (l - price) * 100 / l)
}

/// A coupon as the catalogue, the detail page and the JSON API show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Coupon {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub price: i64,
    pub stock_left: i32,
    pub shop_id: Uuid,
    pub shop_name: String,
    pub sale_starts_at: Option<DateTime<Utc>>,
    pub sale_ends_at: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub per_customer_limit: Option<i32>,
    /// The owner's switch; `false` once the owner stopped sales.
    pub on_sale: bool,
    pub created_at: DateTime<Utc>,
    /// The category (`other` unless the owner chose one).
    #[serde(default)]
    pub category: Category,
    /// The face value (정가) the coupon is sold below, if the owner gave one: at least
    /// the price.
    #[serde(default)]
    pub list_price: Option<i64>,
    /// Its pictures, the cover first (at most `MAX_IMAGES`).
    #[serde(default)]
    pub images: Vec<CouponImage>,
}

/// Pictures per coupon (the database allows positions 0-4 only).
pub const MAX_IMAGES: usize = 5;

/// One picture of a coupon as the API and the pages show it: the re-encoded full size
/// (`width` x `height`, longest side at most 1600 px) and a square thumbnail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CouponImage {
    pub id: Uuid,
    pub url: String,
    pub thumb_url: String,
    pub width: i32,
    pub height: i32,
}

impl Coupon {
    /// The first picture, shown on the catalogue card.
    pub fn cover(&self) -> Option<&CouponImage> {
        self.images.first()
    }

    /// The discount against the list price, in percent.
    pub fn discount_percent(&self) -> Option<i64> {
        discount_percent(self.price, self.list_price)
    }
}

/// Whether a coupon can be bought right now, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CouponStatus {
    Available,
    SoldOut,
    NotStarted,
    Ended,
    Stopped,
}

/// What decides whether a coupon can be bought now: the part of a [`Coupon`] that the
/// live parts of the pages need (small, since the browser receives it with each island).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleState {
    pub id: Uuid,
    pub stock_left: i32,
    pub on_sale: bool,
    pub sale_starts_at: Option<DateTime<Utc>>,
    pub sale_ends_at: Option<DateTime<Utc>>,
}

impl SaleState {
    pub fn status_at(&self, now: DateTime<Utc>) -> CouponStatus {
        if !self.on_sale {
            CouponStatus::Stopped
        } else if self.sale_starts_at.is_some_and(|s| now < s) {
            CouponStatus::NotStarted
        } else if self.sale_ends_at.is_some_and(|e| now >= e) {
            CouponStatus::Ended
        } else if self.stock_left <= 0 {
            CouponStatus::SoldOut
        } else {
            CouponStatus::Available
        }
    }
}

impl Coupon {
    pub fn sale_state(&self) -> SaleState {
        SaleState {
            id: self.id,
            stock_left: self.stock_left,
            on_sale: self.on_sale,
            sale_starts_at: self.sale_starts_at,
            sale_ends_at: self.sale_ends_at,
        }
    }

    pub fn status_at(&self, now: DateTime<Utc>) -> CouponStatus {
        self.sale_state().status_at(now)
    }

    /// The same fields as the edit form shows them.
    pub fn to_form(&self) -> CouponForm {
        CouponForm {
            name: self.name.clone(),
            description: self.description.clone(),
            price: self.price.to_string(),
            stock: self.stock_left.to_string(),
            sale_starts_at: time::to_local_input(self.sale_starts_at),
            sale_ends_at: time::to_local_input(self.sale_ends_at),
            valid_until: time::to_local_input(self.valid_until),
            per_customer_limit: self
                .per_customer_limit
                .map(|l| l.to_string())
                .unwrap_or_default(),
            category: self.category.as_str().to_string(),
            list_price: self.list_price.map(|l| l.to_string()).unwrap_or_default(),
        }
    }

    fn to_input(&self) -> CouponInput {
        CouponInput {
            name: self.name.clone(),
            description: self.description.clone(),
            price: self.price,
            stock: self.stock_left as i64,
            sale_starts_at: self.sale_starts_at,
            sale_ends_at: self.sale_ends_at,
            valid_until: self.valid_until,
            per_customer_limit: self.per_customer_limit.map(i64::from),
            category: Some(self.category.as_str().to_string()),
            list_price: self.list_price,
        }
    }
}

/// A coupon registration as the JSON API takes it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CouponInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub price: i64,
    pub stock: i64,
    #[serde(default)]
    pub sale_starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sale_ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub per_customer_limit: Option<i64>,
    /// One of `Category::ALL` (absent: `other`).
    #[serde(default)]
    pub category: Option<String>,
    /// The list price (정가), at least `price`.
    #[serde(default)]
    pub list_price: Option<i64>,
}

/// A validated coupon, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidCoupon {
    pub name: String,
    pub description: String,
    pub price: Krw,
    pub stock: i32,
    pub sale_starts_at: Option<DateTime<Utc>>,
    pub sale_ends_at: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub per_customer_limit: Option<i32>,
    pub category: Category,
    pub list_price: Option<i64>,
}

fn in_range(value: i64, min: i64, max: i64) -> Result<i64, FieldError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(FieldError::OutOfRange { min, max })
    }
}

impl CouponInput {
    pub fn validate(&self) -> Result<ValidCoupon, FieldErrors> {
        let mut c = Collector::default();
        let name = self.name.trim();
        c.check(
            "name",
            check_len(name, 1, MAX_NAME).and_then(|_| check_name(name)),
        );
        let description = self.description.trim();
        c.check(
            "description",
            check_len(description, 0, MAX_DESCRIPTION).and_then(|_| check_text(description)),
        );
        for (field, date) in [
            ("sale_starts_at", self.sale_starts_at),
            ("sale_ends_at", self.sale_ends_at),
            ("valid_until", self.valid_until),
        ] {
            if let Some(d) = date {
                c.check(field, time::check_year(d));
            }
        }
        let price = c.check("price", Krw::parse_price(self.price));
        let stock = c.check("stock", in_range(self.stock, 0, MAX_STOCK));
        let category = c.check(
            "category",
            match self.category.as_deref().map(str::trim) {
                None | Some("") => Ok(Category::default()),
                Some(v) => Category::parse(v),
            },
        );
        // At least the price (a list price below it would be a mark-up shown as a
        // discount); the same bound as prices above.
        let list_price = match self.list_price {
            None => Some(None),
            Some(l) => c
                .check("list_price", in_range(l, self.price.max(1), Krw::MAX_PRICE))
                .map(Some),
        };
        let limit = match self.per_customer_limit {
            None => Some(None),
            Some(l) => c
                .check("per_customer_limit", in_range(l, 1, MAX_PER_CUSTOMER))
                .map(Some),
        };
        if let (Some(s), Some(e)) = (self.sale_starts_at, self.sale_ends_at)
            && e <= s
        {
            c.add("sale_ends_at", FieldError::EndBeforeStart);
        }
        if let Some(v) = self.valid_until
            && (self.sale_ends_at.is_some_and(|e| v < e)
                || self.sale_starts_at.is_some_and(|s| v <= s))
        {
            c.add("valid_until", FieldError::BeforeSaleEnd);
        }
        match (price, stock, limit, category, list_price) {
            (Some(price), Some(stock), Some(limit), Some(category), Some(list_price))
                if c.is_empty() =>
            {
                Ok(ValidCoupon {
                    name: name.to_string(),
                    description: description.to_string(),
                    price,
                    stock: stock as i32,
                    sale_starts_at: self.sale_starts_at,
                    sale_ends_at: self.sale_ends_at,
                    valid_until: self.valid_until,
                    per_customer_limit: limit.map(|l| l as i32),
                    category,
                    list_price,
                })
            }
            _ => Err(c.into_errors()),
        }
    }
}

/// The register / edit form: every field as the browser sends it (text).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CouponForm {
    pub name: String,
    pub description: String,
    pub price: String,
    pub stock: String,
    pub sale_starts_at: String,
    pub sale_ends_at: String,
    pub valid_until: String,
    pub per_customer_limit: String,
    pub category: String,
    pub list_price: String,
}

impl CouponForm {
    /// Parses the text fields (numbers may carry thousands separators, the price a currency
    /// mark: `6,000원`; times are KST),
    /// then applies the same rules as the API.
    pub fn validate(&self) -> Result<ValidCoupon, FieldErrors> {
        let mut c = Collector::default();
        let price = c.check(
            "price",
            parse_won(&self.price).and_then(|p| p.ok_or(FieldError::Required)),
        );
        let stock = c.check(
            "stock",
            parse_whole_number(&self.stock).and_then(|s| s.ok_or(FieldError::Required)),
        );
        let limit = c.check(
            "per_customer_limit",
            parse_whole_number(&self.per_customer_limit),
        );
        let list_price = c.check("list_price", parse_won(&self.list_price));
        let starts = c.check("sale_starts_at", time::parse_local(&self.sale_starts_at));
        let ends = c.check("sale_ends_at", time::parse_local(&self.sale_ends_at));
        let valid = c.check("valid_until", time::parse_local(&self.valid_until));
        let input = CouponInput {
            name: self.name.clone(),
            description: self.description.clone(),
            price: price.unwrap_or(1),
            stock: stock.unwrap_or(0),
            sale_starts_at: starts.flatten(),
            sale_ends_at: ends.flatten(),
            valid_until: valid.flatten(),
            per_customer_limit: limit.flatten(),
            category: Some(self.category.clone()),
            list_price: list_price.flatten(),
        };
        let mut errors = c.into_errors();
        match input.validate() {
            Ok(valid) if errors.is_empty() => Ok(valid),
            Ok(_) => Err(errors),
            Err(more) => {
                for (k, v) in more {
                    errors.entry(k).or_insert(v);
                }
                Err(errors)
            }
        }
    }
}

/// `Some(None)` for an explicit JSON `null`, `None` when the field is absent.
fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/v1/coupons/{id}`: absent fields stay, `null` clears an optional field.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CouponPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub price: Option<i64>,
    #[serde(default)]
    pub stock: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub sale_starts_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    pub sale_ends_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    pub valid_until: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    pub per_customer_limit: Option<Option<i64>>,
    #[serde(default)]
    pub on_sale: Option<bool>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub list_price: Option<Option<i64>>,
}

impl CouponPatch {
    /// The coupon after the patch, validated as a whole (so a new end still has to follow
    /// the old start).
    pub fn apply(&self, current: &Coupon) -> Result<ValidCoupon, FieldErrors> {
        let mut input = current.to_input();
        if let Some(v) = &self.name {
            input.name = v.clone();
        }
        if let Some(v) = &self.description {
            input.description = v.clone();
        }
        if let Some(v) = self.price {
            input.price = v;
        }
        if let Some(v) = self.stock {
            input.stock = v;
        }
        if let Some(v) = self.sale_starts_at {
            input.sale_starts_at = v;
        }
        if let Some(v) = self.sale_ends_at {
            input.sale_ends_at = v;
        }
        if let Some(v) = self.valid_until {
            input.valid_until = v;
        }
        if let Some(v) = self.per_customer_limit {
            input.per_customer_limit = v;
        }
        if let Some(v) = &self.category {
            input.category = Some(v.clone());
        }
        if let Some(v) = self.list_price {
            input.list_price = v;
        }
        input.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn input() -> CouponInput {
        CouponInput {
            name: "Americano".into(),
            description: "One hot or iced americano".into(),
            price: 4500,
            stock: 100,
            sale_starts_at: None,
            sale_ends_at: None,
            valid_until: None,
            per_customer_limit: None,
            category: None,
            list_price: None,
        }
    }

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
    }

    #[test]
    fn a_plain_coupon_is_valid() {
        let v = input().validate().unwrap();
        assert_eq!(v.price.value(), 4500);
        assert_eq!(v.stock, 100);
    }

    /// A change to a valid input, the field it breaks and the error expected.
    type EdgeCase = (fn(&mut CouponInput), &'static str, FieldError);

    #[test]
    fn field_edges() {
        let cases: Vec<EdgeCase> = vec![
            (|i| i.name = "   ".into(), "name", FieldError::Required),
            (
                |i| i.name = "x".repeat(101),
                "name",
                FieldError::TooLong { max: 100 },
            ),
            (
                |i| i.description = "x".repeat(2001),
                "description",
                FieldError::TooLong { max: 2000 },
            ),
            (
                |i| i.price = 0,
                "price",
                FieldError::OutOfRange {
                    min: 1,
                    max: 10_000_000,
                },
            ),
            (
                |i| i.price = -5,
                "price",
                FieldError::OutOfRange {
                    min: 1,
                    max: 10_000_000,
                },
            ),
            (
                |i| i.price = 10_000_001,
                "price",
                FieldError::OutOfRange {
                    min: 1,
                    max: 10_000_000,
                },
            ),
            (
                |i| i.stock = -1,
                "stock",
                FieldError::OutOfRange {
                    min: 0,
                    max: 1_000_000,
                },
            ),
            (
                |i| i.stock = 1_000_001,
                "stock",
                FieldError::OutOfRange {
                    min: 0,
                    max: 1_000_000,
                },
            ),
            (
                |i| i.per_customer_limit = Some(0),
                "per_customer_limit",
                FieldError::OutOfRange { min: 1, max: 1000 },
            ),
        ];
        for (mutate, field, err) in cases {
            let mut i = input();
            mutate(&mut i);
            let errs = i.validate().unwrap_err();
            assert_eq!(errs.get(field), Some(&err), "{field}");
            assert_eq!(errs.len(), 1);
        }
        let mut i = input();
        i.stock = 0;
        i.name = "x".repeat(100);
        i.per_customer_limit = Some(1000);
        assert!(
            i.validate().is_ok(),
            "zero stock and maximal sizes are allowed"
        );
    }

    #[test]
    fn text_and_dates_that_cannot_be_stored_are_refused() {
        use chrono::TimeZone;
        /// A change that makes the input invalid, and the field it names.
        type Case = (fn(&mut CouponInput), &'static str);
        let cases: Vec<Case> = vec![
            (|i| i.name = "La\u{0}tte".into(), "name"),
            (|i| i.name = "\u{202e}ettaL".into(), "name"),
            (|i| i.name = "Two\nlines".into(), "name"),
            (|i| i.description = "hot\u{0}".into(), "description"),
            (
                |i| i.sale_starts_at = Some(Utc.with_ymd_and_hms(-5000, 1, 1, 0, 0, 0).unwrap()),
                "sale_starts_at",
            ),
            (
                |i| i.valid_until = Some(Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap()),
                "valid_until",
            ),
        ];
        for (mutate, field) in cases {
            let mut i = input();
            mutate(&mut i);
            let errs = i.validate().unwrap_err();
            assert_eq!(errs.get(field), Some(&FieldError::Invalid), "{field}");
        }
        let mut i = input();
        i.description = "Line one\nLine two\r\n\tindented".into();
        assert!(i.validate().is_ok());
    }

    #[test]
    fn search_terms_are_bounded_plain_text() {
        assert_eq!(Search::parse("  ", ""), Ok(Search::default()));
        let s = Search::parse(" latte ", &"가".repeat(100)).unwrap();
        assert_eq!(s.text.as_deref(), Some("latte"));
        let errs = Search::parse(&"a".repeat(101), "\u{0}").unwrap_err();
        assert_eq!(errs.get("q"), Some(&FieldError::TooLong { max: 100 }));
        assert_eq!(errs.get("shop"), Some(&FieldError::Invalid));
    }

    #[test]
    fn sale_window_must_be_ordered() {
        let mut i = input();
        i.sale_starts_at = Some(at(10));
        i.sale_ends_at = Some(at(10));
        assert_eq!(
            i.validate().unwrap_err().get("sale_ends_at"),
            Some(&FieldError::EndBeforeStart)
        );
        i.sale_ends_at = Some(at(9));
        assert_eq!(
            i.validate().unwrap_err().get("sale_ends_at"),
            Some(&FieldError::EndBeforeStart)
        );
        i.sale_ends_at = Some(at(11));
        assert!(i.validate().is_ok());
        i.valid_until = Some(at(10));
        assert_eq!(
            i.validate().unwrap_err().get("valid_until"),
            Some(&FieldError::BeforeSaleEnd)
        );
        i.valid_until = Some(at(11));
        assert!(i.validate().is_ok());
    }

    #[test]
    fn form_parses_text_and_reports_every_field() {
        let form = CouponForm {
            name: "Latte".into(),
            price: "15,000".into(),
            stock: "10".into(),
            sale_starts_at: "2026-12-01T10:00".into(),
            sale_ends_at: "2026-12-02T10:00".into(),
            ..Default::default()
        };
        let v = form.validate().unwrap();
        assert_eq!(v.price.value(), 15_000);
        assert_eq!(v.sale_starts_at.unwrap(), at(1));
        for typed in ["6000", "6,000", "6,000원", "6000 KRW"] {
            let form = CouponForm {
                price: typed.into(),
                stock: "1,000".into(),
                per_customer_limit: " 2 ".into(),
                ..form.clone()
            };
            let v = form.validate().unwrap();
            assert_eq!(
                (v.price.value(), v.stock, v.per_customer_limit),
                (6000, 1000, Some(2)),
                "{typed}"
            );
        }

        let bad = CouponForm {
            name: "".into(),
            price: "abc".into(),
            stock: "".into(),
            sale_starts_at: "tomorrow".into(),
            ..Default::default()
        };
        let errs = bad.validate().unwrap_err();
        assert_eq!(errs.get("name"), Some(&FieldError::Required));
        assert_eq!(errs.get("price"), Some(&FieldError::NotANumber));
        assert_eq!(errs.get("stock"), Some(&FieldError::Required));
        assert_eq!(errs.get("sale_starts_at"), Some(&FieldError::Invalid));
    }

    fn coupon() -> Coupon {
        Coupon {
            id: Uuid::nil(),
            name: "Americano".into(),
            description: String::new(),
            price: 4500,
            stock_left: 3,
            shop_id: Uuid::nil(),
            shop_name: "Cafe".into(),
            sale_starts_at: Some(at(10)),
            sale_ends_at: Some(at(12)),
            valid_until: None,
            per_customer_limit: Some(2),
            on_sale: true,
            created_at: at(0),
            category: Category::Cafe,
            list_price: Some(5000),
            images: Vec::new(),
        }
    }

    #[test]
    fn status_follows_switch_window_and_stock() {
        let mut c = coupon();
        assert_eq!(c.status_at(at(9)), CouponStatus::NotStarted);
        assert_eq!(c.status_at(at(10)), CouponStatus::Available);
        assert_eq!(c.status_at(at(12)), CouponStatus::Ended);
        c.stock_left = 0;
        assert_eq!(c.status_at(at(11)), CouponStatus::SoldOut);
        c.on_sale = false;
        assert_eq!(c.status_at(at(11)), CouponStatus::Stopped);
    }

    #[test]
    fn patch_keeps_absent_fields_and_clears_nulls() {
        let c = coupon();
        let patch: CouponPatch =
            serde_json::from_str(r#"{"price": 5000, "per_customer_limit": null}"#).unwrap();
        let v = patch.apply(&c).unwrap();
        assert_eq!(v.price.value(), 5000);
        assert_eq!(v.per_customer_limit, None);
        assert_eq!(v.sale_starts_at, Some(at(10)));
        let patch: CouponPatch =
            serde_json::from_str(r#"{"sale_ends_at": "2026-12-01T09:00:00Z"}"#).unwrap();
        assert_eq!(
            patch.apply(&c).unwrap_err().get("sale_ends_at"),
            Some(&FieldError::EndBeforeStart)
        );
    }

    #[test]
    fn categories_and_list_prices_are_checked() {
        let v = input().validate().unwrap();
        assert_eq!((v.category, v.list_price), (Category::Other, None));
        let mut i = input();
        i.category = Some("cafe".into());
        i.list_price = Some(4500);
        let v = i.validate().unwrap();
        assert_eq!((v.category, v.list_price), (Category::Cafe, Some(4500)));
        i.category = Some("Cafe".into());
        i.list_price = Some(4499);
        let errs = i.validate().unwrap_err();
        assert_eq!(errs.get("category"), Some(&FieldError::Invalid));
        assert_eq!(
            errs.get("list_price"),
            Some(&FieldError::OutOfRange {
                min: 4500,
                max: 10_000_000
            })
        );
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Ok(c));
        }
    }

    #[test]
    fn listing_parameters_are_known_values_or_empty() {
        assert_eq!(Listing::parse("", ""), Ok(Listing::default()));
        assert_eq!(
            Listing::parse("food", "price_asc"),
            Ok(Listing {
                category: Some(Category::Food),
                sort: Sort::PriceAsc
            })
        );
        let errs = Listing::parse("pets", "cheapest").unwrap_err();
        assert_eq!(errs.len(), 2);
        for s in Sort::ALL {
            assert_eq!(Sort::parse(s.as_str()), Ok(s));
        }
    }

    #[test]
    fn discounts_and_badges() {
        assert_eq!(discount_percent(4500, Some(5000)), Some(10));
        assert_eq!(discount_percent(6650, Some(10000)), Some(33));
        assert_eq!(discount_percent(5000, Some(5000)), None);
        assert_eq!(discount_percent(5000, None), None);
        let now = at(0);
        let soon = SaleBadges::of(
            Some(now + chrono::Duration::hours(ENDING_SOON_HOURS)),
            3,
            now,
        );
        assert_eq!(
            soon,
            SaleBadges {
                ending_soon: true,
                few_left: Some(3)
            }
        );
        let later = SaleBadges::of(
            Some(now + chrono::Duration::hours(ENDING_SOON_HOURS + 1)),
            FEW_LEFT + 1,
            now,
        );
        assert_eq!(later, SaleBadges::default());
        assert_eq!(
            SaleBadges::of(None, 0, now).few_left,
            None,
            "sold out is not few left"
        );
    }
}
