//! GitHub's `Link` header (RFC 8288): `<URL>; rel="next", <URL>; rel="last"`.

/// The targets of one `Link` header that paging uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// `rel="next"`.
    pub next: Option<String>,
    /// `rel="last"`.
    pub last: Option<String>,
}

impl Links {
    /// Parses a header value; unknown relations and malformed entries are skipped.
    pub fn parse(header: Option<&str>) -> Links {
        let mut links = Links::default();
        for entry in header.unwrap_or("").split(',') {
            let mut parts = entry.split(';');
            let Some(target) = parts.next().map(str::trim) else {
                continue;
            };
            let Some(url) = target.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
                continue;
            };
            for param in parts {
                let Some((key, value)) = param.split_once('=') else {
                    continue;
                };
                if key.trim() != "rel" {
                    continue;
                }
                for rel in value.trim().trim_matches('"').split_whitespace() {
                    match rel {
                        "next" => links.next = Some(url.to_owned()),
                        "last" => links.last = Some(url.to_owned()),
                        _ => {}
                    }
                }
            }
        }
        links
    }
}

/// The `page` query parameter of a URL.
pub fn page_of(url: &str) -> Option<u64> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "page")
        .and_then(|(_, v)| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_next_and_last() {
        let links = Links::parse(Some(
            "<https://api.github.com/repositories/1/issues?page=2&per_page=100>; rel=\"next\", \
             <https://api.github.com/repositories/1/issues?page=8&per_page=100>; rel=\"last\"",
        ));
        assert_eq!(
            links.next.as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=2&per_page=100")
        );
        assert_eq!(links.last.as_deref().and_then(page_of), Some(8));
        assert_eq!(Links::parse(None), Links::default());
        assert_eq!(Links::parse(Some("garbage, <x>; foo")), Links::default());
    }
}
