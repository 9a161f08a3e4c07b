//! How long a quote takes: `cargo bench -p domain`.
use chrono::NaiveDate;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use domain::pricing::{self, RuleEffect};
use domain::{Money, Multiplier, PricingPolicy, RateRule, RuleScope, Stay, UnitPricing};

fn bench(c: &mut Criterion) {
    let unit = UnitPricing {
        unit_id: 1,
        base_price: Money::from_pesos(45_000),
        weekend_multiplier: Multiplier(12_000),
        min_nights: 2,
    };
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    let rules: Vec<RateRule> = (0..10)
        .map(|i| RateRule {
            id: i,
            unit_id: (i % 2 == 0).then_some(1),
            name: format!("regla {i}"),
            start: Some(d("2026-01-01") + chrono::Duration::days(i * 20)),
            end: Some(d("2026-01-01") + chrono::Duration::days(i * 20 + 40)),
            scope: if i == 9 { RuleScope::HolidayEves } else { RuleScope::AllNights },
            effect: RuleEffect::Multiplier(Multiplier(11_000 + i as u32 * 500)),
            min_nights: Some(2),
        })
        .collect();
    let policy = PricingPolicy::default();
    let week = Stay::new(d("2026-02-10"), d("2026-02-17")).unwrap();
    c.bench_function("quote 7 nights, 10 rules", |b| {
        b.iter(|| pricing::quote(black_box(&unit), black_box(&rules), &policy, black_box(week)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
