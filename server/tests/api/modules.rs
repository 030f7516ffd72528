//! No module cycles in `app/src` and `server/src`.
//!
//! Every module is a node (a file, or an inline `mod x { .. }`). A module depends on
//! another when its code names it with a `crate::`, `super::` or `self::` path (in a `use`
//! or inline, `{..}` groups included); the target is the longest module prefix of the
//! path. A module naming its own ancestor or descendant is not an edge: a parent owns its
//! children and re-exports them, a child reads its parent's items (`use super::Item`), and
//! that is how Rust modules are built, not layering. Anything else that closes a loop
//! (`state` -> `limits` -> `state`) is a cycle: the test prints it, edge by edge, with the
//! file and path that make each edge.
//!
//! The scan is lexical: comments, strings and character literals are blanked first;
//! macros are read as written; paths through `use` aliases count where the alias is made.
//! A re-export is not followed: a path names the module it is written with, so name an
//! item by the module that defines it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module path inside its crate (`["auth", "guards"]`; the crate root is empty).
type ModPath = Vec<String>;

/// Why `from` depends on `to`: the first reference found.
#[derive(Debug, Clone)]
struct Edge {
    file: String,
    path: String,
}

/// The module graph of one crate: module -> module it names -> why.
#[derive(Debug, Default)]
struct Graph {
    modules: BTreeSet<ModPath>,
    edges: BTreeMap<ModPath, BTreeMap<ModPath, Edge>>,
}

/// Blanks comments, string literals (plain, byte, raw) and character literals, keeping
/// line structure and lifetimes (`'a`).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let c = b[i];
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            continue;
        }
        // Raw strings: r"..", r#".."#, br#".."#.
        let after_prefix = if c == b'b' && b.get(i + 1) == Some(&b'r') {
            Some(i + 2)
        } else if c == b'r' {
            Some(i + 1)
        } else {
            None
        };
        if let Some(mut j) = after_prefix
            && (i == 0 || !ident(b[i - 1]))
        {
            let hashes_start = j;
            while j < b.len() && b[j] == b'#' {
                j += 1;
            }
            if j < b.len() && b[j] == b'"' {
                let closing: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', j - hashes_start))
                    .collect();
                let mut k = j + 1;
                while k < b.len() && !b[k..].starts_with(&closing) {
                    k += 1;
                }
                out.push_str("\"\"");
                i = k + closing.len();
                continue;
            }
        }
        if c == b'"' {
            let mut k = i + 1;
            while k < b.len() && b[k] != b'"' {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i = k + 1;
            continue;
        }
        if c == b'\'' {
            // A character literal ('x', '\n', '\u{1F600}', 'ㄱ'); otherwise a lifetime.
            let rest = &src[i + 1..];
            let len = if let Some(esc) = rest.strip_prefix('\\') {
                esc.find('\'').map(|n| n + 1)
            } else {
                rest.chars()
                    .next()
                    .filter(|ch| rest[ch.len_utf8()..].starts_with('\''))
                    .map(|ch| ch.len_utf8())
            };
            if let Some(n) = len {
                out.push_str("' '");
                i += n + 2;
                continue;
            }
        }
        let ch = src[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// The module of a source file (`auth/guards.rs`, `api/mod.rs`, `lib.rs`).
fn file_module(rel: &str) -> ModPath {
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: ModPath = rel.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Splits `a, b::{c, d}, e` at the commas outside braces.
fn split_group(body: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Every path a use tree names: `a::{b, c::d}` -> `a::b`, `a::c::d`.
fn expand(prefix: &[String], tree: &str, out: &mut Vec<ModPath>) {
    let tree = tree.trim();
    if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        for part in split_group(inner) {
            expand(prefix, part, out);
        }
        return;
    }
    if let Some((head, group)) = tree.split_once("::{") {
        let mut p = prefix.to_vec();
        p.extend(head.split("::").map(|s| s.trim().to_string()));
        expand(&p, &format!("{{{group}"), out);
        return;
    }
    let mut p = prefix.to_vec();
    for seg in tree.split("::") {
        // `x as y`, `*`, `self`: only the module part matters.
        let seg: String = seg
            .trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if seg.is_empty() || seg == "self" {
            break;
        }
        p.push(seg);
    }
    out.push(p);
}

/// The path starting at `text` after `crate::`/`super::`/`self::`: identifiers, `::`,
/// and `{..}` groups, up to whatever ends a path.
fn path_text(text: &str) -> &str {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return &text[..=i];
                }
            }
            c if depth > 0 || c.is_alphanumeric() || c == '_' || c == ':' => {}
            ' ' | '\n' | ',' if depth > 0 => {}
            _ => return &text[..i],
        }
    }
    text
}

