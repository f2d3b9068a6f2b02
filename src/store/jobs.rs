//! Posts and jobs: what is done, what waits, what failed and why.

use super::{Result, Store, now_rfc3339};
use rusqlite::{OptionalExtension, Row, params};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Running,
    Done,
    Failed,
    /// Waits for a quota reset (`not_before`).
    Deferred,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Deferred => "deferred",
        }
    }
    fn parse(s: &str) -> JobState {
        match s {
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "deferred" => JobState::Deferred,
            _ => JobState::Pending,
        }
    }
}

#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: i64,
    pub key: String,
    pub stage: String,
    pub post_id: Option<String>,
    pub state: JobState,
    pub attempts: i64,
    pub not_before: Option<String>,
    pub error: Option<String>,
    /// The kept answer (JSON), once done.
    pub result: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostState {
    Pending,
    Done,
    Failed,
    Deferred,
}

impl PostState {
    pub fn as_str(self) -> &'static str {
        match self {
            PostState::Pending => "pending",
            PostState::Done => "done",
            PostState::Failed => "failed",
            PostState::Deferred => "deferred",
        }
    }
    fn parse(s: &str) -> PostState {
        match s {
            "done" => PostState::Done,
            "failed" => PostState::Failed,
            "deferred" => PostState::Deferred,
            _ => PostState::Pending,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PostRow {
    pub post_id: String,
    pub safe_id: String,
    pub source_path: String,
    pub state: PostState,
    pub error: Option<String>,
    pub resume_at: Option<String>,
    pub updated_at: String,
}

/// Something in the input that is not a post a run could work on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InputProblem {
    /// `skipped` (a folder without a post) or `unreadable` (input that should have been a
    /// post: a bad export line, an unreadable file).
    pub kind: String,
    pub path: String,
    pub line: Option<i64>,
    pub reason: String,
}

const JOB_COLUMNS: &str = "id, key, stage, post_id, state, attempts, not_before, error, result, provider, model";

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        key: r.get(1)?,
        stage: r.get(2)?,
        post_id: r.get(3)?,
        state: JobState::parse(&r.get::<_, String>(4)?),
        attempts: r.get(5)?,
        not_before: r.get(6)?,
        error: r.get(7)?,
        result: r.get(8)?,
        provider: r.get(9)?,
        model: r.get(10)?,
    })
}

impl Store {
    pub fn job(&self, key: &str) -> Result<Option<JobRow>> {
        let conn = self.conn();
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE key = ?1");
        Ok(conn.query_row(&sql, [key], job_from_row).optional()?)
    }

    /// The job with this identity, created pending if it is new.
    pub fn ensure_job(&self, key: &str, stage: &str, post_id: Option<&str>) -> Result<JobRow> {
        {
            let conn = self.conn();
            let now = now_rfc3339();
            conn.execute(
                "INSERT INTO jobs (key, stage, post_id, state, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?4) ON CONFLICT(key) DO NOTHING",
                params![key, stage, post_id, now],
            )?;
        }
        Ok(self.job(key)?.expect("job just ensured"))
    }

    pub fn set_job_state(&self, id: i64, state: JobState, error: Option<&str>, not_before: Option<&str>) -> Result<()> {
        self.conn().execute(
            "UPDATE jobs SET state = ?2, error = ?3, not_before = ?4, updated_at = ?5 WHERE id = ?1",
            params![id, state.as_str(), error, not_before, now_rfc3339()],
        )?;
        Ok(())
    }

