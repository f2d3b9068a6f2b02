//! What the quota engine remembers across runs: exhausted pools, learned limits, and each
//! pool's request count per Pacific day.

use super::{Result, Store};
use rusqlite::{OptionalExtension, params};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolRow {
    pub provider: String,
    pub project: String,
    pub model: String,
    /// RFC 3339: no request before this instant (the next Pacific midnight).
    pub exhausted_until: Option<String>,
    pub quota_id: Option<String>,
    pub learned_rpm: Option<u32>,
    pub learned_tpm: Option<u64>,
    pub learned_rpd: Option<u32>,
}

impl Store {
    pub fn pools(&self) -> Result<Vec<PoolRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT provider, project, model, exhausted_until, quota_id, learned_rpm, learned_tpm, learned_rpd
             FROM pools ORDER BY provider, project, model",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PoolRow {
                provider: r.get(0)?,
                project: r.get(1)?,
                model: r.get(2)?,
                exhausted_until: r.get(3)?,
                quota_id: r.get(4)?,
                learned_rpm: r.get(5)?,
                learned_tpm: r.get::<_, Option<i64>>(6)?.map(|v| v.max(0) as u64),
                learned_rpd: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn save_pool(&self, p: &PoolRow) -> Result<()> {
        self.conn().execute(
            "INSERT INTO pools (provider, project, model, exhausted_until, quota_id, learned_rpm, learned_tpm, learned_rpd)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(provider, project, model) DO UPDATE SET exhausted_until = ?4, quota_id = ?5,
                 learned_rpm = ?6, learned_tpm = ?7, learned_rpd = ?8",
            params![
                p.provider,
                p.project,
                p.model,
                p.exhausted_until,
                p.quota_id,
                p.learned_rpm,
                p.learned_tpm.map(|v| v as i64),
                p.learned_rpd
            ],
        )?;
        Ok(())
    }

    /// Forgets recorded exhaustion (and learned limits) of the pools matching `filter`
    /// (`provider/project/model`, any part may be `*`); returns how many were reset.
    pub fn reset_pools(&self, filter: Option<&str>) -> Result<usize> {
        let pools = self.pools()?;
        let mut n = 0;
        for p in pools {
            if filter.is_none_or(|f| pool_matches(f, &p.provider, &p.project, &p.model)) {
                self.conn().execute(
                    "DELETE FROM pools WHERE provider = ?1 AND project = ?2 AND model = ?3",
                    params![p.provider, p.project, p.model],
                )?;
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn daily_requests(&self, provider: &str, project: &str, model: &str, day: &str) -> Result<u32> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT requests FROM daily_usage WHERE provider = ?1 AND project = ?2 AND model = ?3 AND day = ?4",
                params![provider, project, model, day],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// Counts one request against a pool's day, before it is sent: a crash right after
    /// sending must not let the next run believe the request was never made.
    pub fn add_daily_request(&self, provider: &str, project: &str, model: &str, day: &str) -> Result<u32> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO daily_usage (provider, project, model, day, requests) VALUES (?1, ?2, ?3, ?4, 1)
             ON CONFLICT(provider, project, model, day) DO UPDATE SET requests = requests + 1",
            params![provider, project, model, day],
        )?;
        Ok(conn.query_row(
            "SELECT requests FROM daily_usage WHERE provider = ?1 AND project = ?2 AND model = ?3 AND day = ?4",
            params![provider, project, model, day],
            |r| r.get(0),
        )?)
    }

    /// Requests per pool on one day: (provider, project, model, requests).
    pub fn daily_usage(&self, day: &str) -> Result<Vec<(String, String, String, u32)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT provider, project, model, requests FROM daily_usage WHERE day = ?1 ORDER BY provider, project, model",
        )?;
        let rows = stmt.query_map([day], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl Store {
    /// Remembers the models a provider serves (for generation).
    pub fn save_catalog(&self, provider: &str, served: &[String], listed_at: &str) -> Result<()> {
        let json = serde_json::to_string(served).expect("strings serialise");
        self.conn().execute(
            "INSERT INTO catalog (provider, served, listed_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(provider) DO UPDATE SET served = ?2, listed_at = ?3",
            params![provider, json, listed_at],
        )?;
        Ok(())
    }

    /// The last listing of a provider: (models, when).
    pub fn catalog(&self, provider: &str) -> Result<Option<(Vec<String>, String)>> {
        let conn = self.conn();
        let row: Option<(String, String)> = conn
            .query_row("SELECT served, listed_at FROM catalog WHERE provider = ?1", [provider], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(row.and_then(|(json, at)| serde_json::from_str(&json).ok().map(|v| (v, at))))
    }
}

/// `gemini/my-project/gemini-2.5-flash`, with `*` for any part; a bare model name matches
/// that model in every project.
pub fn pool_matches(filter: &str, provider: &str, project: &str, model: &str) -> bool {
    let parts: Vec<&str> = filter.split('/').collect();
    let ok = |f: &str, v: &str| f == "*" || f == v;
    match parts.as_slice() {
        [m] => ok(m, model),
        [pr, m] => ok(pr, project) && ok(m, model),
        [pv, pr, m] => ok(pv, provider) && ok(pr, project) && ok(m, model),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_counts_persist_and_reset_filters() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.add_daily_request("gemini", "p", "m", "2026-11-28").unwrap(), 1);
        assert_eq!(store.add_daily_request("gemini", "p", "m", "2026-11-28").unwrap(), 2);
        assert_eq!(store.daily_requests("gemini", "p", "m", "2026-11-29").unwrap(), 0);
        let row = PoolRow {
            provider: "gemini".into(),
            project: "p".into(),
            model: "m".into(),
            exhausted_until: Some("2026-11-29T08:00:00Z".into()),
            learned_rpd: Some(20),
            ..Default::default()
        };
        store.save_pool(&row).unwrap();
        assert_eq!(store.pools().unwrap(), vec![row]);
        assert_eq!(store.reset_pools(Some("other")).unwrap(), 0);
        assert_eq!(store.reset_pools(Some("gemini/p/m")).unwrap(), 1);
        assert!(store.pools().unwrap().is_empty());
    }
}
