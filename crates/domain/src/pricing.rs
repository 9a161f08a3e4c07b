//! Nightly prices and quotes.
//!
//! A night's base price is the unit's base price, or what the most specific matching rate rule
//! says (a fixed nightly price or a multiplier of the unit's base). Then the weekend multiplier
//! applies to weekend nights (by default nights that start on Friday or Saturday). Each night is
//! rounded half up to whole pesos; the total is the sum of the nights and the deposit is
//! `total × deposit %`, rounded half up to whole pesos.
//!
//! "Most specific" means, in order: a holiday rule beats a season rule, a unit's own rule beats
//! one for all units, a shorter date span beats a longer one, and the newer rule (higher id) wins
//! a tie. A holiday rule matches the holiday nights of [`crate::periods::is_holiday_night`]: every
//! night of a long weekend (Friday to Monday night of a Monday holiday) and the eve of a mid-week
//! holiday.

use crate::money::Money;
use crate::stay::Stay;
use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// A multiplier in basis points: 10 000 = ×1.0, 12 000 = ×1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Multiplier(pub u32);

impl Multiplier {
    pub const ONE: Multiplier = Multiplier(10_000);

    /// From a decimal such as 1.2 (as JSON clients send it), rounded to basis points.
    pub fn from_f64(value: f64) -> Option<Multiplier> {
        if !value.is_finite() || !(0.0..=100.0).contains(&value) {
            return None;
        }
        Some(Multiplier((value * 10_000.0).round() as u32))
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 10_000.0
    }
}

/// What a rate rule does to the base price of the nights it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum RuleEffect {
    NightlyPrice(Money),
    Multiplier(Multiplier),
}

/// Which nights a rule covers besides its date span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RuleScope {
    /// Every night in the span.
    #[default]
    AllNights,
    /// Only holiday nights within the span: every night of a long weekend and the eve of a
    /// mid-week holiday ([`crate::periods::is_holiday_night`]).
    HolidayEves,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRule {
    pub id: i64,
    /// `None` applies to every unit.
    pub unit_id: Option<i64>,
    pub name: String,
    /// First night covered (`None`: open start).
    pub start: Option<NaiveDate>,
    /// First night NOT covered (`None`: open end).
    pub end: Option<NaiveDate>,
    pub scope: RuleScope,
    pub effect: RuleEffect,
    pub min_nights: Option<u32>,
}

impl RateRule {
    fn covers(&self, unit_id: i64, night: NaiveDate) -> bool {
        self.unit_id.is_none_or(|u| u == unit_id)
            && self.start.is_none_or(|s| s <= night)
            && self.end.is_none_or(|e| night < e)
            && match self.scope {
                RuleScope::AllNights => true,
                RuleScope::HolidayEves => is_holiday_eve(night),
            }
    }

    /// Higher is more specific.
    fn specificity(&self) -> (bool, bool, i64, i64) {
        let span = match (self.start, self.end) {
            (Some(s), Some(e)) => (e - s).num_days(),
            _ => i64::MAX,
        };
        (self.scope == RuleScope::HolidayEves, self.unit_id.is_some(), -span, self.id)
    }
}

/// A night of a long weekend or the eve of a holiday ([`crate::periods::is_holiday_night`]).
pub fn is_holiday_eve(night: NaiveDate) -> bool {
    crate::periods::is_holiday_night(night)
}

/// What pricing needs to know about a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPricing {
    pub unit_id: i64,
    pub base_price: Money,
    pub weekend_multiplier: Multiplier,
    pub min_nights: u32,
}

/// Property-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingPolicy {
    /// Nights that start on these days get the weekend multiplier.
    pub weekend_nights: Vec<Weekday>,
    pub deposit_percent: u32,
}

