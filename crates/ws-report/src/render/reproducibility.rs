//! "Does a re-run give the same ratios?": every echo throughput ratio of the
//! comparison beside the same ratio from the replay series, the throughput
//! runs done once more at the end of the comparison (the same runs, fresh
//! server processes, after the saturation series).
//!
//! A ratio's median counts as reproduced when the replay's median is within
//! [`REPRODUCED_WITHIN`] of it (the target for a re-run). Where it
//! is not, the table says so rather than averaging the two series: the
//! report's figures stay those of the first series, and this section says
//! how far to trust them.

use super::Ctx;
use std::collections::BTreeSet;

use super::flush::{Figure, Spread, Throughput, order_words, ratio_spread};
use super::table::{Align, Table};
use crate::contenders::{BEST_FLUSH, CONTENDERS, ECHO_REFERENCE, FLUSH_MODES};

/// How far a replayed median may move, as a share of the first one, and
/// still count as reproduced.
pub const REPRODUCED_WITHIN: f64 = 0.10;

/// [`REPRODUCED_WITHIN`] as the report writes it: `10%`.
fn tolerance() -> String {
    format!("{:.0}%", REPRODUCED_WITHIN * 100.0)
}

/// One ratio in both series.
struct Compared {
    figure: Figure,
    label: String,
    first: Spread,
    replay: Spread,
}

impl Compared {
    /// The replay's median over the first series' median, minus one.
    fn change(&self) -> f64 {
        self.replay.median / self.first.median - 1.0
    }

    fn reproduced(&self) -> bool {
        self.change().abs() <= REPRODUCED_WITHIN
    }
}

/// Every server's ratio to the reference in each figure, per in-flight
/// count and policy, present in both series (the reference over itself
/// left out).
fn compared(first: &Throughput<'_>, replay: &Throughput<'_>) -> Vec<Compared> {
    let mut out = Vec::new();
    for figure in [Figure::Throughput, Figure::PerCore] {
        for inflight in first.inflights() {
            for flush in FLUSH_MODES {
                for c in CONTENDERS {
                    if c.name == ECHO_REFERENCE && flush == BEST_FLUSH {
                        continue;
                    }
                    let (Some(a), Some(b)) = (
                        first.ratio(figure, c.name, flush, inflight),
                        replay.ratio(figure, c.name, flush, inflight),
                    ) else {
                        continue;
                    };
                    if a.median > 0.0 {
                        out.push(Compared {
                            figure,
                            label: format!("`{}`, `{flush}`, {inflight} in flight", c.name),
                            first: a,
                            replay: b,
                        });
                    }
                }
            }
        }
    }
    out
}

