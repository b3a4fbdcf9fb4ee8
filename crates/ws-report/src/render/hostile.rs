//! The hostile clients in the reliability section: the main table's three
//! cells (peak RSS under the partial-message attack, slow requests closed,
//! the canary), summarised over a server's repeated runs; the table of the
//! canary's p99 in each phase (quiet, the attack in place, the control's
//! bytes, the attack's bytes), with the sentences that judge it; and the
//! method bullet. Older collections (one run, no control) render as they
//! did.

use super::data::Run;
use super::flush::{Spread, ratio_spread};
use super::format;
use super::load_curve::micros_spread;
use super::reliability::{NA, NONE};
use super::scenarios;
use super::table::{Align, Table};
use crate::contenders::CONTENDERS;
use crate::loadgen::{self, CanaryPhase, HostileCanary, HostileResult};

/// What each attacking connection may cost beyond the inbound budget.
const PER_ATTACKER_BYTES: u64 = 16 << 10;

/// The bound on a run's peak RSS under the partial-message attack: its RSS
/// before, plus the budget, plus [`PER_ATTACKER_BYTES`] per attacker;
/// `None` without a budget or the server's RSS.
fn rss_bound(r: &HostileResult) -> Option<u64> {
    let server = r.partial.server.as_ref()?;
    // Issue 15's bound: the budget plus 16 KiB per attacking connection for
    // what a connection costs anyway.
    Some(
        server.baseline_rss_bytes
            + r.config.budget? as u64
            + PER_ATTACKER_BYTES * r.config.attackers as u64,
    )
}

/// Whether a run's peak RSS under the partial-message attack exceeded its bound.
fn over_bound(r: &HostileResult) -> bool {
    match (r.partial.server.as_ref(), rss_bound(r)) {
        (Some(server), Some(bound)) => server.peak_rss_bytes > bound,
        _ => false,
    }
}

/// Peak RSS under the partial-message attack, against RSS before it plus
/// the budget and [`PER_ATTACKER_BYTES`] per attacker: `70 MiB (≤ 75 MiB)`.
fn hostile_rss(r: &HostileResult) -> String {
    let Some(server) = r.partial.server.as_ref() else {
        return NONE.into();
    };
    let peak = format::bytes(server.peak_rss_bytes as f64);
    match rss_bound(r) {
        Some(bound) => {
            let verdict = if over_bound(r) { ">" } else { "≤" };
            format!("{peak} ({verdict} {})", format::bytes(bound as f64))
        }
        None => peak,
    }
}

/// `cell` followed by which of `n` runs it shows, when there are several:
/// `…, highest of 3`.
fn of_runs(mut cell: String, which: &str, n: usize) -> String {
    if n > 1 {
        cell.push_str(&format!(", {which} of {n}"));
    }
    cell
}

/// Peak RSS over a server's hostile runs: the run with the highest peak,
/// and how many runs exceeded their bound if that one did not (each run's
/// bound starts from its own RSS before, so a lower peak can be over it).
pub(super) fn hostile_rss_of(results: &[&HostileResult]) -> String {
    let peak = |r: &&&HostileResult| r.partial.server.as_ref().map(|s| s.peak_rss_bytes);
    let Some(highest) = results
        .iter()
        .max_by_key(peak)
        .filter(|r| peak(r).is_some())
    else {
        return NONE.into();
    };
    let mut cell = of_runs(hostile_rss(highest), "highest", results.len());
    let over = results.iter().filter(|r| over_bound(r)).count();
    if over > 0 && !over_bound(highest) {
        cell.push_str(&format!("; {over} over their bound"));
    }
    cell
}

/// Slow-request sockets closed within the handshake timeout + 1 s.
fn hostile_slow(r: &HostileResult) -> String {
    let retried = r
        .slow
        .slow_connects
        .map(|n| format!("; {} connects retried", format::count(n as f64)))
        .unwrap_or_default();
    format!(
        "{} of {} (longest {:.1} s{retried})",
        format::count(r.slow.closed_in_time as f64),
        format::count(r.slow.opened as f64),
        r.slow.longest_open_s
    )
}

/// Slow requests over a server's hostile runs: the run that closed the
/// fewest in time, of equals the one that left a socket open longest.
pub(super) fn hostile_slow_of(results: &[&HostileResult]) -> String {
    let fewest = results.iter().min_by(|a, b| {
        a.slow
            .closed_in_time
            .cmp(&b.slow.closed_in_time)
            .then(b.slow.longest_open_s.total_cmp(&a.slow.longest_open_s))
    });
    fewest.map_or_else(
        || NONE.into(),
        |r| of_runs(hostile_slow(r), "fewest", results.len()),
    )
}

/// Canary echoes that failed in a run: in the quiet second and under the
/// control (where the run timed them), the partial messages and the slow
/// requests.
fn canary_failures(r: &HostileResult) -> u64 {
    let timed = r.canary.as_ref().map_or(0, |c| {
        c.quiet.failures + c.abandoned.as_ref().map_or(0, |p| p.failures)
    });
    timed + r.partial.canary_failures + r.slow.canary_failures
}

/// Whether the canary and new clients kept being served through both attacks.
fn hostile_canary(r: &HostileResult) -> String {
    let failures = canary_failures(r);
    let new_failed = r.slow.new_clients_failed;
    if failures == 0 && new_failed == 0 && r.partial.other.is_empty() {
        let served = format::count(r.slow.new_clients_ok as f64);
        match &r.canary {
            // Its p99 quiet, then under each attack: whether the attacks
            // cost a well-behaved client latency, not only service.
            Some(c) => format!(
                "echoed throughout, p99 {} quiet → {} / {} under attack; {served} new clients served",
                format::micros(c.quiet.latency.p99_us),
                format::micros(c.partial.latency.p99_us),
                format::micros(c.slow.latency.p99_us)
            ),
            None => format!("echoed throughout; {served} new clients served"),
        }
    } else {
        format!(
            "{failures} canary failures, {new_failed} new clients refused, {} attackers not closed 1009",
            r.partial.other.len()
        )
    }
}

