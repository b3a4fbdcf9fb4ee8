//! The "Slow readers" section against the synthetic results (see
//! `fixtures/mod.rs`): without slow-reader runs it says so; with them its
//! sentence, pace table and detection table come from the results.

mod fixtures;

use ws_report::contenders::CONTENDERS;
use ws_report::render::format;

fn render(name: &str, with_slow_readers: bool) -> String {
    fixtures::report_with(name, |results| {
        if with_slow_readers {
            fixtures::slow_readers(results);
        }
    })
}

/// The section's text, up to the next section.
fn section(md: &str) -> &str {
    let start = md
        .find("\n### Slow readers\n")
        .expect("the section is there");
    let rest = &md[start + 1..];
    let end = rest[4..].find("\n### ").map_or(rest.len(), |e| e + 5);
    &rest[..end]
}

fn row<'a>(section: &'a str, starts: &str) -> &'a str {
    section
        .lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no row {starts:?} in {section}"))
}

#[test]
fn without_slow_reader_runs_the_section_says_so() {
    let md = render("slow-readers-missing", false);
    let s = section(&md);
    assert!(s.contains("No slow-reader runs in the results yet"), "{s}");
    assert!(!s.contains('|'), "no table without data: {s}");
}

#[test]
fn the_sentence_names_the_rooms_a_slow_reader_held_back() {
    let md = render("slow-readers-sentence", true);
    let s = section(&md);
    let rooms: Vec<(usize, &str)> = CONTENDERS
        .iter()
        .enumerate()
        .filter(|(_, c)| c.rooms)
        .map(|(i, c)| (i, c.name))
        .collect();
    for (i, name) in &rooms {
        let held: Vec<String> = fixtures::PACES
            .iter()
            .filter(|p| **p < 100 && fixtures::sweep_held_back(*i, **p))
            .map(|p| format!("{p}%"))
            .collect();
        let words = if held.is_empty() {
            None
        } else {
            Some(format!("`{name}` (at {})", held.join(" and ")))
        };
        match words {
            Some(w) => assert!(
                s.contains(&w) && s.contains("set the pace of the whole room"),
                "{w} not in {s}"
            ),
            None => {
                let kept = s
                    .split_once("With ")
                    .and_then(|(_, rest)| rest.split_once(" kept the room's pace"))
                    .map(|(names, _)| names)
                    .unwrap_or_else(|| panic!("no sentence on those that kept the pace: {s}"));
                assert!(kept.contains(&format!("`{name}`")), "{name} not in {kept}");
            }
        }
    }
    for (i, name) in &rooms {
        for pace in fixtures::PACES {
            let line = row(s, &format!("| {pace}% | `{name}` |"));
            if *name == "ws-ref-broadcast" && pace == fixtures::PACES[fixtures::PACES.len() - 1] {
                assert!(line.contains("failed: synthetic failure"), "{line}");
                continue;
            }
            let held = fixtures::sweep_held_back(*i, pace);
            assert!(
                line.contains(if held { "| yes |" } else { "| no |" }),
                "{line}"
            );
        }
    }
}

#[test]
fn detection_times_come_from_the_servers_counter() {
    let md = render("slow-readers-detection", true);
    let s = section(&md);
    for (i, c) in CONTENDERS.iter().enumerate().filter(|(_, c)| c.rooms) {
        let line = row(s, &format!("| `{}` | ", c.name));
        for quiet in [true, false] {
            match fixtures::detect_by_s(i, quiet) {
                Some(by_s) => assert!(
                    line.contains(&format!(
                        "{}–{}",
                        format::nanos((by_s - 0.03) * 1e9),
                        format::nanos(by_s * 1e9)
                    )),
                    "{line}"
                ),
                None => assert!(line.contains("none during the run"), "{line}"),
            }
        }
    }
}
