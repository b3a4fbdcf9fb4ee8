//! "Flush policy or strategy?": the two effects the servers' `--flush` flag
//! separates, per scenario. Every server runs naive (`each`: every message
//! written and flushed on its own) and at its best (`batched`), so a
//! difference between two strategies within one policy is the strategy, and
//! a strategy's `each` → `batched` gain is the flush.
//!
//! The loadgen figures come from interleaved repeats: a ratio is taken within
//! each repeat (against that repeat's `ws-ref-unsplit --flush batched`, or
//! between a server's two policies in that repeat) and shown as the median
//! with min–max; two figures differ only when their ranges do not overlap.

use std::collections::BTreeSet;

use super::data::{self, Run};
use super::plots::{self, Ranges, Series};
use super::table::{Align, Table};
use super::{Ctx, format};
use crate::Result;
use crate::contenders::{self, BEST_FLUSH, CONTENDERS, ECHO_REFERENCE, FLUSH_MODES};
use crate::loadgen::{EchoResult, RoomResult};
use crate::manifest::Mode;

/// A saturation run carries its offered rate when it delivers at least this
/// share of the expected deliveries…
const CARRIED_SHARE: f64 = 0.99;
/// …with a p99 (undelivered counted at the drain bound) below this, µs: the
/// issue's bar for "carries it".
const CARRIED_P99_US: u64 = 1_000;

/// Per-repeat values summarized: median with min and max.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// How many values.
    pub n: usize,
}

impl Spread {
    /// The spread of `values`; `None` when there are none (or one is not finite).
    #[must_use]
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len().is_multiple_of(2) {
            f64::midpoint(v[mid - 1], v[mid])
        } else {
            v[mid]
        };
        Some(Self {
            median,
            min: v[0],
            max: v[v.len() - 1],
            n: v.len(),
        })
    }

    /// Whether the two ranges share a value: then neither is called higher.
    #[must_use]
    pub fn overlaps(&self, other: &Self) -> bool {
        self.min <= other.max && other.min <= self.max
    }

    /// `median (min–max)`, each value written by `show`; a single run shows
    /// its value alone.
    #[must_use]
    pub fn show(&self, show: impl Fn(f64) -> String) -> String {
        if self.n < 2 {
            show(self.median)
        } else {
            format!(
                "{} ({}–{})",
                show(self.median),
                show(self.min),
                show(self.max)
            )
        }
    }
}

/// `0.97× (0.93×–1.01×)`; a single run shows its value alone.
#[must_use]
pub fn ratio_spread(s: &Spread) -> String {
    s.show(format::ratio)
}

/// The echoes/s of one throughput run, with what identifies it.
struct Point<'a> {
    server: &'a str,
    flush: &'a str,
    inflight: u64,
    repeat: u32,
    value: f64,
}

/// The successful throughput runs that carry a policy, an in-flight count and a repeat.
fn points(runs: &[Run<EchoResult>]) -> Vec<Point<'_>> {
    runs.iter()
        .filter(|r| r.record.error.is_none())
        .filter_map(|r| {
            let result = r.result.as_ref()?;
            Some(Point {
                server: &r.record.server,
                flush: r.record.flush.as_deref()?,
                inflight: result.config.inflight?,
                repeat: r.record.repeat?,
                value: result.throughput_msgs_per_s,
            })
        })
        .collect()
}

/// The throughput figures of the pinned closed-loop echo runs.
pub(crate) struct Throughput<'a> {
    points: Vec<Point<'a>>,
}

impl<'a> Throughput<'a> {
    pub(crate) fn new(runs: &'a [Run<EchoResult>]) -> Self {
        Self {
            points: points(runs),
        }
    }

    fn value(&self, server: &str, flush: &str, inflight: u64, repeat: u32) -> Option<f64> {
        self.points
            .iter()
            .find(|p| {
                p.server == server
                    && p.flush == flush
                    && p.inflight == inflight
                    && p.repeat == repeat
            })
            .map(|p| p.value)
    }

    fn repeats(&self) -> BTreeSet<u32> {
        self.points.iter().map(|p| p.repeat).collect()
    }

    /// The in-flight counts measured, ascending.
    pub(crate) fn inflights(&self) -> Vec<u64> {
        let set: BTreeSet<u64> = self.points.iter().map(|p| p.inflight).collect();
        set.into_iter().collect()
    }