/// Resolves `kw::rest` written in module `here` to absolute paths.
fn resolve(here: &[String], kw: &str, rest: &str) -> Vec<ModPath> {
    let start: ModPath = match kw {
        "crate" => Vec::new(),
        "self" => here.to_vec(),
        _ => here[..here.len().saturating_sub(1)].to_vec(),
    };
    let mut rest = rest;
    let mut start = start;
    while let Some(r) = rest.strip_prefix("super::") {
        start.pop();
        rest = r;
    }
    let mut out = Vec::new();
    expand(&start, rest, &mut out);
    out
}

impl Graph {
    /// The graph of the crate whose sources are `files` (path relative to `src/`, text).
    fn of(files: &[(String, String)]) -> Graph {
        let mut graph = Graph::default();
        let stripped: Vec<(String, ModPath, String)> = files
            .iter()
            .map(|(rel, src)| (rel.clone(), file_module(rel), strip(src)))
            .collect();
        let mut refs: Vec<(ModPath, ModPath, Edge)> = Vec::new();
        for (rel, base, text) in &stripped {
            graph.modules.insert(base.clone());
            // Inline modules: a stack of (brace depth at which each opened, name).
            let mut stack: Vec<(usize, String)> = Vec::new();
            let mut depth = 0usize;
            let mut i = 0;
            let bytes = text.as_bytes();
            let here = |stack: &[(usize, String)]| {
                let mut m = base.clone();
                m.extend(stack.iter().map(|(_, n)| n.clone()));
                m
            };
            while i < bytes.len() {
                let at_word = i == 0
                    || !(bytes[i - 1].is_ascii_alphanumeric()
                        || bytes[i - 1] == b'_'
                        || bytes[i - 1] == b':');
                let rest = &text[i..];
                if at_word && rest.starts_with("mod ") {
                    let after = &rest[4..];
                    let name: String = after
                        .trim_start()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    let tail = after.trim_start()[name.len()..].trim_start();
                    if !name.is_empty() && tail.starts_with('{') {
                        depth += 1;
                        stack.push((depth, name));
                        graph.modules.insert(here(&stack));
                        i += rest.len() - tail.len() + 1;
                        continue;
                    }
                }
                let kw = ["crate::", "super::", "self::"]
                    .into_iter()
                    .find(|k| at_word && rest.starts_with(k));
                if let Some(kw) = kw {
                    let body = path_text(&rest[kw.len()..]);
                    let from = here(&stack);
                    for target in resolve(&from, kw.trim_end_matches(':'), body) {
                        refs.push((
                            from.clone(),
                            target,
                            Edge {
                                file: rel.clone(),
                                path: format!(
                                    "{kw}{}",
                                    body.split_whitespace().collect::<Vec<_>>().join(" ")
                                ),
                            },
                        ));
                    }
                    i += kw.len() + body.len();
                    continue;
                }
                match bytes[i] {
                    b'{' => depth += 1,
                    b'}' => {
                        if stack.last().is_some_and(|(d, _)| *d == depth) {
                            stack.pop();
                        }
                        depth = depth.saturating_sub(1);
                    }
                    _ => {}
                }
                i += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        for (from, target, edge) in refs {
            // The module a path names: its longest prefix that is a module.
            let to = (0..=target.len())
                .rev()
                .map(|n| target[..n].to_vec())
                .find(|p| graph.modules.contains(p))
                .unwrap_or_default();
            if from.starts_with(&to) || to.starts_with(&from) {
                continue;
            }
            graph
                .edges
                .entry(from)
                .or_default()
                .entry(to)
                .or_insert(edge);
        }
        graph
    }

    /// One cycle through each group of modules that reach each other, as its edges.
    fn cycles(&self) -> Vec<Vec<(ModPath, ModPath, Edge)>> {
        let mut found: Vec<Vec<(ModPath, ModPath, Edge)>> = Vec::new();
        let mut covered: BTreeSet<ModPath> = BTreeSet::new();
        for start in &self.modules {
            if covered.contains(start) {
                continue;
            }
            if let Some(path) = self.path_back(start) {
                let mut cycle = Vec::new();
                for pair in path.windows(2) {
                    let edge = self.edges[&pair[0]][&pair[1]].clone();
                    cycle.push((pair[0].clone(), pair[1].clone(), edge));
                    covered.insert(pair[0].clone());
                }
                found.push(cycle);
            }
        }
        found
    }

    /// The shortest way from `start` back to itself (breadth first), if any:
    /// `[start, .., start]`.
    fn path_back(&self, start: &ModPath) -> Option<Vec<ModPath>> {
        let mut came_from: BTreeMap<ModPath, ModPath> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        while let Some(node) = queue.pop_front() {
            for next in self.edges.get(&node).into_iter().flat_map(|e| e.keys()) {
                if next == start {
                    let mut path = vec![node.clone()];
                    while let Some(prev) = came_from.get(path.last().unwrap()) {
                        path.push(prev.clone());
                    }
                    path.reverse();
                    path.push(start.clone());
                    return Some(path);
                }
                if next != start && !came_from.contains_key(next) {
                    came_from.insert(next.clone(), node.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        None
    }
}

fn name(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

fn report(crate_name: &str, cycles: &[Vec<(ModPath, ModPath, Edge)>]) -> String {
    let mut text = String::new();
    for cycle in cycles {
        let names: Vec<String> = cycle.iter().map(|(from, _, _)| name(from)).collect();
        text.push_str(&format!(
            "{crate_name}: {} -> {}\n",
            names.join(" -> "),
            names[0]
        ));
        for (from, to, edge) in cycle {
            text.push_str(&format!(
                "    {} -> {}: {} names `{}`\n",
                name(from),
                name(to),
                edge.file,
                edge.path
            ));
        }
    }
    text
}

/// The `.rs` files under `dir`, relative to it, except crate roots of other crates.
fn sources(dir: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    // `main.rs` next to `lib.rs` is a crate of its own (the binary), with no modules.
    out.retain(|(rel, _)| rel != "main.rs");
    out
}

#[test]
fn app_and_server_have_no_module_cycles() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut problems = String::new();
    for krate in ["app", "server"] {
        let files = sources(&workspace.join(krate).join("src"));
        assert!(
            files.len() > 10,
            "{krate}: only {} files found",
            files.len()
        );
        let graph = Graph::of(&files);
        let edges: usize = graph.edges.values().map(BTreeMap::len).sum();
        assert!(edges > 5, "{krate}: only {edges} dependencies found");
        problems.push_str(&report(krate, &graph.cycles()));
    }
    assert!(problems.is_empty(), "module cycles:\n{problems}");
}

fn crate_of(files: &[(&str, &str)]) -> Graph {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect();
    Graph::of(&files)
}

fn cycle_names(graph: &Graph) -> Vec<Vec<String>> {
    graph
        .cycles()
        .iter()
        .map(|c| c.iter().map(|(from, _, _)| name(from)).collect())
        .collect()
}

/// The check itself: it sees cycles through `use` groups, inline paths, `super::` and
/// nested modules, and ignores parents and children naming each other, comments and
/// strings.
#[test]
fn the_cycle_check_finds_cycles_and_only_cycles() {
    let cyclic = crate_of(&[
        ("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d;"),
        ("a.rs", "use crate::{b::{inner::Thing, Other}, d};"),
        ("b/mod.rs", "pub mod inner; pub struct Other;"),
        (
            "b/inner.rs",
            "pub struct Thing; fn f() -> u8 { let _ = super::super::c::g(); 0 }",
        ),
        ("c.rs", "pub fn g() { crate::a::h() }"),
        (
            "d.rs",
            "// crate::a::h\nconst S: &str = \"crate::a\"; const C: char = '{';",
        ),
    ]);
    assert_eq!(cycle_names(&cyclic), vec![vec!["a", "b::inner", "c"]]);
    let text = report("demo", &cyclic.cycles());
    assert!(text.contains("a -> b::inner -> c -> a"), "{text}");
    assert!(text.contains("c -> a: c.rs names `crate::a::h`"), "{text}");

    let owned = crate_of(&[
        (
            "lib.rs",
            "pub mod a; pub use a::x::Y; fn f() { crate::a::x::z() }",
        ),
        ("a/mod.rs", "pub mod x; use self::x::Y; pub fn w() {}"),
        ("a/x.rs", "use super::w; use crate::Top; pub struct Y;"),
        (
            "b.rs",
            "fn f<'a>(s: &'a str) { crate::a::w() }\nmod tests { use super::*; use crate::b::f; }",
        ),
    ]);
    assert!(owned.cycles().is_empty(), "{:?}", cycle_names(&owned));
    assert!(
        owned
            .modules
            .contains(&vec!["b".to_string(), "tests".to_string()])
    );
}
