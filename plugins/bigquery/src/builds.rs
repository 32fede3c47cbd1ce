//! The failure-source capability: builds and their failed tests read from tables of the
//! dataset (`builders`, `builds`, `build_failures`, see [`crate::schema`]), the time window
//! pushed down as a `WHERE` on `commit_time`, paged by (`commit_time`, `url`).
//!
//! [`Store::load_builds`] writes those tables (for tests, and for anyone filling them from
//! Rust); a build or builder already there is not written again, and reads keep one copy per
//! URL and name whatever reached the tables.

use std::collections::BTreeSet;

use flakewatch_plugin_sdk::model::{Build, BuildPage, Builder, ListBuildsRequest, TestFailure};
use serde_json::{Value, json};

use crate::client::{Error, Param};
use crate::results::{Store, StoreError, insert_id, micros, timestamp_text};
use crate::schema::{BUILD_FAILURES, BUILDERS, BUILDS};
use crate::value;

/// A `TIMESTAMP` cell as RFC 3339 text.
fn time_text(column: &str, v: &Value) -> Result<Option<String>, StoreError> {
    value::timestamp_micros(column, v)?
        .map(timestamp_text)
        .transpose()
}

impl Store {
    /// One page of at most `page` builds that committed at or after `since`, oldest first;
    /// the first page also lists every builder.
    pub fn list_builds(
        &self,
        request: &ListBuildsRequest,
        page: usize,
    ) -> Result<BuildPage, StoreError> {
        let since = micros("since", &request.since)?;
        let after = match &request.cursor {
            None => None,
            Some(cursor) => Some(
                cursor
                    .split_once(':')
                    .and_then(|(us, url)| Some((us.parse::<i64>().ok()?, url.to_owned())))
                    .ok_or_else(|| StoreError::BadRequest(format!("bad cursor {cursor:?}")))?,
            ),
        };
        if !self.ensure_build_schema(false)? {
            return Ok(BuildPage::default());
        }
        let page = page.max(1);
        let rows = self.query(
            &format!(
                "WITH b AS (
                   SELECT *, ROW_NUMBER() OVER (PARTITION BY url ORDER BY commit_time) AS copy
                   FROM {builds}
                   WHERE commit_time >= TIMESTAMP_MICROS(@since_us)
                 )
                 , after_cursor AS (
                   SELECT url, builder, `commit`, go_commit, commit_time, build_time, status,
                          log, step_log,
                          ROW_NUMBER() OVER (ORDER BY commit_time, url) AS n
                   FROM b
                   WHERE copy = 1
                     AND (@after_us IS NULL
                          OR commit_time > TIMESTAMP_MICROS(@after_us)
                          OR (commit_time = TIMESTAMP_MICROS(@after_us) AND url > @after_url))
                 )
                 SELECT url, builder, `commit`, go_commit, commit_time, build_time, status, log,
                        step_log
                 FROM after_cursor
                 WHERE n <= @page
                 ORDER BY n",
                builds = self.table(BUILDS)
            ),
            &[
                Param::int("since_us", Some(since)),
                Param::int("after_us", after.as_ref().map(|(us, _)| *us)),
                Param::string("after_url", after.as_ref().map(|(_, url)| url.as_str())),
                Param::int("page", Some(page as i64 + 1)),
            ],
        )?;
        let mut builds: Vec<(i64, Build)> = Vec::new();
        for row in &rows.rows {
            let commit_us = value::timestamp_micros("commit_time", &row[4])?.ok_or_else(|| {
                StoreError::Client(Error::BadAnswer("a build without commit_time".to_owned()))
            })?;
            builds.push((
                commit_us,
                Build {
                    url: value::required_string("url", &row[0])?,
                    builder: value::required_string("builder", &row[1])?,
                    commit: value::required_string("commit", &row[2])?,
                    go_commit: value::string("go_commit", &row[3])?.unwrap_or_default(),
                    commit_time: timestamp_text(commit_us)?,
                    build_time: time_text("build_time", &row[5])?,
                    status: value::required_string("status", &row[6])?,
                    log: value::string("log", &row[7])?.unwrap_or_default(),
                    step_log: value::string("step_log", &row[8])?.unwrap_or_default(),
                    failures: Vec::new(),
                },
            ));
        }
        let next_cursor = if builds.len() > page {
            builds.truncate(page);
            builds.last().map(|(us, b)| format!("{us}:{}", b.url))
        } else {
            None
        };
        let mut builds: Vec<Build> = builds.into_iter().map(|(_, b)| b).collect();
        if !builds.is_empty() {
            let urls: Vec<&str> = builds.iter().map(|b| b.url.as_str()).collect();
            let failures = self.query(
                &format!(
                    "SELECT build_url, position, test_id, status, output FROM {}
                     WHERE build_url IN UNNEST(@urls)
                     QUALIFY ROW_NUMBER() OVER (PARTITION BY build_url, position) = 1
                     ORDER BY build_url, position",
                    self.table(BUILD_FAILURES)
                ),
                &[Param::strings("urls", &urls)],
            )?;
            for row in &failures.rows {
                let url = value::required_string("build_url", &row[0])?;
                if let Some(build) = builds.iter_mut().find(|b| b.url == url) {
                    build.failures.push(TestFailure {
                        test_id: value::required_string("test_id", &row[2])?,
                        status: value::required_string("status", &row[3])?,
                        output: value::string("output", &row[4])?.unwrap_or_default(),
                    });
                }
            }
        }
        let mut builders = Vec::new();
        if request.cursor.is_none() {
            let rows = self.query(
                &format!(
                    "SELECT name, repo, go_branch, goos, goarch FROM {}
                     WHERE name IS NOT NULL
                     QUALIFY ROW_NUMBER() OVER (PARTITION BY name) = 1
                     ORDER BY name",
                    self.table(BUILDERS)
                ),
                &[],
            )?;
            for row in &rows.rows {
                builders.push(Builder {
                    name: value::required_string("name", &row[0])?,
                    repo: value::required_string("repo", &row[1])?,
                    go_branch: value::string("go_branch", &row[2])?.unwrap_or_default(),
                    goos: value::string("goos", &row[3])?.unwrap_or_default(),
                    goarch: value::string("goarch", &row[4])?.unwrap_or_default(),
                });
            }
        }
        Ok(BuildPage {
            builders,
            builds,
            next_cursor,
        })
    }

    /// Writes builders and builds (with their failures) into the failure-source tables,
    /// creating them when missing. Builders and builds already there (by name, by URL) are
    /// left as they are; every row has a deterministic `insertId`. Returns how many builds
    /// were written.
    pub fn load_builds(&self, builders: &[Builder], builds: &[Build]) -> Result<usize, StoreError> {
        for build in builds {
            micros(
                &format!("build {}: commit_time", build.url),
                &build.commit_time,
            )?;
            if let Some(time) = &build.build_time {
                micros(&format!("build {}: build_time", build.url), time)?;
            }
        }
        self.ensure_build_schema(true)?;
        let names: Vec<&str> = builders.iter().map(|b| b.name.as_str()).collect();
        let known_builders = self.existing(BUILDERS, "name", &names)?;
        let urls: Vec<&str> = builds.iter().map(|b| b.url.as_str()).collect();
        let known_builds = self.existing(BUILDS, "url", &urls)?;
        let mut seen = BTreeSet::new();
        let builder_rows: Vec<(String, Value)> = builders
            .iter()
            .filter(|b| !known_builders.contains(&b.name) && seen.insert(b.name.clone()))
            .map(|b| {
                (
                    insert_id(&b.name, BUILDERS, 0, 0),
                    json!({"name": b.name, "repo": b.repo, "go_branch": b.go_branch,
                           "goos": b.goos, "goarch": b.goarch}),
                )
            })
            .collect();
        let mut seen = BTreeSet::new();
        let new: Vec<&Build> = builds
            .iter()
            .filter(|b| !known_builds.contains(&b.url) && seen.insert(b.url.clone()))
            .collect();
        let mut failure_rows = Vec::new();
        let mut build_rows = Vec::new();
        for build in &new {
            for (position, f) in build.failures.iter().enumerate() {
                failure_rows.push((
                    insert_id(&build.url, BUILD_FAILURES, position as u64, 0),
                    json!({"build_url": build.url, "position": position, "test_id": f.test_id,
                           "status": f.status, "output": f.output}),
                ));
            }
            let commit_us = micros("commit_time", &build.commit_time)?;
            let build_time = match &build.build_time {
                Some(t) => Some(timestamp_text(micros("build_time", t)?)?),
                None => None,
            };
            build_rows.push((
                insert_id(&build.url, BUILDS, 0, 0),
                json!({"url": build.url, "builder": build.builder, "commit": build.commit,
                       "go_commit": build.go_commit, "commit_time": timestamp_text(commit_us)?,
                       "build_time": build_time, "status": build.status, "log": build.log,
                       "step_log": build.step_log}),
            ));
        }
        let client = self.client();
        client.insert_all(self.dataset(), BUILDERS, &builder_rows)?;
        // Failures before their builds: a build is listed only once it is complete.
        client.insert_all(self.dataset(), BUILD_FAILURES, &failure_rows)?;
        client.insert_all(self.dataset(), BUILDS, &build_rows)?;
        Ok(new.len())
    }

    /// Which of `values` the `column` of `table` holds.
    fn existing(
        &self,
        table: &str,
        column: &'static str,
        values: &[&str],
    ) -> Result<BTreeSet<String>, StoreError> {
        if values.is_empty() {
            return Ok(BTreeSet::new());
        }
        let rows = self.query(
            &format!(
                "SELECT DISTINCT {column} FROM {} WHERE {column} IN UNNEST(@values)",
                self.table(table)
            ),
            &[Param::strings("values", values)],
        )?;
        rows.rows
            .iter()
            .map(|row| value::required_string(column, &row[0]).map_err(StoreError::from))
            .collect()
    }
}
