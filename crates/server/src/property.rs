//! The owner's settings about the place, typed: what "Tu alojamiento" edits and what the bot
//! answers from. Stored as key → text through [`store::SettingsStore`]; the `POSADA_PROPERTY_*`
//! and `POSADA_CHECK_*` environment variables only seed keys that are absent (first run).
//!
//! Later settings (per-cabin check-in instructions, automatic messages) are new keys read the
//! same way: no migration, one place to look.

use crate::config::{Config, PaymentProvider};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use store::SettingsStore;

/// Every key this module knows, with the label the dashboard shows and its limit.
pub const FIELDS: &[Field] = &[
    Field { key: "name", label: "Nombre del alojamiento", max: 100, kind: Kind::Line },
    Field { key: "address", label: "Dirección", max: 300, kind: Kind::Line },
    Field { key: "map_url", label: "Link al mapa", max: 500, kind: Kind::Url },
    Field { key: "directions", label: "Cómo llegar", max: 1500, kind: Kind::Text },
    Field { key: "nearby", label: "Qué hay cerca", max: 1500, kind: Kind::Text },
    Field { key: "check_in_from", label: "Check-in desde", max: 5, kind: Kind::Time },
    Field { key: "check_out_until", label: "Check-out hasta", max: 5, kind: Kind::Time },
    Field { key: "balance", label: "El saldo (cuándo y cómo se paga)", max: 500, kind: Kind::Text },
    Field { key: "deposit_percent", label: "Seña (% del total)", max: 3, kind: Kind::Percent },
    Field { key: "payment.mercado_pago", label: "Seña con link de Mercado Pago", max: 3, kind: Kind::Switch },
    Field { key: "payment.transfer", label: "Seña por transferencia", max: 3, kind: Kind::Switch },
    Field { key: "payment.transfer.alias", label: "Alias", max: 20, kind: Kind::Alias },
    Field { key: "payment.transfer.cbu", label: "CBU o CVU", max: 22, kind: Kind::Cbu },
    Field { key: "payment.transfer.holder", label: "Titular de la cuenta", max: 100, kind: Kind::Line },
    Field { key: "payment.transfer.bank", label: "Banco", max: 60, kind: Kind::Line },
    Field { key: "policy.cancellation", label: "Política de cancelación", max: 1500, kind: Kind::Text },
    Field { key: "policy.refunds", label: "Devolución de la seña al cancelar", max: 200, kind: Kind::RefundPolicy },
    Field {
        key: "policy.refunds.auto", label: "Aprobar las devoluciones automáticamente", max: 3, kind: Kind::Switch
    },
    Field { key: "policy.date_changes", label: "Cambios de fecha", max: 1000, kind: Kind::Text },
    Field { key: "policy.pets", label: "Mascotas (reglas)", max: 1000, kind: Kind::Text },
    Field { key: "policy.children", label: "Chicos y bebés", max: 1000, kind: Kind::Text },
    Field { key: "included", label: "Qué incluye la estadía", max: 1000, kind: Kind::Text },
    Field { key: "policy.house_rules", label: "Normas de la casa", max: 1500, kind: Kind::Text },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Line,
    Text,
    Url,
    Time,
    Switch,
    Alias,
    Cbu,
    /// A whole percentage, 0–100 (the deposit).
    Percent,
    /// A [`domain::CancellationPolicy`]: bands of (days before, percent) or "crédito".
    RefundPolicy,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub key: &'static str,
    pub label: &'static str,
    pub max: usize,
    pub kind: Kind,
}

/// The settings as the rest of the server uses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertySettings {
    values: BTreeMap<String, String>,
}