/// The canary over a server's hostile runs. A single run without the
/// control renders as it always did, p99s included; otherwise the p99s are
/// in [`canary_table`], and the cell says whether every run served the
/// canary and the new clients, the failures summed over the runs.
pub(super) fn hostile_canary_of(results: &[&HostileResult], control: bool) -> String {
    if let [one] = results
        && !control
    {
        return hostile_canary(one);
    }
    let sum = |f: &dyn Fn(&HostileResult) -> u64| -> u64 { results.iter().map(|r| f(r)).sum() };
    let failures = sum(&canary_failures);
    let new_failed = sum(&|r| r.slow.new_clients_failed);
    let not_1009 = sum(&|r| r.partial.other.len() as u64);
    let over = if results.len() > 1 {
        format!(" over {} runs", results.len())
    } else {
        String::new()
    };
    if failures == 0 && new_failed == 0 && not_1009 == 0 {
        format!(
            "echoed throughout; {} new clients served{over}",
            format::count(sum(&|r| r.slow.new_clients_ok) as f64)
        )
    } else {
        format!(
            "{failures} canary failures, {new_failed} new clients refused, {not_1009} attackers not closed 1009{over}"
        )
    }
}

/// `server`'s hostile runs in repeat order, failed ones included so that a
/// cell can say so.
pub(super) fn hostile_runs<'a>(
    runs: &'a [Run<HostileResult>],
    server: &str,
) -> Vec<&'a Run<HostileResult>> {
    let mut out: Vec<&Run<HostileResult>> = runs
        .iter()
        .filter(|r| r.record.server == server && r.record.case == "hostile")
        .collect();
    out.sort_by_key(|r| r.record.repeat);
    out
}

/// A failed hostile run in words, naming its repeat when there are several.
fn failed_repeat(run: &Run<HostileResult>, of: usize) -> String {
    match run.record.repeat {
        Some(n) if of > 1 => format!("repeat {n} {}", scenarios::failed(run)),
        _ => scenarios::failed(run),
    }
}

/// A hostile cell over all of a server's runs: `n/a` without runs; else
/// `summary` of the results that came back, followed by what became of the
/// runs that failed (alone when all did, as a single failed run always was).
pub(super) fn hostile_cell(
    runs: &[&Run<HostileResult>],
    summary: impl FnOnce(&[&HostileResult]) -> String,
) -> String {
    if runs.is_empty() {
        return NA.into();
    }
    let results: Vec<&HostileResult> = runs.iter().filter_map(|r| r.result.as_ref()).collect();
    let mut parts: Vec<String> = Vec::new();
    if !results.is_empty() {
        parts.push(summary(&results));
    }
    parts.extend(
        runs.iter()
            .filter(|r| r.result.is_none())
            .map(|r| failed_repeat(r, runs.len())),
    );
    parts.join("; ")
}

/// Whether any hostile run had the control (abandoned messages): then the
/// canary's p99s move from the main table to [`canary_table`].
pub(super) fn with_control(runs: &[Run<HostileResult>]) -> bool {
    runs.iter()
        .filter_map(|r| r.result.as_ref())
        .any(|r| r.abandoned.is_some())
}

/// Picks one phase of the canary's echoes in a hostile run.
type PhaseOf = fn(&HostileCanary) -> Option<&CanaryPhase>;

/// The second before the attacks.
fn quiet_phase(c: &HostileCanary) -> Option<&CanaryPhase> {
    Some(&c.quiet)
}

/// The control: the same bytes, no eviction.
fn control_phase(c: &HostileCanary) -> Option<&CanaryPhase> {
    c.abandoned.as_ref()
}

/// The attack in place: its bytes all sent, the attackers left open
/// holding their messages.
fn held_phase(c: &HostileCanary) -> Option<&CanaryPhase> {
    c.held.as_ref()
}

/// The partial-message attack, evicting.
fn attack_phase(c: &HostileCanary) -> Option<&CanaryPhase> {
    Some(&c.partial)
}

/// The canary's p99 in one phase of each of `results`, in µs, keyed by
/// repeat so that ratios are taken within a run; runs that did not time the
/// phase are left out.
fn phase_p99s(
    results: &[(Option<u32>, &HostileResult)],
    phase: PhaseOf,
) -> Vec<(Option<u32>, f64)> {
    results
        .iter()
        .filter_map(|(repeat, r)| {
            let p = phase(r.canary.as_ref()?)?;
            Some((*repeat, p.latency.p99_us as f64))
        })
        .collect()
}

/// The median (min–max) of keyed values.
fn spread_of(values: &[(Option<u32>, f64)]) -> Option<Spread> {
    Spread::of(&values.iter().map(|(_, v)| *v).collect::<Vec<_>>())
}

