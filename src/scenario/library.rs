//! The bundled lessons, and scenario arguments that name a file or a
//! lesson (`primary-replica/async-crash`): what the command line, the TUI
//! and the tests share to find and load a scenario.

use super::{Registry, Scenario, ScenarioError, did_you_mean};
use std::path::{Path, PathBuf};

/// Where the bundled lessons are: `./scenarios` when run from a checkout,
/// else the folder this binary was built from.
pub fn scenarios_dir() -> PathBuf {
    let here = Path::new("scenarios");
    if here.is_dir() { here.to_path_buf() } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios") }
}

/// Resolves a scenario argument: a path, or a lesson name such as
/// `primary-replica/async-crash` under the scenarios folder.
pub fn resolve(arg: &Path) -> PathBuf {
    if arg.exists() {
        return arg.to_path_buf();
    }
    let dir = scenarios_dir();
    for candidate in [dir.join(arg), dir.join(arg).with_extension("toml")] {
        if candidate.is_file() {
            return candidate;
        }
    }
    arg.to_path_buf()
}

/// Resolves a scenario argument and loads it (naming a protocol of
/// `registry`). When the argument is neither a file nor a bundled lesson,
/// the error suggests the nearest lesson name.
pub fn load(registry: &Registry, arg: &Path) -> Result<Scenario, ScenarioError> {
    let path = resolve(arg);
    if path.exists() {
        return crate::scenario::load(registry, &path);
    }
    let error =
        ScenarioError::whole(&arg.display().to_string(), "no such file, and no bundled lesson by that name");
    Err(match nearest_lesson(arg) {
        Some(name) => error.with_help(format!("did you mean `{name}`? (`distlab list` shows every lesson)")),
        None => error.with_help("`distlab list` shows the bundled lessons"),
    })
}

/// The bundled lesson name (`primary-replica/fencing`) closest to a
/// mistyped argument, given as a name, a path or a bare file name.
fn nearest_lesson(arg: &Path) -> Option<String> {
    let dir = scenarios_dir();
    let names: Vec<String> = scenario_files(&dir)
        .iter()
        .map(|f| f.strip_prefix(&dir).unwrap_or(f).with_extension("").to_string_lossy().replace('\\', "/"))
        .collect();
    let arg = arg.to_string_lossy().replace('\\', "/");
    let word = arg.strip_prefix("./").unwrap_or(&arg);
    let word = word.strip_prefix("scenarios/").unwrap_or(word);
    let word = word.strip_suffix(".toml").unwrap_or(word);
    if let Some(best) = did_you_mean(word, names.iter().map(String::as_str)) {
        return Some(best.to_string());
    }
    // A lesson named without its folder (`fencin`): compare the last parts.
    let last = |name: &str| name.rsplit('/').next().unwrap_or_default().to_string();
    let lasts: Vec<String> = names.iter().map(|n| last(n)).collect();
    let best = did_you_mean(&last(word), lasts.iter().map(String::as_str))?;
    names.iter().find(|n| last(n) == best).cloned()
}

/// Every `.toml` file under `dir`, sorted.
pub fn scenario_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// One chapter of the course: its title and its lessons in teaching order
/// (names such as `primary-replica/async-crash`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chapter {
    pub title: String,
    pub lessons: Vec<String>,
}

/// The course file in a scenarios folder: the order the book teaches the
/// lessons in.
pub const COURSE_FILE: &str = "course.txt";

/// The lessons under `dir` in course order: the chapters of its
/// [`COURSE_FILE`] (lessons it names that do not exist are left out),
/// then a chapter "Other lessons" for lessons it does not name. Without a
/// course file, one chapter per folder, in name order.
pub fn course(dir: &Path) -> Vec<Chapter> {
    let names: Vec<String> = scenario_files(dir)
        .iter()
        .map(|f| f.strip_prefix(dir).unwrap_or(f).with_extension("").to_string_lossy().replace('\\', "/"))
        .collect();
    let mut chapters: Vec<Chapter> = Vec::new();
    if let Ok(text) = std::fs::read_to_string(dir.join(COURSE_FILE)) {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            match line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                Some(title) => chapters.push(Chapter { title: title.to_string(), lessons: Vec::new() }),
                None if names.iter().any(|n| n == line) => match chapters.last_mut() {
                    Some(c) => c.lessons.push(line.to_string()),
                    None => {
                        chapters.push(Chapter { title: "Lessons".into(), lessons: vec![line.to_string()] })
                    }
                },
                None => {}
            }
        }
    }
    let listed: Vec<&String> = chapters.iter().flat_map(|c| &c.lessons).collect();
    let others: Vec<String> = names.iter().filter(|n| !listed.contains(n)).cloned().collect();
    if !others.is_empty() {
        if chapters.is_empty() {
            for name in others {
                let folder = name.split('/').next().unwrap_or_default().to_string();
                match chapters.last_mut().filter(|c| c.title == folder) {
                    Some(c) => c.lessons.push(name),
                    None => chapters.push(Chapter { title: folder, lessons: vec![name] }),
                }
            }
        } else {
            chapters.push(Chapter { title: "Other lessons".into(), lessons: others });
        }
    }
    chapters.retain(|c| !c.lessons.is_empty());
    chapters
}

/// Whether a lesson is an exercise (find the bug): its file name starts
/// with `exercise-`.
pub fn is_exercise(name: &str) -> bool {
    name.rsplit('/').next().is_some_and(|f| f.starts_with("exercise-"))
}
