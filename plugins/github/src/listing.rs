//! Reading whole listings: every page of a REST listing through its `Link` headers, or
//! every item of a project through GraphQL, checked for completeness; and the state file
//! that remembers the size of the last complete issue listing.
//!
//! A listing is never returned short: a page that failed after retries, a page shorter
//! than the `Link` header's last page promises, an item seen twice (the listing moved
//! while it was read), a count below GraphQL's `totalCount` or below the last complete
//! listing are errors that say why (golang/go#72731).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::http::{Client, Method};
use crate::link::{Links, page_of};

/// Why a listing is not complete, or failed.
pub type ListingError = String;

/// The most pages followed (100 × 10,000 items).
const MAX_PAGES: u64 = 10_000;

/// Every item of a paged REST listing starting at `first`, `per_page` to a page.
/// `same_origin` is the API base the `next` links must stay under (the token is sent only
/// there).
pub fn rest_pages(
    client: &Client,
    first: &str,
    per_page: usize,
    same_origin: &str,
) -> Result<Vec<Value>, ListingError> {
    let mut items = Vec::new();
    let mut url = first.to_owned();
    let mut page = 1u64;
    let mut last_page: Option<u64> = None;
    loop {
        let reply = client.request(Method::Get, &url, None, true)?;
        let Value::Array(page_items) = reply.json else {
            return Err(format!("page {page}: the answer is not a JSON array"));
        };
        let links = Links::parse(reply.link.as_deref());
        if page == 1 {
            last_page = links.last.as_deref().and_then(page_of);
        }
        let count = page_items.len();
        items.extend(page_items);
        let promised_more = last_page.is_some_and(|last| page < last);
        match links.next {
            Some(next) => {
                if count < per_page {
                    return Err(format!(
                        "incomplete listing: page {page} of {} held {count} items, but a page \
                         before the last holds {per_page}",
                        last_page.map_or("?".to_owned(), |l| l.to_string())
                    ));
                }
                if !next.starts_with(same_origin) {
                    return Err(format!(
                        "page {page}: the next page's link leaves the API base {same_origin}; not followed"
                    ));
                }
                page += 1;
                if page > MAX_PAGES {
                    return Err(format!("the listing has more than {MAX_PAGES} pages"));
                }
                url = next;
            }
            None if promised_more => {
                return Err(format!(
                    "incomplete listing: page {page} has no link to a next page, but the first \
                     page's Link header promised {} pages",
                    last_page.unwrap_or(page)
                ));
            }
            None => return Ok(items),
        }
    }
}

/// The issues of an organization's project (GraphQL `projectV2.items`), each item's
/// `content`, checked against `totalCount`. Items that are not issues are counted and left
/// out by the caller.
pub fn project_items(
    client: &Client,
    graphql: &str,
    owner: &str,
    project: u64,
    per_page: usize,
) -> Result<(Vec<Value>, String), ListingError> {
    const QUERY: &str = "query($owner: String!, $number: Int!, $first: Int!, $after: String) { \
        organization(login: $owner) { projectV2(number: $number) { id \
        items(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } \
        nodes { content { __typename ... on Issue { id number title state closedAt body \
        createdAt lastEditedAt repository { nameWithOwner } labels(first: 100) { nodes { name } } } } } } } } }";
    let mut contents = Vec::new();
    let mut after: Option<String> = None;
    let mut total: Option<u64> = None;
    let mut project_id = String::new();
    for page in 1..=MAX_PAGES {
        let data = graphql_call(
            client,
            graphql,
            QUERY,
            json!({"owner": owner, "number": project, "first": per_page, "after": after}),
        )?;
        let project_value = &data["organization"]["projectV2"];
        if project_value.is_null() {
            return Err(format!(
                "organization {owner} has no project number {project} (or the token may not read it)"
            ));
        }
        project_id = project_value["id"].as_str().unwrap_or("").to_owned();
        let items = &project_value["items"];
        let this_total = items["totalCount"].as_u64();
        if total.is_none() {
            total = this_total;
        } else if this_total != total {
            return Err(format!(
                "incomplete listing: the project's item count changed while it was read ({} then {})",
                total.unwrap_or(0),
                this_total.unwrap_or(0)
            ));
        }
        let nodes = items["nodes"]
            .as_array()
            .ok_or_else(|| format!("project page {page}: no items.nodes in the answer"))?;
        contents.extend(nodes.iter().map(|n| n["content"].clone()));
        if items["pageInfo"]["hasNextPage"].as_bool() == Some(true) {
            after = items["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            if after.is_none() {
                return Err(format!(
                    "project page {page}: hasNextPage without an endCursor"
                ));
            }
        } else {
            break;
        }
    }
    let total = total.ok_or("the project's answer has no items.totalCount")?;
    if contents.len() as u64 != total {
        return Err(format!(
            "incomplete listing: the project's items add up to {} but totalCount is {total}",
            contents.len()
        ));
    }
    Ok((contents, project_id))
}