/// One server's canary p99s over its hostile runs: a row of
/// [`canary_table`] and the figures its sentences are made from.
struct CanaryReading<'a> {
    /// The server.
    server: &'a str,
    /// p99 in the second before the attacks.
    quiet: Option<Spread>,
    /// p99 with the attack in place (the budget full, the attackers left
    /// open holding their messages).
    held: Option<Spread>,
    /// Held p99 ÷ the same run's quiet p99.
    held_vs_quiet: Option<Spread>,
    /// p99 under the same bytes without eviction (the control).
    control: Option<Spread>,
    /// p99 under the partial-message attack.
    attack: Option<Spread>,
    /// Attack p99 ÷ the same run's control p99.
    vs_control: Option<Spread>,
    /// Attack p99 ÷ the same run's quiet p99.
    vs_quiet: Option<Spread>,
    /// Runs that came back, of all the server's hostile runs.
    ok: usize,
    /// All the server's hostile runs.
    runs: usize,
    /// Control connections closed 1009 over the runs: above 0 the control
    /// met the budget and evicted, so it controls nothing.
    evicted: u64,
    /// What the control connections that were neither released nor closed
    /// 1009 said, over the runs.
    other: Vec<&'a str>,
}

impl<'a> CanaryReading<'a> {
    /// `server`'s reading from the collection's hostile runs; `None` when it
    /// has none.
    fn of(runs: &'a [Run<HostileResult>], server: &'a str) -> Option<Self> {
        let all = hostile_runs(runs, server);
        if all.is_empty() {
            return None;
        }
        let results = scenarios::results_of(&all, server);
        let quiet = phase_p99s(&results, quiet_phase);
        let held = phase_p99s(&results, held_phase);
        let control = phase_p99s(&results, control_phase);
        let attack = phase_p99s(&results, attack_phase);
        let abandoned = || results.iter().filter_map(|(_, r)| r.abandoned.as_ref());
        Some(Self {
            server,
            quiet: spread_of(&quiet),
            held: spread_of(&held),
            held_vs_quiet: Spread::of_ratios(held.iter().copied(), &quiet),
            control: spread_of(&control),
            attack: spread_of(&attack),
            vs_control: Spread::of_ratios(attack.iter().copied(), &control),
            vs_quiet: Spread::of_ratios(attack.iter().copied(), &quiet),
            ok: results.len(),
            runs: all.len(),
            evicted: abandoned().map(|a| a.closed_1009).sum(),
            other: abandoned()
                .flat_map(|a| a.other.iter().map(String::as_str))
                .collect(),
        })
    }

    /// Where the attack's range lies against the control's; `None` for a
    /// void control (it evicted) or a missing figure.
    fn side(&self) -> Option<Side> {
        if self.evicted > 0 {
            return None;
        }
        Side::judged(self.attack?, self.control?)
    }

    /// Where the range with the attack in place lies against the quiet one.
    fn held_side(&self) -> Option<Side> {
        Side::judged(self.held?, self.quiet?)
    }

    /// Where the attack's range lies against the quiet one.
    fn attack_vs_quiet_side(&self) -> Option<Side> {
        Side::judged(self.attack?, self.quiet?)
    }

    /// The table row.
    fn row(&self) -> Vec<String> {
        let ratio = |s: &Option<Spread>| s.as_ref().map_or_else(|| NONE.into(), ratio_spread);
        let mut vs_control = ratio(&self.vs_control);
        if self.evicted > 0 {
            vs_control.push_str(" (void control)");
        }
        vec![
            format!("`{}`", self.server),
            micros_spread(self.quiet),
            micros_spread(self.held),
            ratio(&self.held_vs_quiet),
            micros_spread(self.control),
            micros_spread(self.attack),
            vs_control,
            ratio(&self.vs_quiet),
            if self.ok == self.runs {
                self.runs.to_string()
            } else {
                format!("{} of {}", self.ok, self.runs)
            },
        ]
    }
}

/// `a`, `b` and `c`.
fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Where one p99 range lies against a reference range (the attack's
/// against the control's, the attack in place against the quiet second).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// The ranges share a value: no difference is claimed.
    Overlaps,
    /// The range's lowest p99 is above the reference's highest.
    Above,
    /// The range's highest p99 is below the reference's lowest.
    Below,
}

impl Side {
    /// Where the range `a` lies against `b`; `None` unless both come from
    /// several runs (a single value has no range to tell noise by).
    fn judged(a: Spread, b: Spread) -> Option<Self> {
        if a.n < 2 || b.n < 2 {
            return None;
        }
        Some(if a.overlaps(&b) {
            Self::Overlaps
        } else if a.min > b.max {
            Self::Above
        } else {
            Self::Below
        })
    }
}