impl Default for PricingPolicy {
    fn default() -> Self {
        PricingPolicy { weekend_nights: vec![Weekday::Fri, Weekday::Sat], deposit_percent: 30 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NightPrice {
    pub date: NaiveDate,
    pub price: Money,
    pub weekend: bool,
    /// A night of a long weekend or the eve of a holiday (the nights holiday rules price).
    pub holiday_eve: bool,
    /// The rate rule that set this night's base, if any.
    pub rule: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub stay: Stay,
    pub nights: Vec<NightPrice>,
    pub total: Money,
    pub deposit: Money,
    pub deposit_percent: u32,
    /// The minimum nights that apply to this stay (unit's, or larger from a matching rule).
    pub min_nights: u32,
}

/// Prices one night.
pub fn night_price(unit: &UnitPricing, rules: &[RateRule], policy: &PricingPolicy, night: NaiveDate) -> NightPrice {
    let rule = rules.iter().filter(|r| r.covers(unit.unit_id, night)).max_by_key(|r| r.specificity());
    let weekend = policy.weekend_nights.contains(&night.weekday());
    let weekend_bp = if weekend { unit.weekend_multiplier.0 as i128 } else { 10_000 };
    // One rounding per night, from exact integer arithmetic.
    let price = match rule.map(|r| r.effect) {
        Some(RuleEffect::NightlyPrice(p)) => p.scale_to_pesos(weekend_bp, 10_000),
        Some(RuleEffect::Multiplier(m)) => unit.base_price.scale_to_pesos(m.0 as i128 * weekend_bp, 100_000_000),
        None => unit.base_price.scale_to_pesos(weekend_bp, 10_000),
    };
    NightPrice { date: night, price, weekend, holiday_eve: is_holiday_eve(night), rule: rule.map(|r| r.name.clone()) }
}

/// Quotes a stay: per-night breakdown, total, deposit, and the minimum nights that apply.
pub fn quote(unit: &UnitPricing, rules: &[RateRule], policy: &PricingPolicy, stay: Stay) -> Quote {
    let nights: Vec<NightPrice> = stay.night_dates().map(|n| night_price(unit, rules, policy, n)).collect();
    let total: Money = nights.iter().map(|n| n.price).sum();
    let min_nights = stay
        .night_dates()
        .filter_map(|n| {
            rules
                .iter()
                .filter(|r| r.covers(unit.unit_id, n))
                .max_by_key(|r| r.specificity())
                .and_then(|r| r.min_nights)
        })
        .fold(unit.min_nights, u32::max);
    Quote {
        stay,
        total,
        deposit: total.percent(policy.deposit_percent),
        deposit_percent: policy.deposit_percent,
        min_nights,
        nights,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn unit() -> UnitPricing {
        UnitPricing {
            unit_id: 1,
            base_price: Money::from_pesos(12_000),
            weekend_multiplier: Multiplier(15_000),
            min_nights: 1,
        }
    }

    fn stay(a: &str, b: &str) -> Stay {
        Stay::new(d(a), d(b)).unwrap()
    }

    #[test]
    fn friday_and_saturday_nights_are_weekend_by_default() {
        // Fri 2025-01-03 → Mon 2025-01-06: Fri and Sat nights ×1.5, Sun night base.
        let q = quote(&unit(), &[], &PricingPolicy::default(), stay("2025-01-03", "2025-01-06"));
        let prices: Vec<i64> = q.nights.iter().map(|n| n.price.0 / 100).collect();
        assert_eq!(prices, vec![18_000, 18_000, 12_000]);
        assert_eq!(q.total, Money::from_pesos(48_000));
        assert_eq!(q.deposit, Money::from_pesos(14_400));
    }

    #[test]
    fn the_original_saturday_sunday_setting_still_works() {
        let policy = PricingPolicy { weekend_nights: vec![Weekday::Sat, Weekday::Sun], deposit_percent: 30 };
        let q = quote(&unit(), &[], &policy, stay("2025-01-03", "2025-01-06"));
        assert_eq!(q.total, Money::from_pesos(12_000 + 2 * 18_000));
    }

    #[test]
    fn the_most_specific_rule_sets_the_base() {
        let season = RateRule {
            id: 1,
            unit_id: None,
            name: "Temporada alta".into(),
            start: Some(d("2026-01-01")),
            end: Some(d("2026-03-01")),
            scope: RuleScope::AllNights,
            effect: RuleEffect::Multiplier(Multiplier(20_000)),
            min_nights: Some(3),
        };
        let own = RateRule {
            id: 2,
            unit_id: Some(1),
            name: "Enero cabaña 1".into(),
            start: Some(d("2026-01-01")),
            end: Some(d("2026-02-01")),
            scope: RuleScope::AllNights,
            effect: RuleEffect::NightlyPrice(Money::from_pesos(30_000)),
            min_nights: None,
        };
        let carnival = RateRule {
            id: 3,
            unit_id: None,
            name: "Fin de semana largo".into(),
            start: None,
            end: None,
            scope: RuleScope::HolidayEves,
            effect: RuleEffect::Multiplier(Multiplier(25_000)),
            min_nights: Some(2),
        };
        let rules = [season, own, carnival];
        let p = PricingPolicy::default();
        // Tue 2026-01-13: unit's own January price.
        assert_eq!(night_price(&unit(), &rules, &p, d("2026-01-13")).price, Money::from_pesos(30_000));
        // Tue 2026-02-10: the all-units season, ×2.
        assert_eq!(night_price(&unit(), &rules, &p, d("2026-02-10")).price, Money::from_pesos(24_000));
        // Sun 2026-02-15, eve of Carnival Monday: holiday rule ×2.5.
        let eve = night_price(&unit(), &rules, &p, d("2026-02-15"));
        assert!(eve.holiday_eve);
        assert_eq!(eve.price, Money::from_pesos(30_000));
        // Sat 2026-02-14, the first night of Carnaval's long weekend: holiday rule ×2.5, then
        // weekend ×1.5 (only the eves were priced before, so Carnaval's Saturday cost like any
        // other Saturday).
        let saturday = night_price(&unit(), &rules, &p, d("2026-02-14"));
        assert_eq!((saturday.holiday_eve, saturday.price), (true, Money::from_pesos(45_000)));
        // Sat 2026-02-07, a plain weekend: season ×2 then weekend ×1.5.
        assert_eq!(night_price(&unit(), &rules, &p, d("2026-02-07")).price, Money::from_pesos(36_000));
        // Tue 2026-02-17, Carnival Tuesday night (work on Wednesday): the season again.
        assert_eq!(night_price(&unit(), &rules, &p, d("2026-02-17")).price, Money::from_pesos(24_000));
        // A stay touching the season needs its minimum.
        assert_eq!(quote(&unit(), &rules, &p, stay("2026-02-10", "2026-02-11")).min_nights, 3);
        assert_eq!(quote(&unit(), &rules, &p, stay("2026-03-10", "2026-03-11")).min_nights, 1);
    }

    #[test]
    fn nights_round_half_up_to_whole_pesos() {
        let u = UnitPricing { base_price: Money(1_000_050), weekend_multiplier: Multiplier(12_500), ..unit() };
        // Weekday: 10 000.50 → 10 001. Friday: 12 500.625 → 12 501.
        let q = quote(&u, &[], &PricingPolicy::default(), stay("2025-01-02", "2025-01-04"));
        assert_eq!(q.nights[0].price, Money::from_pesos(10_001));
        assert_eq!(q.nights[1].price, Money::from_pesos(12_501));
    }

    fn any_rules() -> impl Strategy<Value = Vec<RateRule>> {
        prop::collection::vec(
            (0i64..400, 1i64..120, any::<bool>(), any::<bool>(), 5_000u32..30_000, prop::option::of(1u32..5)),
            0..5,
        )
        .prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(i, (start, len, own, eve, value, min))| {
                    let s = d("2026-01-01") + chrono::Duration::days(start);
                    RateRule {
                        id: i as i64,
                        unit_id: own.then_some(1),
                        name: format!("r{i}"),
                        start: Some(s),
                        end: Some(s + chrono::Duration::days(len)),
                        scope: if eve { RuleScope::HolidayEves } else { RuleScope::AllNights },
                        effect: if i % 2 == 0 {
                            RuleEffect::Multiplier(Multiplier(value))
                        } else {
                            RuleEffect::NightlyPrice(Money::from_pesos(value as i64))
                        },
                        min_nights: min,
                    }
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn total_is_the_sum_of_the_breakdown(start in 0i64..500, nights in 1i64..60, rules in any_rules(), base in 1_000i64..100_000) {
            let u = UnitPricing { base_price: Money::from_pesos(base), ..unit() };
            let s = d("2026-01-01") + chrono::Duration::days(start);
            let q = quote(&u, &rules, &PricingPolicy::default(), Stay::new(s, s + chrono::Duration::days(nights)).unwrap());
            prop_assert_eq!(q.nights.len() as i64, nights);
            prop_assert_eq!(q.total, q.nights.iter().map(|n| n.price).sum::<Money>());
            prop_assert!(q.nights.iter().all(|n| n.price.0 % 100 == 0 && n.price.0 > 0));
            prop_assert!(q.deposit <= q.total);
        }

        #[test]
        fn splitting_a_stay_never_changes_a_nights_price(start in 0i64..500, nights in 2i64..60, cut in 1i64..59, rules in any_rules()) {
            let cut = cut.min(nights - 1);
            let s = d("2026-01-01") + chrono::Duration::days(start);
            let whole = Stay::new(s, s + chrono::Duration::days(nights)).unwrap();
            let mid = s + chrono::Duration::days(cut);
            let p = PricingPolicy::default();
            let a = quote(&unit(), &rules, &p, Stay::new(s, mid).unwrap());
            let b = quote(&unit(), &rules, &p, Stay::new(mid, whole.check_out).unwrap());
            let w = quote(&unit(), &rules, &p, whole);
            let parts: Vec<_> = a.nights.iter().chain(b.nights.iter()).cloned().collect();
            prop_assert_eq!(&parts, &w.nights);
            prop_assert_eq!(a.total + b.total, w.total);
        }
    }
}
