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
//!
//! A closed loop runs as fast as the slower of its two ends, and in these
//! runs that is often the generator: its throughput then only says the
//! server was at least that fast (such cells carry ‡). What an echo costs
//! the server does not depend on who limited the loop, so where the results
//! have the server's CPU in the measured window, echoes per server
//! core-second ([`per_server_core`]) are compared the same way, and the
//! verdict decides on them ([`Throughput::deciding_figure`]).

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

    /// The ratios `of ÷ over`, each taken within one repeat (values keyed
    /// by their repeat or pass; a repeat only one side has is left out, as
    /// is a ratio over zero), summarized: the one way the report forms a
    /// repeated ratio, so that drift between repeats never enters it.
    #[must_use]
    pub fn of_ratios<K: PartialEq>(
        of: impl IntoIterator<Item = (K, f64)>,
        over: &[(K, f64)],
    ) -> Option<Self> {
        let ratios: Vec<f64> = of
            .into_iter()
            .filter_map(|(repeat, v)| {
                let (_, o) = over.iter().find(|(r, _)| *r == repeat)?;
                (*o > 0.0).then(|| v / o)
            })
            .collect();
        Self::of(&ratios)
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

/// Which figure of a throughput run a comparison reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Figure {
    /// Echoes per second: the loop's speed, the generator's share included.
    Throughput,
    /// Echoes per server core-second ([`per_server_core`]): the inverse of an
    /// echo's cost to the server, whichever end limited the loop.
    PerCore,
}

impl Figure {
    /// The figure in a few words, for a deciding-figure text or a Pick line.
    pub(crate) fn words(self) -> &'static str {
        match self {
            Self::Throughput => "throughput",
            Self::PerCore => "echoes per server core",
        }
    }
}

/// Echoes received in the measured window per second of server CPU in that
/// window; `None` without the window's CPU (results from before the
/// generator read it) or when it is not a positive number.
pub(crate) fn per_server_core(r: &EchoResult) -> Option<f64> {
    let cpu = r.server.as_ref()?.measured_cpu_seconds?;
    (cpu.is_finite() && cpu > 0.0).then(|| r.received as f64 / cpu)
}

/// The figures of one throughput run, with what identifies it.
struct Point<'a> {
    server: &'a str,
    flush: &'a str,
    inflight: u64,
    repeat: u32,
    throughput: f64,
    per_core: Option<f64>,
    generator_bound: bool,
}

