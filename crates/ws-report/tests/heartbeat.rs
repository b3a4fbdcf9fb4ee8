//! The "Heartbeat punctuality" section against the synthetic results (see
//! `fixtures/mod.rs`): without heartbeat runs it says so; with them it has
//! one table per server, and says that a server held its pings behind
//! queued data exactly when the fixture's figures say so.

mod fixtures;

use ws_report::contenders::CONTENDERS;
use ws_report::render::format;

/// The report of the synthetic results, with heartbeat runs whose floods
/// are late for the servers `held` marks (`None`: no heartbeat runs).
fn render(name: &str, held: Option<fn(usize) -> bool>) -> String {
    fixtures::report_with(name, |results| {
        if let Some(held) = held {
            fixtures::heartbeat(results, held);
        }
    })
}

/// The section's text, up to the next section; it must be under `## Results`.
fn section(md: &str) -> &str {
    let results = md.find("\n## Results\n").expect("a Results section");
    let start = md
        .find("\n### Heartbeat punctuality\n")
        .expect("the section is there");
    assert!(start > results, "the section is under ## Results");
    let rest = &md[start + 1..];
    let end = rest[4..].find("\n### ").map_or(rest.len(), |e| e + 5);
    &rest[..end]
}

/// The held-behind-data finding, as the section words it for `server`.
fn held_sentence(server: &str) -> String {
    let name = if ws_report::contenders::is_reference(server) {
        format!("`{server}` (reference)")
    } else {
        format!("`{server}`")
    };
    format!("{name} held pings behind queued data")
}

/// Only `ws-mpsc-writer` (index 2) holds its pings back.
fn mpsc_only(i: usize) -> bool {
    CONTENDERS[i].name == "ws-mpsc-writer"
}

fn never(_: usize) -> bool {
    false
}

#[test]
fn without_heartbeat_runs_the_section_says_so() {
    let md = render("heartbeat-missing", None);
    let s = section(&md);
    assert!(s.contains("No heartbeat runs in the results yet"), "{s}");
    assert!(!s.contains('|'), "no table without data: {s}");
    assert!(
        !md.contains("Pings under load"),
        "no verdict row without data"
    );
}

#[test]
fn one_table_per_server_with_every_case() {
    let md = render("heartbeat-tables", Some(mpsc_only));
    let s = section(&md);
    assert!(
        s.lines()
            .next()
            .is_some_and(|h| h.to_lowercase().contains("heartbeat"))
    );
    assert_eq!(
        s.matches("| Case |").count(),
        CONTENDERS.len(),
        "one table per server: {s}"
    );
    for c in CONTENDERS {
        let heading = if c.reference {
            format!("**`{}` (reference)**", c.name)
        } else {
            format!("**`{}`**", c.name)
        };
        let at = s
            .find(&heading)
            .unwrap_or_else(|| panic!("no table for {}: {s}", c.name));
        let table: Vec<&str> = s[at..]
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        // Header, rule, idle, flood in both policies, and the room where there is one.
        assert_eq!(table.len(), 2 + 3 + usize::from(c.rooms), "{table:?}");
        assert!(table[2].starts_with("| idle |"), "{table:?}");
    }
    // The p99 of ws-mpsc-writer's flood over the two repeats: 2.10× and 2.20×.
    let late = format!(
        "{} ({}–{})",
        format::ratio(f64::midpoint(2.1, 2.2)),
        format::ratio(2.1),
        format::ratio(2.2)
    );
    let at = s.find("**`ws-mpsc-writer`**").expect("its table");
    let row = s[at..]
        .lines()
        .find(|l| l.starts_with("| echo flood, `--flush batched` |"))
        .expect("the batched flood row");
    assert!(row.contains(&late), "{row}");
    assert!(
        row.ends_with("| 3 (3–3) of 64 |"),
        "connections silent over 2×: {row}"
    );
}

#[test]
fn the_held_sentence_names_exactly_the_servers_whose_pings_were_late() {
    let md = render("heartbeat-held", Some(mpsc_only));
    let s = section(&md);
    assert_eq!(
        s.matches("held pings behind queued data").count(),
        2,
        "the method's definition and one finding: {s}"
    );
    let sentence = s
        .split(". ")
        .find(|x| x.contains(&held_sentence("ws-mpsc-writer")))
        .unwrap_or_else(|| panic!("no finding for ws-mpsc-writer: {s}"));
    assert!(sentence.contains("2.15×"), "{sentence}");
    for c in CONTENDERS.iter().filter(|c| c.name != "ws-mpsc-writer") {
        assert!(!s.contains(&held_sentence(c.name)), "{}: {s}", c.name);
        assert!(s.contains(&format!("`{}`", c.name)), "{s}");
    }
    // The verdict's row, from the same figures: the late strategy is not ticked.
    let row = md
        .lines()
        .find(|l| l.starts_with("| [Pings under load]"))
        .expect("a verdict row");
    assert!(row.contains("16.0 KiB"), "{row}");
    assert!(row.contains("2.15× (2.10×–2.20×)"), "{row}");
}

#[test]
fn no_held_sentence_when_every_server_was_on_time() {
    let md = render("heartbeat-on-time", Some(never));
    let s = section(&md);
    assert_eq!(
        s.matches("held pings behind queued data").count(),
        1,
        "the method's definition alone: {s}"
    );
    for c in CONTENDERS {
        assert!(!s.contains(&held_sentence(c.name)), "{s}");
    }
    assert_eq!(
        s.matches("kept its pings on time under load").count(),
        CONTENDERS.len(),
        "{s}"
    );
}