/// `throughput: 14 of 18, echoes per server core: 17 of 18`.
fn tally(rows: &[Compared]) -> String {
    [Figure::Throughput, Figure::PerCore]
        .into_iter()
        .filter_map(|figure| {
            let of: Vec<&Compared> = rows.iter().filter(|r| r.figure == figure).collect();
            (!of.is_empty()).then(|| {
                let held = of.iter().filter(|r| r.reproduced()).count();
                format!("{}: {held} of {}", figure.words(), of.len())
            })
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The pairs of strategies one series tells apart: `(a, b)` when a's whole
/// range lies above b's. Two series that tell the same pairs apart reach
/// the same verdict, however far their medians moved.
fn ordered_pairs(spreads: &[(String, Spread)]) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for (a, sa) in spreads {
        for (b, sb) in spreads {
            if sa.min > sb.max {
                pairs.insert((a.clone(), b.clone()));
            }
        }
    }
    pairs
}

/// One line per figure and in-flight count: the strategies at their best in
/// both series, and whether the two tell the same of them apart.
fn verdict_lines(first: &Throughput<'_>, replay: &Throughput<'_>) -> String {
    let mut out = String::new();
    for figure in [Figure::Throughput, Figure::PerCore] {
        for inflight in first.inflights() {
            let of = |t: &Throughput<'_>| -> Vec<(String, Spread)> {
                CONTENDERS
                    .iter()
                    .filter(|c| !c.reference)
                    .filter_map(|c| {
                        Some((
                            c.name.to_owned(),
                            t.ratio(figure, c.name, BEST_FLUSH, inflight)?,
                        ))
                    })
                    .collect()
            };
            let (a, b) = (of(first), of(replay));
            if a.len() < 2 || a.len() != b.len() {
                continue;
            }
            let (apart_a, apart_b) = (ordered_pairs(&a), ordered_pairs(&b));
            let outcome = match (apart_a == apart_b, apart_a.is_empty()) {
                (true, true) => "none told apart in either series, the same verdict",
                (true, false) => "the same strategies told apart, the same verdict",
                (false, _) => "**a different verdict**",
            };
            out.push_str(&format!(
                "- {}, {inflight} in flight, `{BEST_FLUSH}`: first series {}; replay {}: {}.\n",
                figure.words(),
                order_words(a),
                order_words(b),
                outcome
            ));
        }
    }
    out
}

/// The section; empty when the results hold no replay series.
pub(crate) fn section(ctx: &Ctx<'_>) -> String {
    let first = Throughput::new(&ctx.data.throughput);
    let replay = Throughput::new(&ctx.data.replay);
    let rows = compared(&first, &replay);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from("#### Does a re-run give the same ratios?\n\n");
    out.push_str(&format!(
        "The throughput runs above were done once more at the end of the comparison (the replay series: the same runs, \
         fresh server processes, after the saturation series). Each ratio to \
         `{ECHO_REFERENCE} --flush {BEST_FLUSH}` of the same repeat, median (min–max), in both series: \
         medians that moved by at most {}, **{}**; the report's figures are the first series'.\n\n",
        tolerance(),
        tally(&rows),
    ));
    let within = format!("Within {}", tolerance());
    let mut table = Table::new(&[
        ("Figure", Align::Left),
        ("Ratio", Align::Left),
        ("First series", Align::Right),
        ("Replay", Align::Right),
        ("Median moved", Align::Right),
        (within.as_str(), Align::Left),
    ]);
    for r in &rows {
        table.row(vec![
            r.figure.words().to_owned(),
            r.label.clone(),
            ratio_spread(&r.first),
            ratio_spread(&r.replay),
            format!("{:+.1}%", r.change() * 100.0),
            if r.reproduced() { "yes" } else { "**no**" }.into(),
        ]);
    }
    out.push_str(&table.render());
    out.push('\n');
    let lines = verdict_lines(&first, &replay);
    if !lines.is_empty() {
        out.push_str(
            "What a reader decides on is which strategies' ranges lie apart (the verdict's rule), \
             not the medians themselves:\n\n",
        );
        out.push_str(&lines);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(median: f64) -> Spread {
        Spread {
            median,
            min: median * 0.9,
            max: median * 1.1,
            n: 3,
        }
    }

    #[test]
    fn only_ranges_apart_make_an_ordered_pair() {
        let s = |min: f64, max: f64| Spread {
            median: (min + max) / 2.0,
            min,
            max,
            n: 3,
        };
        let pairs = ordered_pairs(&[
            ("a".into(), s(1.2, 1.3)),
            ("b".into(), s(1.0, 1.1)),
            ("c".into(), s(1.05, 1.25)),
        ]);
        let expected: BTreeSet<(String, String)> = [("a".to_owned(), "b".to_owned())].into();
        assert_eq!(pairs, expected, "c overlaps both");
    }

    #[test]
    fn a_median_within_ten_percent_is_reproduced_and_one_beyond_is_not() {
        let within = Compared {
            figure: Figure::Throughput,
            label: String::new(),
            first: spread(1.00),
            replay: spread(0.91),
        };
        let beyond = Compared {
            figure: Figure::Throughput,
            label: String::new(),
            first: spread(1.00),
            replay: spread(1.12),
        };
        assert!(within.reproduced(), "{}", within.change());
        assert!(!beyond.reproduced(), "{}", beyond.change());
    }
}
