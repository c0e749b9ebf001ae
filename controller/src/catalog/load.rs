//! Loading: the catalog file (embedded or replacement), the config's extra zones and
//! overrides, and the catalog-wide checks.

use std::collections::HashSet;
use std::path::Path;

use super::zone::Secret;
use super::{Budget, Catalog, CatalogConfig, CatalogError, check, spec};

impl Catalog {
    /// Reads and validates a catalog file; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let file: spec::FileSpec = toml::from_str(text).map_err(|e| CatalogError::Parse {
            origin: origin.to_string(),
            message: crate::text::file::toml_error_text(text, &e),
        })?;
        if file.schema != spec::SCHEMA {
            return Err(CatalogError::Parse {
                origin: origin.to_string(),
                message: format!(
                    "schema {} is not supported (this version reads schema {})",
                    file.schema,
                    spec::SCHEMA
                ),
            });
        }
        let zones = file.zones.into_iter().map(|z| z.into_zone(origin)).collect::<Result<Vec<_>, _>>()?;
        let dead = file.dead.into_iter().map(|d| d.into_dead(origin)).collect::<Result<Vec<_>, _>>()?;
        let receivers = file.receivers.into_iter().map(|r| r.into_receiver(origin)).collect::<Result<Vec<_>, _>>()?;
        let catalog = Catalog { origin: origin.to_string(), as_of: file.as_of, zones, dead, receivers };
        catalog.check(origin)?;
        Ok(catalog)
    }

    /// Reads a catalog file from disk.
    pub fn from_file(path: &Path) -> Result<Catalog, CatalogError> {
        let bytes =
            std::fs::read(path).map_err(|e| CatalogError::Io { path: path.to_path_buf(), message: e.to_string() })?;
        let origin = path.display().to_string();
        let text = crate::text::file::utf8_text(&bytes)
            .map_err(|message| CatalogError::Parse { origin: origin.clone(), message })?;
        Catalog::from_toml_str(text, &origin)
    }

    /// Apply the controller config's `[dnsbl.catalog]` section: the replacement
    /// file, then the extra zones, then the per-zone overrides. On error the
    /// catalog is left as it was.
    pub fn apply(&mut self, config: &CatalogConfig) -> Result<(), CatalogError> {
        let mut next = match &config.file {
            Some(path) => Catalog::from_file(path)?,
            None => self.clone(),
        };
        const EXTRA: &str = "controller config [[dnsbl.catalog.extra]]";
        for spec in &config.extra {
            let zone = spec.clone().into_zone(EXTRA)?;
            if let Some(dead) = next.dead_match(&zone.id).or_else(|| next.dead_match(&zone.bare_zone())) {
                return Err(dead.refusal());
            }
            next.zones.push(zone);
        }
        next.check(EXTRA)?;
        for (id, o) in &config.zone {
            let origin = format!("controller config [dnsbl.catalog.zone.{id}]");
            let Some(zone) = next.zones.iter_mut().find(|z| z.id == *id) else {
                if let Some(dead) = next.dead.iter().find(|d| d.id == *id) {
                    return Err(dead.refusal());
                }
                let suggestions = next.suggestions(id);
                let id = crate::text::printable(id, 80);
                return Err(CatalogError::UnknownOverride { id, suggestions });
            };
            if let Some(enabled) = o.enabled {
                zone.enabled = enabled;
            }
            if let Some(key) = &o.key {
                if !zone.needs_key {
                    return Err(CatalogError::Invalid {
                        origin,
                        zone_id: id.clone(),
                        reason: format!("zone {} takes no key", zone.template),
                    });
                }
                zone.set_key(Secret::new(&origin, id, key)?);
            }
            let per_second = o.per_second.unwrap_or(zone.budget.per_second);
            let per_day = o.per_day.or(zone.budget.per_day);
            check::check_budget(&origin, id, per_second, per_day)?;
            zone.budget = Budget { per_second, per_day };
        }
        *self = next;
        Ok(())
    }

    /// Catalog-wide rules: unique ids and zone names (active, dead and
    /// receivers), no active zone under a dead name, supersedes point at zones.
    pub(super) fn check(&self, origin: &str) -> Result<(), CatalogError> {
        let invalid = |id: &str, reason: String| CatalogError::Invalid {
            origin: origin.to_string(),
            zone_id: id.to_string(),
            reason,
        };
        let mut ids = HashSet::new();
        let all_ids = self.zones.iter().map(|z| &z.id).chain(self.dead.iter().map(|d| &d.id));
        for id in all_ids.chain(self.receivers.iter().map(|r| &r.id)) {
            if !ids.insert(id.as_str()) {
                return Err(invalid(id, "the id is used twice".into()));
            }
        }
        let mut names = HashSet::new();
        for zone in &self.zones {
            if !names.insert(zone.bare_zone()) {
                return Err(invalid(&zone.id, format!("zone {} is listed twice", zone.display_zone())));
            }
            if let Some(dead) = self.dead_match(&zone.bare_zone()) {
                return Err(invalid(
                    &zone.id,
                    format!(
                        "zone {} is the dead zone {} (dead since {})",
                        zone.display_zone(),
                        dead.id,
                        dead.dead_since
                    ),
                ));
            }
            for other in zone.supersedes() {
                if *other == zone.id || !self.zones.iter().any(|z| z.id == *other) {
                    return Err(invalid(&zone.id, format!("supersedes \"{other}\", which is not another zone")));
                }
            }
        }
        for dead in &self.dead {
            for name in dead.names() {
                if !names.insert(name.to_string()) {
                    return Err(invalid(&dead.id, format!("zone {name} is listed twice")));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