/// The servers whose reading `of` puts on `side` (the attack's range
/// against the control's, or the range with the attack in place against
/// the quiet one), as `` `a` and `b` ``.
fn servers_on<'a>(
    readings: &[CanaryReading<'a>],
    side: Side,
    of: impl Fn(&CanaryReading<'a>) -> Option<Side>,
) -> String {
    let names: Vec<String> = readings
        .iter()
        .filter(|r| of(r) == Some(side))
        .map(|r| format!("`{}`", r.server))
        .collect();
    listed(&names)
}

/// One sentence judging, for every server, a range of the canary's p99
/// against a reference range: `overlap` names the servers whose ranges
/// overlap (no difference is claimed), then a clause for each that lies
/// apart, naming `figure` and `reference` with both ranges. Empty when
/// nothing was judged.
fn range_sentence<'a>(
    readings: &[CanaryReading<'a>],
    judged: impl Fn(&CanaryReading<'a>) -> Option<(Side, Spread, Spread)>,
    overlap: impl FnOnce(&str) -> String,
    figure: &str,
    reference: &str,
) -> String {
    let mut parts = Vec::new();
    let overlapping = servers_on(readings, Side::Overlaps, |r| {
        judged(r).map(|(side, ..)| side)
    });
    if !overlapping.is_empty() {
        parts.push(overlap(&overlapping));
    }
    for r in readings {
        let Some((side @ (Side::Above | Side::Below), range, against)) = judged(r) else {
            continue;
        };
        parts.push(format!(
            "on `{}` {figure}, {}, lies {} {reference}, {}",
            r.server,
            micros_spread(Some(range)),
            if side == Side::Above {
                "above"
            } else {
                "below"
            },
            micros_spread(Some(against))
        ));
    }
    if parts.is_empty() {
        return String::new();
    }
    let text = parts.join("; ");
    // The first clause starts the sentence.
    let mut chars = text.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{}. ", first.unwrap_or_default(), chars.as_str())
}

/// Where the attack's p99 range lies against the control's, by server: the
/// evictions cost nothing measurable beyond the bytes where they overlap.
fn overlap_sentences(readings: &[CanaryReading<'_>]) -> String {
    range_sentence(
        readings,
        |r| Some((r.side()?, r.attack?, r.control?)),
        |servers| {
            format!(
                "the evictions cost the canary nothing measurable beyond the bytes on {servers} (the attack's and the same bytes' p99 ranges overlap)"
            )
        },
        "the attack's p99",
        "the same bytes'",
    )
}

/// The canary with the attack in place against the quiet second, by
/// server: a p99 unchanged within noise (the ranges overlap), the
/// reliability target, or where it lies apart.
fn held_sentence(readings: &[CanaryReading<'_>]) -> String {
    range_sentence(
        readings,
        |r| Some((r.held_side()?, r.held?, r.quiet?)),
        |servers| {
            format!(
                "with the attack in place (the budget full, the attackers left open holding their messages), the canary's p99 is unchanged within noise on {servers} (its range overlaps the quiet second's)"
            )
        },
        "the canary's p99 with the attack in place",
        "the quiet second's",
    )
}

/// The attack's p99 against the quiet one, by server: unchanged within
/// noise where the ranges overlap; where the attack's lies above, its cost
/// in all, which is the cost of the bytes themselves where the attack's
/// range also overlaps the control's.
fn cost_sentence(readings: &[CanaryReading<'_>]) -> String {
    let mut out = range_sentence(
        readings,
        |r| Some((r.attack_vs_quiet_side()?, r.attack?, r.quiet?)),
        |servers| {
            format!(
                "while the attack's bytes arrive, the canary's p99 is unchanged within noise on {servers} (its range overlaps the quiet second's)"
            )
        },
        "the attack's p99",
        "the quiet second's",
    );
    let bytes: Vec<String> = readings
        .iter()
        .filter(|r| {
            r.side() == Some(Side::Overlaps) && r.attack_vs_quiet_side() == Some(Side::Above)
        })
        .map(|r| format!("`{}`", r.server))
        .collect();
    if !bytes.is_empty() {
        out.push_str(&format!(
            "On {}, where the attack's range overlaps the same bytes', that is what reading the bytes costs the canary, not evicting. ",
            listed(&bytes)
        ));
    }
    out
}

/// A sentence for each server whose control evicted (no control there) or
/// ended some connections neither way.
fn control_warnings(readings: &[CanaryReading<'_>]) -> String {
    let mut out = String::new();
    for r in readings {
        if r.evicted > 0 {
            out.push_str(&format!(
                "On `{}` the control itself evicted ({} of its connections closed 1009 over its runs): it is not a control there, and its attack is not compared with it. ",
                r.server,
                format::count(r.evicted as f64)
            ));
        }
        if let Some(first) = r.other.first() {
            out.push_str(&format!(
                "On `{}`, {} control connections were neither released nor closed 1009 (\"{first}\"). ",
                r.server,
                r.other.len()
            ));
        }
    }
    out
}

/// "Canary round-trip p99 under the partial-message attack": the canary's
/// p99 quiet, with the attack in place, under the control's bytes and under
/// the attack's, over each server's runs, and what they say. Empty for collections without the control.
pub(super) fn canary_table(runs: &[Run<HostileResult>]) -> String {
    if !with_control(runs) {
        return String::new();
    }
    let readings: Vec<CanaryReading<'_>> = CONTENDERS
        .iter()
        .filter_map(|c| CanaryReading::of(runs, c.name))
        .collect();
    let mut t = Table::new(&[
        ("Server", Align::Left),
        ("Quiet", Align::Right),
        ("Attack in place", Align::Right),
        ("In place ÷ quiet", Align::Right),
        ("Same bytes, no eviction", Align::Right),
        ("Partial-message attack (evicting)", Align::Right),
        ("Attack ÷ same bytes", Align::Right),
        ("Attack ÷ quiet", Align::Right),
        ("Runs", Align::Right),
    ]);
    for r in &readings {
        t.row(r.row());
    }
    let mut out = String::from("#### Canary round-trip p99 under the partial-message attack\n\n");
    out.push_str(if readings.iter().any(|r| r.ok > 1) {
        "Each p99 is the median (min–max) over the server's runs; each ratio is taken within a run, then summarized the same way.\n\n"
    } else {
        // A single run's range is one value: ranges would overlap only when
        // equal, and a gap between two values says nothing about noise.
        "One run per server: each figure is that run's, and with no range to tell noise by, nothing is judged.\n\n"
    });
    out.push_str(&t.render());
    out.push('\n');
    let text = format!(
        "{}{}{}{}{}",
        quiet_floor_sentence(runs),
        held_sentence(&readings),
        overlap_sentences(&readings),
        cost_sentence(&readings),
        control_warnings(&readings)
    );
    if !text.is_empty() {
        out.push_str(text.trim_end());
        out.push_str("\n\n");
    }
    out
}

/// How far the canary's quiet p99 moved over every server's runs, when its
/// echoes were timed from their due times: with no attack at all, that is
/// the machine's own noise in the canary's tail (a stall of the machine is
/// counted by every echo it held up), and the noise the ranges are judged
/// against. Empty for older canaries and for fewer than two runs.
fn quiet_floor_sentence(runs: &[Run<HostileResult>]) -> String {
    let quiet: Vec<f64> = runs
        .iter()
        .filter_map(|run| run.result.as_ref()?.canary.as_ref())
        .filter(|c| c.from_intended)
        .map(|c| c.quiet.latency.p99_us as f64)
        .collect();
    let Some(spread) = Spread::of(&quiet).filter(|s| s.n > 1) else {
        return String::new();
    };
    format!(
        "With no attack at all, the canary's p99 ranged from {} to {} over the {} quiet seconds of all servers' runs: \
         a stall of the machine itself is counted by every echo it held up, so that is how far this machine alone moves the canary's tail, \
         and the noise the ranges here are judged against. ",
        format::micros(spread.min as u64),
        format::micros(spread.max as u64),
        spread.n
    )
}

/// What the hostile cells say about the canary, and, in runs with the
/// control, what the control is and where the canary's p99s went.
fn canary_method(h: &HostileResult, control: bool) -> String {
    let every = format::micros(
        h.canary
            .as_ref()
            .map_or(loadgen::CANARY_EVERY_US_BEFORE, |c| c.every_us),
    );
    let own_thread = canary_timing(h.canary.as_ref());
    if !control {
        // Before the control, the main table's cell carried the p99s.
        return format!(
            "*canary* says whether a connection opened before both attacks kept echoing (one echo every {every}), \
             with its round-trip p99 in the second before the attacks and under each (partial messages / slow requests) where the run timed it, \
             and whether new clients were served meanwhile. {own_thread}"
        );
    }
    format!(
        "*canary* says whether a connection opened before both attacks kept echoing (one echo every {every}) and whether new clients were served meanwhile; \
         its round-trip p99s are in the table after this one. {own_thread}\
         Before the attack, the same {} attackers send the same partial messages one after another, each closing its connection as soon as it has sent, \
         so the server reads the same bytes without ever holding more than about one message: no eviction. \
         The canary's p99 in that phase (*same bytes, no eviction*) is the control for its p99 while the attack's bytes arrive (*partial-message attack*): \
         *attack ÷ same bytes* is what the evictions cost the canary, *attack ÷ quiet* what the attack's bytes cost it in all. \
         *Attack in place* is the canary's p99 once the attack's last byte is in, while the attackers left open hold their messages \
         (the budget full, the others evicted) and their outcome is awaited for a second: what an attacker who holds memory costs everyone else, \
         the state the target of a p99 unchanged within noise is about. ",
        h.config.attackers
    )
}

/// How the canary's round trips were timed, in what the run's results
/// say of it: its own thread, from the intended send time, real-time.
fn canary_timing(canary: Option<&HostileCanary>) -> String {
    let Some(c) = canary else {
        return String::new();
    };
    let mut out = String::new();
    if c.own_thread {
        out.push_str("The canary echoes from its own thread of the generator, so the attackers' writes do not delay its timing. ");
    }
    if !c.from_intended {
        return out;
    }
    out.push_str(
        "An echo that fell due while the one before it was still out is sent when that one is back \
         and timed from when it was due, so a stall counts once for every echo it held up (wrk2's correction for coordinated omission); \
         one that fell due while the canary slept is timed from its send, so the generator's own wake-up lateness is not counted. ",
    );
    out.push_str(if c.realtime {
        "Its thread runs on the real-time scheduler, so the generator's busy threads on its core cannot hold its replies back. "
    } else {
        "Its thread could not get the real-time scheduler (that takes root or `CAP_SYS_NICE`), \
         so the generator's busy threads on its core may have held some replies back by a scheduler tick, counted against the server. "
    });
    out
}

/// How a server's repeated hostile runs make one cell; empty without repeats.
fn repeats_method(runs: &[Run<HostileResult>]) -> String {
    let repeats = scenarios::repeat_count(runs);
    if repeats < 2 {
        return String::new();
    }
    format!(
        "Each server's hostile case ran {repeats} times, interleaved with the other servers', each on a freshly started server: \
         *peak RSS* is the highest of its runs, *slow requests closed* the fewest, and *canary* counts the failures of all of them. "
    )
}

/// The hostile clients' method bullet, from the runs' own configuration;
/// `None` without a hostile result.
pub(super) fn hostile_method(runs: &[Run<HostileResult>]) -> Option<String> {
    let h = runs.iter().find_map(|r| r.result.as_ref())?;
    Some(format!(
        "- **Hostile clients** (`ws-loadgen hostile`): {} connections each send {} of a message announced as {} and then nothing (server `--max-inbound-bytes {}`, `--max-message-size {}`), then {} sockets each send the start of an upgrade request and nothing more (server `--handshake-timeout {}`). \
         *Peak RSS, partial messages* is the server's highest RSS during the {}attack, against its RSS before plus the budget plus 16 KiB per attacker; \
         *slow requests closed* counts the sockets closed within the handshake timeout + 1 s (timed from each connection's establishment in runs that report retried connects, else from before its connect); \
         {}{}An evicted connection's buffer goes back to the kernel from a background thread of the server, a piece at a time, \
         so the worker serving the canary does not stop for it (freed in place, each 32 MiB buffer stopped the server's one worker for 2–3 ms, traced by hand; \
         see `crates/ws-alloc`). Under partial messages the canary shares that worker with the attackers' bytes.\n",
        h.config.attackers,
        format::bytes(h.config.partial as f64),
        format::bytes(h.config.declared as f64),
        h.config
            .budget
            .map_or_else(|| "default".to_owned(), |b| format::bytes(b as f64)),
        format::bytes(h.config.declared as f64),
        format::count(h.config.slow as f64),
        h.config.handshake_timeout,
        // Since the control, the RSS is sampled from before it.
        if with_control(runs) {
            "control and the "
        } else {
            ""
        },
        canary_method(h, with_control(runs)),
        repeats_method(runs),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::RunRecord;
    use crate::render::Ctx;
    use crate::render::reliability::section;

    fn result(peak: u64, closed_in_time: u64) -> HostileResult {
        serde_json::from_value(serde_json::json!({
            "config": {"attackers": 8, "partial": 1, "declared": 2, "budget": 1000,
                       "slow": 10, "handshake_timeout": "2s"},
            "partial": {"closed_1009": 6, "left_open": 2, "other": [], "canary_failures": 0,
                        "server": {"baseline_rss_bytes": 500, "peak_rss_bytes": peak,
                                   "rss_per_connection_bytes": null, "cpu_seconds": 0.0,
                                   "cpu_cores_used": 0.0}},
            "slow": {"opened": 10, "closed_in_time": closed_in_time, "longest_open_s": 2.5,
                     "new_clients_ok": 20, "new_clients_failed": 0, "canary_failures": 0}
        }))
        .expect("a hostile result")
    }

    #[test]
    fn hostile_cells_judge_against_the_budget() {
        // Bound: 500 before + 1000 budget + 8 attackers × 16 KiB = 132,572.
        assert!(hostile_rss(&result(132_572, 10)).contains('≤'));
        assert!(hostile_rss(&result(132_573, 10)).contains('>'));
        assert!(hostile_slow(&result(1400, 9)).starts_with("9 of 10"));
        assert!(hostile_canary(&result(1400, 10)).starts_with("echoed throughout"));
    }

    /// One canary phase in a result's JSON, with this p99.
    fn phase(p99_us: u64) -> serde_json::Value {
        serde_json::json!({"latency": {"count": 200, "mean_us": 1.0, "p50_us": 1, "p90_us": 1,
            "p99_us": p99_us, "p99_9_us": p99_us, "p99_99_us": p99_us, "max_us": p99_us},
            "failures": 0})
    }

    #[test]
    fn a_timed_canary_shows_its_p99_before_and_under_each_attack() {
        let mut r = result(1400, 10);
        assert!(!hostile_canary(&r).contains("p99"));
        r.canary = Some(
            serde_json::from_value(serde_json::json!({
                "quiet": phase(80), "partial": phase(2_500), "slow": phase(120)
            }))
            .expect("a canary"),
        );
        let cell = hostile_canary(&r);
        assert!(
            cell.contains("p99 80.0 µs quiet → 2.50 ms / 120 µs under attack"),
            "{cell}"
        );
    }

    /// A result with the control: the slow requests' longest socket, the
    /// canary's p99 quiet, under the control and under the attack, and the
    /// control connections closed 1009.
    fn controlled(
        peak: u64,
        closed_in_time: u64,
        longest_open_s: f64,
        [quiet, held, control, attack]: [u64; 4],
        closed_1009: u64,
    ) -> HostileResult {
        let mut r = result(peak, closed_in_time);
        r.slow.longest_open_s = longest_open_s;
        r.abandoned = Some(
            serde_json::from_value(serde_json::json!({
                "messages": 8, "bytes_sent": 8, "closed_1009": closed_1009,
                "released": 8 - closed_1009, "other": []
            }))
            .expect("abandoned messages"),
        );
        r.canary = Some(
            serde_json::from_value(serde_json::json!({
                "quiet": phase(quiet), "abandoned": phase(control),
                "partial": phase(attack), "held": phase(held), "slow": phase(120),
                "own_thread": true, "every_us": 1000
            }))
            .expect("a canary"),
        );
        r
    }

    /// A hostile run of `server`; failed without a result.
    fn run(server: &str, repeat: Option<u32>, result: Option<HostileResult>) -> Run<HostileResult> {
        Run {
            record: RunRecord {
                scenario: crate::manifest::Scenario::Reliability,
                server: server.into(),
                mode: crate::manifest::Mode::Pinned,
                case: "hostile".into(),
                rate: None,
                stem: format!("reliability/pinned/{server}-hostile"),
                server_command: Vec::new(),
                load_command: Vec::new(),
                error: result.is_none().then(|| "server exited".into()),
                server_panics: None,
                flush: None,
                repeat,
                steal: None,
                steal_retries: None,
                shutdown: None,
            },
            result,
        }
    }

    /// Three repeats of `server`, one per `(quiet, held, control, attack)` p99s.
    fn repeats(server: &str, p99s: [[u64; 4]; 3], evicted: [u64; 3]) -> Vec<Run<HostileResult>> {
        (0..3)
            .map(|i| {
                let r = controlled(100_000, 10, 2.0, p99s[i], evicted[i]);
                run(server, Some(i as u32 + 1), Some(r))
            })
            .collect()
    }

    /// The reliability section of a collection holding only `hostile`.
    fn render(hostile: Vec<Run<HostileResult>>) -> String {
        let data = super::super::data::Data {
            hostile,
            ..super::super::data::Data::default()
        };
        section(&Ctx {
            data: &data,
            results_link: "results".into(),
            plots: Vec::new(),
        })
    }

    use crate::render::table::server_row as row;

    #[test]
    fn an_old_result_renders_as_before() {
        let old: HostileResult = result(132_572, 10);
        assert!(old.abandoned.is_none());
        let mut timed = result(132_572, 10);
        timed.canary = Some(
            serde_json::from_value(serde_json::json!({
                "quiet": phase(80), "partial": phase(2_500), "slow": phase(120)
            }))
            .expect("a canary from before the control"),
        );
        assert!(timed.canary.as_ref().is_some_and(|c| c.abandoned.is_none()));
        let md = render(vec![
            run("ws-tokio-mutex", None, Some(old)),
            run("ws-std-mutex", None, Some(timed)),
        ]);
        let tokio = row(&md, "ws-tokio-mutex");
        assert!(
            tokio.ends_with(
                "| 130 KiB (≤ 130 KiB) | 10 of 10 (longest 2.5 s) | echoed throughout; 20 new clients served |"
            ),
            "{tokio}"
        );
        let std = row(&md, "ws-std-mutex");
        assert!(
            std.ends_with(
                "| echoed throughout, p99 80.0 µs quiet → 2.50 ms / 120 µs under attack; 20 new clients served |"
            ),
            "{std}"
        );
        assert!(!md.contains("Canary round-trip p99"), "{md}");
        assert!(!md.contains("ran 1 times"), "{md}");
        assert!(
            md.contains("with its round-trip p99 in the second before the attacks and under each"),
            "{md}"
        );
    }

    #[test]
    fn repeats_show_the_highest_peak_and_the_fewest_closed() {
        let runs = vec![
            run(
                "ws-tokio-mutex",
                Some(1),
                Some(controlled(100_000, 10, 2.5, [80, 85, 200, 240], 0)),
            ),
            run(
                "ws-tokio-mutex",
                Some(2),
                Some(controlled(130_000, 8, 2.1, [80, 85, 200, 240], 0)),
            ),
            run(
                "ws-tokio-mutex",
                Some(3),
                Some(controlled(120_000, 8, 3.0, [80, 85, 200, 240], 0)),
            ),
            run(
                "ws-std-mutex",
                Some(1),
                Some(controlled(100_000, 10, 2.0, [80, 85, 200, 240], 0)),
            ),
            run("ws-std-mutex", Some(2), None),
        ];
        let md = render(runs);
        let tokio = row(&md, "ws-tokio-mutex");
        assert!(
            tokio.ends_with(
                "| 127 KiB (≤ 130 KiB), highest of 3 | 8 of 10 (longest 3.0 s), fewest of 3 | echoed throughout; 60 new clients served over 3 runs |"
            ),
            "{tokio}"
        );
        // The p99s left the cell for the canary table.
        assert!(!tokio.contains("p99"), "{tokio}");
        let std = row(&md, "ws-std-mutex");
        assert!(
            std.ends_with(
                "| 97.7 KiB (≤ 130 KiB); repeat 2 failed: server exited | 10 of 10 (longest 2.0 s); repeat 2 failed: server exited | echoed throughout; 20 new clients served; repeat 2 failed: server exited |"
            ),
            "{std}"
        );
        // Three repeats in the collection, though `ws-std-mutex` has two.
        assert!(
            md.contains("Each server's hostile case ran 3 times, interleaved"),
            "{md}"
        );
        assert!(
            md.contains("Before the attack, the same 8 attackers send the same partial messages one after another"),
            "{md}"
        );
    }

    #[test]
    fn a_peak_over_its_own_bound_is_not_hidden_by_a_higher_one() {
        let mut low = result(120_000, 10);
        // A lower baseline lowers this run's bound below its peak.
        if let Some(s) = low.partial.server.as_mut() {
            s.baseline_rss_bytes = 0;
            s.peak_rss_bytes = 132_500;
        }
        let high = result(132_572, 10);
        let cell = hostile_rss_of(&[&low, &high]);
        assert_eq!(
            cell,
            "130 KiB (≤ 130 KiB), highest of 2; 1 over their bound"
        );
    }

    #[test]
    fn the_canary_table_compares_the_attack_with_the_control() {
        let mut runs = repeats(
            "ws-tokio-mutex",
            [[80, 85, 200, 240], [90, 95, 250, 260], [100, 105, 300, 400]],
            [0; 3],
        );
        runs.extend(repeats(
            "ws-std-mutex",
            [
                [100, 300, 200, 500],
                [100, 320, 210, 600],
                [100, 340, 220, 700],
            ],
            [0; 3],
        ));
        runs.extend(repeats(
            "ws-mpsc-writer",
            [
                [100, 100, 200, 500],
                [100, 100, 210, 600],
                [100, 100, 220, 700],
            ],
            [0, 1, 0],
        ));
        runs.extend(repeats(
            "ws-ref-broadcast",
            [
                [100, 100, 110, 110],
                [120, 120, 130, 130],
                [140, 140, 150, 150],
            ],
            [0; 3],
        ));
        let md = canary_table(&runs);
        assert!(
            md.starts_with("#### Canary round-trip p99 under the partial-message attack\n\n"),
            "{md}"
        );
        assert!(
            md.contains("| Server | Quiet | Attack in place | In place ÷ quiet | Same bytes, no eviction | Partial-message attack (evicting) | Attack ÷ same bytes | Attack ÷ quiet | Runs |"),
            "{md}"
        );
        // Ratios within each run: 85/80, 95/90, 105/100; 240/200, 260/250,
        // 400/300; and 240/80, 260/90, 400/100.
        assert_eq!(
            row(&md, "ws-tokio-mutex"),
            "| `ws-tokio-mutex` | 90.0 µs (80.0 µs–100 µs) | 95.0 µs (85.0 µs–105 µs) | 1.06× (1.05×–1.06×) | 250 µs (200 µs–300 µs) | 260 µs (240 µs–400 µs) | 1.20× (1.04×–1.33×) | 3.00× (2.89×–4.00×) | 3 |"
        );
        assert!(
            row(&md, "ws-mpsc-writer").contains("(void control)"),
            "{md}"
        );
        assert!(
            md.contains("The evictions cost the canary nothing measurable beyond the bytes on `ws-tokio-mutex` and `ws-ref-broadcast` (the attack's and the same bytes' p99 ranges overlap); \
                         on `ws-std-mutex` the attack's p99, 600 µs (500 µs–700 µs), lies above the same bytes', 210 µs (200 µs–220 µs)."),
            "{md}"
        );
        // Issue 15's target: unchanged within noise where the ranges overlap.
        assert!(
            md.contains("With the attack in place (the budget full, the attackers left open holding their messages), the canary's p99 is unchanged within noise on `ws-tokio-mutex`, `ws-mpsc-writer` and `ws-ref-broadcast` (its range overlaps the quiet second's); \
                         on `ws-std-mutex` the canary's p99 with the attack in place, 320 µs (300 µs–340 µs), lies above the quiet second's, 100 µs (100 µs–100 µs)."),
            "{md}"
        );
        // A void control is compared with nothing, but said to be void.
        assert!(
            !md.contains("on `ws-mpsc-writer` the attack's p99, 600 µs (500 µs–700 µs), lies above the same bytes'"),
            "{md}"
        );
        assert!(
            md.contains("On `ws-mpsc-writer` the control itself evicted (1 of its connections closed 1009 over its runs): it is not a control there"),
            "{md}"
        );
        // Against the quiet second: overlapping ranges claim nothing, the
        // others are named with both ranges, and a cost is put on the
        // bytes only where the attack's range also overlaps the control's.
        assert!(
            md.contains("While the attack's bytes arrive, the canary's p99 is unchanged within noise on `ws-ref-broadcast` (its range overlaps the quiet second's); \
                         on `ws-tokio-mutex` the attack's p99, 260 µs (240 µs–400 µs), lies above the quiet second's, 90.0 µs (80.0 µs–100 µs); "),
            "{md}"
        );
        assert!(
            md.contains("On `ws-tokio-mutex`, where the attack's range overlaps the same bytes', that is what reading the bytes costs the canary, not evicting."),
            "{md}"
        );
        assert!(!md.contains("On `ws-ref-broadcast`, where"), "{md}");
    }

    /// The method says how the canary was timed, as far as its results
    /// say: nothing new for results from before the correction.
    #[test]
    fn the_method_says_how_the_canary_was_timed() {
        let mut r = controlled(100_000, 10, 2.0, [100, 100, 100, 100], 0);
        let before = canary_method(&r, true);
        assert!(before.contains("from its own thread"), "{before}");
        assert!(!before.contains("coordinated omission"), "{before}");
        assert!(!before.contains("real-time"), "{before}");
        let canary = r.canary.as_mut().expect("a canary");
        canary.from_intended = true;
        canary.realtime = true;
        let realtime = canary_method(&r, true);
        assert!(
            realtime.contains("timed from when it was due"),
            "{realtime}"
        );
        assert!(
            realtime.contains("Its thread runs on the real-time scheduler"),
            "{realtime}"
        );
        r.canary.as_mut().expect("a canary").realtime = false;
        let ordinary = canary_method(&r, true);
        assert!(
            ordinary.contains("could not get the real-time scheduler"),
            "{ordinary}"
        );
    }

    /// The quiet p99s of every server's runs say how far the machine alone
    /// moves the canary's tail, once the canary is timed from due times.
    #[test]
    fn the_quiet_seconds_give_the_machines_own_noise() {
        let mut runs = repeats(
            "ws-tokio-mutex",
            [[80, 85, 200, 240], [90, 95, 250, 260], [900, 105, 300, 400]],
            [0; 3],
        );
        assert_eq!(
            quiet_floor_sentence(&runs),
            "",
            "older canaries say nothing"
        );
        for run in &mut runs {
            if let Some(c) = run.result.as_mut().and_then(|r| r.canary.as_mut()) {
                c.from_intended = true;
            }
        }
        let said = quiet_floor_sentence(&runs);
        assert!(said.starts_with("With no attack at all, the canary's p99 ranged from 80.0 µs to 900 µs over the 3 quiet seconds"), "{said}");
        assert!(canary_table(&runs).contains(&said), "and the table says it");
        runs.truncate(1);
        assert_eq!(quiet_floor_sentence(&runs), "", "one run is no range");
    }

    #[test]
    fn single_runs_are_shown_but_not_judged() {
        let runs: Vec<Run<HostileResult>> = ["ws-tokio-mutex", "ws-std-mutex"]
            .iter()
            .map(|server| {
                let r = controlled(100_000, 10, 2.0, [80, 400, 200, 600], 0);
                run(server, Some(1), Some(r))
            })
            .collect();
        let md = canary_table(&runs);
        assert!(
            row(&md, "ws-std-mutex").starts_with("| `ws-std-mutex` | 80.0 µs | 400 µs | 5.00× | 200 µs | 600 µs | 3.00× | 7.50× | 1 |"),
            "{md}"
        );
        assert!(md.contains("nothing is judged"), "{md}");
        for judged in ["unchanged within noise", "lies above", "(medians)"] {
            assert!(!md.contains(judged), "{judged} in {md}");
        }
    }

    #[test]
    fn no_control_no_canary_table() {
        let runs = vec![run("ws-tokio-mutex", None, Some(result(1400, 10)))];
        assert_eq!(canary_table(&runs), "");
    }
}
