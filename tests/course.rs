//! The course order (`scenarios/course.txt`, what `distlab list` shows) is
//! the book's: every bundled lesson is listed once, under the chapter that
//! teaches it, in the order the chapter first names it.

use distlab::scenario::library::{COURSE_FILE, course, scenario_files};
use std::path::Path;

/// The book chapter each course chapter follows, by the folder of its
/// lessons.
const CHAPTERS: &[(&str, &[&str])] = &[
    ("basics", &["getting-started.md", "model.md"]),
    ("primary-replica", &["primary-replica.md"]),
    ("multi-master", &["multi-master.md"]),
    ("quorum", &["quorum.md"]),
    ("two-phase-commit", &["two-phase-commit.md"]),
    ("saga", &["saga.md"]),
    ("capacity", &["capacity.md"]),
    ("compare", &["compare.md"]),
    ("explore", &["explore.md"]),
];

/// Lesson names of `folder` in the order `text` first mentions them.
fn mentioned(text: &str, folder: &str, known: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let prefix = format!("{folder}/");
    for (i, _) in text.match_indices(&prefix) {
        let rest = &text[i..];
        let end =
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '/')).unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches('/');
        if known.iter().any(|k| k == name) && !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    out
}

#[test]
fn the_course_is_the_book_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("scenarios");
    let names: Vec<String> = scenario_files(&dir)
        .iter()
        .map(|f| f.strip_prefix(&dir).unwrap().with_extension("").to_string_lossy().replace('\\', "/"))
        .collect();
    let chapters = course(&dir);
    assert!(
        chapters.iter().all(|c| c.title != "Other lessons"),
        "{COURSE_FILE} leaves lessons out: {chapters:?}"
    );
    let listed: Vec<&String> = chapters.iter().flat_map(|c| &c.lessons).collect();
    assert_eq!(listed.len(), names.len(), "every lesson once: {listed:?}");
    for (folder, files) in CHAPTERS {
        let text: String =
            files.iter().map(|f| std::fs::read_to_string(root.join("book/src").join(f)).unwrap()).collect();
        let book = mentioned(&text, folder, &names);
        let ours: Vec<String> =
            listed.iter().filter(|n| n.starts_with(&format!("{folder}/"))).map(|n| n.to_string()).collect();
        assert_eq!(ours, book, "{COURSE_FILE} for {folder} against the book");
    }
}

/// Without a course file, lessons are grouped by folder; a course file
/// that leaves lessons out gets them under "Other lessons".
#[test]
fn a_course_file_is_optional_and_never_hides_a_lesson() {
    let dir = std::env::temp_dir().join(format!("distlab-course-{}", std::process::id()));
    let lesson = "[scenario]\nname = \"x\"\nprotocol = \"echo\"\nduration = \"1s\"\n";
    for f in ["a/one.toml", "a/exercise-two.toml", "b/three.toml"] {
        std::fs::create_dir_all(dir.join(f).parent().unwrap()).unwrap();
        std::fs::write(dir.join(f), lesson).unwrap();
    }
    let titles =
        |d: &Path| course(d).iter().map(|c| (c.title.clone(), c.lessons.clone())).collect::<Vec<_>>();
    assert_eq!(
        titles(&dir),
        vec![
            ("a".to_string(), vec!["a/exercise-two".to_string(), "a/one".to_string()]),
            ("b".to_string(), vec!["b/three".to_string()])
        ]
    );
    std::fs::write(dir.join(COURSE_FILE), "# c\n[First]\nb/three\nmissing/lesson\n").unwrap();
    assert_eq!(
        titles(&dir),
        vec![
            ("First".to_string(), vec!["b/three".to_string()]),
            ("Other lessons".to_string(), vec!["a/exercise-two".to_string(), "a/one".to_string()])
        ]
    );
    assert!(distlab::scenario::library::is_exercise("a/exercise-two"));
    std::fs::remove_dir_all(&dir).ok();
}
