//! `flakewatch report` end to end: the real binary and files plugin on the demo data. The
//! JSON report agrees with `triage --json`'s own assignment; the Markdown has a row per
//! issue; the HTML page is loaded in real headless Chromium (`/usr/bin/chromium`): no console
//! message, no network request, its script ran, its plots hold the report's numbers (read
//! from the SVG in the DOM), and a screenshot is taken.

#![allow(
    clippy::print_stderr,
    reason = "a skipped browser check says so, and the screenshot's path is shown"
)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::{DEMO_NOW, demo_copy, flakewatch};

fn run(dir: &Path, extra: &[&str]) -> Output {
    let output = flakewatch()
        .current_dir(dir)
        .args(extra)
        .args(["--now", DEMO_NOW, "--data"])
        .arg(dir)
        .output()
        .expect("run flakewatch");
    assert!(
        output.status.success(),
        "{extra:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn report_json(dir: &Path) -> Value {
    serde_json::from_slice(&run(dir, &["report", "--json"]).stdout).expect("JSON report")
}

fn unix(rfc3339: &str) -> i64 {
    // The demo's times are all `YYYY-MM-DDTHH:MM:SSZ`; days since 1970 by the civil
    // calendar algorithm (Howard Hinnant's days_from_civil).
    let n = |r: std::ops::Range<usize>| rfc3339[r].parse::<i64>().expect("digits");
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

/// Per issue, the failures of the last 30 days `triage --json` attributes to it (queued,
/// already mentioned, or skipped by it).
fn triage_owned_30d(dir: &Path) -> (BTreeMap<u64, usize>, usize) {
    let plan: Value =
        serde_json::from_slice(&run(dir, &["triage", "--json"]).stdout).expect("JSON plan");
    let now = unix(DEMO_NOW);
    let mut owned: BTreeMap<u64, usize> = BTreeMap::new();
    let mut total = 0;
    for f in plan["failures"].as_array().expect("failures") {
        let age = now - unix(f["date"].as_str().expect("date"));
        if !(0..30 * 86_400).contains(&age) {
            continue;
        }
        total += 1;
        let mut owners: Vec<u64> = f["already_mentioned"]
            .as_array()
            .expect("already_mentioned")
            .iter()
            .map(|n| n.as_u64().expect("number"))
            .collect();
        owners.extend(
            f["queued"]
                .as_array()
                .expect("queued")
                .iter()
                .chain(f.get("skipped_by"))
                .filter_map(|r| r["issue"].as_u64()),
        );
        owners.sort_unstable();
        owners.dedup();
        for n in owners {
            *owned.entry(n).or_default() += 1;
        }
    }
    (owned, total)
}

#[test]
fn the_json_report_ranks_every_issue_by_triages_own_assignment() {
    let demo = demo_copy();
    let report = report_json(demo.path());
    assert_eq!(report["schema"], "flakewatch.report/1");
    let issues = report["issues"].as_array().expect("issues");
    let listed = std::fs::read_to_string(demo.path().join("issues.jsonl"))
        .expect("issues")
        .lines()
        .count();
    assert_eq!(issues.len(), listed, "every tracked issue is in the report");

    let (owned, total) = triage_owned_30d(demo.path());
    assert_eq!(report["totals"]["last_30d"], total);
    let mut active = 0;
    for issue in issues {
        let n = issue["number"].as_u64().expect("number");
        let last_30d = issue["last_30d"].as_u64().expect("last_30d") as usize;
        assert_eq!(last_30d, owned.get(&n).copied().unwrap_or(0), "#{n}");
        active += usize::from(last_30d > 0);
        let daily: Vec<usize> = issue["daily"]
            .as_array()
            .expect("daily")
            .iter()
            .map(|c| c.as_u64().expect("count") as usize)
            .collect();
        assert_eq!(daily.len(), 60);
        assert_eq!(daily[30..].iter().sum::<usize>(), last_30d, "#{n} daily");
        assert_eq!(
            daily[53..].iter().sum::<usize>() as u64,
            issue["last_7d"].as_u64().expect("last_7d"),
            "#{n} daily, last 7 days"
        );
        let share = issue["share_30d"].as_f64().expect("share");
        assert!(
            (share - last_30d as f64 / total as f64).abs() < 1e-9,
            "#{n}"
        );
    }
    assert!(
        active >= 10,
        "the demo has many active issues, got {active}"
    );
    assert_eq!(report["totals"]["issues_active_30d"], active);

    // Ranked: by the last 7 days, then the last 30, ranks 1..n.
    let keys: Vec<(u64, u64)> = issues
        .iter()
        .map(|i| {
            (
                i["last_7d"].as_u64().unwrap_or(0),
                i["last_30d"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] >= w[1]), "{keys:?}");
    for (k, issue) in issues.iter().enumerate() {
        assert_eq!(issue["rank"], k + 1);
    }

    // Owned and unowned add up; the unowned groups are what triage would open.
    let t = &report["totals"];
    assert_eq!(
        t["owned_30d"].as_u64().unwrap_or(0) + t["unowned_30d"].as_u64().unwrap_or(0),
        total as u64
    );
    let unowned = report["unowned"].as_array().expect("unowned");
    assert!(!unowned.is_empty());
    let unowned_30d: u64 = unowned
        .iter()
        .map(|g| g["last_30d"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(unowned_30d, t["unowned_30d"].as_u64().unwrap_or(0));
    // The heat map holds every failure of the last 30 days.
    let heat: u64 = report["heatmap"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["total"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(heat, total as u64);

    // The report reads only.
    let before = std::fs::read(demo.path().join("comments.jsonl")).expect("comments");
    run(demo.path(), &["report", "--md"]);
    assert_eq!(
        std::fs::read(demo.path().join("comments.jsonl")).expect("comments"),
        before
    );
}

#[test]
fn the_markdown_report_has_a_table_row_per_issue() {
    let demo = demo_copy();
    let report = report_json(demo.path());
    let md = String::from_utf8(run(demo.path(), &["report", "--md"]).stdout).expect("UTF-8");
    assert!(md.starts_with("# Flake report\n"));
    let issues = report["issues"].as_array().expect("issues");
    for issue in issues {
        let row = format!("| {} | #{} ", issue["rank"], issue["number"]);
        assert_eq!(md.matches(&row).count(), 1, "{row} in\n{md}");
    }
    let first = &issues[0];
    let first_row = md
        .lines()
        .find(|l| l.starts_with("| 1 | #"))
        .expect("rank 1 row");
    assert!(
        first_row.contains(&format!(" {} | {} |", first["last_7d"], first["prev_7d"])),
        "{first_row}"
    );
    assert!(md.contains("## Unowned failures\n"));
    assert!(md.contains("## Builders\n"));
}

/// Headless Chromium, when installed: `None` (skipped, with the reason printed) when it is
/// not, except under CI, where that fails.
fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/chromium");
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "chromium is not installed (/usr/bin/chromium): CI must install the Debian \
             package chromium (scripts/test does)"
        );
    }
    eprintln!(
        "skipped: chromium is not installed (/usr/bin/chromium; apt-get install chromium), \
         so the HTML report is not checked in a browser"
    );
    None
}

/// What Chromium saw loading a page.
struct Visit {
    /// The DOM after the page's scripts ran.
    dom: String,
    /// Console messages (Chromium's `CONSOLE` log lines).
    console: Vec<String>,
    /// URLs the page asked the network for (from Chromium's net log).
    requests: Vec<String>,
}

fn chromium_command(browser: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1400,2000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

fn console_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect()
}

/// The requests of a Chromium net log made on behalf of a `file://` page: URL request jobs
/// whose network isolation key is the page's site. (The browser's own background requests,
/// if any, carry another key.)
fn page_requests(net_log: &Path) -> Vec<String> {
    let log: Value =
        serde_json::from_slice(&std::fs::read(net_log).expect("net log")).expect("net log JSON");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_u64()
        .expect("URL_REQUEST_START_JOB in the net log's constants");
    log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"].as_u64() == Some(start_job))
        .filter(|e| {
            let p = &e["params"];
            ["network_isolation_key", "site_for_cookies", "initiator"]
                .iter()
                .any(|k| p[k].as_str().is_some_and(|v| v.contains("file://")))
        })
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_owned))
        .collect()
}

/// Loads `url` in headless Chromium (a new profile in `work`): once for the DOM, the
/// console and the net log, and, with `screenshot`, once more for a screenshot.
fn visit(browser: &Path, work: &Path, url: &str, screenshot: Option<&Path>) -> Visit {
    let profile = tempfile::tempdir_in(work).expect("profile");
    let net_log = work.join("net-log.json");
    let output = chromium_command(browser, profile.path())
        .arg(format!("--log-net-log={}", net_log.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium --dump-dom: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut console = console_lines(&output.stderr);
    let requests = page_requests(&net_log);
    if let Some(png) = screenshot {
        let profile = tempfile::tempdir_in(work).expect("profile");
        let output = chromium_command(browser, profile.path())
            .arg(format!("--screenshot={}", png.display()))
            .arg(url)
            .output()
            .expect("run chromium");
        assert!(
            output.status.success(),
            "chromium --screenshot: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        console.extend(console_lines(&output.stderr));
    }
    Visit {
        dom: String::from_utf8(output.stdout).expect("UTF-8 DOM"),
        console,
        requests,
    }
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The `data-count` values of the `<rect class="CLASS" …>` elements in `svg`.
fn rect_counts(svg: &str, class: &str) -> Vec<usize> {
    let open = format!("<rect class=\"{class}\"");
    svg.match_indices(&open)
        .map(|(at, _)| {
            let rest = &svg[at..];
            let rect = &rest[..rest.find('>').expect("rect end")];
            let value = rect
                .split("data-count=\"")
                .nth(1)
                .and_then(|v| v.split('"').next())
                .expect("data-count");
            value.parse().expect("count")
        })
        .collect()
}

/// The element from `<TAG` at `start` to its closing tag (no nesting of the same tag).
fn element<'a>(dom: &'a str, start: usize, tag: &str) -> &'a str {
    let end = dom[start..]
        .find(&format!("</{tag}>"))
        .expect("closing tag");
    &dom[start..start + end]
}

/// The checker itself: a page that logs to the console and fetches an image is caught.
#[test]
fn the_browser_check_sees_console_messages_and_requests() {
    let Some(browser) = chromium() else {
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let page = work.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>bad</p><img src=\"http://flakewatch.invalid/x.png\">\
         <script>console.error(\"flakewatch-bad-page\"); document.body.dataset.ran = \"1\";\
         </script></body></html>",
    )
    .expect("write page");
    let seen = visit(&browser, work.path(), &file_url(&page), None);
    assert!(seen.dom.contains("data-ran=\"1\""), "{}", seen.dom);
    assert!(
        seen.console
            .iter()
            .any(|l| l.contains("flakewatch-bad-page")),
        "{:?}",
        seen.console
    );
    assert!(
        seen.requests
            .iter()
            .any(|u| u.starts_with("http://flakewatch.invalid/")),
        "{:?}",
        seen.requests
    );
}

#[test]
fn the_html_report_renders_in_headless_chromium_without_network() {
    let Some(browser) = chromium() else {
        return;
    };
    let demo = demo_copy();
    let work = tempfile::tempdir().expect("temp dir");
    let html = work.path().join("report.html");
    let output = run(
        demo.path(),
        &[
            "report",
            "--json",
            "--html",
            html.to_str().expect("UTF-8 path"),
        ],
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flakewatch-report-demo.png");
    let _ = std::fs::remove_file(&png);
    // Sorted at load by issue number, descending (the page's `#sort=` link form).
    let seen = visit(
        &browser,
        work.path(),
        &format!("{}#sort=issues:-1", file_url(&html)),
        Some(&png),
    );
    assert!(seen.console.is_empty(), "console: {:#?}", seen.console);
    assert!(seen.requests.is_empty(), "requests: {:#?}", seen.requests);
    assert!(
        seen.dom.contains("data-sortable=\"ready\""),
        "the table script did not run"
    );

    // The rows are in the order the script sorted them to.
    let mut numbers: Vec<u64> = report["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["number"].as_u64().expect("number"))
        .collect();
    numbers.sort_unstable_by(|a, b| b.cmp(a));
    let in_dom: Vec<u64> = seen
        .dom
        .match_indices("<tr data-issue=\"")
        .map(|(at, m)| {
            let rest = &seen.dom[at + m.len()..];
            rest[..rest.find('"').expect("quote")]
                .parse()
                .expect("number")
        })
        .collect();
    assert_eq!(in_dom, numbers);

    // Each issue's sparkline shows its failures per day.
    let mut bars = 0;
    for issue in report["issues"].as_array().expect("issues") {
        let n = issue["number"].as_u64().expect("number");
        let at = seen
            .dom
            .find(&format!("<tr data-issue=\"{n}\""))
            .expect("issue row");
        let row = element(&seen.dom, at, "tr");
        let spark = element(
            row,
            row.find("<svg class=\"spark\"").expect("sparkline"),
            "svg",
        );
        let counts = rect_counts(spark, "day");
        let daily: usize = issue["daily"]
            .as_array()
            .expect("daily")
            .iter()
            .map(|c| c.as_u64().expect("count") as usize)
            .sum();
        assert_eq!(counts.iter().sum::<usize>(), daily, "#{n} sparkline");
        assert!(
            counts.iter().all(|&c| c > 0),
            "#{n}: a bar per day with failures"
        );
        bars += counts.len();
    }
    assert!(bars > 50, "only {bars} sparkline bars");

    // The heat map has a cell per builder and day, and holds every failure of 30 days.
    let at = seen.dom.find("<svg class=\"heatmap\"").expect("heat map");
    let heat = element(&seen.dom, at, "svg");
    let cells = rect_counts(heat, "cell");
    let rows = report["heatmap"]["rows"].as_array().expect("rows").len();
    assert!(rows > 5, "{rows} builders");
    assert_eq!(cells.len(), rows * 30);
    assert_eq!(
        cells.iter().sum::<usize>() as u64,
        report["totals"]["last_30d"].as_u64().expect("total")
    );
    assert!(cells.iter().filter(|&&c| c > 0).count() > 20);

    // The screenshot: a PNG of the window's size.
    let bytes = std::fs::read(&png).expect("screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("width"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("height"));
    assert_eq!((width, height), (1400, 2000));
    assert!(
        bytes.len() > 50_000,
        "a blank page compresses to little: {}",
        bytes.len()
    );
    eprintln!("screenshot: {}", png.display());
}