/// `lastEditedAt` of issues by node id (GraphQL `nodes(ids:)`, 100 at a time).
pub fn last_edited(
    client: &Client,
    graphql: &str,
    ids: &[String],
) -> Result<Vec<Option<String>>, ListingError> {
    const QUERY: &str =
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename ... on Issue { id lastEditedAt } } }";
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(100) {
        let data = graphql_call(client, graphql, QUERY, json!({"ids": chunk}))?;
        let nodes = data["nodes"]
            .as_array()
            .ok_or("the nodes query answered no nodes")?;
        if nodes.len() != chunk.len() {
            return Err(format!(
                "the nodes query answered {} nodes for {} ids",
                nodes.len(),
                chunk.len()
            ));
        }
        for (id, node) in chunk.iter().zip(nodes) {
            if node.is_null() {
                return Err(format!(
                    "issue node {id} is gone (deleted or transferred while listed)"
                ));
            }
            out.push(node["lastEditedAt"].as_str().map(str::to_owned));
        }
    }
    Ok(out)
}

/// One GraphQL request; its `data`, or an error with its `errors` messages.
pub fn graphql_call(
    client: &Client,
    graphql: &str,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let reply = client.request(
        Method::Post,
        graphql,
        Some(&json!({"query": query, "variables": variables})),
        true,
    )?;
    if let Some(errors) = reply.json.get("errors").and_then(Value::as_array)
        && !errors.is_empty()
    {
        let messages: Vec<&str> = errors
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .collect();
        return Err(format!("GraphQL: {}", messages.join("; ")));
    }
    match reply.json.get("data") {
        Some(data) if !data.is_null() => Ok(data.clone()),
        _ => Err("GraphQL: the answer has no data".to_owned()),
    }
}

/// Checks that no two items share a number.
pub fn distinct_numbers<'a>(
    numbers: impl IntoIterator<Item = &'a u64>,
) -> Result<(), ListingError> {
    let mut seen = BTreeSet::new();
    for n in numbers {
        if !seen.insert(*n) {
            return Err(format!(
                "incomplete listing: issue #{n} was listed twice (the listing moved while it was \
                 read, so another issue may have been skipped)"
            ));
        }
    }
    Ok(())
}

/// The state file of one listing: the size of the last complete listing.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The file for `selection` (repository, label, project) in `dir`.
    pub fn new(dir: &Path, selection: &str) -> StateFile {
        let name: String = selection
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        StateFile {
            path: dir.join(format!("github-{name}.json")),
        }
    }

    /// The recorded count, if any.
    fn recorded(&self) -> Result<Option<u64>, String> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let value: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("state file {}: {e}", self.path.display()))?;
                Ok(value["complete_count"].as_u64())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("state file {}: {e}", self.path.display())),
        }
    }

    /// Refuses a listing of `count` issues smaller than the last complete one, and records
    /// `count` otherwise.
    pub fn check_and_record(&self, count: u64) -> Result<(), String> {
        let recorded = self.recorded()?;
        if let Some(recorded) = recorded
            && count < recorded
        {
            return Err(format!(
                "incomplete listing: {count} issues, fewer than the {recorded} of the last complete \
                 listing (recorded in {}); triage never deletes issues, so issues are missing from \
                 the answer. If issues were deleted or transferred on purpose, remove that file",
                self.path.display()
            ));
        }
        if recorded != Some(count) {
            let tmp = self.path.with_extension("json.tmp");
            let text = json!({"complete_count": count}).to_string();
            std::fs::write(&tmp, text)
                .and_then(|()| std::fs::rename(&tmp, &self.path))
                .map_err(|e| format!("state file {}: {e}", self.path.display()))?;
        }
        Ok(())
    }
}