    /// Keeps a job's answer and marks it done, in one transaction: a crash leaves either
    /// a pending job or a done one with its answer, never a done one without.
    pub fn finish_job(&self, id: i64, result: &str, provider: &str, model: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE jobs SET state = 'done', result = ?2, provider = ?3, model = ?4, error = NULL,
                 not_before = NULL, updated_at = ?5 WHERE id = ?1",
            params![id, result, provider, model, now_rfc3339()],
        )?;
        Ok(())
    }

    pub fn count_attempt(&self, id: i64) -> Result<()> {
        self.conn().execute("UPDATE jobs SET attempts = attempts + 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn upsert_post(
        &self,
        post_id: &str,
        safe_id: &str,
        source_path: &str,
        state: PostState,
        error: Option<&str>,
        resume_at: Option<&str>,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO posts (post_id, safe_id, source_path, state, error, resume_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(post_id) DO UPDATE SET safe_id = ?2, source_path = ?3, state = ?4, error = ?5,
                 resume_at = ?6, updated_at = ?7",
            params![post_id, safe_id, source_path, state.as_str(), error, resume_at, now_rfc3339()],
        )?;
        Ok(())
    }

    /// Makes every discovered post known (pending unless it has a state already), so that
    /// `status` counts the whole batch while a run goes, not only the posts it started.
    pub fn register_posts<'a>(&self, posts: impl IntoIterator<Item = (&'a str, &'a str, String)>) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_rfc3339();
        for (post_id, safe_id, source_path) in posts {
            tx.execute(
                "INSERT INTO posts (post_id, safe_id, source_path, state, updated_at)
                 VALUES (?1, ?2, ?3, 'pending', ?4) ON CONFLICT(post_id) DO NOTHING",
                params![post_id, safe_id, source_path, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the fingerprint of a done post's files (see `input::signature`).
    pub fn set_post_signature(&self, post_id: &str, files_sig: &str) -> Result<()> {
        self.conn().execute("UPDATE posts SET files_sig = ?2 WHERE post_id = ?1", params![post_id, files_sig])?;
        Ok(())
    }

    /// Done posts and the fingerprint of their files when they were done.
    pub fn done_signatures(&self) -> Result<std::collections::HashMap<String, String>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT post_id, files_sig FROM posts WHERE state = 'done' AND files_sig IS NOT NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn posts(&self) -> Result<Vec<PostRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT post_id, safe_id, source_path, state, error, resume_at, updated_at FROM posts ORDER BY post_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PostRow {
                post_id: r.get(0)?,
                safe_id: r.get(1)?,
                source_path: r.get(2)?,
                state: PostState::parse(&r.get::<_, String>(3)?),
                error: r.get(4)?,
                resume_at: r.get(5)?,
                updated_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Jobs per state, over jobs still referenced by a post's latest run.
    pub fn job_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT stage, state, COUNT(*) FROM jobs GROUP BY stage, state ORDER BY stage, state")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn begin_run(&self, run_id: &str) -> Result<()> {
        self.conn().execute("INSERT INTO runs (run_id, started_at) VALUES (?1, ?2)", params![run_id, now_rfc3339()])?;
        Ok(())
    }

    /// Keeps what the run found in its input that is not a post it could work on.
    pub fn record_input_problems(&self, run_id: &str, problems: &[InputProblem]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for p in problems {
            tx.execute(
                "INSERT INTO input_problems (run_id, kind, path, line, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run_id, p.kind, p.path, p.line, p.reason],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The input problems of the latest run (none from a store older than their table).
    pub fn last_input_problems(&self) -> Result<Vec<InputProblem>> {
        if self.version() < 2 {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT kind, path, line, reason FROM input_problems
             WHERE run_id = (SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1)
             ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(InputProblem { kind: r.get(0)?, path: r.get(1)?, line: r.get(2)?, reason: r.get(3)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn end_run(&self, run_id: &str, exit_code: i32, resume_at: Option<&str>) -> Result<()> {
        self.conn().execute(
            "UPDATE runs SET finished_at = ?2, exit_code = ?3, resume_at = ?4 WHERE run_id = ?1",
            params![run_id, now_rfc3339(), exit_code, resume_at],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_identity_and_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store.ensure_job("combined:p:abc", "combined", Some("p")).unwrap();
        assert_eq!(a.state, JobState::Pending);
        let again = store.ensure_job("combined:p:abc", "combined", Some("p")).unwrap();
        assert_eq!(a.id, again.id);
        store.set_job_state(a.id, JobState::Running, None, None).unwrap();
        drop(store);
        // A killed run's running job is pending again on reopen.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.job("combined:p:abc").unwrap().unwrap().state, JobState::Pending);
        store.finish_job(a.id, "{}", "gemini", "m").unwrap();
        let done = store.job("combined:p:abc").unwrap().unwrap();
        assert_eq!((done.state, done.result.as_deref()), (JobState::Done, Some("{}")));
    }
}