impl Point<'_> {
    fn figure(&self, figure: Figure) -> Option<f64> {
        match figure {
            Figure::Throughput => Some(self.throughput),
            Figure::PerCore => self.per_core,
        }
    }
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
                throughput: result.throughput_msgs_per_s,
                per_core: per_server_core(result),
                generator_bound: result.generator.bottleneck,
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

    fn runs_of(
        &self,
        server: &str,
        flush: &str,
        inflight: u64,
    ) -> impl Iterator<Item = &Point<'a>> {
        self.points
            .iter()
            .filter(move |p| p.server == server && p.flush == flush && p.inflight == inflight)
    }

    fn value(
        &self,
        figure: Figure,
        (server, flush): (&str, &str),
        inflight: u64,
        repeat: u32,
    ) -> Option<f64> {
        self.runs_of(server, flush, inflight)
            .find(|p| p.repeat == repeat)?
            .figure(figure)
    }

    fn repeats(&self) -> BTreeSet<u32> {
        self.points.iter().map(|p| p.repeat).collect()
    }

    /// The in-flight counts measured, ascending.
    pub(crate) fn inflights(&self) -> Vec<u64> {
        let set: BTreeSet<u64> = self.points.iter().map(|p| p.inflight).collect();
        set.into_iter().collect()
    }

    /// `server`'s figure over another's, repeat by repeat.
    fn per_repeat(
        &self,
        figure: Figure,
        of: (&str, &str),
        over: (&str, &str),
        inflight: u64,
    ) -> Option<Spread> {
        let values = |who: (&str, &str)| -> Vec<(u32, f64)> {
            self.repeats()
                .into_iter()
                .filter_map(|r| Some((r, self.value(figure, who, inflight, r)?)))
                .collect()
        };
        Spread::of_ratios(values(of), &values(over))
    }

    /// `figure` over that of `ws-ref-unsplit --flush batched` in the same repeat.
    pub(crate) fn ratio(
        &self,
        figure: Figure,
        server: &str,
        flush: &str,
        inflight: u64,
    ) -> Option<Spread> {
        self.per_repeat(
            figure,
            (server, flush),
            (ECHO_REFERENCE, BEST_FLUSH),
            inflight,
        )
    }

    /// `batched` over `each` of the same server and repeat, in throughput.
    pub(crate) fn gain(&self, server: &str, inflight: u64) -> Option<Spread> {
        self.per_repeat(
            Figure::Throughput,
            (server, BEST_FLUSH),
            (server, "each"),
            inflight,
        )
    }

    /// `figure` itself over the repeats.
    fn spread(&self, figure: Figure, server: &str, flush: &str, inflight: u64) -> Option<Spread> {
        let values: Vec<f64> = self
            .runs_of(server, flush, inflight)
            .filter_map(|p| p.figure(figure))
            .collect();
        Spread::of(&values)
    }

    /// Whether the generator was the limit in any repeat of `server` under `flush`.
    pub(crate) fn generator_bound(&self, server: &str, flush: &str, inflight: u64) -> bool {
        self.runs_of(server, flush, inflight)
            .any(|p| p.generator_bound)
    }

    /// Whether any run at `inflight` has `figure`.
    fn has(&self, figure: Figure, inflight: u64) -> bool {
        self.points
            .iter()
            .any(|p| p.inflight == inflight && p.figure(figure).is_some())
    }

    /// The figure strategies are judged by at `inflight`: echoes per server
    /// core where every strategy and the reference with a throughput ratio
    /// at its best has one too, else throughput, so that one comparison
    /// never mixes the two (results from before the server's window CPU was
    /// read decide as they always did).
    pub(crate) fn deciding_figure(&self, inflight: u64) -> Figure {
        let mut judged = CONTENDERS
            .iter()
            .filter(|c| !c.reference || c.name == ECHO_REFERENCE)
            .filter(|c| {
                self.ratio(Figure::Throughput, c.name, BEST_FLUSH, inflight)
                    .is_some()
            })
            .peekable();
        let complete = judged.peek().is_some()
            && judged.all(|c| {
                self.ratio(Figure::PerCore, c.name, BEST_FLUSH, inflight)
                    .is_some()
            });
        if complete {
            Figure::PerCore
        } else {
            Figure::Throughput
        }
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

/// The mark of a throughput figure from runs the generator limited.
pub(crate) const GENERATOR_BOUND: &str = "‡";

/// What [`GENERATOR_BOUND`] means, under a table that has one; `per_core`
/// says whether the table has the figure that replaces it.
fn generator_bound_note(per_core: bool) -> String {
    let tail = if per_core {
        "per server core is the comparison."
    } else {
        "per server core is the comparison, and these runs predate it (no `server.measured_cpu_seconds`)."
    };
    format!(
        "{GENERATOR_BOUND} The generator's own CPU was the limit (in at least one repeat): \
         throughput says the server was at least this fast; {tail}\n\n"
    )
}

/// The table of one in-flight count: per server and policy, echoes/s and
/// their ratio, with echoes per server core-second and theirs when
/// `per_core`, then the flush gain.
fn throughput_table(t: &Throughput<'_>, inflight: u64, per_core: bool) -> Table {
    let mut columns: Vec<(String, Align)> = vec![("Server".into(), Align::Left)];
    for flush in FLUSH_MODES {
        columns.push((format!("`{flush}`: echoes/s"), Align::Right));
        columns.push((format!("`{flush}`: × unsplit"), Align::Right));
        if per_core {
            columns.push((format!("`{flush}`: echoes / server core-s"), Align::Right));
            columns.push((format!("`{flush}`: per core × unsplit"), Align::Right));
        }
    }
    columns.push(("Flush gain (`batched` / `each`)".into(), Align::Right));
    let header: Vec<(&str, Align)> = columns.iter().map(|(h, a)| (h.as_str(), *a)).collect();
    let mut table = Table::new(&header);
    for c in CONTENDERS {
        let mut row = vec![format!("`{}`", c.name)];
        for flush in FLUSH_MODES {
            let mark = if t.generator_bound(c.name, flush, inflight) {
                GENERATOR_BOUND
            } else {
                ""
            };
            row.push(
                t.spread(Figure::Throughput, c.name, flush, inflight)
                    .map_or_else(
                        || "–".into(),
                        |s| format!("{}{mark}", format::count(s.median)),
                    ),
            );
            row.push(cell(t.ratio(Figure::Throughput, c.name, flush, inflight)));
            if per_core {
                row.push(
                    t.spread(Figure::PerCore, c.name, flush, inflight)
                        .map_or_else(|| "–".into(), |s| format::count(s.median)),
                );
                row.push(cell(t.ratio(Figure::PerCore, c.name, flush, inflight)));
            }
        }
        row.push(cell(t.gain(c.name, inflight)));
        table.row(row);
    }
    table
}

/// "- Strategies within `batched`{what}: a ≈ b > c." per policy, by `figure`.
fn strategy_lines(t: &Throughput<'_>, figure: Figure, inflight: u64) -> String {
    let what = match figure {
        Figure::Throughput => "",
        Figure::PerCore => ", per server core",
    };
    let mut out = String::new();
    for flush in FLUSH_MODES {
        let items: Vec<(String, Spread)> = strategies()
            .filter_map(|s| Some((s.to_owned(), t.ratio(figure, s, flush, inflight)?)))
            .collect();
        if items.len() > 1 {
            out.push_str(&format!(
                "- Strategies within `{flush}`{what}: {}.\n",
                order_words(items)
            ));
        }
    }
    out
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
    let per_core_anywhere = t.inflights().iter().any(|i| t.has(Figure::PerCore, *i));
    let first = ctx.data.throughput.iter().find_map(|r| r.result.as_ref());
    if let Some(r) = first {
        out.push_str(&method(r, t.repeats().len()));
        out.push_str(&format!(
            " Ratios are to `{ECHO_REFERENCE} --flush {BEST_FLUSH}` of the same repeat, \
             the gain is `batched` over `each` of the same server and repeat; median (min–max)."
        ));
        if per_core_anywhere {
            out.push_str(
                " *Echoes / server core-s* are the echoes received in the measured window divided by the server's \
                 CPU seconds (user + system, read from `/proc` as the window opened and as it closed) in that window: \
                 what an echo costs the server, whichever end of the loop was the limit; \
                 *per core × unsplit* is their ratio, taken within each repeat like the others.",
            );
        }
        out.push_str("\n\n");
        out.push_str(&late_replies_note(&ctx.data.throughput));
    }
    for inflight in t.inflights() {
        out.push_str(&format!("##### {inflight} in flight per connection\n\n"));
        let per_core = t.has(Figure::PerCore, inflight);
        out.push_str(&throughput_table(&t, inflight, per_core).render());
        out.push('\n');
        let limited = CONTENDERS.iter().any(|c| {
            FLUSH_MODES
                .iter()
                .any(|f| t.generator_bound(c.name, f, inflight))
        });
        if limited {
            out.push_str(&generator_bound_note(per_core));
        }
        out.push_str(&strategy_lines(&t, Figure::Throughput, inflight));
        if per_core {
            out.push_str(&strategy_lines(&t, Figure::PerCore, inflight));
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
    out.push_str(&throughput_plot(ctx, &t, Figure::Throughput)?);
    if per_core_anywhere {
        out.push_str(&throughput_plot(ctx, &t, Figure::PerCore)?);
    }
    out.push('\n');
    Ok(out)
}

/// How the throughput runs were made: one sliced run per repeat (every
/// server by turns), or, in results from before slicing, one run per server.
pub(crate) fn method(r: &EchoResult, repeats: usize) -> String {
    match &r.slicing {
        Some(s) => format!(
            "{} connections × {} B per server, closed loop, {}. \
             Each repeat is one *sliced* run: the {} servers and policies, each a fresh process on the server core, \
             take turns of {} (the last {} of a turn a gap in which the server gets no new messages, \
             so that its last replies are in before the next turn) for {}, {} of sending each; \
             the turn order rotates between repeats. Measured by turns because this host's speed drifts over seconds \
             (`crates/ws-loadgen/README.md`, *Sliced runs*): servers measured in separate runs seconds apart differed by that drift, \
             while within one run every server gets the same seconds. \
             Throughput counts the echoes that arrived while the server could send, over that time.",
            r.config.conns,
            r.config.size,
            repeats_words(repeats),
            s.targets,
            s.slice,
            s.gap,
            r.config.duration,
            format::nanos(s.sending_s * 1e9),
        ),
        None => format!(
            "{} connections × {} B, closed loop, {} interleaved \
             (every server and policy once per repeat, each run a fresh server process).",
            r.config.conns,
            r.config.size,
            repeats_words(repeats),
        ),
    }
}

/// `1 repeat`, `5 repeats`.
fn repeats_words(repeats: usize) -> String {
    match repeats {
        1 => "1 repeat".into(),
        n => format!("{n} repeats"),
    }
}

/// Under the throughput method: the sliced runs in which a server's last
/// replies came after its turn (the gap was too short for it, and its tail
/// took part of the next server's turn); empty when there were none.
fn late_replies_note(runs: &[Run<EchoResult>]) -> String {
    let late: Vec<(u64, u64)> = runs
        .iter()
        .filter_map(|r| r.result.as_ref())
        .filter_map(|r| Some((r.slicing.as_ref()?.replies_after_turn, r.received)))
        .filter(|(late, _)| *late > 0)
        .collect();
    let Some(&(most, of)) = late.iter().max_by_key(|(late, _)| *late) else {
        return String::new();
    };
    format!(
        "In {} of these runs some of a server's replies arrived after its turn (at most {most} of its {of} echoes): \
         the gap was short for that server, and its tail took a little of the next server's turn.\n\n",
        late.len()
    )
}

/// Ratio bars of `figure` with min–max whiskers: one group per (in flight, policy).
fn throughput_plot(ctx: &mut Ctx<'_>, t: &Throughput<'_>, figure: Figure) -> Result<String> {
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
        let spreads: Vec<Option<Spread>> = cases
            .iter()
            .map(|(i, f)| t.ratio(figure, c.name, f, *i))
            .collect();
        if spreads.iter().all(Option::is_none) {
            continue;
        }
        series.push(Series {
            name: c.name.to_owned(),
            values: spreads.iter().map(|s| s.map(|s| s.median)).collect(),
        });
        ranges.push(spreads.iter().map(|s| s.map(|s| (s.min, s.max))).collect());
    }
    // A title much longer than these runs off the plot's left edge.
    let (file, title, alt) = match figure {
        Figure::Throughput => (
            "flush-throughput.svg",
            "closed-loop echo, pinned: throughput",
            "echo throughput ratios by flush policy, median with min–max",
        ),
        Figure::PerCore => (
            "flush-per-core.svg",
            "echoes per server core-second",
            "echoes per server core-second, ratios by flush policy, median with min–max",
        ),
    };
    let svg = plots::ranged_bars(
        file,
        &format!("{title} relative to {ECHO_REFERENCE} --flush batched"),
        &format!("× {ECHO_REFERENCE}"),
        &categories,
        &series,
        &ranges,
        Some(1.0),
    )?;
    Ok(ctx.plot(file.to_owned(), alt, svg))
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
pub(crate) mod testing {
    //! Throughput runs built from their figures, for the tests of the
    //! modules that read them.

    use serde_json::json;

    use super::*;
    use crate::manifest::{Mode, RunRecord, Scenario};

    /// Measured seconds of every run built here.
    pub(crate) const SECONDS: f64 = 2.0;

    /// A closed-loop echo run of `server` under `flush` with `inflight` in
    /// flight, in `repeat`: `per_s` echoes/s; `cpu` the server's CPU seconds
    /// in the measured window (`None`: the key is absent, as in results from
    /// before it was read); `limited` whether the generator was the limit.
    pub(crate) fn echo_run(
        (server, flush): (&str, &str),
        inflight: u64,
        repeat: u32,
        per_s: f64,
        cpu: Option<f64>,
        limited: bool,
    ) -> Run<EchoResult> {
        let latency = json!({"count": 1, "mean_us": 1.0, "p50_us": 1, "p90_us": 1, "p99_us": 1,
                             "p99_9_us": 1, "p99_99_us": 1, "max_us": 1});
        let mut server_stats = json!({"baseline_rss_bytes": 1, "peak_rss_bytes": 2,
            "rss_per_connection_bytes": null, "cpu_seconds": 10.0, "cpu_cores_used": 0.9});
        if let Some(cpu) = cpu {
            server_stats["measured_cpu_seconds"] = json!(cpu);
        }
        let received = (per_s * SECONDS).round() as u64;
        let result = serde_json::from_value(json!({
            "lost": 0, "duplicated": 0, "reordered": 0, "corrupted": 0,
            "close_codes": {}, "dropped_connections": 0, "mode": "closed",
            "config": {"conns": 64, "size": 64, "duration": "2s", "warmup": "1s", "rate": null,
                       "inflight": inflight, "drain_timeout": "2s"},
            "duration_s": SECONDS, "sent": received, "received": received,
            "throughput_msgs_per_s": per_s,
            "latency": {"delivered": latency, "with_undelivered": latency,
                        "undelivered": 0, "drain_bound_us": 2_000_000},
            "delivered_fraction_worst": 1.0,
            "generator": {"threads": 1, "cpu_utilization": 0.97, "bottleneck": limited},
            "server": server_stats,
        }))
        .expect("a valid echo result");
        let case = format!("{flush}-inflight-{inflight}");
        Run {
            record: RunRecord {
                scenario: Scenario::Throughput,
                server: server.into(),
                mode: Mode::Pinned,
                stem: format!("throughput/pinned/{server}-{case}-r{repeat}"),
                case,
                rate: None,
                server_command: Vec::new(),
                load_command: Vec::new(),
                error: None,
                server_panics: None,
                flush: Some(flush.into()),
                repeat: Some(repeat),
                steal: None,
                steal_retries: None,
                shutdown: None,
            },
            result: Some(result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{SECONDS, echo_run};
    use super::*;

    const STRATEGY: &str = "ws-tokio-mutex";

    #[test]
    fn a_sliced_run_says_how_it_was_measured_and_when_a_tail_ran_over() {
        let mut run = echo_run((ECHO_REFERENCE, BEST_FLUSH), 64, 1, 100_000.0, None, false);
        let plain = method(run.result.as_ref().expect("a result"), 3);
        assert!(plain.contains("3 repeats interleaved"), "{plain}");
        assert!(!plain.contains("sliced"), "{plain}");
        let slicing = |late: u64| {
            serde_json::from_value::<crate::loadgen::Slicing>(serde_json::json!({
                "slice": "200ms", "gap": "50ms", "targets": 10,
                "sending_s": 1.5, "replies_after_turn": late
            }))
            .expect("valid slicing")
        };
        let result = run.result.as_mut().expect("a result");
        result.slicing = Some(slicing(0));
        let text = method(result, 5);
        for needle in [
            "5 repeats",
            "*sliced*",
            "10 servers",
            "turns of 200ms",
            "last 50ms",
            "1.50 s of sending",
        ] {
            assert!(text.contains(needle), "{needle:?} not in {text}");
        }
        assert_eq!(
            late_replies_note(std::slice::from_ref(&run)),
            "",
            "no tail ran over"
        );
        let mut late = run.clone();
        if let Some(r) = late.result.as_mut() {
            r.slicing = Some(slicing(37));
        }
        let note = late_replies_note(&[run, late]);
        assert!(note.starts_with("In 1 of these runs"), "{note}");
        assert!(note.contains("at most 37 of its 200000 echoes"), "{note}");
    }

    /// `server` at its best in repeats 1, 2, 3: the same echoes/s in each,
    /// the server's window CPU as given.
    fn repeats(
        server: &'static str,
        cpu: [Option<f64>; 3],
        limited: [bool; 3],
    ) -> Vec<Run<EchoResult>> {
        (0..3)
            .map(|i| {
                let repeat = u32::try_from(i + 1).expect("small");
                echo_run(
                    (server, BEST_FLUSH),
                    1,
                    repeat,
                    100_000.0,
                    cpu[i],
                    limited[i],
                )
            })
            .collect()
    }

    fn section_text(runs: &[Run<EchoResult>]) -> String {
        let data = data::Data {
            throughput: runs.to_vec(),
            ..data::Data::default()
        };
        let mut ctx = Ctx {
            data: &data,
            results_link: "results".into(),
            plots: Vec::new(),
        };
        throughput_part(&mut ctx).expect("renders")
    }

    use crate::render::table::server_row as row;

    #[test]
    fn per_core_ratios_are_taken_within_each_repeat() {
        // Echoes per server core-second, repeats 1, 2, 3: the reference
        // 100k, 200k, 400k; the strategy 400k, 100k, 200k. Within each
        // repeat 4×, 0.5×, 0.5×: median 0.5×, where the medians alone
        // (200k and 200k) would say 1×.
        let mut runs = repeats(
            ECHO_REFERENCE,
            [Some(2.0), Some(1.0), Some(0.5)],
            [false; 3],
        );
        runs.extend(repeats(
            STRATEGY,
            [Some(0.5), Some(2.0), Some(1.0)],
            [false; 3],
        ));
        let t = Throughput::new(&runs);
        let s = t
            .ratio(Figure::PerCore, STRATEGY, BEST_FLUSH, 1)
            .expect("a ratio");
        assert_eq!((s.median, s.min, s.max, s.n), (0.5, 0.5, 4.0, 3));
        let per_core = t
            .spread(Figure::PerCore, STRATEGY, BEST_FLUSH, 1)
            .expect("values");
        assert_eq!(per_core.median, 100_000.0 * SECONDS / 1.0);
        // Echoes/s were the same in every run: throughput cannot tell them apart.
        let same = t
            .ratio(Figure::Throughput, STRATEGY, BEST_FLUSH, 1)
            .expect("a ratio");
        assert_eq!((same.min, same.max), (1.0, 1.0));
        assert_eq!(t.deciding_figure(1), Figure::PerCore);
        let text = section_text(&runs);
        assert!(text.contains("`batched`: per core × unsplit"), "{text}");
        assert!(
            row(&text, STRATEGY).contains("| 200,000 | 0.50× (0.50×–4.00×) |"),
            "{text}"
        );
    }

    #[test]
    fn a_throughput_cell_of_a_generator_limited_run_is_marked() {
        let mut runs = repeats(ECHO_REFERENCE, [Some(1.0); 3], [false; 3]);
        // Limited in one repeat of three is enough.
        runs.extend(repeats(STRATEGY, [Some(1.0); 3], [false, true, false]));
        let t = Throughput::new(&runs);
        assert!(t.generator_bound(STRATEGY, BEST_FLUSH, 1));
        assert!(!t.generator_bound(ECHO_REFERENCE, BEST_FLUSH, 1));
        let text = section_text(&runs);
        assert!(
            row(&text, STRATEGY).contains(&format!("| 100,000{GENERATOR_BOUND} |")),
            "{text}"
        );
        assert!(
            !row(&text, ECHO_REFERENCE).contains(GENERATOR_BOUND),
            "{text}"
        );
        assert!(
            text.contains("‡ The generator's own CPU was the limit (in at least one repeat): throughput says the server was at least this fast; per server core is the comparison."),
            "{text}"
        );
        // Without a limited run, neither the mark nor its note.
        let calm = section_text(&repeats(ECHO_REFERENCE, [Some(1.0); 3], [false; 3]));
        assert!(!calm.contains(GENERATOR_BOUND), "{calm}");
    }

    #[test]
    fn without_the_window_cpu_nothing_is_per_core() {
        // Results from before the field: throughput alone, as before.
        let mut old = repeats(ECHO_REFERENCE, [None; 3], [true; 3]);
        old.extend(repeats(STRATEGY, [None; 3], [true; 3]));
        let t = Throughput::new(&old);
        assert!(t.ratio(Figure::PerCore, STRATEGY, BEST_FLUSH, 1).is_none());
        assert_eq!(t.deciding_figure(1), Figure::Throughput);
        let text = section_text(&old);
        assert!(!text.contains("server core-s"), "{text}");
        assert!(text.contains("these runs predate it"), "{text}");
        // One server without it among servers with it: a dash, not a number,
        // and the verdict's figure stays throughput.
        let mut mixed = repeats(ECHO_REFERENCE, [Some(1.0); 3], [false; 3]);
        mixed.extend(repeats(STRATEGY, [None; 3], [false; 3]));
        let t = Throughput::new(&mixed);
        assert!(
            t.ratio(Figure::PerCore, ECHO_REFERENCE, BEST_FLUSH, 1)
                .is_some()
        );
        assert!(t.ratio(Figure::PerCore, STRATEGY, BEST_FLUSH, 1).is_none());
        assert_eq!(t.deciding_figure(1), Figure::Throughput);
        let text = section_text(&mixed);
        let cells: Vec<&str> = row(&text, STRATEGY).split(" | ").collect();
        // Server, then per policy: echoes/s, × unsplit, per core, per core × unsplit.
        assert_eq!(cells[7], "–", "{text}");
        assert_eq!(cells[8], "–", "{text}");
    }

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
