//! `docs/SECURITY.md` names the test that proves each claim: every one it names exists.

use std::path::Path;

fn repo_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_test_the_security_model_names_exists() {
    let doc = repo_file("docs/SECURITY.md");
    // `tests/<file>.rs::<test>`, as the document writes them.
    let named: Vec<(&str, &str)> = doc
        .split('`')
        .filter_map(|span| span.split_once("::"))
        .filter(|(file, _)| file.starts_with("tests/") && file.ends_with(".rs"))
        .collect();
    assert!(named.len() >= 30, "the document names its tests: {named:?}");
    let missing: Vec<String> = named
        .iter()
        .filter(|(file, test)| !repo_file(file).contains(&format!("fn {test}(")))
        .map(|(file, test)| format!("{file}::{test}"))
        .collect();
    assert!(missing.is_empty(), "docs/SECURITY.md names tests that do not exist: {missing:#?}");

    // The browser test, by its title.
    let title = "a name and a role that are markup are shown as text and never run";
    let prose = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(prose.contains(title), "the document names {title:?}");
    let browser = repo_file("tests/browser/demo.test.mjs");
    assert!(browser.contains(&format!("test('{title}'")), "tests/browser has {title:?}");
}
