//! `posada demo`: an embedded SQLite file, three demo cabins, a generated JWT secret and owner
//! login kept in the data directory, so a new user has a working service with one command.

use anyhow::Context;
use domain::{Money, Multiplier};
use std::path::Path;
use store::{Photo, Store, UnitInput};

/// Reads a secret kept in the data dir, or creates it (owner-only permissions).
pub fn kept_secret(dir: &Path, name: &str, len: usize) -> anyhow::Result<String> {
    let path = dir.join(name);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let text = text.trim().to_string();
        if !text.is_empty() {
            return Ok(text);
        }
    }
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let secret: String = (0..len).map(|_| ALPHABET[rand::random::<usize>() % ALPHABET.len()] as char).collect();
    std::fs::write(&path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(secret)
}

fn cabin(
    slug: &str,
    name: &str,
    capacity: u32,
    price: i64,
    min_nights: u32,
    description: &str,
    amenities: &[&str],
) -> UnitInput {
    UnitInput {
        slug: slug.into(),
        name: name.into(),
        capacity,
        base_price: Money::from_pesos(price),
        weekend_multiplier: Multiplier(12_000),
        min_nights,
        description: description.into(),
        amenities: amenities.iter().map(|a| a.to_string()).collect(),
        photos: vec![
            Photo {
                url: format!("https://picsum.photos/seed/posada-{slug}/1024/768"),
                caption: format!("{name} por fuera"),
            },
            Photo { url: format!("https://picsum.photos/seed/posada-{slug}-in/1024/768"), caption: "Living".into() },
        ],
        active: true,
    }
}

pub fn demo_cabins() -> Vec<UnitInput> {
    vec![
        cabin(
            "coihue",
            "Coihue",
            2,
            45_000,
            2,
            "Cabaña para dos frente al bosque, con hogar a leña y deck.",
            &["wifi", "hogar a leña", "deck", "cocina equipada", "estacionamiento"],
        ),
        cabin(
            "arrayan",
            "Arrayán",
            4,
            65_000,
            2,
            "Dos ambientes con vista al lago, parrilla propia y cochera.",
            &["wifi", "parrilla", "vista al lago", "cochera", "ropa de cama"],
        ),
        cabin(
            "cabana-grande",
            "Cabaña Grande",
            6,
            95_000,
            1,
            "Tres dormitorios, quincho con parrilla y jardín; se aceptan mascotas.",
            &["wifi", "parrilla", "quincho", "jardín", "mascotas", "lavarropas"],
        ),
    ]
}

/// Seeds the demo cabins when the database has none; returns how many were created.
pub async fn seed(store: &dyn Store, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<usize> {
    if !store.list_units(true).await?.is_empty() {
        return Ok(0);
    }
    let cabins = demo_cabins();
    for c in &cabins {
        store.create_unit(c, &crate::http::admin::new_ical_token(), now).await?;
    }
    Ok(cabins.len())
}
