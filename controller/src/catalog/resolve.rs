//! Finding a zone by what a person typed: id or zone name, dead zones refused,
//! close matches suggested.

use super::{Catalog, CatalogError, DeadZone, Zone};

impl Catalog {
    /// By id or zone name (case-insensitive, trailing dot ignored; for keyed
    /// zones the name without the key matches, and so does "<key>.…").
    /// Dead → [`CatalogError::Dead`]; unknown → [`CatalogError::Unknown`] with
    /// close matches suggested.
    pub fn resolve(&self, selector: &str) -> Result<&Zone, CatalogError> {
        let wanted = normalize(selector);
        let found = self.zones.iter().find(|z| {
            z.id == wanted
                || z.bare_zone() == wanted
                || z.display_zone() == wanted
                || z.template == wanted
                || (z.has_key() && z.zone_name().is_some_and(|n| n.eq_ignore_ascii_case(&wanted)))
        });
        if let Some(zone) = found {
            return Ok(zone);
        }
        if let Some(dead) = self.dead_match(&wanted) {
            return Err(dead.refusal());
        }
        let mut shown = selector.trim().to_string();
        for zone in &self.zones {
            shown = zone.redact(&shown);
        }
        Err(CatalogError::Unknown { suggestions: self.suggestions(&wanted), selector: shown })
    }

    pub(super) fn dead_match(&self, wanted: &str) -> Option<&DeadZone> {
        let wanted = normalize(wanted);
        self.dead.iter().find(|d| d.id == wanted || d.names().any(|n| n == wanted))
    }

    /// Up to five zone ids close to `wanted` (edit distance or containment).
    pub(super) fn suggestions(&self, wanted: &str) -> Vec<String> {
        let wanted = normalize(wanted);
        let mut scored: Vec<(usize, &str)> = self
            .zones
            .iter()
            .filter_map(|z| {
                let bare = z.bare_zone();
                let distance = edit_distance(&wanted, &z.id).min(edit_distance(&wanted, &bare));
                let contains = wanted.len() >= 3 && (z.id.contains(&wanted) || bare.contains(&wanted));
                let close = distance <= (wanted.len() / 4).max(2);
                (close || contains).then_some((if close { distance } else { 10 + distance }, z.id.as_str()))
            })
            .collect();
        scored.sort();
        scored.into_iter().take(5).map(|(_, id)| id.to_string()).collect()
    }
}

fn normalize(selector: &str) -> String {
    selector.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Levenshtein distance over bytes (ids and zone names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diagonal + usize::from(ca != cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
