//! The variant registry (upstream's `JobsWithVariants` rows): each job's release, topology,
//! platform and network, read and validated once, before an aggregation starts.

use std::path::Path;

use serde::Deserialize;

use crate::error::{AggregateError, read_json};

/// One job of the registry. Absent or `null` variants read as empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobVariants {
    /// The job name.
    pub job_name: String,
    /// The release it upgrades from (upgrade jobs), `4.15`.
    #[serde(default, deserialize_with = "text")]
    pub from_release: String,
    /// The release it tests, `4.16`.
    #[serde(default, deserialize_with = "text")]
    pub release: String,
    /// `amd64`, `arm64`, ...
    #[serde(default, deserialize_with = "text")]
    pub architecture: String,
    /// `ha`, `single`, ...
    #[serde(default, deserialize_with = "text")]
    pub topology: String,
    /// `ovn`, `sdn`.
    #[serde(default, deserialize_with = "text")]
    pub network: String,
    /// `aws`, `gcp`, ...
    #[serde(default, deserialize_with = "text")]
    pub platform: String,
    /// `ipv4`, `ipv6`, `dual`.
    #[serde(default, rename = "IPMode", deserialize_with = "text")]
    pub ip_mode: String,
}

/// A string that may be `null`.
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// The registry file: an array of rows, or one row.
#[derive(Deserialize)]
#[serde(untagged)]
enum Rows {
    Many(Vec<JobVariants>),
    One(JobVariants),
}

/// Every job of the registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    jobs: Vec<JobVariants>,
}

impl Registry {
    /// Reads a registry file (a JSON array of rows, or one row); a row without a `JobName`
    /// string, or with a variant that is neither a string nor `null`, is an error naming the
    /// file.
    pub fn read(path: &Path) -> Result<Registry, AggregateError> {
        let jobs = match read_json::<Rows>(path)? {
            Rows::Many(jobs) => jobs,
            Rows::One(job) => vec![job],
        };
        Ok(Registry { jobs })
    }

    /// A registry of these jobs.
    pub fn new(jobs: Vec<JobVariants>) -> Registry {
        Registry { jobs }
    }

    /// Every job, in the file's order.
    pub fn jobs(&self) -> &[JobVariants] {
        &self.jobs
    }

    /// Whether it lists no job.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The variants of `job`.
    pub fn job(&self, job: &str) -> Option<&JobVariants> {
        self.jobs.iter().find(|j| j.job_name == job)
    }

    /// The same job one release earlier (same variants, releases decremented, same name once
    /// the release strings are removed), as upstream's disruption fallback finds it.
    pub fn previous_release_job(&self, job: &str) -> Option<&str> {
        let row = self.job(job)?;
        let decrement = |v: &str| -> Option<String> {
            if v.is_empty() {
                return Some(String::new());
            }
            let (major, minor) = v.split_once('.')?;
            let minor: i64 = minor.split('.').next()?.parse().ok()?;
            Some(format!("{major}.{}", minor - 1))
        };
        let normalize = |name: &str, from: &str, to: &str| {
            let mut n = name.to_owned();
            if !to.is_empty() {
                n = n.replace(to, "");
            }
            if !from.is_empty() {
                n = n.replace(from, "");
            }
            n
        };
        let target_from = decrement(&row.from_release)?;
        let target_to = decrement(&row.release)?;
        let normalized = normalize(job, &row.from_release, &row.release);
        self.jobs
            .iter()
            .find(|j| {
                j.architecture == row.architecture
                    && j.topology == row.topology
                    && j.network == row.network
                    && j.platform == row.platform
                    && j.ip_mode == row.ip_mode
                    && j.from_release == target_from
                    && j.release == target_to
                    && normalize(&j.job_name, &j.from_release, &j.release) == normalized
            })
            .map(|j| j.job_name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, from: &str, release: &str) -> JobVariants {
        JobVariants {
            job_name: name.to_owned(),
            from_release: from.to_owned(),
            release: release.to_owned(),
            architecture: "amd64".to_owned(),
            topology: "ha".to_owned(),
            platform: "aws".to_owned(),
            ..JobVariants::default()
        }
    }

    #[test]
    fn the_previous_release_job_has_the_same_variants() {
        let registry = Registry::new(vec![
            job("e2e-aws-upgrade-4.15-to-4.16", "4.15", "4.16"),
            job("e2e-aws-upgrade-4.14-to-4.15", "4.14", "4.15"),
            JobVariants {
                platform: "gcp".to_owned(),
                ..job("e2e-gcp-upgrade-4.14-to-4.15", "4.14", "4.15")
            },
        ]);
        assert_eq!(
            registry.previous_release_job("e2e-aws-upgrade-4.15-to-4.16"),
            Some("e2e-aws-upgrade-4.14-to-4.15")
        );
        assert_eq!(
            registry.previous_release_job("e2e-aws-upgrade-4.14-to-4.15"),
            None
        );
        assert_eq!(registry.previous_release_job("unknown"), None);
    }

    #[test]
    fn rows_are_validated_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(
            &good,
            r#"[{"JobName": "j", "Topology": null, "Release": "4.16"}]"#,
        )
        .unwrap();
        let registry = Registry::read(&good).unwrap();
        assert_eq!(registry.job("j").unwrap().release, "4.16");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"[{"Topology": "ha"}]"#).unwrap();
        let err = Registry::read(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.json"), "{err}");
    }
}
