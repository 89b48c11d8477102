//! The shape `docs/ARCHITECTURE.md` describes, kept true: every top-level module is in the
//! crate map and the architecture page, dependencies between them have no cycle, `domain`
//! depends on nothing of ours, and files and functions stay small.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 400;
const MAX_FUNCTION_LINES: usize = 60;

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The modules `src/lib.rs` declares.
fn top_level_modules() -> Vec<String> {
    read(&repo_file("src/lib.rs"))
        .lines()
        .filter_map(|line| line.strip_prefix("pub mod ")?.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// The top-level module a file of `src/` belongs to (`src/http/routes/stats.rs` → `http`).
fn module_of(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(repo_file("src")).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    Some(first.strip_suffix(".rs").unwrap_or(first).to_owned())
}

/// Which top-level modules each one uses (`crate::<module>` anywhere in its files).
fn dependencies(modules: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for file in rust_files(&repo_file("src")) {
        let Some(from) = module_of(&file).filter(|m| graph.contains_key(m)) else { continue };
        for to in crate_modules_used(&read(&file)) {
            if to != from && graph.contains_key(&to) {
                graph.get_mut(&from).unwrap().insert(to);
            }
        }
    }
    graph
}

/// The first segment of every `crate::` path in `text`, in groups (`crate::{a, b::c}`) too.
fn crate_modules_used(text: &str) -> BTreeSet<String> {
    let identifier = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut used = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            used.insert(identifier(rest));
            continue;
        };
        // The group's own items, at its top level only.
        let (mut depth, mut item_start) = (0, true);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = true,
                c if item_start && !c.is_whitespace() => {
                    used.insert(identifier(&group[i..]));
                    item_start = false;
                }
                _ => {}
            }
        }
    }
    used
}

#[test]
fn every_module_is_in_the_crate_map_and_the_architecture_page() {
    let lib = read(&repo_file("src/lib.rs"));
    let architecture = read(&repo_file("docs/ARCHITECTURE.md"));
    for module in top_level_modules() {
        assert!(lib.contains(&format!("[`{module}`]")), "src/lib.rs's map does not name `{module}`");
        assert!(architecture.contains(&format!("`{module}`")), "docs/ARCHITECTURE.md does not name `{module}`");
    }
}

#[test]
fn dependencies_between_modules_have_no_cycle() {
    let modules = top_level_modules();
    let graph = dependencies(&modules);
    assert!(graph["domain"].is_empty(), "domain depends on {:?}", graph["domain"]);
    // Depth-first: a module met again while it is still on the path closes a cycle.
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(module) {
            return;
        }
        if let Some(start) = path.iter().position(|m| m == module) {
            panic!("a module cycle: {} → {module}", path[start..].join(" → "));
        }
        path.push(module.to_owned());
        for next in &graph[module] {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(module.to_owned());
    }
    let mut done = BTreeSet::new();
    for module in &modules {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn files_and_functions_stay_small() {
    let mut too_long = Vec::new();
    for file in rust_files(&repo_file("src")) {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        let name = file.strip_prefix(repo_file("")).unwrap().display().to_string();
        if lines.len() > MAX_FILE_LINES {
            too_long.push(format!("{name}: {} lines", lines.len()));
        }
        // A function runs from its `fn` line to the first line that closes it at its indent.
        for (start, line) in lines.iter().enumerate() {
            let code = line.trim_start();
            let indent = &line[..line.len() - code.len()];
            let unscoped = code.strip_prefix("pub(super) ").or(code.strip_prefix("pub(crate) ")).unwrap_or(code);
            let is_fn =
                ["fn ", "pub fn ", "async fn ", "pub async fn "].iter().any(|prefix| unscoped.starts_with(prefix));
            if !is_fn || code.ends_with(';') {
                continue;
            }
            let closing = format!("{indent}}}");
            if let Some(length) = lines[start..].iter().position(|l| *l == closing) {
                if length + 1 > MAX_FUNCTION_LINES {
                    too_long.push(format!("{name}:{}: a function of {} lines", start + 1, length + 1));
                }
            }
        }
    }
    assert!(
        too_long.is_empty(),
        "over {MAX_FILE_LINES} lines a file or {MAX_FUNCTION_LINES} a function:\n{}",
        too_long.join("\n")
    );
}
