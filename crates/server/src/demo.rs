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
            Photo { url: format!("{PHOTO_PATH}/{slug}-fuera.svg"), caption: format!("{name} por fuera") },
            Photo { url: format!("{PHOTO_PATH}/{slug}-living.svg"), caption: "Living".into() },
        ],
        active: true,
    }
}

/// Where the demo cabins' photos are served. They ship inside the binary (a few hundred bytes of
/// SVG each) so the demo works offline; the bot turns this path into an absolute URL with
/// `POSADA_PUBLIC_URL` when it sends a photo.
pub const PHOTO_PATH: &str = "/fotos/demo";

/// A demo photo: `{slug}-fuera.svg` (the cabin among trees by the lake) or `{slug}-living.svg`.
/// Drawn here rather than shipped as JPEGs: small, offline, and one colour per cabin.
pub fn photo_svg(name: &str) -> Option<String> {
    let (slug, kind) = name.strip_suffix(".svg")?.rsplit_once('-')?;
    let (wall, roof) = match slug {
        "coihue" => ("#8d5a3b", "#4a2f22"),
        "arrayan" => ("#b5653a", "#5b3a2a"),
        "cabana-grande" => ("#6f4e37", "#2f3b2f"),
        _ => return None,
    };
    let title = demo_cabins().into_iter().find(|c| c.slug == slug)?.name;
    let scene = match kind {
        "fuera" => format!(
            r##"<rect width="640" height="480" fill="#bcdff1"/><path d="M0 250 L120 130 L230 240 L340 110 L470 250 L560 160 L640 230 V480 H0Z" fill="#7d8fa3"/><rect y="300" width="640" height="180" fill="#4f8a5b"/><rect y="400" width="640" height="80" fill="#3f7fb0"/><path d="M70 300 l30 -90 l30 90z M520 300 l30 -100 l30 100z" fill="#2e5b34"/><rect x="230" y="250" width="180" height="110" fill="{wall}"/><path d="M210 255 L320 175 L430 255Z" fill="{roof}"/><rect x="300" y="300" width="40" height="60" fill="#3b2416"/><rect x="250" y="275" width="35" height="30" fill="#f3d27a"/><rect x="355" y="275" width="35" height="30" fill="#f3d27a"/>"##
        ),
        "living" => format!(
            r##"<rect width="640" height="480" fill="#e9dcc7"/><rect y="360" width="640" height="120" fill="{wall}"/><rect x="60" y="90" width="200" height="150" fill="#bcdff1" stroke="{roof}" stroke-width="10"/><rect x="380" y="170" width="170" height="190" fill="#9c9c9c"/><rect x="410" y="250" width="110" height="80" fill="#2b2b2b"/><path d="M440 330 q25 -60 50 0z" fill="#f08a24"/><rect x="90" y="300" width="220" height="60" rx="14" fill="#5b7d8c"/><rect x="80" y="280" width="40" height="80" rx="10" fill="#4b6a77"/><rect x="280" y="280" width="40" height="80" rx="10" fill="#4b6a77"/>"##
        ),
        _ => return None,
    };
    Some(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 480" width="640" height="480" role="img" aria-label="{title}">{scene}<text x="20" y="465" font-family="sans-serif" font-size="22" fill="#fff">{title} · foto de ejemplo</text></svg>"##
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_photo_is_served_and_nothing_else() {
        for c in demo_cabins() {
            assert_eq!(c.photos.len(), 2);
            for p in &c.photos {
                let name = p.url.strip_prefix(&format!("{PHOTO_PATH}/")).expect("served by us");
                let svg = photo_svg(name).unwrap_or_else(|| panic!("{name} is not drawn"));
                assert!(svg.starts_with("<svg") && svg.contains(&c.name), "{svg}");
            }
        }
        for bad in ["coihue-fuera.png", "otra-fuera.svg", "coihue-cocina.svg", "../etc.svg", ""] {
            assert!(photo_svg(bad).is_none(), "{bad}");
        }
    }
}