impl PropertySettings {
    pub fn from_map(values: BTreeMap<String, String>) -> PropertySettings {
        PropertySettings { values }
    }

    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or("")
    }

    fn on(&self, key: &str) -> bool {
        self.get(key) == "on"
    }

    pub fn name(&self) -> &str {
        match self.get("name") {
            "" => "Posada",
            n => n,
        }
    }

    pub fn check_in_from(&self) -> &str {
        match self.get("check_in_from") {
            "" => "14:00",
            t => t,
        }
    }

    pub fn check_out_until(&self) -> &str {
        match self.get("check_out_until") {
            "" => "10:00",
            t => t,
        }
    }

    /// The deposit share of the total: the owner's, else `default` (the environment's).
    pub fn deposit_percent(&self, default: u32) -> u32 {
        self.get("deposit_percent").parse().ok().filter(|p| *p <= 100).unwrap_or(default)
    }

    /// How stays are priced: the weekend nights from the configuration, the deposit share from
    /// these settings. Every quote, hold, payment link and bot answer takes it from here.
    pub fn pricing_policy(&self, config: &Config) -> domain::PricingPolicy {
        let mut policy = config.pricing_policy();
        policy.deposit_percent = self.deposit_percent(policy.deposit_percent);
        policy
    }

    /// The typed cancellation policy (`None` when the owner wrote none: refunds by hand).
    pub fn cancellation_policy(&self) -> Option<domain::CancellationPolicy> {
        domain::CancellationPolicy::parse(self.get("policy.refunds")).ok().flatten()
    }

    /// Refunds go to the provider without the owner's approval (off unless chosen).
    pub fn auto_refunds(&self) -> bool {
        self.on("policy.refunds.auto")
    }

    /// What the bot says about cancelling: the typed policy in words, then the owner's own text.
    pub fn cancellation_text(&self) -> String {
        let typed = self.cancellation_policy().map(|p| p.describe()).unwrap_or_default();
        let free = self.get("policy.cancellation");
        match (typed.is_empty(), free.is_empty()) {
            (false, false) => format!("{typed}\n{free}"),
            (false, true) => typed,
            _ => free.to_string(),
        }
    }

    pub fn map_url(&self) -> Option<&str> {
        Some(self.get("map_url")).filter(|u| !u.is_empty())
    }

    /// What the dialogue gets: the owner's words, nothing more.
    pub fn to_conversation(&self) -> conversation::PropertyInfo {
        let transfer = self.on("payment.transfer").then(|| conversation::Transfer {
            alias: self.get("payment.transfer.alias").into(),
            cbu: self.get("payment.transfer.cbu").into(),
            holder: self.get("payment.transfer.holder").into(),
            bank: self.get("payment.transfer.bank").into(),
        });
        conversation::PropertyInfo {
            name: self.name().into(),
            address: self.get("address").into(),
            map_link: self.map_url().map(String::from),
            directions: self.get("directions").into(),
            nearby: self.get("nearby").into(),
            check_in_from: self.check_in_from().into(),
            check_out_until: self.check_out_until().into(),
            balance: self.get("balance").into(),
            mercado_pago: self.get("payment.mercado_pago") != "off",
            transfer: transfer.filter(|t| !t.alias.is_empty() || !t.cbu.is_empty()),
            cancellation: self.cancellation_text(),
            refund_policy: self.cancellation_policy().map(|p| p.to_text()).unwrap_or_default(),
            date_changes: self.get("policy.date_changes").into(),
            pets: self.get("policy.pets").into(),
            children: self.get("policy.children").into(),
            included: self.get("included").into(),
            house_rules: self.get("policy.house_rules").into(),
        }
    }
}

/// The settings now stored.
pub async fn load(store: &dyn SettingsStore) -> store::Result<PropertySettings> {
    Ok(PropertySettings::from_map(store.settings().await?))
}

/// First-run defaults from the environment (`POSADA_PROPERTY_*`, `POSADA_CHECK_*`, payments):
/// keys the owner has not written yet. Later starts change nothing the owner saved.
pub fn defaults(config: &Config) -> Vec<(String, String)> {
    let p = &config.property;
    let mut out = vec![
        ("name".to_string(), p.name.clone()),
        ("address".to_string(), p.location.clone()),
        ("map_url".to_string(), p.map_url.clone().unwrap_or_default()),
        ("check_in_from".to_string(), p.check_in_from.clone()),
        ("check_out_until".to_string(), p.check_out_until.clone()),
        ("policy.cancellation".to_string(), p.policies.clone().unwrap_or_default()),
        ("deposit_percent".to_string(), config.deposit_percent.to_string()),
        (
            "payment.mercado_pago".to_string(),
            if config.payments.provider == PaymentProvider::None { "off" } else { "on" }.to_string(),
        ),
    ];
    out.retain(|(_, v)| !v.is_empty());
    out
}

