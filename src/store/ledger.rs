//! The `attempts` table: the ledger's durable half (`usage.jsonl` is the other).

use super::{Result, Store};
use crate::attempt::AttemptRecord;
use rusqlite::params;

impl Store {
    /// Records one attempt and the jobs it served.
    pub fn insert_attempt(&self, a: &AttemptRecord, job_ids: &[i64]) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO attempts (ts, run_id, post_id, stage, provider, project, key_id, model, http_status,
                 outcome, quota_id, quota_value, retry_delay_ms, latency_ms, prompt_tokens, output_tokens,
                 thoughts_tokens, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            params![
                a.ts,
                a.run_id,
                a.post_id,
                a.stage,
                a.provider,
                a.project,
                a.key_id,
                a.model,
                a.http_status,
                a.outcome,
                a.quota_id,
                a.quota_value.map(|v| v as i64),
                a.retry_delay_ms.map(|v| v as i64),
                a.latency_ms as i64,
                a.prompt_tokens.map(|v| v as i64),
                a.output_tokens.map(|v| v as i64),
                a.thoughts_tokens.map(|v| v as i64),
                a.error,
            ],
        )?;
        let id = tx.last_insert_rowid();
        for job in job_ids {
            tx.execute("INSERT OR IGNORE INTO attempt_jobs (attempt_id, job_id) VALUES (?1, ?2)", params![id, job])?;
            tx.execute("UPDATE jobs SET attempts = attempts + 1 WHERE id = ?1", [job])?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Completes a row written ahead as `started` with what came back.
    pub fn complete_attempt(&self, id: i64, a: &AttemptRecord) -> Result<()> {
        self.conn().execute(
            "UPDATE attempts SET http_status = ?2, outcome = ?3, quota_id = ?4, quota_value = ?5, retry_delay_ms = ?6,
                 latency_ms = ?7, prompt_tokens = ?8, output_tokens = ?9, thoughts_tokens = ?10, error = ?11
             WHERE id = ?1",
            params![
                id,
                a.http_status,
                a.outcome,
                a.quota_id,
                a.quota_value.map(|v| v as i64),
                a.retry_delay_ms.map(|v| v as i64),
                a.latency_ms as i64,
                a.prompt_tokens.map(|v| v as i64),
                a.output_tokens.map(|v| v as i64),
                a.thoughts_tokens.map(|v| v as i64),
                a.error,
            ],
        )?;
        Ok(())
    }

    /// Every attempt, oldest first.
    pub fn attempts(&self) -> Result<Vec<AttemptRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT ts, run_id, post_id, stage, provider, project, key_id, model, http_status, outcome, quota_id,
                    quota_value, retry_delay_ms, latency_ms, prompt_tokens, output_tokens, thoughts_tokens, error, id,
                    (SELECT COUNT(*) FROM attempt_jobs aj JOIN jobs j ON j.id = aj.job_id
                      WHERE aj.attempt_id = attempts.id AND j.stage IN ('combined', 'summary'))
             FROM attempts ORDER BY id",
        )?;
        let u64_opt = |v: Option<i64>| v.map(|x| x.max(0) as u64);
        let rows = stmt.query_map([], |r| {
            Ok(AttemptRecord {
                ts: r.get(0)?,
                run_id: r.get(1)?,
                post_id: r.get(2)?,
                stage: r.get(3)?,
                provider: r.get(4)?,
                project: r.get(5)?,
                key_id: r.get(6)?,
                model: r.get(7)?,
                http_status: r.get(8)?,
                outcome: r.get(9)?,
                quota_id: r.get(10)?,
                quota_value: u64_opt(r.get(11)?),
                retry_delay_ms: u64_opt(r.get(12)?),
                latency_ms: r.get::<_, i64>(13)?.max(0) as u64,
                prompt_tokens: u64_opt(r.get(14)?),
                output_tokens: u64_opt(r.get(15)?),
                thoughts_tokens: u64_opt(r.get(16)?),
                error: r.get(17)?,
                attempt: Some(r.get(18)?),
                // The posts an attempt served are its summary jobs.
                posts: Some(r.get::<_, i64>(19)?).filter(|n| *n > 0).map(|n| n as u32),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