    /// `server`'s value over another's, repeat by repeat.
    fn per_repeat(
        &self,
        (server, flush): (&str, &str),
        (over, over_flush): (&str, &str),
        inflight: u64,
    ) -> Option<Spread> {
        let ratios: Vec<f64> = self
            .repeats()
            .into_iter()
            .filter_map(|r| {
                let v = self.value(server, flush, inflight, r)?;
                let o = self.value(over, over_flush, inflight, r)?;
                (o > 0.0).then(|| v / o)
            })
            .collect();
        Spread::of(&ratios)
    }

    /// Ratio to `ws-ref-unsplit --flush batched` of the same repeat.
    pub(crate) fn ratio(&self, server: &str, flush: &str, inflight: u64) -> Option<Spread> {
        self.per_repeat((server, flush), (ECHO_REFERENCE, BEST_FLUSH), inflight)
    }

    /// `batched` over `each` of the same server and repeat.
    pub(crate) fn gain(&self, server: &str, inflight: u64) -> Option<Spread> {
        self.per_repeat((server, BEST_FLUSH), (server, "each"), inflight)
    }

    /// Echoes/s over the repeats.
    fn rate(&self, server: &str, flush: &str, inflight: u64) -> Option<Spread> {
        let values: Vec<f64> = self
            .points
            .iter()
            .filter(|p| p.server == server && p.flush == flush && p.inflight == inflight)
            .map(|p| p.value)
            .collect();
        Spread::of(&values)
    }
}

/// Named spreads in words, highest first: `a ≈ b > c`, where `>` means the
/// ranges do not overlap and `≈` that they do (about the same).
pub(crate) fn order_words(mut items: Vec<(String, Spread)>) -> String {
    items.sort_by(|a, b| {
        b.1.median
            .total_cmp(&a.1.median)
            .then_with(|| contenders::order_key(&a.0).cmp(&contenders::order_key(&b.0)))
    });
    let mut out = String::new();
    for (i, (name, s)) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(if items[i - 1].1.overlaps(s) {
                " ≈ "
            } else {
                " > "
            });
        }
        out.push_str(&format!("`{name}` {}", ratio_spread(s)));
    }
    out
}

fn strategies() -> impl Iterator<Item = &'static str> {
    CONTENDERS.iter().filter(|c| !c.reference).map(|c| c.name)
}

fn cell(s: Option<Spread>) -> String {
    s.as_ref().map_or_else(|| "–".into(), ratio_spread)
}

fn throughput_part(ctx: &mut Ctx<'_>) -> Result<String> {
    let t = Throughput::new(&ctx.data.throughput);
    let mut out =
        String::from("#### Echo throughput, repeated (`ws-loadgen echo`, closed loop, pinned)\n\n");
    if t.points.is_empty() {
        out.push_str(
            "Not measured in this run: the results hold no `throughput` runs \
             (`ws-report collect` runs them).\n\n",
        );
        return Ok(out);
    }
    let first = ctx.data.throughput.iter().find_map(|r| r.result.as_ref());
    if let Some(r) = first {
        out.push_str(&format!(
            "{} connections × {} B, closed loop, {} repeats interleaved (every server and policy once per repeat, each run a fresh server process). \
             Ratios are to `{ECHO_REFERENCE} --flush {BEST_FLUSH}` of the same repeat, \
             the gain is `batched` over `each` of the same server and repeat; median (min–max).\n\n",
            r.config.conns,
            r.config.size,
            t.repeats().len()
        ));
    }
    for inflight in t.inflights() {
        out.push_str(&format!("##### {inflight} in flight per connection\n\n"));
        let mut table = Table::new(&[
            ("Server", Align::Left),
            ("`each`: echoes/s", Align::Right),
            ("`each`: × unsplit", Align::Right),
            ("`batched`: echoes/s", Align::Right),
            ("`batched`: × unsplit", Align::Right),
            ("Flush gain (`batched` / `each`)", Align::Right),
        ]);
        for c in CONTENDERS {
            let rate = |flush| {
                t.rate(c.name, flush, inflight)
                    .map_or_else(|| "–".into(), |s| format::count(s.median))
            };
            table.row(vec![
                format!("`{}`", c.name),
                rate("each"),
                cell(t.ratio(c.name, "each", inflight)),
                rate(BEST_FLUSH),
                cell(t.ratio(c.name, BEST_FLUSH, inflight)),
                cell(t.gain(c.name, inflight)),
            ]);
        }
        out.push_str(&table.render());
        out.push('\n');
        for flush in FLUSH_MODES {
            let items: Vec<(String, Spread)> = strategies()
                .filter_map(|s| Some((s.to_owned(), t.ratio(s, flush, inflight)?)))
                .collect();
            if items.len() > 1 {
                out.push_str(&format!(
                    "- Strategies within `{flush}`: {}.\n",
                    order_words(items)
                ));
            }
        }
        let gains: Vec<(String, Spread)> = strategies()
            .filter_map(|s| Some((s.to_owned(), t.gain(s, inflight)?)))
            .collect();
        if !gains.is_empty() {
            out.push_str(&format!(
                "- The flush, per strategy (`batched` / `each`): {}.\n",
                order_words(gains)
            ));
        }
        out.push('\n');
    }
    out.push_str(&throughput_plot(ctx, &t)?);
    out.push('\n');
    Ok(out)
}

