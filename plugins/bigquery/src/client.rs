//! BigQuery's REST API v2 over `ureq`: `jobs.query` and `jobs.getQueryResults` with
//! `pageToken` paging, `tabledata.insertAll` with `insertId`s, dataset and table creation;
//! retries of connection errors, 5xx, 429 and BigQuery's retryable reasons with capped
//! exponential backoff and jitter inside a bounded total wait; access tokens from
//! [`Credentials`]. Every message is scrubbed of the credentials.
//!
//! Every request this client sends may be sent again: reads are reads, a query carries a
//! `requestId`, rows carry `insertId`s, and creating what exists already is answered 409 and
//! taken as done.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::auth::{Credentials, TokenResponse};
use crate::secret::Secret;

/// The largest response body read.
const MAX_BODY: u64 = 256 << 20;

/// Rows per `insertAll` request (BigQuery recommends 500) and bytes (its limit is 10 MB).
const INSERT_ROWS: usize = 500;
const INSERT_BYTES: usize = 5 << 20;

/// How long one `jobs.query` / `jobs.getQueryResults` call waits for the job, in ms.
const QUERY_WAIT_MS: u64 = 10_000;

/// An error of the client. Messages never hold a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The credentials were refused or could not be obtained.
    #[error("{0}")]
    Auth(String),
    /// What was asked for does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// What was to be created exists already (HTTP 409).
    #[error("{0}")]
    Exists(String),
    /// BigQuery refused the request or the query failed.
    #[error("{0}")]
    Refused(String),
    /// The request could not be completed (network, server errors), retries included.
    #[error("{0}")]
    Unavailable(String),
    /// An answer that is not what BigQuery documents (or a result cut short).
    #[error("{0}")]
    BadAnswer(String),
}

/// Retry and timing settings.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The longest one request may take in all, retries included.
    pub max_wait: Duration,
    /// The first backoff; it doubles per attempt.
    pub retry_base: Duration,
    /// The largest backoff.
    pub retry_cap: Duration,
    /// The timeout of one attempt.
    pub timeout: Duration,
    /// The longest a query job is waited for.
    pub query_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            max_wait: Duration::from_secs(60),
            retry_base: Duration::from_millis(250),
            retry_cap: Duration::from_secs(8),
            timeout: Duration::from_secs(60),
            query_timeout: Duration::from_secs(600),
        }
    }
}

/// A named query parameter (`@name` in the SQL).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    name: &'static str,
    kind: &'static str,
    value: Option<Value>,
}

impl Param {
    /// A `STRING` parameter; `None` is SQL `NULL`.
    pub fn string(name: &'static str, value: Option<&str>) -> Param {
        Param {
            name,
            kind: "STRING",
            value: value.map(|v| Value::String(v.to_owned())),
        }
    }

    /// An `INT64` parameter; `None` is SQL `NULL`.
    pub fn int(name: &'static str, value: Option<i64>) -> Param {
        Param {
            name,
            kind: "INT64",
            value: value.map(|v| Value::String(v.to_string())),
        }
    }

    /// An `ARRAY<STRING>` parameter.
    pub fn strings(name: &'static str, values: &[&str]) -> Param {
        Param {
            name,
            kind: "ARRAY<STRING>",
            value: Some(Value::Array(
                values
                    .iter()
                    .map(|v| Value::String((*v).to_owned()))
                    .collect(),
            )),
        }
    }

    fn to_json(&self) -> Value {
        if self.kind == "ARRAY<STRING>" {
            let values: Vec<Value> = match &self.value {
                Some(Value::Array(values)) => values.iter().map(|v| json!({"value": v})).collect(),
                _ => Vec::new(),
            };
            return json!({
                "name": self.name,
                "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
                "parameterValue": {"arrayValues": values},
            });
        }
        let value = match &self.value {
            Some(v) => json!({"value": v}),
            // An absent value is NULL.
            None => json!({}),
        };
        json!({
            "name": self.name,
            "parameterType": {"type": self.kind},
            "parameterValue": value,
        })
    }
}

/// A query result: column names and rows of cells (`f[].v`: a string or `null` for the
/// scalar types this plugin selects).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    /// The column names, in order.
    pub fields: Vec<String>,
    /// The rows, in the order BigQuery returned them.
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    /// The index of a column.
    pub fn column(&self, name: &str) -> Result<usize, Error> {
        self.fields
            .iter()
            .position(|f| f == name)
            .ok_or_else(|| Error::BadAnswer(format!("the result has no column {name:?}")))
    }
}

