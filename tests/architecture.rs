//! The shape of the code, checked: handlers stay thin, features never reach
//! into another feature's handler files, and the README's layout is the
//! module map of `docs/ARCHITECTURE.md`. (Function length in general is
//! clippy's `too_many_lines`, with the threshold in `clippy.toml`.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Longest handler, in lines from its `fn` line to its closing brace.
const MAX_HANDLER_LINES: usize = 40;
/// Top-level modules that are features (each may have handler files).
const FEATURES: [&str; 5] = ["auth", "users", "pictures", "audit", "pages"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, by its path relative to `src/`.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(base).expect("under src");
                let text = std::fs::read_to_string(&path).expect("read file");
                out.insert(rel.to_string_lossy().replace('\\', "/"), text);
            }
        }
    }
    let mut out = BTreeMap::new();
    let src = root().join("src");
    walk(&src, &src, &mut out);
    out
}

/// `(name, lines)` of each function annotated with `#[utoipa::path`.
fn handlers(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut annotated = false;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("#[utoipa::path") {
            annotated = true;
        }
        if annotated && line.starts_with("pub async fn ") {
            annotated = false;
            let name = line["pub async fn ".len()..]
                .split(['(', '<'])
                .next()
                .unwrap_or_default()
                .to_owned();
            let end = lines[i..]
                .iter()
                .position(|l| *l == "}")
                .map_or(lines.len() - i, |n| n + 1);
            found.push((name, end));
        }
    }
    found
}

/// The module path of a file: `users/admin/crud.rs` → `users::admin::crud`.
fn module_of(file: &str) -> String {
    file.trim_end_matches(".rs")
        .trim_end_matches("/mod")
        .replace('/', "::")
}

#[test]
fn handlers_are_at_most_40_lines() {
    let mut long = Vec::new();
    let mut count = 0;
    for (file, text) in sources() {
        for (name, lines) in handlers(&text) {
            count += 1;
            if lines > MAX_HANDLER_LINES {
                long.push(format!("{file}: {name} has {lines} lines"));
            }
        }
    }
    assert!(count > 20, "the handler scan found only {count} handlers");
    assert!(
        long.is_empty(),
        "handlers longer than {MAX_HANDLER_LINES} lines (move the work into a feature function):\n{}",
        long.join("\n")
    );
}

#[test]
fn no_feature_imports_another_features_handler_file() {
    let sources = sources();
    let handler_modules: Vec<String> = sources
        .iter()
        .filter(|(_, text)| text.contains("#[utoipa::path"))
        .map(|(file, _)| module_of(file))
        .collect();
    assert!(
        handler_modules.iter().any(|m| m == "users::admin::crud"),
        "the scan must see the handler files: {handler_modules:?}"
    );
    let mut crossings = Vec::new();
    for (file, text) in &sources {
        let Some(feature) = FEATURES.iter().find(|f| file.starts_with(&format!("{f}/"))) else {
            continue;
        };
        let imported = imported_paths(text);
        for module in &handler_modules {
            let own = module.starts_with(&format!("{feature}::")) || module == feature;
            let named = text.contains(&format!("crate::{module}"))
                || imported
                    .iter()
                    .any(|path| path == module || path.starts_with(&format!("{module}::")));
            if !own && named {
                crossings.push(format!("{file} uses crate::{module}"));
            }
        }
    }
    assert!(
        crossings.is_empty(),
        "a feature reaches into another feature's handlers:\n{}",
        crossings.join("\n")
    );
}

/// Every path a file imports from the crate, grouped imports spelled out:
/// `use crate::users::{a, b::{c}};` gives `users::a`, `users::b::c`.
fn imported_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("use crate::") {
        let tail = &rest[at + "use crate::".len()..];
        let end = tail.find(';').unwrap_or(tail.len());
        expand("", &without_aliases(&tail[..end]), &mut paths);
        rest = &tail[end..];
    }
    paths
}