pub async fn seed_defaults(store: &dyn SettingsStore, config: &Config, now: DateTime<Utc>) -> store::Result<u64> {
    store.seed_settings(&defaults(config), now).await
}

/// Checks one submitted value; `Err` is the Spanish message shown next to the field.
pub fn validate(field: &Field, raw: &str) -> Result<String, String> {
    let v = raw.trim().replace("\r\n", "\n");
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("Tiene caracteres que no se pueden guardar.".into());
    }
    if field.kind == Kind::Percent {
        // Empty is refused too: every quote needs a share ("0" asks for no deposit).
        return match v.parse::<u32>() {
            Ok(p) if p <= 100 && v.len() <= 3 && v.bytes().all(|b| b.is_ascii_digit()) => Ok(p.to_string()),
            _ => Err("Escribí un número entero de 0 a 100.".into()),
        };
    }
    if field.kind == Kind::RefundPolicy {
        if v.chars().count() > field.max {
            return Err(format!("Puede tener hasta {} caracteres.", field.max));
        }
        // Stored in its canonical form ("30:100, 15:50"), so what is saved is what applies.
        return match domain::CancellationPolicy::parse(&v) {
            Ok(Some(p)) => Ok(p.to_text()),
            Ok(None) => Ok(String::new()),
            Err(e) => Err(e.to_string()),
        };
    }
    if v.chars().count() > field.max {
        return Err(format!("Puede tener hasta {} caracteres.", field.max));
    }
    if v.is_empty() {
        return Ok(v);
    }
    match field.kind {
        Kind::Line if v.contains('\n') => Err("Tiene que ser una sola línea.".into()),
        Kind::Url if !(v.starts_with("https://") || v.starts_with("http://")) || v.contains([' ', '"', '<', '>']) => {
            Err("Pegá el link completo, empezando por https://".into())
        }
        Kind::Time => {
            let ok = v.len() == 5
                && v.as_bytes()[2] == b':'
                && v[..2].parse::<u32>().is_ok_and(|h| h < 24)
                && v[3..].parse::<u32>().is_ok_and(|m| m < 60);
            if ok { Ok(v) } else { Err("Escribila como 14:00.".into()) }
        }
        Kind::Switch if v != "on" && v != "off" => Err("Elegí sí o no.".into()),
        Kind::Alias => {
            let ok =
                (6..=20).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if ok { Ok(v) } else { Err("El alias tiene de 6 a 20 letras, números, puntos o guiones.".into()) }
        }
        Kind::Cbu => {
            if v.len() == 22 && v.bytes().all(|b| b.is_ascii_digit()) && cbu_ok(&v) {
                Ok(v)
            } else {
                Err("El CBU o CVU tiene 22 números (revisá que esté bien copiado).".into())
            }
        }
        _ => Ok(v),
    }
}