/// Ratio bars with min–max whiskers: one group per (in flight, policy).
fn throughput_plot(ctx: &mut Ctx<'_>, t: &Throughput<'_>) -> Result<String> {
    let cases: Vec<(u64, &str)> = t
        .inflights()
        .into_iter()
        .flat_map(|i| FLUSH_MODES.map(|f| (i, f)))
        .collect();
    let categories: Vec<String> = cases
        .iter()
        .map(|(i, f)| format!("{i} in flight, {f}"))
        .collect();
    let mut series = Vec::new();
    let mut ranges: Vec<Ranges> = Vec::new();
    for c in CONTENDERS {
        let spreads: Vec<Option<Spread>> =
            cases.iter().map(|(i, f)| t.ratio(c.name, f, *i)).collect();
        if spreads.iter().all(Option::is_none) {
            continue;
        }
        series.push(Series {
            name: c.name.to_owned(),
            values: spreads.iter().map(|s| s.map(|s| s.median)).collect(),
        });
        ranges.push(spreads.iter().map(|s| s.map(|s| (s.min, s.max))).collect());
    }
    let file = "flush-throughput.svg".to_owned();
    let svg = plots::ranged_bars(
        &file,
        &format!(
            "closed-loop echo, pinned: throughput relative to {ECHO_REFERENCE} --flush batched"
        ),
        &format!("× {ECHO_REFERENCE}"),
        &categories,
        &series,
        &ranges,
        Some(1.0),
    )?;
    Ok(ctx.plot(
        file,
        "echo throughput ratios by flush policy, median with min–max",
        svg,
    ))
}

/// The heading of the contention-at-rising-load part.
pub(crate) const SATURATION_TITLE: &str =
    "Contention at rising load (`ws-loadgen room`, every member sending, open loop, pinned)";