/// A use tree with its whitespace and its `as` renamings taken out.
fn without_aliases(tree: &str) -> String {
    let mut out = String::new();
    let mut words = tree.split_whitespace();
    while let Some(word) = words.next() {
        if word == "as" {
            let alias = words.next().unwrap_or_default();
            out.extend(
                alias
                    .chars()
                    .filter(|c| !(c.is_alphanumeric() || *c == '_')),
            );
        } else {
            out.push_str(word);
        }
    }
    out
}

/// Adds the paths of a use tree (`a::{b, c::{d}}`) under `prefix`.
fn expand(prefix: &str, tree: &str, paths: &mut Vec<String>) {
    let join = |p: &str, s: &str| {
        if p.is_empty() {
            s.to_owned()
        } else {
            format!("{p}::{s}")
        }
    };
    let Some(open) = tree.find('{') else {
        paths.push(join(prefix, tree.trim_end_matches("::self")));
        return;
    };
    let head = join(prefix, tree[..open].trim_end_matches("::"));
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand_item(&head, &inner[start..i], paths);
                start = i + 1;
            }
            _ => {}
        }
    }
    expand_item(&head, &inner[start..], paths);
}

fn expand_item(head: &str, item: &str, paths: &mut Vec<String>) {
    match item {
        "" => {}
        "self" => paths.push(head.to_owned()),
        _ => expand(head, item, paths),
    }
}

/// The text between `<!-- module-map:start -->` and `<!-- module-map:end -->`.
fn module_map(file: &str) -> String {
    let text = std::fs::read_to_string(root().join(file)).expect("read doc");
    let start = text
        .find("<!-- module-map:start -->")
        .unwrap_or_else(|| panic!("{file} has no module-map:start marker"));
    let end = text
        .find("<!-- module-map:end -->")
        .unwrap_or_else(|| panic!("{file} has no module-map:end marker"));
    text[start..end].to_owned()
}

#[test]
fn the_readme_layout_is_the_architecture_module_map() {
    let architecture = module_map("docs/ARCHITECTURE.md");
    assert_eq!(
        module_map("README.md"),
        architecture,
        "copy the module map of docs/ARCHITECTURE.md into the README's layout section"
    );
    // Every source file's module is on the map, and the map names nothing
    // that does not exist.
    let sources = sources();
    for file in sources.keys() {
        let top = file.split('/').next().unwrap_or_default();
        let entry = if file.contains('/') {
            format!("src/{top}/")
        } else {
            format!("src/{top}")
        };
        assert!(
            architecture.contains(&entry),
            "{entry} is missing from the module map of docs/ARCHITECTURE.md"
        );
    }
    for word in architecture.split_whitespace() {
        let word = word.trim_end_matches([',', ':', ';']);
        if let Some(path) = word.strip_prefix("src/") {
            assert!(
                root().join("src").join(path).exists(),
                "the module map names src/{path}, which does not exist"
            );
        }
    }
}

/// The files under `src/{dir}/` (but `except`) that name one of `forbidden`.
fn naming(dir: &str, except: &[&str], forbidden: &[&str]) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(file, _)| {
            file.starts_with(&format!("{dir}/")) && !except.contains(&file.as_str())
        })
        .flat_map(|(file, text)| {
            forbidden
                .iter()
                .filter(|name| text.contains(&format!("crate::{name}")))
                .map(|name| format!("{file} uses crate::{name}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_web_edge_knows_no_feature_but_to_mount_it() {
    let found = naming("http", &["http/router.rs"], &FEATURES);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_domain_knows_no_http_no_database_and_no_feature() {
    let mut forbidden = vec!["http", "db", "state", "startup", "cli"];
    forbidden.extend(FEATURES);
    let found = naming("domain", &[], &forbidden);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn grouped_imports_are_spelled_out() {
    let text = "use crate::users::{accounts::{self as registration, Origin}, email_change};\nuse crate::x as y;";
    assert_eq!(
        imported_paths(text),
        [
            "users::accounts",
            "users::accounts::Origin",
            "users::email_change",
            "x"
        ]
    );
}