/// The two check digits of a CBU/CVU (BCRA's weights 7 1 3 9 …).
fn cbu_ok(cbu: &str) -> bool {
    let d: Vec<u32> = cbu.bytes().map(|b| u32::from(b - b'0')).collect();
    let check = |digits: &[u32], weights: &[u32]| {
        let sum: u32 = digits.iter().zip(weights.iter().cycle()).map(|(a, b)| a * b).sum();
        (10 - sum % 10) % 10
    };
    let bank = check(&d[0..7], &[7, 1, 3, 9, 7, 1, 3]);
    let account = check(&d[8..21], &[3, 9, 7, 1, 3, 9, 7, 1, 3, 9, 7, 1, 3]);
    bank == d[7] && account == d[21]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(key: &str) -> &'static Field {
        FIELDS.iter().find(|f| f.key == key).unwrap()
    }

    #[test]
    fn values_are_checked_like_an_owner_would_expect() {
        assert_eq!(validate(field("check_in_from"), " 15:00 "), Ok("15:00".into()));
        assert!(validate(field("check_in_from"), "3 pm").is_err());
        assert!(validate(field("map_url"), "maps.google.com/x").is_err());
        assert!(validate(field("map_url"), "https://maps.app.goo.gl/abc").is_ok());
        assert!(validate(field("address"), "línea 1\nlínea 2").is_err());
        assert!(validate(field("nearby"), "Lago a 200 m\nProveeduría a 1 km").is_ok());
        assert!(validate(field("payment.transfer.alias"), "lago.escondido.mp").is_ok());
        assert!(validate(field("payment.transfer.alias"), "a b").is_err());
        // A valid CBU (check digits) and a mistyped one.
        assert!(validate(field("payment.transfer.cbu"), "2850590940090418135201").is_ok());
        assert!(validate(field("payment.transfer.cbu"), "2850590940090418135202").is_err());
        assert!(validate(field("policy.cancellation"), "con\u{0}nul").is_err());
        assert!(validate(field("name"), &"x".repeat(101)).is_err());
        assert_eq!(validate(field("directions"), ""), Ok(String::new()));
        for (given, saved) in [("0", "0"), (" 30 ", "30"), ("100", "100"), ("050", "50")] {
            assert_eq!(validate(field("deposit_percent"), given), Ok(saved.into()), "{given:?}");
        }
        for bad in ["101", "-5", "+5", "30.5", "30%", "treinta", "", "1000"] {
            assert!(validate(field("deposit_percent"), bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_refund_policy_is_typed_and_checked() {
        let f = field("policy.refunds");
        assert_eq!(validate(f, "30 días 100 %\n15 días 50 %"), Ok("30:100, 15:50".into()));
        assert_eq!(validate(f, "Crédito"), Ok("credito".into()));
        assert_eq!(validate(f, ""), Ok(String::new()));
        let err = validate(f, "30:50, 15:100").unwrap_err();
        assert!(err.contains("con más anticipación"), "{err}");
        assert!(validate(f, "30:150").unwrap_err().contains("de 0 a 100"));
        let mut m = BTreeMap::new();
        assert_eq!(PropertySettings::from_map(m.clone()).cancellation_policy(), None);
        assert!(!PropertySettings::from_map(m.clone()).auto_refunds(), "approval by hand unless chosen");
        m.insert("policy.refunds".to_string(), "30:100, 15:50".to_string());
        m.insert("policy.cancellation".to_string(), "Avisanos por WhatsApp.".to_string());
        let s = PropertySettings::from_map(m);
        assert!(s.cancellation_policy().is_some());
        let said = s.to_conversation().cancellation;
        assert!(said.starts_with("Si cancelás con 30 días") && said.ends_with("Avisanos por WhatsApp."), "{said}");
    }

    #[test]
    fn the_deposit_share_is_the_owners_else_the_environments() {
        let mut m = BTreeMap::new();
        assert_eq!(PropertySettings::from_map(m.clone()).deposit_percent(30), 30);
        m.insert("deposit_percent".to_string(), "45".to_string());
        assert_eq!(PropertySettings::from_map(m.clone()).deposit_percent(30), 45);
        m.insert("deposit_percent".to_string(), "400".to_string());
        assert_eq!(PropertySettings::from_map(m).deposit_percent(30), 30, "a stored value out of range is ignored");
    }

    #[test]
    fn the_dialogue_gets_only_what_was_written() {
        let mut m = BTreeMap::new();
        m.insert("payment.transfer".to_string(), "on".to_string());
        let s = PropertySettings::from_map(m.clone());
        // Transfer switched on without an alias or CBU: the bot does not offer it.
        assert!(s.to_conversation().transfer.is_none());
        m.insert("payment.transfer.alias".into(), "lago.mp.ok".into());
        let info = PropertySettings::from_map(m).to_conversation();
        assert_eq!(info.transfer.map(|t| t.alias), Some("lago.mp.ok".into()));
        assert_eq!((info.name.as_str(), info.check_in_from.as_str()), ("Posada", "14:00"));
        assert!(info.mercado_pago);
        assert!(info.address.is_empty());
    }
}
