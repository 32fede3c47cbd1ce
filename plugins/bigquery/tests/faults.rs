//! The client against a stub BigQuery (`tiny_http` on loopback) that answers in the shapes
//! BigQuery documents and injects faults: a result page failing mid-way, a result cut short,
//! a job still running, a refused or expired token, a service-account key exchanged for a
//! token. No emulator needed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use flakewatch_plugin_bigquery::BigQuery;
use flakewatch_plugin_bigquery::auth::{Credentials, SCOPE};
use flakewatch_plugin_bigquery::client::{Client, Error, Policy};
use flakewatch_plugin_sdk::Plugin;
use flakewatch_plugin_sdk::model::{Config, RevisionRunsRequest, StoreRunRequest};
use serde_json::{Value, json};

/// One request the stub received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// Path and query.
    url: String,
    auth: Option<String>,
    body: String,
}

type Handler = dyn Fn(&Seen) -> (u16, Value) + Send + Sync;

/// A stub server on 127.0.0.1, stopped when dropped.
struct Stub {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    url: String,
}

impl Stub {
    fn start(handler: impl Fn(&Seen) -> (u16, Value) + Send + Sync + 'static) -> Stub {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let url = format!(
            "http://{}",
            server.server_addr().to_ip().expect("an IP address")
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = {
            let (server, seen) = (Arc::clone(&server), Arc::clone(&seen));
            std::thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let request_seen = Seen {
                        method: request.method().to_string(),
                        url: request.url().to_owned(),
                        auth: request
                            .headers()
                            .iter()
                            .find(|h| h.field.equiv("Authorization"))
                            .map(|h| h.value.to_string()),
                        body,
                    };
                    seen.lock().expect("log").push(request_seen.clone());
                    let (status, answer) = handler(&request_seen);
                    // A JSON string is sent as raw text (a body cut short).
                    let text = match answer {
                        Value::String(raw) => raw,
                        other => other.to_string(),
                    };
                    let response = tiny_http::Response::from_string(text)
                        .with_status_code(status)
                        .with_header(
                            tiny_http::Header::from_bytes("Content-Type", "application/json")
                                .expect("header"),
                        );
                    let _ = request.respond(response);
                }
            })
        };
        Stub {
            server,
            thread: Some(thread),
            seen,
            url,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn policy() -> Policy {
    Policy {
        max_wait: Duration::from_secs(2),
        retry_base: Duration::from_millis(5),
        retry_cap: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
        query_timeout: Duration::from_secs(10),
    }
}

fn client(stub: &Stub, credentials: Credentials) -> Client {
    Client::new(&stub.url, "proj", None, credentials, policy(), true)
}

fn page(values: std::ops::RangeInclusive<u32>, total: u32, token: Option<&str>) -> Value {
    let mut answer = json!({
        "kind": "bigquery#getQueryResultsResponse",
        "jobReference": {"projectId": "proj", "jobId": "job-1", "location": "EU"},
        "jobComplete": true,
        "schema": {"fields": [{"name": "x", "type": "INTEGER", "mode": "NULLABLE"}]},
        "totalRows": total.to_string(),
        "rows": values.map(|v| json!({"f": [{"v": v.to_string()}]})).collect::<Vec<_>>(),
    });
    if let Some(token) = token {
        answer["pageToken"] = json!(token);
    }
    answer
}

fn query_of(seen: &Seen) -> Option<&str> {
    seen.url.split_once('?').map(|(_, q)| q)
}

fn values(rows: &flakewatch_plugin_bigquery::client::Rows) -> Vec<u32> {
    rows.rows
        .iter()
        .map(|r| r[0].as_str().expect("string").parse().expect("number"))
        .collect()
}

#[test]
fn a_page_failing_midway_is_retried_and_the_result_is_complete() {
    let failures = Arc::new(AtomicUsize::new(0));
    let stub = {
        let failures = Arc::clone(&failures);
        Stub::start(move |seen| match (seen.method.as_str(), query_of(seen)) {
            ("POST", _) => (200, page(1..=3, 9, Some("tok/2+=="))),
            ("GET", Some(q)) if q.contains("pageToken=tok%2F2%2B%3D%3D") => {
                // The second page fails twice (a 503, then a body cut short) before it
                // is served.
                match failures.fetch_add(1, Ordering::SeqCst) {
                    0 => (
                        503,
                        json!({"error": {"code": 503, "message": "Backend unavailable"}}),
                    ),
                    1 => (200, json!("{\"rows\": [")),
                    _ => (200, page(4..=6, 9, Some("tok-3"))),
                }
            }
            ("GET", Some(q)) if q.contains("pageToken=tok-3") => (200, page(7..=9, 9, None)),
            _ => (
                400,
                json!({"error": {"code": 400, "message": "unexpected request"}}),
            ),
        })
    };
    let rows = client(&stub, Credentials::None)
        .query("SELECT x FROM t ORDER BY x", &[], Some(3))
        .expect("query");
    assert_eq!(values(&rows), (1..=9).collect::<Vec<_>>());
    let seen = stub.seen();
    let gets: Vec<&Seen> = seen.iter().filter(|s| s.method == "GET").collect();
    assert_eq!(gets.len(), 4, "{seen:?}");
    for get in &gets {
        let q = query_of(get).expect("query string");
        assert!(
            q.contains("maxResults=3") && q.contains("location=EU"),
            "{q}"
        );
        assert!(
            get.url
                .starts_with("/bigquery/v2/projects/proj/queries/job-1"),
            "{get:?}"
        );
    }
    let post: Value = serde_json::from_str(&seen[0].body).expect("query body");
    assert_eq!(post["maxResults"], json!(3));
    assert_eq!(post["useLegacySql"], json!(false));
    assert!(post["requestId"].as_str().is_some_and(|id| !id.is_empty()));
}

#[test]
fn a_page_that_keeps_failing_is_reported_not_dropped() {
    let stub = Stub::start(|seen| match seen.method.as_str() {
        "POST" => (200, page(1..=3, 6, Some("p2"))),
        _ => (
            500,
            json!({"error": {"code": 500, "message": "internal error", "errors": [{"reason": "internalError"}]}}),
        ),
    });
    let err = client(&stub, Credentials::None)
        .query("SELECT x FROM t", &[], Some(3))
        .expect_err("the second page never arrives");
    assert!(
        matches!(&err, Error::Unavailable(m) if m.contains("HTTP 500") && m.contains("gave up after")),
        "{err:?}"
    );
    assert!(stub.seen().len() > 2, "the page was retried");
}

#[test]
fn a_result_cut_short_is_an_error() {
    let stub = Stub::start(|seen| match seen.method.as_str() {
        "POST" => (200, page(1..=3, 9, Some("p2"))),
        // The last page, by its missing token, but rows 7 to 9 never come.
        _ => (200, page(4..=6, 9, None)),
    });
    let err = client(&stub, Credentials::None)
        .query("SELECT x FROM t", &[], Some(3))
        .expect_err("6 of 9 rows");
    assert_eq!(
        err,
        Error::BadAnswer(
            "the query result is incomplete: 6 rows read, totalRows says 9".to_owned()
        )
    );
}

#[test]
fn a_job_still_running_is_waited_for() {
    let polls = Arc::new(AtomicUsize::new(0));
    let stub = {
        let polls = Arc::clone(&polls);
        Stub::start(move |seen| match seen.method.as_str() {
            "POST" => (
                200,
                json!({"jobReference": {"projectId": "proj", "jobId": "job-1"}, "jobComplete": false}),
            ),
            _ if polls.fetch_add(1, Ordering::SeqCst) < 2 => (
                200,
                json!({"jobReference": {"projectId": "proj", "jobId": "job-1"}, "jobComplete": false}),
            ),
            _ => (200, page(1..=2, 2, None)),
        })
    };
    let rows = client(&stub, Credentials::None)
        .query("SELECT x FROM t", &[], None)
        .expect("query");
    assert_eq!(values(&rows), [1, 2]);
    assert_eq!(polls.load(Ordering::SeqCst), 3);
}

#[test]
fn insert_errors_in_a_200_answer_are_errors() {
    let stub = Stub::start(|_| {
        (
            200,
            json!({"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": [
                {"index": 1, "errors": [{"reason": "invalid", "message": "no such field: zz"}]}
            ]}),
        )
    });
    let err = client(&stub, Credentials::None)
        .insert_all(
            "d",
            "t",
            &[
                ("a".to_owned(), json!({"k": 1})),
                ("b".to_owned(), json!({"zz": 2})),
            ],
        )
        .expect_err("refused rows");
    assert!(
        matches!(&err, Error::Refused(m) if m.contains("row 1: invalid: no such field: zz")),
        "{err:?}"
    );
    let body: Value = serde_json::from_str(&stub.seen()[0].body).expect("body");
    assert_eq!(body["rows"][1]["insertId"], json!("b"));
    assert_eq!(body["skipInvalidRows"], json!(false));
}

const TOKEN: &str = "ya29.a0-EXPIRED-secret-token-0123456789";

fn plugin_config(stub: &Stub, extra: &[(&str, &str)]) -> Config {
    let mut options: std::collections::BTreeMap<String, String> = [
        ("api", stub.url.as_str()),
        ("project", "proj"),
        ("dataset", "ds"),
        ("max-wait", "2"),
        ("retry-base-ms", "5"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        options.insert((*k).to_owned(), (*v).to_owned());
    }
    Config { options }
}

#[test]
fn an_expired_token_is_a_clear_error_naming_the_plugin_without_the_token() {
    // The stub even echoes the token in its message, as a careless proxy might.
    let stub = Stub::start(|seen| {
        (
            401,
            json!({"error": {"code": 401, "status": "UNAUTHENTICATED",
                "message": format!("Request had invalid authentication credentials ({}).", seen.auth.clone().unwrap_or_default()),
                "errors": [{"reason": "authError"}]}}),
        )
    });
    let plugin = BigQuery::from_config(&plugin_config(&stub, &[]), |name| {
        (name == flakewatch_plugin_bigquery::TOKEN_ENV).then(|| TOKEN.to_owned())
    })
    .expect("plugin");
    assert!(!format!("{plugin:?}").contains("EXPIRED"), "{plugin:?}");
    let run = flakewatch_plugin_sdk::kit::sample_run("k", "r", None);
    let err = plugin.store_run(&StoreRunRequest { run }).expect_err("401");
    let message = err.message.clone();
    assert!(
        message.starts_with("bigquery plugin: store_run: authentication failed: "),
        "{message}"
    );
    assert!(
        message.contains("HTTP 401") && message.contains("expired or not valid"),
        "{message}"
    );
    assert!(message.contains("Bearer [redacted]"), "{message}");
    for text in [message.as_str(), &format!("{err:?}")] {
        assert!(!text.contains("EXPIRED-secret"), "{text}");
    }
    // It was sent, once: a refused static token is not retried.
    let seen = stub.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].auth.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let err = plugin
        .revision_runs(&RevisionRunsRequest {
            revision: "r".to_owned(),
            ..RevisionRunsRequest::default()
        })
        .expect_err("401");
    assert!(
        err.message.starts_with("bigquery plugin: revision_runs: "),
        "{err}"
    );
}

/// The test key (a throwaway RSA key made for these tests, in `tests/data`).
const TEST_KEY: &str = include_str!("data/test-key.pem");

fn key_file(dir: &std::path::Path, token_uri: &str) -> std::path::PathBuf {
    let path = dir.join("key.json");
    let key = json!({
        "type": "service_account",
        "project_id": "proj",
        "private_key_id": "kid-1",
        "private_key": TEST_KEY,
        "client_email": "flakewatch@proj.iam.gserviceaccount.com",
        "token_uri": token_uri,
    });
    std::fs::write(&path, key.to_string()).expect("write key");
    path
}

/// Checks an assertion's RS256 signature with the test key's public half and returns its
/// claims.
fn verified_claims(assertion: &str) -> Value {
    let der = {
        let body: String = TEST_KEY
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        STANDARD.decode(body).expect("PEM")
    };
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("key");
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec(),
    );
    let (signed, signature) = assertion.rsplit_once('.').expect("three parts");
    public
        .verify(
            signed.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).expect("base64url"),
        )
        .expect("a valid RS256 signature");
    let (header, claims) = signed.split_once('.').expect("header.claims");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("b64")).expect("json");
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"})
    );
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("b64")).expect("json")
}