/// The anchor GitHub gives a heading: lower case, spaces as hyphens,
/// punctuation other than `-` and `_` dropped.
pub(crate) fn anchor(title: &str) -> String {
    title
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// One saturation cell's figures: deliveries/s, their share of the expected, p50 and p99 (µs).
pub(crate) struct Carried {
    pub(crate) per_s: Spread,
    pub(crate) share: Spread,
    pub(crate) p50: Spread,
    pub(crate) p99: Spread,
}

impl Carried {
    /// Whether the server kept up: at least [`CARRIED_SHARE`] delivered with
    /// p99 below [`CARRIED_P99_US`] (medians over the repeats).
    pub(crate) fn kept_up(&self) -> bool {
        self.share.median >= CARRIED_SHARE && self.p99.median < CARRIED_P99_US as f64
    }
}

/// The saturation runs that completed with a flush policy named.
pub(crate) fn saturation_runs(runs: &[Run<RoomResult>]) -> Vec<&Run<RoomResult>> {
    runs.iter()
        .filter(|r| r.record.error.is_none() && r.record.flush.is_some() && r.result.is_some())
        .collect()
}

/// The send rates (per room, messages/s) of `runs`, ascending.
pub(crate) fn saturation_rates(runs: &[&Run<RoomResult>]) -> Vec<f64> {
    let mut rates: Vec<f64> = runs.iter().filter_map(|r| r.record.rate).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    rates
}

/// One server's figures at one send rate and flush policy, over its repeats.
pub(crate) fn carried_at(
    runs: &[&Run<RoomResult>],
    server: &str,
    flush: &str,
    rate: f64,
) -> Option<Carried> {
    let results: Vec<&RoomResult> = runs
        .iter()
        .filter(|r| {
            r.record.server == server
                && r.record.flush.as_deref() == Some(flush)
                && r.record.rate == Some(rate)
        })
        .filter_map(|r| r.result.as_ref())
        .collect();
    carried(&results)
}

fn carried(runs: &[&RoomResult]) -> Option<Carried> {
    let of =
        |f: &dyn Fn(&RoomResult) -> f64| Spread::of(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
    Some(Carried {
        per_s: of(&|r| r.deliveries_per_s)?,
        share: of(&|r| {
            if r.expected_deliveries == 0 {
                0.0
            } else {
                r.deliveries as f64 / r.expected_deliveries as f64
            }
        })?,
        p50: of(&|r| r.latency.with_undelivered.p50_us as f64)?,
        p99: of(&|r| r.latency.with_undelivered.p99_us as f64)?,
    })
}

fn saturation_part(ctx: &Ctx<'_>) -> String {
    let mut out = format!("#### {SATURATION_TITLE}\n\n");
    let runs = saturation_runs(&ctx.data.saturation);
    let Some(first) = runs.iter().find_map(|r| r.result.as_ref()) else {
        out.push_str(
            "Not measured in this run: the results hold no `saturation` runs \
             (`ws-report collect` runs them).\n\n",
        );
        return out;
    };
    let members = first.config.conns as f64;
    let rates = saturation_rates(&runs);
    let repeats: BTreeSet<u32> = runs.iter().filter_map(|r| r.record.repeat).collect();
    out.push_str(&format!(
        "{} members × {} B in one room, all of them sending; offered deliveries/s = send rate × members. \
         Each cell: deliveries/s achieved (share of the expected) · p50 / p99 fan-out latency, undelivered messages counted at the drain bound; \
         the median of {} run(s) per cell. A server carries a rate when it delivers at least {} of it with p99 below {}.\n\n",
        first.config.conns,
        first.config.size,
        repeats.len(),
        format::percent(CARRIED_SHARE),
        format::micros(CARRIED_P99_US),
    ));
    let headers: Vec<String> = rates
        .iter()
        .map(|r| format!("{} offered", format::rate(r * members)))
        .collect();
    let mut columns = vec![("Server", Align::Left), ("`--flush`", Align::Left)];
    columns.extend(headers.iter().map(|h| (h.as_str(), Align::Right)));
    columns.push(("Carries up to", Align::Right));
    let mut table = Table::new(&columns);
    for c in CONTENDERS.iter().filter(|c| c.rooms) {
        for flush in FLUSH_MODES {
            let mut row = vec![format!("`{}`", c.name), format!("`{flush}`")];
            let mut highest = None;
            let mut any = false;
            for &rate in &rates {
                match carried_at(&runs, c.name, flush, rate) {
                    Some(k) => {
                        any = true;
                        if k.kept_up() {
                            highest = Some(rate * members);
                        }
                        row.push(format!(
                            "{} ({}) · {} / {}",
                            format::rate(k.per_s.median),
                            format::percent(k.share.median),
                            format::micros(k.p50.median.round() as u64),
                            format::micros(k.p99.median.round() as u64)
                        ));
                    }
                    None => row.push("–".into()),
                }
            }
            if !any {
                continue;
            }
            row.push(highest.map_or_else(|| "none of these rates".into(), format::rate));
            table.row(row);
        }
    }
    out.push_str(&table.render());
    out.push('\n');
    out
}

/// The Criterion groups' flush gain: each strategy's time with `each` over
/// its time with `batched`, per condition, pinned, taken within each
/// Criterion pass and shown as median (min–max) over the passes (from a
/// single pass, one figure without a range: read small gains as noise).
fn criterion_part(ctx: &Ctx<'_>) -> String {
    let mut out = String::from("#### Criterion groups: the flush gain per condition (pinned)\n\n");
    let mut body = String::new();
    for group in ["echo", "broadcast", "contention"] {
        let tables = data::bench_tables(&ctx.data.benches, group);
        // Only the conditions measured in both policies (the others ran `batched` alone).
        let tables: Vec<_> = tables
            .iter()
            .filter(|t| t.mode == Mode::Pinned)
            .filter(|t| {
                t.rows
                    .iter()
                    .any(|r| contenders::split_flush(&r.contender).1 == Some("each"))
            })
            .collect();
        let row =
            |t: &data::BenchTable, name: &str| t.rows.iter().find(|r| r.contender == name).cloned();
        if tables.is_empty() {
            continue;
        }
        let mut columns = vec![("Server", Align::Left)];
        columns.extend(tables.iter().map(|t| (t.condition.as_str(), Align::Right)));
        let mut table = Table::new(&columns);
        for c in CONTENDERS {
            let cells: Vec<String> = tables
                .iter()
                .map(|t| {
                    let each = row(t, &format!("{}/each", c.name));
                    let best = row(t, &format!("{}/{BEST_FLUSH}", c.name));
                    cell(each.zip(best).and_then(|(e, b)| e.time_over(&b)))
                })
                .collect();
            if cells.iter().all(|c| c == "–") {
                continue;
            }
            let mut row = vec![format!("`{}`", c.name)];
            row.extend(cells);
            table.row(row);
        }
        body.push_str(&format!(
            "`{group}` (time with `each` / time with `batched`):\n\n"
        ));
        body.push_str(&table.render());
        body.push('\n');
    }
    if body.is_empty() {
        out.push_str(
            "Not measured in this run: the imported Criterion results hold no `/each` benchmarks.\n\n",
        );
    } else {
        let passes = data::pass_count(&ctx.data.benches, Mode::Pinned);
        if passes > 1 {
            out.push_str(&format!(
                "Criterion ran in {passes} passes, each its own process with every contender in it: \
                 a gain is taken within each pass and shown as the median (min–max) over the passes. \
                 The strategies within each policy are compared in the group's own tables.\n\n"
            ));
        } else {
            out.push_str(
                "Each Criterion figure is one process, so it has no range across runs: \
                 read these gains as indications, and the repeated echo runs above as the evidence. \
                 The strategies within each policy are compared in the group's own tables.\n\n",
            );
        }
        out.push_str(&body);
    }
    out
}

/// The section.
pub(crate) fn section(ctx: &mut Ctx<'_>) -> Result<String> {
    let mut out = String::from("### Flush policy or strategy?\n\n");
    out.push_str(
        "Every server runs with `--flush each` (every message written and flushed on its own: the naive form) \
         and `--flush batched` (each strategy at its best). Within one policy a difference between strategies is \
         the strategy; a strategy's `each` → `batched` gain is the flush. \
         In the rankings, `>` between two neighbours means their min–max ranges do not overlap and `≈` that they do (about the same): a chain `a ≈ b ≈ c` does not say that `a` and `c` overlap.\n\n",
    );
    out.push_str(&throughput_part(ctx)?);
    out.push_str(&saturation_part(ctx));
    out.push_str(&criterion_part(ctx));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_github() {
        assert_eq!(
            anchor(SATURATION_TITLE),
            "contention-at-rising-load-ws-loadgen-room-every-member-sending-open-loop-pinned"
        );
        assert_eq!(
            anchor("Flush policy or strategy?"),
            "flush-policy-or-strategy"
        );
    }

    #[test]
    fn spreads_take_the_median_and_the_extremes() {
        let s = Spread::of(&[1.01, 0.93, 0.97]).expect("three values");
        assert_eq!((s.median, s.min, s.max, s.n), (0.97, 0.93, 1.01, 3));
        assert_eq!(ratio_spread(&s), "0.97× (0.93×–1.01×)");
        let even = Spread::of(&[1.0, 2.0]).expect("two values");
        assert!((even.median - 1.5).abs() < 1e-12);
        assert!(Spread::of(&[]).is_none());
        assert_eq!(ratio_spread(&Spread::of(&[0.5]).expect("one")), "0.50×");
    }

    #[test]
    fn only_ranges_apart_are_ordered() {
        let a = Spread::of(&[0.9, 1.0, 1.1]).expect("a");
        let b = Spread::of(&[0.99, 1.05]).expect("b");
        let c = Spread::of(&[0.1, 0.2]).expect("c");
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&c));
        let words = order_words(vec![("c".into(), c), ("a".into(), a), ("b".into(), b)]);
        assert_eq!(
            words,
            "`b` 1.02× (0.99×–1.05×) ≈ `a` 1.00× (0.90×–1.10×) > `c` 0.15× (0.10×–0.20×)"
        );
    }
}
