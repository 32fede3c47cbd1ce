//! Where plugin libraries are found: files named with `--plugin PATH`, the files and
//! directories of `FLAKEWATCH_PLUGIN_PATH`, and the directory of the `flakewatch`
//! executable. A plugin is selected by the name it gives itself; in a directory, the plugin
//! `NAME` is the file `libflakewatch_plugin_NAME.so` (`.dylib` on macOS,
//! `flakewatch_plugin_NAME.dll` on Windows), and nothing else there is loaded.

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use super::{HostError, PluginLibrary};

/// The environment variable listing plugin files and directories (`PATH` syntax).
pub const PLUGIN_PATH_ENV: &str = "FLAKEWATCH_PLUGIN_PATH";

/// Where to look for plugins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginSearch {
    /// Library files to load up front, in order.
    pub files: Vec<PathBuf>,
    /// Directories to look in for a plugin by name, in order.
    pub dirs: Vec<PathBuf>,
}

impl PluginSearch {
    /// The search for `explicit` files (`--plugin`), the entries of `plugin_path`
    /// (`FLAKEWATCH_PLUGIN_PATH`: files are loaded, directories searched) and the directory
    /// of `exe`.
    pub fn new(
        explicit: Vec<PathBuf>,
        plugin_path: Option<OsString>,
        exe: Option<PathBuf>,
    ) -> PluginSearch {
        let mut search = PluginSearch {
            files: explicit,
            dirs: Vec::new(),
        };
        if let Some(paths) = plugin_path {
            for entry in std::env::split_paths(&paths) {
                if entry.as_os_str().is_empty() {
                    continue;
                }
                if entry.is_file() {
                    search.files.push(entry);
                } else {
                    search.dirs.push(entry);
                }
            }
        }
        if let Some(dir) = exe.as_deref().and_then(|e| e.parent()) {
            search.dirs.push(dir.to_path_buf());
        }
        search
    }

    /// The search from this process's environment and executable.
    pub fn from_environment(explicit: Vec<PathBuf>) -> PluginSearch {
        PluginSearch::new(
            explicit,
            std::env::var_os(PLUGIN_PATH_ENV),
            std::env::current_exe().ok(),
        )
    }

    /// The file name of plugin `name` in a directory (`-` becomes `_`, as Cargo names
    /// libraries).
    pub fn file_name(name: &str) -> String {
        format!(
            "{DLL_PREFIX}flakewatch_plugin_{}{DLL_SUFFIX}",
            name.replace('-', "_")
        )
    }
}

/// The plugins loaded so far, and the search for more.
#[derive(Debug)]
pub struct PluginRegistry {
    search: PluginSearch,
    explicit: Vec<Arc<PluginLibrary>>,
    loaded: Vec<Arc<PluginLibrary>>,
}

impl PluginRegistry {
    /// Loads the search's files; fails on the first that does not load.
    pub fn open(search: PluginSearch) -> Result<PluginRegistry, HostError> {
        let explicit = search
            .files
            .iter()
            .map(|path| PluginLibrary::load(path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PluginRegistry {
            search,
            loaded: explicit.clone(),
            explicit,
        })
    }

    /// The plugins loaded from files named explicitly, in order.
    pub fn explicit(&self) -> &[Arc<PluginLibrary>] {
        &self.explicit
    }

    /// The plugin called `name`: one already loaded, or the first matching file in the
    /// search directories.
    pub fn find(&mut self, name: &str) -> Result<Arc<PluginLibrary>, HostError> {
        if let Some(library) = self.loaded.iter().find(|l| l.info().name == name) {
            return Ok(Arc::clone(library));
        }
        let file = PluginSearch::file_name(name);
        for dir in &self.search.dirs {
            let candidate = dir.join(&file);
            if candidate.is_file() {
                let library = PluginLibrary::load(&candidate)?;
                self.loaded.push(Arc::clone(&library));
                return Ok(library);
            }
        }
        Err(HostError::NotFound {
            name: name.to_owned(),
            file,
            searched: self.search.dirs.clone(),
            hint: "; build the workspace (`cargo build --release` puts plugins beside the \
                   flakewatch executable), set FLAKEWATCH_PLUGIN_PATH, or pass --plugin PATH"
                .to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order_and_file_names() {
        let dir = std::env::temp_dir();
        let joined = std::env::join_paths([PathBuf::from("/nonexistent/plugins"), dir.clone()])
            .expect("joinable");
        let search = PluginSearch::new(
            vec![PathBuf::from("/x/libflakewatch_plugin_a.so")],
            Some(joined),
            Some(PathBuf::from("/opt/flakewatch/bin/flakewatch")),
        );
        assert_eq!(
            search.files,
            [PathBuf::from("/x/libflakewatch_plugin_a.so")]
        );
        assert_eq!(
            search.dirs,
            [
                PathBuf::from("/nonexistent/plugins"),
                dir,
                PathBuf::from("/opt/flakewatch/bin")
            ]
        );
        let name = PluginSearch::file_name("my-tracker");
        assert!(name.contains("flakewatch_plugin_my_tracker"), "{name}");
    }

    #[test]
    fn a_missing_plugin_says_where_it_looked() {
        let mut registry = PluginRegistry::open(PluginSearch {
            files: Vec::new(),
            dirs: vec![PathBuf::from("/nonexistent/plugins")],
        })
        .expect("nothing to load");
        let err = registry.find("nosuch").expect_err("not there").to_string();
        assert!(
            err.starts_with("no plugin named \"nosuch\": looked for "),
            "{err}"
        );
        assert!(err.contains("/nonexistent/plugins"), "{err}");
    }
}