/// A token endpoint and a BigQuery that accepts only the latest token it handed out.
fn token_stub(expires_in: u64, reject_next: Arc<AtomicBool>) -> (Stub, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let stub = {
        let issued = Arc::clone(&issued);
        Stub::start(move |seen| {
            if seen.url == "/token" {
                let form: Vec<(&str, &str)> = seen
                    .body
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .collect();
                assert_eq!(
                    form[0],
                    (
                        "grant_type",
                        "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                    )
                );
                let claims = verified_claims(form[1].1);
                assert_eq!(
                    claims["iss"],
                    json!("flakewatch@proj.iam.gserviceaccount.com")
                );
                assert_eq!(claims["scope"], json!(SCOPE));
                assert!(
                    claims["aud"]
                        .as_str()
                        .is_some_and(|a| a.ends_with("/token"))
                );
                let iat = claims["iat"].as_u64().expect("iat");
                assert_eq!(claims["exp"].as_u64(), Some(iat + 3600));
                let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                return (
                    200,
                    json!({"access_token": format!("ya29.service-token-{n}"), "expires_in": expires_in, "token_type": "Bearer"}),
                );
            }
            let current = format!(
                "Bearer ya29.service-token-{}",
                issued.load(Ordering::SeqCst)
            );
            if seen.auth.as_deref() != Some(current.as_str())
                || reject_next.swap(false, Ordering::SeqCst)
            {
                return (
                    401,
                    json!({"error": {"code": 401, "message": "Invalid Credentials"}}),
                );
            }
            (200, page(1..=1, 1, None))
        })
    };
    (stub, issued)
}

#[test]
fn a_service_account_key_is_exchanged_for_a_token_that_is_cached_and_renewed() {
    let reject = Arc::new(AtomicBool::new(false));
    let (stub, issued) = token_stub(3600, Arc::clone(&reject));
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = key_file(dir.path(), &format!("{}/token", stub.url));
    let plugin = BigQuery::from_config(
        &plugin_config(&stub, &[("key-file", key.to_str().expect("utf-8"))]),
        |_| None,
    )
    .expect("plugin");
    assert!(!format!("{plugin:?}").contains("PRIVATE KEY"), "{plugin:?}");
    let client = plugin.store().client();
    for _ in 0..3 {
        assert_eq!(
            values(&client.query("SELECT 1", &[], None).expect("query")),
            [1]
        );
    }
    assert_eq!(
        issued.load(Ordering::SeqCst),
        1,
        "one token for three queries"
    );
    assert!(
        !format!("{plugin:?}").contains("service-token"),
        "the cached token is not in Debug output: {plugin:?}"
    );
    // BigQuery refuses the cached token (revoked): one new token, and the query goes through.
    reject.store(true, Ordering::SeqCst);
    assert_eq!(
        values(&client.query("SELECT 1", &[], None).expect("query")),
        [1]
    );
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[test]
fn a_token_about_to_expire_is_not_used() {
    // Tokens valid for 30 s: inside the renewal margin, so every request gets a fresh one.
    let (stub, issued) = token_stub(30, Arc::new(AtomicBool::new(false)));
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = key_file(dir.path(), &format!("{}/token", stub.url));
    let plugin = BigQuery::from_config(
        &plugin_config(&stub, &[("key-file", key.to_str().expect("utf-8"))]),
        |_| None,
    )
    .expect("plugin");
    for _ in 0..2 {
        plugin
            .store()
            .client()
            .query("SELECT 1", &[], None)
            .expect("query");
    }
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[test]
fn a_refused_key_is_a_clear_error_naming_the_plugin() {
    let stub = Stub::start(|_| {
        (
            400,
            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
        )
    });
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = key_file(dir.path(), &format!("{}/token", stub.url));
    let plugin = BigQuery::from_config(
        &plugin_config(&stub, &[("key-file", key.to_str().expect("utf-8"))]),
        |_| None,
    )
    .expect("plugin");
    let err = plugin
        .revision_runs(&RevisionRunsRequest {
            revision: "r".to_owned(),
            ..RevisionRunsRequest::default()
        })
        .expect_err("refused");
    assert!(
        err.message.starts_with("bigquery plugin: revision_runs: authentication failed: the token endpoint refused the service account's key: "),
        "{err}"
    );
    assert!(
        err.message
            .contains("invalid_grant: Invalid JWT Signature."),
        "{err}"
    );
    // Neither the assertion nor the key is in the message.
    assert!(
        !err.message.contains("eyJ") && !err.message.contains("PRIVATE"),
        "{err}"
    );
    let body = &stub.seen()[0].body;
    assert!(
        body.contains("assertion=eyJ"),
        "the assertion was sent: {body}"
    );

    // A key file that is not a key: refused at create, by name, without its contents.
    std::fs::write(&key, "{\"private_key\": \"hunter2-not-a-key\"}").expect("write");
    let err = BigQuery::from_config(
        &plugin_config(&stub, &[("key-file", key.to_str().expect("utf-8"))]),
        |_| None,
    )
    .expect_err("bad key file");
    assert!(
        err.message.starts_with("bigquery plugin: option key-file "),
        "{err}"
    );
    assert!(!err.message.contains("hunter2"), "{err}");
}

#[test]
fn the_build_window_is_pushed_down_as_a_where() {
    // Every table exists; queries answer nothing.
    let stub = Stub::start(|seen| match seen.method.as_str() {
        "GET" => (200, json!({"kind": "bigquery#table"})),
        _ => (
            200,
            json!({"jobReference": {"projectId": "proj", "jobId": "j"}, "jobComplete": true,
                   "schema": {"fields": []}, "totalRows": "0"}),
        ),
    });
    let plugin = BigQuery::from_config(&plugin_config(&stub, &[]), |_| None).expect("plugin");
    let page = plugin
        .list_builds(&flakewatch_plugin_sdk::model::ListBuildsRequest {
            since: "2025-08-05T02:00:00+02:00".to_owned(),
            cursor: None,
        })
        .expect("list_builds");
    assert!(page.builds.is_empty() && page.next_cursor.is_none());
    let queries: Vec<Value> = stub
        .seen()
        .iter()
        .filter(|s| s.method == "POST")
        .map(|s| serde_json::from_str(&s.body).expect("json"))
        .collect();
    let builds = queries
        .iter()
        .find(|q| {
            q["query"]
                .as_str()
                .is_some_and(|t| t.contains("FROM `proj.ds.builds`"))
        })
        .expect("the builds query");
    let sql = builds["query"].as_str().expect("text");
    assert!(
        sql.contains("WHERE commit_time >= TIMESTAMP_MICROS(@since_us)"),
        "{sql}"
    );
    let since = builds["queryParameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "since_us")
        .expect("since_us");
    // 2025-08-05T00:00:00Z in microseconds.
    assert_eq!(since["parameterValue"]["value"], json!("1754352000000000"));
    assert_eq!(since["parameterType"]["type"], json!("INT64"));
}

#[test]
fn streaming_into_a_table_not_yet_visible_is_sent_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let stub = {
        let calls = Arc::clone(&calls);
        Stub::start(move |_| {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                (
                    404,
                    json!({"error": {"code": 404, "message": "Not found: Table proj:d.t"}}),
                )
            } else {
                (200, json!({"kind": "bigquery#tableDataInsertAllResponse"}))
            }
        })
    };
    client(&stub, Credentials::None)
        .insert_all("d", "t", &[("id-1".to_owned(), json!({"k": 1}))])
        .expect("inserted on the third request");
    let seen = stub.seen();
    assert_eq!(seen.len(), 3);
    // The same rows with the same insertIds each time.
    assert!(seen.windows(2).all(|w| w[0].body == w[1].body));
    // A table that never appears is reported once max-wait is used up.
    let stub = Stub::start(|_| {
        (
            404,
            json!({"error": {"code": 404, "message": "Not found: Table proj:d.gone"}}),
        )
    });
    let err = client(&stub, Credentials::None)
        .insert_all("d", "gone", &[("id-1".to_owned(), json!({"k": 1}))])
        .expect_err("never there");
    assert!(
        matches!(&err, Error::NotFound(m) if m.contains("Not found: Table proj:d.gone") && m.contains("still after")),
        "{err:?}"
    );
}