/// What one attempt came to.
enum Attempt {
    Done(Value),
    Retry(String),
    Fail(Error),
    /// BigQuery refused the token: get a new one if that can be done, else fail.
    Unauthorized(String),
}

/// A BigQuery client for one project.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    api: String,
    project: String,
    location: Option<String>,
    credentials: Credentials,
    policy: Policy,
}

/// The HTTP method of a request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

impl Client {
    /// A client of `project` at `api` (`https://bigquery.googleapis.com`, or an emulator).
    /// `loopback` skips any proxy from the environment.
    pub fn new(
        api: &str,
        project: &str,
        location: Option<String>,
        credentials: Credentials,
        policy: Policy,
        loopback: bool,
    ) -> Client {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(policy.timeout))
            .max_redirects(0)
            .user_agent(concat!(
                "flakewatch-plugin-bigquery/",
                env!("CARGO_PKG_VERSION")
            ));
        if loopback {
            config = config.proxy(None);
        }
        Client {
            agent: config.build().into(),
            api: api.trim_end_matches('/').to_owned(),
            project: project.to_owned(),
            location,
            credentials,
            policy,
        }
    }

    /// The project.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// `text` without any credential in it.
    pub fn scrub(&self, text: &str) -> String {
        match &self.credentials {
            Credentials::Token(token) => token.scrub(text),
            Credentials::ServiceAccount(account) => match account.cached() {
                Some(token) => token.scrub(text),
                None => text.to_owned(),
            },
            Credentials::None => text.to_owned(),
        }
    }

    fn scrubbed(&self, e: Error) -> Error {
        let s = |m: String| self.scrub(&m);
        match e {
            Error::Auth(m) => Error::Auth(s(m)),
            Error::NotFound(m) => Error::NotFound(s(m)),
            Error::Exists(m) => Error::Exists(s(m)),
            Error::Refused(m) => Error::Refused(s(m)),
            Error::Unavailable(m) => Error::Unavailable(s(m)),
            Error::BadAnswer(m) => Error::BadAnswer(s(m)),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/bigquery/v2/projects/{}{path}", self.api, self.project)
    }

    /// The access token to send, obtaining one for a service account when none is cached.
    fn token(&self, start: Instant) -> Result<Option<Secret>, Error> {
        match &self.credentials {
            Credentials::None => Ok(None),
            Credentials::Token(token) => Ok(Some(token.clone())),
            Credentials::ServiceAccount(account) => {
                if let Some(token) = account.cached() {
                    return Ok(Some(token));
                }
                let body = account.token_request_body().map_err(Error::Auth)?;
                let answer = self
                    .send(
                        Method::Post,
                        account.token_uri(),
                        &[],
                        Some((
                            body.expose().as_bytes(),
                            "application/x-www-form-urlencoded",
                        )),
                        None,
                        start,
                    )
                    .map_err(|e| match e {
                        Error::Unavailable(m) => Error::Unavailable(format!(
                            "obtaining an access token for the service account: {m}"
                        )),
                        other => Error::Auth(format!(
                            "the token endpoint refused the service account's key: {other}"
                        )),
                    })?;
                let answer: TokenResponse = serde_json::from_value(answer).map_err(|_| {
                    Error::Auth("the token endpoint's answer has no access_token".to_owned())
                })?;
                let token = Secret::new(&answer.access_token).ok_or_else(|| {
                    Error::Auth("the token endpoint answered an empty access_token".to_owned())
                })?;
                account.remember(token.clone(), answer.expires_in.unwrap_or(3600));
                Ok(Some(token))
            }
        }
    }

    /// Sends an API request (with the access token), retrying within the total wait.
    fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let bytes = body.map(|b| b.to_string());
        self.call_url(
            method,
            &self.url(path),
            query,
            bytes.as_deref().map(|b| (b.as_bytes(), "application/json")),
        )
    }

    /// Sends a request to `url` with a body of any content type (with the access token),
    /// retrying within the total wait.
    fn call_url(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<(&[u8], &str)>,
    ) -> Result<Value, Error> {
        let start = Instant::now();
        let mut refreshed = false;
        loop {
            let token = self.token(start).map_err(|e| self.scrubbed(e))?;
            let result = self.send(method, url, query, body, token.as_ref(), start);
            match result {
                Err(Error::Auth(message)) => {
                    // A service account's token may have been revoked or expired early:
                    // one new token, then give up.
                    if let Credentials::ServiceAccount(account) = &self.credentials
                        && !refreshed
                    {
                        account.forget();
                        refreshed = true;
                        continue;
                    }
                    return Err(self.scrubbed(Error::Auth(message)));
                }
                other => return other.map_err(|e| self.scrubbed(e)),
            }
        }
    }

    /// One HTTP exchange with retries. `Error::Auth` is a 401.
    fn send(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<(&[u8], &str)>,
        token: Option<&Secret>,
        start: Instant,
    ) -> Result<Value, Error> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let cause = match self.attempt(method, url, query, body, token) {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fail(e) => return Err(e),
                Attempt::Unauthorized(m) => return Err(Error::Auth(m)),
                Attempt::Retry(cause) => cause,
            };
            let wait = self.backoff(attempt);
            let elapsed = start.elapsed();
            if elapsed + wait > self.policy.max_wait {
                return Err(Error::Unavailable(format!(
                    "{cause}; gave up after {attempt} attempt{} in {:.1} s (waiting {:.1} s more would pass max-wait={} s)",
                    if attempt == 1 { "" } else { "s" },
                    elapsed.as_secs_f64(),
                    wait.as_secs_f64(),
                    self.policy.max_wait.as_secs_f64(),
                )));
            }
            std::thread::sleep(wait);
        }
    }

    /// Capped exponential backoff with jitter: a random time in [d/2, d], d = base × 2^(n−1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .policy
            .retry_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let d = doubled.min(self.policy.retry_cap);
        let half = d / 2;
        half + half.mul_f64(fastrand::f64())
    }

    fn attempt(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<(&[u8], &str)>,
        token: Option<&Secret>,
    ) -> Attempt {
        let what = format!(
            "{} {}",
            if method == Method::Get { "GET" } else { "POST" },
            path_of(url)
        );
        let auth = token.map(|t| format!("Bearer {}", t.expose()));
        let result = match method {
            Method::Get => {
                let mut request = self.agent.get(url).header("Accept", "application/json");
                for (k, v) in query {
                    request = request.query(*k, v);
                }
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            Method::Post => {
                let (bytes, content_type) = body.unwrap_or((b"", "application/json"));
                let mut request = self
                    .agent
                    .post(url)
                    .header("Accept", "application/json")
                    .header("Content-Type", content_type);
                for (k, v) in query {
                    request = request.query(*k, v);
                }
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(bytes)
            }
        };
        let mut response = match result {
            Ok(response) => response,
            // Connection errors and timeouts: every request here may be sent again.
            Err(e) => return Attempt::Retry(format!("{what}: {e}")),
        };
        let status = response.status().as_u16();
        let bytes = match response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
        {
            Ok(bytes) => bytes,
            Err(e) => {
                return Attempt::Retry(format!("{what}: HTTP {status}, reading the body: {e}"));
            }
        };
        if (200..300).contains(&status) {
            return match serde_json::from_slice::<Value>(&bytes) {
                Ok(value) => Attempt::Done(value),
                Err(e) => Attempt::Retry(format!(
                    "{what}: HTTP {status} with a body that is not JSON ({e}; cut short?)"
                )),
            };
        }
        let (message, reasons) = google_error(&bytes);
        let describe = format!(
            "{what}: HTTP {status}{}",
            message.map(|m| format!(": {m}")).unwrap_or_default()
        );
        let retryable_reason = reasons.iter().any(|r| {
            matches!(
                r.as_str(),
                "backendError" | "internalError" | "rateLimitExceeded" | "jobRateLimitExceeded"
            )
        });
        match status {
            401 => Attempt::Unauthorized(format!(
                "{describe} (the access token was refused: expired or not valid)"
            )),
            404 => Attempt::Fail(Error::NotFound(describe)),
            409 => Attempt::Fail(Error::Exists(describe)),
            429 | 500..=599 => Attempt::Retry(describe),
            _ if retryable_reason => Attempt::Retry(describe),
            403 => Attempt::Fail(Error::Auth(format!(
                "{describe} (the credentials lack a permission)"
            ))),
            _ => Attempt::Fail(Error::Refused(describe)),
        }
    }

    /// Runs a query to completion and reads every page of its result.
    pub fn query(
        &self,
        sql: &str,
        params: &[Param],
        max_results: Option<u32>,
    ) -> Result<Rows, Error> {
        let mut rows = Rows::default();
        self.query_pages(sql, params, max_results, |fields, page| {
            if rows.fields.is_empty() {
                rows.fields = fields.to_vec();
            }
            rows.rows.extend(page);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Runs a query and hands each page of its result to `each`, in order: `jobs.query`,
    /// then `jobs.getQueryResults` until the job is complete and while there is a
    /// `pageToken`. A page that cannot be read (after retries) fails the whole query, and a
    /// result with fewer rows than its `totalRows` is an error: rows are never dropped
    /// silently. Returns the number of rows.
    pub fn query_pages(
        &self,
        sql: &str,
        params: &[Param],
        max_results: Option<u32>,
        mut each: impl FnMut(&[String], Vec<Vec<Value>>) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let mut body = json!({
            "query": sql,
            "useLegacySql": false,
            "parameterMode": "NAMED",
            "queryParameters": params.iter().map(Param::to_json).collect::<Vec<_>>(),
            "timeoutMs": QUERY_WAIT_MS,
            "requestId": request_id(),
            "formatOptions": {"useInt64Timestamp": true},
        });
        if let Some(n) = max_results {
            body["maxResults"] = json!(n);
        }
        if let Some(location) = &self.location {
            body["location"] = json!(location);
        }
        let deadline = Instant::now() + self.policy.query_timeout;
        let mut answer = self.call(Method::Post, "/queries", &[], Some(&body))?;
        query_errors(&answer)?;
        let job = answer
            .get("jobReference")
            .and_then(|r| r.get("jobId"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let location = answer
            .get("jobReference")
            .and_then(|r| r.get("location"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| self.location.clone());
        let results = |extra: &[(&str, String)]| -> Result<Value, Error> {
            let Some(job) = &job else {
                return Err(Error::BadAnswer(
                    "the query's answer has no jobReference.jobId".to_owned(),
                ));
            };
            let mut query: Vec<(&str, String)> = vec![
                ("timeoutMs", QUERY_WAIT_MS.to_string()),
                ("formatOptions.useInt64Timestamp", "true".to_owned()),
            ];
            if let Some(n) = max_results {
                query.push(("maxResults", n.to_string()));
            }
            if let Some(location) = &location {
                query.push(("location", location.clone()));
            }
            query.extend(extra.iter().cloned());
            let answer = self.call(Method::Get, &format!("/queries/{job}"), &query, None)?;
            query_errors(&answer)?;
            Ok(answer)
        };
        while answer.get("jobComplete").and_then(Value::as_bool) != Some(true) {
            if Instant::now() > deadline {
                return Err(Error::Unavailable(format!(
                    "the query job did not complete within query-timeout={} s",
                    self.policy.query_timeout.as_secs()
                )));
            }
            answer = results(&[])?;
        }
        let fields: Vec<String> = answer
            .get("schema")
            .and_then(|s| s.get("fields"))
            .and_then(Value::as_array)
            .map(|fields| {
                fields
                    .iter()
                    .map(|f| f["name"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let total = match answer.get("totalRows") {
            None => None,
            Some(v) => Some(
                number(v)
                    .ok_or_else(|| Error::BadAnswer(format!("totalRows {v} is not a number")))?,
            ),
        };
        let mut read = 0u64;
        // Every page but a last empty one brings a row: more pages than rows is a loop. An
        // answer without totalRows (BigQuery always sends it) is followed for at most a
        // million pages.
        let max_pages = total.map_or(1_000_000, |t| t + 2);
        let mut pages = 0u64;
        loop {
            pages += 1;
            if pages > max_pages {
                return Err(Error::BadAnswer(format!(
                    "more than {max_pages} result pages for {} rows",
                    total.unwrap_or(0)
                )));
            }
            let page = rows_of(&answer, fields.len())?;
            read += page.len() as u64;
            each(&fields, page)?;
            let token = answer
                .get("pageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            let Some(token) = token else { break };
            if let Some(total) = total
                && read >= total
            {
                // BigQuery may hand out a token for an empty last page.
                break;
            }
            answer = results(&[("pageToken", token.clone())])?;
            if answer.get("pageToken").and_then(Value::as_str) == Some(token.as_str()) {
                return Err(Error::BadAnswer(format!(
                    "page token {token:?} was answered with itself"
                )));
            }
        }
        if let Some(total) = total
            && read != total
        {
            return Err(Error::BadAnswer(format!(
                "the query result is incomplete: {read} rows read, totalRows says {total}"
            )));
        }
        Ok(read)
    }

    /// Streams rows into a table, each with its `insertId`, in requests of at most 500 rows.
    /// An `insertErrors` answer fails the call (BigQuery then inserted none of that request's
    /// rows, since `skipInvalidRows` is false).
    pub fn insert_all(
        &self,
        dataset: &str,
        table: &str,
        rows: &[(String, Value)],
    ) -> Result<(), Error> {
        let path = format!("/datasets/{dataset}/tables/{table}/insertAll");
        let mut start = 0;
        while start < rows.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < rows.len() && end - start < INSERT_ROWS {
                let size = rows[end].1.to_string().len() + rows[end].0.len() + 32;
                if end > start && bytes + size > INSERT_BYTES {
                    break;
                }
                bytes += size;
                end += 1;
            }
            let body = json!({
                "skipInvalidRows": false,
                "ignoreUnknownValues": false,
                "rows": rows[start..end]
                    .iter()
                    .map(|(id, row)| json!({"insertId": id, "json": row}))
                    .collect::<Vec<_>>(),
            });
            let answer = self.insert_request(&path, &body)?;
            if let Some(errors) = answer.get("insertErrors").and_then(Value::as_array)
                && let Some(first) = errors.first()
            {
                let index = first
                    .get("index")
                    .map(|i| i.to_string())
                    .unwrap_or_default();
                let detail = first
                    .get("errors")
                    .and_then(Value::as_array)
                    .and_then(|e| e.first())
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e["reason"].as_str().unwrap_or("invalid"),
                            e["message"].as_str().unwrap_or("")
                        )
                    })
                    .unwrap_or_default();
                return Err(Error::Refused(self.scrub(&format!(
                    "insertAll into {table}: {} row(s) refused, row {index}: {detail}",
                    errors.len()
                ))));
            }
            start = end;
        }
        Ok(())
    }

    /// One `insertAll` request. BigQuery may answer 404 for a while to streaming into a table
    /// just created; the rows carry `insertId`s, so the request is sent again within
    /// `max-wait` before the 404 is reported.
    fn insert_request(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.call(Method::Post, path, &[], Some(body)) {
                Err(Error::NotFound(message)) => {
                    let wait = self.backoff(attempt);
                    if start.elapsed() + wait > self.policy.max_wait {
                        return Err(Error::NotFound(format!(
                            "{message} (still after {attempt} attempts in {:.1} s)",
                            start.elapsed().as_secs_f64()
                        )));
                    }
                    std::thread::sleep(wait);
                }
                other => return other,
            }
        }
    }

    /// Whether a dataset exists.
    pub fn dataset_exists(&self, dataset: &str) -> Result<bool, Error> {
        match self.call(Method::Get, &format!("/datasets/{dataset}"), &[], None) {
            Ok(_) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates a dataset (in the configured location); one that exists is left as it is.
    pub fn create_dataset(&self, dataset: &str) -> Result<(), Error> {
        let mut body = json!({
            "datasetReference": {"projectId": self.project, "datasetId": dataset},
        });
        if let Some(location) = &self.location {
            body["location"] = json!(location);
        }
        match self.call(Method::Post, "/datasets", &[], Some(&body)) {
            Ok(_) | Err(Error::Exists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether a table exists.
    pub fn table_exists(&self, dataset: &str, table: &str) -> Result<bool, Error> {
        match self.call(
            Method::Get,
            &format!("/datasets/{dataset}/tables/{table}"),
            &[],
            None,
        ) {
            Ok(_) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates a table with a schema (`[{"name", "type", "mode"}]`) and clustering columns;
    /// one that exists is left as it is.
    pub fn create_table(
        &self,
        dataset: &str,
        table: &str,
        fields: Value,
        clustering: &[&str],
    ) -> Result<(), Error> {
        let mut body = json!({
            "tableReference": {"projectId": self.project, "datasetId": dataset, "tableId": table},
            "schema": {"fields": fields},
        });
        if !clustering.is_empty() {
            body["clustering"] = json!({"fields": clustering});
        }
        self.create_table_body(dataset, &body)
    }

    /// Creates a table from its whole resource (`tableReference`, `schema`, and
    /// `timePartitioning` or `clustering` as wanted); one that exists is left as it is.
    pub fn create_table_body(&self, dataset: &str, body: &Value) -> Result<(), Error> {
        match self.call(
            Method::Post,
            &format!("/datasets/{dataset}/tables"),
            &[],
            Some(body),
        ) {
            Ok(_) | Err(Error::Exists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Client {
    /// Loads newline-delimited JSON rows into a table with a load job: `jobs.insert` through
    /// the upload endpoint, one `multipart/related` request holding the job and the rows,
    /// then `jobs.get` until the job is done. `job_id` should be derived from the rows: a
    /// retried request with the same id is answered 409 by BigQuery, and the job it names is
    /// then waited for instead (a load runs once). A job that ends with an error fails the
    /// call; BigQuery then appended nothing.
    pub fn load_json(
        &self,
        dataset: &str,
        table: &str,
        fields: &Value,
        job_id: &str,
        ndjson: &[u8],
    ) -> Result<(), Error> {
        let mut job = json!({
            "jobReference": {"projectId": self.project, "jobId": job_id},
            "configuration": {"load": {
                "destinationTable": {"projectId": self.project, "datasetId": dataset, "tableId": table},
                "sourceFormat": "NEWLINE_DELIMITED_JSON",
                "writeDisposition": "WRITE_APPEND",
                "createDisposition": "CREATE_NEVER",
                "schema": {"fields": fields},
            }},
        });
        if let Some(location) = &self.location {
            job["jobReference"]["location"] = json!(location);
        }
        let boundary = format!("flakewatch_{}", request_id().replace('-', ""));
        let mut body = Vec::with_capacity(ndjson.len() + 1024);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{job}\r\n\
                 --{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(ndjson);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = format!(
            "{}/upload/bigquery/v2/projects/{}/jobs",
            self.api, self.project
        );
        let content_type = format!("multipart/related; boundary={boundary}");
        let answer = match self.call_url(
            Method::Post,
            &url,
            &[("uploadType", "multipart".to_owned())],
            Some((&body, &content_type)),
        ) {
            Ok(answer) => answer,
            // The job exists: an earlier attempt of this request reached BigQuery.
            Err(Error::Exists(_)) => self.job(job_id)?,
            Err(e) => return Err(e),
        };
        let id = answer["jobReference"]["jobId"]
            .as_str()
            .unwrap_or(job_id)
            .to_owned();
        let deadline = Instant::now() + self.policy.query_timeout;
        let mut answer = answer;
        let mut attempt = 0u32;
        while answer["status"]["state"].as_str() != Some("DONE") {
            if Instant::now() > deadline {
                return Err(Error::Unavailable(format!(
                    "the load job {id} did not complete within query-timeout={} s",
                    self.policy.query_timeout.as_secs()
                )));
            }
            attempt += 1;
            std::thread::sleep(self.backoff(attempt));
            answer = self.job(&id)?;
        }
        if let Some(error) = answer["status"].get("errorResult") {
            return Err(Error::Refused(self.scrub(&format!(
                "the load job {id} into {table} failed: {}: {}",
                error["reason"].as_str().unwrap_or("error"),
                error["message"].as_str().unwrap_or("").lines().next().unwrap_or("")
            ))));
        }
        Ok(())
    }

    /// `jobs.get`.
    fn job(&self, job_id: &str) -> Result<Value, Error> {
        let mut query = Vec::new();
        if let Some(location) = &self.location {
            query.push(("location", location.clone()));
        }
        self.call(Method::Get, &format!("/jobs/{job_id}"), &query, None)
    }
}

/// A fresh `requestId` for `jobs.query`: a random UUID (version 4), as BigQuery recommends
/// (at most 36 ASCII characters); a retried call with the same id does not run twice.
pub fn request_id() -> String {
    let mut bytes = [0u8; 16];
    fastrand::fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A number BigQuery writes as a string (`"12"`) or as a JSON number.
fn number(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// A query answer's `errors[]` as an error: BigQuery documents them as the errors of the
/// job, and an emulator answers a failed query with HTTP 200 and `errors[]`.
fn query_errors(answer: &Value) -> Result<(), Error> {
    let Some(errors) = answer.get("errors").and_then(Value::as_array) else {
        return Ok(());
    };
    if errors.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = errors
        .iter()
        .take(3)
        .map(|e| {
            let message = e["message"].as_str().unwrap_or("");
            let first_line = message.lines().next().unwrap_or("");
            format!("{}: {first_line}", e["reason"].as_str().unwrap_or("error"))
        })
        .collect();
    Err(Error::Refused(format!(
        "the query failed: {}",
        text.join("; ")
    )))
}

/// The rows of one page, each with `width` cells.
fn rows_of(answer: &Value, width: usize) -> Result<Vec<Vec<Value>>, Error> {
    let Some(rows) = answer.get("rows") else {
        return Ok(Vec::new());
    };
    let rows = rows
        .as_array()
        .ok_or_else(|| Error::BadAnswer("rows is not a list".to_owned()))?;
    rows.iter()
        .map(|row| {
            let cells = row
                .get("f")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::BadAnswer("a row without f[]".to_owned()))?;
            if cells.len() != width {
                return Err(Error::BadAnswer(format!(
                    "a row of {} cells for {width} columns",
                    cells.len()
                )));
            }
            Ok(cells
                .iter()
                .map(|c| c.get("v").cloned().unwrap_or(Value::Null))
                .collect())
        })
        .collect()
}

/// Google's error document: its message (one line) and its reasons.
fn google_error(bytes: &[u8]) -> (Option<String>, Vec<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return (None, Vec::new());
    };
    let error = value.get("error");
    let message = match error {
        Some(Value::Object(e)) => e.get("message").and_then(Value::as_str).map(str::to_owned),
        // OAuth token endpoints: {"error": "invalid_grant", "error_description": "..."}
        Some(Value::String(code)) => Some(
            match value.get("error_description").and_then(Value::as_str) {
                Some(d) => format!("{code}: {d}"),
                None => code.clone(),
            },
        ),
        _ => None,
    }
    .map(|m| m.lines().next().unwrap_or("").chars().take(300).collect());
    let reasons = error
        .and_then(|e| e.get("errors"))
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["reason"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (message, reasons)
}

/// The path of a URL (messages name the request without the host and the query).
fn path_of(url: &str) -> &str {
    let path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(url);
    path.split('?').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_paths() {
        assert_eq!(
            path_of("http://127.0.0.1:1/bigquery/v2/projects/p/queries/j?pageToken=x"),
            "/bigquery/v2/projects/p/queries/j"
        );
        let (message, reasons) = google_error(
            br#"{"error":{"code":503,"message":"Backend error\nmore","errors":[{"reason":"backendError"}]}}"#,
        );
        assert_eq!(message.as_deref(), Some("Backend error"));
        assert_eq!(reasons, ["backendError"]);
        let (message, _) =
            google_error(br#"{"error":"invalid_grant","error_description":"Invalid JWT"}"#);
        assert_eq!(message.as_deref(), Some("invalid_grant: Invalid JWT"));
        assert!(query_errors(&json!({"errors": []})).is_ok());
        let err = query_errors(
            &json!({"errors": [{"reason": "invalidQuery", "message": "Binder Error\nLINE 1"}]}),
        )
        .expect_err("errors[] is an error");
        assert_eq!(
            err,
            Error::Refused("the query failed: invalidQuery: Binder Error".to_owned())
        );
    }

    #[test]
    fn request_ids_are_uuids() {
        let a = request_id();
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4', "{a}");
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "{a}");
        assert_eq!(a.matches('-').count(), 4);
        assert_ne!(a, request_id());
    }

    #[test]
    fn parameters_are_typed_documents() {
        assert_eq!(
            Param::string("s", None).to_json(),
            json!({"name": "s", "parameterType": {"type": "STRING"}, "parameterValue": {}})
        );
        assert_eq!(
            Param::int("n", Some(-3)).to_json()["parameterValue"],
            json!({"value": "-3"})
        );
        assert_eq!(
            Param::strings("k", &["a", "b'c"]).to_json()["parameterValue"],
            json!({"arrayValues": [{"value": "a"}, {"value": "b'c"}]})
        );
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let client = Client::new(
            "http://127.0.0.1:1",
            "p",
            None,
            Credentials::None,
            Policy {
                retry_base: Duration::from_millis(100),
                retry_cap: Duration::from_millis(400),
                ..Policy::default()
            },
            true,
        );
        for attempt in 1..30 {
            let d = client.backoff(attempt);
            let full = Duration::from_millis(100 * (1u64 << (attempt - 1).min(20)))
                .min(Duration::from_millis(400));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }
}
