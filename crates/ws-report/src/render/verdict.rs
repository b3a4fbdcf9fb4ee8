//! The verdict: the report's first table. One row per situation a reader
//! designs for, one column per strategy (and the references where they
//! apply), each cell the figure that decides the row, with its range where
//! the runs were repeated; the best strategy of each row is marked, and the
//! "Pick … when …" lines under the table are read off the same rows, so the
//! text cannot say something the table does not.
//!
//! A row is data ([`Row`]): where its figure comes from, which way is
//! better, how it is written. Ties follow the rest of the report: repeated
//! figures whose min–max ranges overlap are not ranked, and single figures
//! within [`TIE`] of each other are not either.

use super::data::{self, Run};
use super::flush::{Figure, Spread, Throughput};
use super::{Ctx, flush, format, heartbeat, load_curve, scenarios, slow_readers};
use crate::contenders::{
    self, BEST_FLUSH, CONTENDERS, ECHO_REFERENCE, FLUSH_MODES, ROOM_REFERENCE,
};
use crate::loadgen::SlowResult;
use crate::manifest::Mode;

/// Single figures within this fraction of the larger are "about the same".
const TIE: f64 = 0.10;

/// Which way a row's figure is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

/// How a row's figures are written.
#[derive(Clone, Copy, Debug)]
enum Unit {
    /// A ratio: `0.96×`.
    Ratio,
    /// Microseconds: `3.45 ms`.
    Micros,
    /// Bytes: `20.3 KiB`.
    Bytes,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Self::Ratio => format::ratio(v),
            Self::Micros => format::micros(v.round().max(0.0) as u64),
            Self::Bytes => format::bytes(v),
        }
    }
}

/// One server's figure in a row: at its best and, where the flush policy
/// matters, naive (`--flush each`); `note` adds what else the cell says.
#[derive(Clone, Debug, Default)]
struct Cell {
    best: Option<Spread>,
    naive: Option<Spread>,
    note: Option<String>,
}

/// One situation.
struct Row {
    /// "Request/reply".
    situation: &'static str,
    /// "when … " in a Pick line.
    when: &'static str,
    /// What the figure is, with its source.
    figure: String,
    /// The figure in two or three words, for the Pick line.
    short: &'static str,
    /// The server a ratio row divides by.
    reference: Option<&'static str>,
    /// The title of the section holding the evidence (linked by its anchor).
    section: &'static str,
    better: Better,
    unit: Unit,
    /// By server, in contender order.
    cells: Vec<(&'static str, Cell)>,
    /// Throughput from runs the generator limited (the figure carries
    /// [`flush::GENERATOR_BOUND`], and the notes below the table say what it means).
    generator_limited: bool,
}

fn strategies() -> impl Iterator<Item = &'static str> {
    CONTENDERS.iter().filter(|c| !c.reference).map(|c| c.name)
}

/// Whether `a` is as good as `b` by the tie rule: ranges that overlap, or
/// single figures within [`TIE`].
fn tied(a: &Spread, b: &Spread) -> bool {
    if a.n > 1 && b.n > 1 {
        a.overlaps(b)
    } else {
        (a.median - b.median).abs() <= TIE * a.median.abs().max(b.median.abs())
    }
}

impl Row {
    /// The strategies' figures at their best.
    fn strategy_figures(&self) -> Vec<(&'static str, Spread)> {
        self.cells
            .iter()
            .filter(|(s, _)| !contenders::is_reference(s))
            .filter_map(|(s, c)| Some((*s, c.best?)))
            .collect()
    }

    /// The best strategy's figure and every strategy tied with it, in rank order.
    fn leaders(&self) -> Vec<(&'static str, Spread)> {
        let mut figures = self.strategy_figures();
        figures.sort_by(|a, b| {
            let o = a.1.median.total_cmp(&b.1.median);
            if self.better == Better::Higher {
                o.reverse()
            } else {
                o
            }
        });
        let Some(&(_, best)) = figures.first() else {
            return Vec::new();
        };
        figures.into_iter().filter(|f| tied(&f.1, &best)).collect()
    }

    /// The worst strategy's figure.
    fn worst(&self) -> Option<(&'static str, Spread)> {
        let figures = self.strategy_figures();
        let pick = |a: &(&str, Spread), b: &(&str, Spread)| a.1.median.total_cmp(&b.1.median);
        if self.better == Better::Higher {
            figures.into_iter().min_by(pick)
        } else {
            figures.into_iter().max_by(pick)
        }
    }

    fn spread(&self, s: &Spread) -> String {
        if s.n > 1 {
            s.show(|v| self.unit.show(v))
        } else {
            format!("{}†", self.unit.show(s.median))
        }
    }

    fn cell(&self, server: &str, c: &Cell, leaders: &[(&str, Spread)]) -> String {
        let Some(best) = &c.best else {
            return "–".into();
        };
        // A ratio's own reference is 1.00× by construction: say so instead
        // of a range of 1.00×–1.00×.
        let mut s = if self.unit_is_ratio_to(server) {
            format!("{} (reference)", self.unit.show(best.median))
        } else {
            self.spread(best)
        };
        if leaders.iter().any(|(l, _)| *l == server) {
            s = format!("**{s}** ✓");
        }
        if let Some(naive) = &c.naive {
            s.push_str(&format!("<br>naive: {}", self.spread(naive)));
        }
        if let Some(note) = &c.note {
            s.push_str(&format!("<br>{note}"));
        }
        s
    }

    /// `[Title](#anchor)` of the evidence section, the title without its
    /// parenthesised details.
    fn link(&self) -> String {
        let short = self.section.split(" (").next().unwrap_or(self.section);
        format!("[{short}](#{})", flush::anchor(self.section))
    }

    /// Whether `server` is the reference this row's ratios are taken to.
    fn unit_is_ratio_to(&self, server: &str) -> bool {
        matches!(self.unit, Unit::Ratio) && self.reference == Some(server)
    }

    /// The row as a finding in sentences: the same figures, the same tie
    /// rule and the same order as its table row and Pick line, every
    /// strategy named with its figure, the naive figures beside.
    fn finding(&self) -> Option<String> {
        let leaders = self.leaders();
        if leaders.is_empty() {
            return None;
        }
        let mut behind: Vec<(&str, Spread)> = self
            .strategy_figures()
            .into_iter()
            .filter(|(s, _)| !leaders.iter().any(|(l, _)| l == s))
            .collect();
        behind.sort_by(|a, b| {
            let o = a.1.median.total_cmp(&b.1.median);
            if self.better == Better::Higher {
                o.reverse()
            } else {
                o
            }
        });
        let named = |l: &[(&str, Spread)]| {
            super::claims::join(
                l.iter()
                    .map(|(n, s)| format!("`{n}` {}", self.spread(s)))
                    .collect(),
            )
        };
        let mut out = format!("- **{}** ({}): ", self.situation, self.figure);
        if behind.is_empty() {
            out.push_str(&format!(
                "about the same for every strategy: {}.",
                named(&leaders)
            ));
        } else {
            let verb = if leaders.len() == 1 { "was" } else { "were" };
            out.push_str(&format!(
                "the best {verb} {}; behind, {}.",
                named(&leaders),
                named(&behind)
            ));
        }
        let naive: Vec<String> = self
            .cells
            .iter()
            .filter(|(s, _)| !contenders::is_reference(s))
            .filter_map(|(s, c)| Some(format!("`{s}` {}", self.spread(c.naive.as_ref()?))))
            .collect();
        if !naive.is_empty() {
            out.push_str(&format!(
                " Naive (`--flush each`): {}.",
                super::claims::join(naive)
            ));
        }
        out.push_str(&format!(" See {}.\n", self.link()));
        Some(out)
    }

    /// The row's "Pick … when …" line, or None without figures.
    fn pick(&self) -> Option<Pick> {
        let leaders = self.leaders();
        let worst = self.worst()?;
        let names = |l: &[(&str, Spread)]| {
            super::claims::join(l.iter().map(|(n, _)| format!("`{n}`")).collect())
        };
        let link = self.link();
        let all = strategies().count();
        if leaders.len() >= all {
            let how = if leaders.iter().all(|l| l.1.n > 1) {
                "their ranges overlap".to_owned()
            } else {
                format!("all within {} of the best", format::percent(TIE))
            };
            let medians = leaders.iter().map(|l| l.1.median);
            let lo = medians.clone().fold(f64::INFINITY, f64::min);
            let hi = medians.fold(f64::NEG_INFINITY, f64::max);
            return Some(Pick::AnyOfTheThree(format!(
                "when {} ({} {} to {}, {how}: {link})",
                self.when,
                self.short,
                self.unit.show(lo),
                self.unit.show(hi)
            )));
        }
        let (_, best) = leaders.first()?;
        Some(Pick::Line(format!(
            "- **Pick {}** when {}: {} {} against {} for `{}`. {link}",
            names(&leaders),
            self.when,
            self.short,
            self.unit.show(best.median),
            self.unit.show(worst.1.median),
            worst.0
        )))
    }
}

/// What a row says under the verdict table.
enum Pick {
    /// A line of its own: which strategies to pick, and why.
    Line(String),
    /// A clause of the one line for every row where the three tie, so that
    /// the ties take one line and the lines that decide stand out.
    AnyOfTheThree(String),
}

/// The lines under the verdict table: the rows that decide, in row order,
/// then one line for every row where the three tie.
fn pick_lines(rows: &[Row]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut ties = Vec::new();
    for pick in rows.iter().filter_map(Row::pick) {
        match pick {
            Pick::Line(line) => lines.push(line),
            Pick::AnyOfTheThree(clause) => ties.push(clause),
        }
    }
    if !ties.is_empty() {
        lines.push(format!("- **Any of the three** {}.", ties.join("; ")));
    }
    lines
}

/// Spread of the values, `None` without any.
fn spread_of(values: &[f64]) -> Option<Spread> {
    Spread::of(values)
}

/// Closed-loop echo at `inflight` in flight, at best and naive: echoes per
/// server core-second over `ws-ref-unsplit`'s, repeat by repeat, where the
/// runs have the server's CPU in the measured window (the generator was
/// often the limit, so throughput ratios near 1.00× say little); else the
/// throughput ratio, its figure marked when the generator limited some runs.
fn echo_row(ctx: &Ctx<'_>, pipelined: bool) -> Option<Row> {
    let t = Throughput::new(&ctx.data.throughput);
    let inflights = t.inflights();
    let inflight = if pipelined {
        *inflights.last()?
    } else {
        *inflights.first()?
    };
    if pipelined && inflights.len() < 2 {
        return None;
    }
    let figure = t.deciding_figure(inflight);
    let servers = || {
        CONTENDERS
            .iter()
            .filter(|c| !c.reference || c.name == ECHO_REFERENCE)
    };
    let cells = servers()
        .map(|c| {
            (
                c.name,
                Cell {
                    best: t.ratio(figure, c.name, BEST_FLUSH, inflight),
                    naive: t.ratio(figure, c.name, "each", inflight),
                    note: None,
                },
            )
        })
        .collect();
    let load = format!("{inflight} in flight per connection, pinned (higher is better)");
    // Per server core the generator's limit does not matter: only
    // throughput is marked when the generator was the limit.
    let generator_limited = figure == Figure::Throughput
        && servers().any(|c| {
            FLUSH_MODES
                .iter()
                .any(|f| t.generator_bound(c.name, f, inflight))
        });
    let figure_text = match figure {
        Figure::PerCore => format!(
            "echoes per server core-second ÷ `{ECHO_REFERENCE}`'s (echoes in the measured window ÷ the server's CPU seconds in it), {load}"
        ),
        Figure::Throughput => {
            let mark = if generator_limited {
                flush::GENERATOR_BOUND
            } else {
                ""
            };
            format!("echo throughput{mark} ÷ `{ECHO_REFERENCE}`, {load}")
        }
    };
    Some(Row {
        situation: if pipelined {
            "Pipelined replies"
        } else {
            "Request/reply"
        },
        when: if pipelined {
            "a client pipelines requests"
        } else {
            "each client waits for its reply"
        },
        figure: figure_text,
        short: figure.words(),
        reference: Some(ECHO_REFERENCE),
        section: "Flush policy or strategy?",
        better: Better::Higher,
        unit: Unit::Ratio,
        cells,
        generator_limited,
    })
}

/// A Criterion group's geometric-mean ratio over its pinned conditions,
/// per Criterion pass, as median (min–max) over the passes.
fn bench_row(
    ctx: &Ctx<'_>,
    group: &str,
    situation: &'static str,
    when: &'static str,
    section: &'static str,
) -> Option<Row> {
    let tables = data::bench_tables(&ctx.data.benches, group);
    let mut conditions = 0;
    let cells: Vec<(&'static str, Cell)> = CONTENDERS
        .iter()
        .filter(|c| c.rooms)
        .map(|c| {
            // Over the Criterion passes: a range (no †) when there are several.
            let best = data::geomean_spread(&tables, Mode::Pinned, c.name);
            if let Some((_, n)) = best {
                conditions = conditions.max(n);
            }
            let naive = data::geomean_spread(&tables, Mode::Pinned, &format!("{}/each", c.name));
            (
                c.name,
                Cell {
                    best: best.map(|(s, _)| s),
                    naive: naive.map(|(s, _)| s),
                    note: None,
                },
            )
        })
        .collect();
    if cells.iter().all(|(_, c)| c.best.is_none()) {
        return None;
    }
    Some(Row {
        situation,
        when,
        figure: format!(
            "Criterion `{group}` throughput ÷ `{ROOM_REFERENCE}`, geometric mean over {conditions} pinned condition(s){passes} (higher is better)",
            passes = match data::group_pass_count(&ctx.data.benches, Mode::Pinned, group) {
                n if n > 1 => format!(" within each of {n} passes"),
                _ => String::new(),
            }
        ),
        short: "throughput",
        reference: Some(ROOM_REFERENCE),
        section,
        better: Better::Higher,
        unit: Unit::Ratio,
        cells,
        generator_limited: false,
    })
}

/// Every run of `server` in `runs` with a result, as values.
fn values<T>(runs: &[&Run<T>], server: &str, f: impl Fn(&T) -> Option<f64>) -> Vec<f64> {
    runs.iter()
        .filter(|r| r.record.server == server)
        .filter_map(|r| r.result.as_ref().and_then(&f))
        .collect()
}

/// A cell per contender with runs in `runs`: the spread of `f` over them,
/// no naive figure.
fn cells_of<T>(runs: &[&Run<T>], f: impl Fn(&T) -> Option<f64>) -> Vec<(&'static str, Cell)> {
    CONTENDERS
        .iter()
        .map(|c| {
            (
                c.name,
                Cell {
                    best: spread_of(&values(runs, c.name, &f)),
                    naive: None,
                    note: None,
                },
            )
        })
        .collect()
}

/// One stalled member: the healthy members' p99 over the repeats, with
/// the frozen seconds.
fn stalled_row(ctx: &Ctx<'_>) -> Option<Row> {
    let stalled = scenarios::slow_case(&ctx.data.slow, "stalled");
    if stalled.is_empty() {
        return None;
    }
    let cells = CONTENDERS
        .iter()
        .filter(|c| c.rooms)
        .map(|c| {
            let results = scenarios::results_of(&stalled, c.name);
            let frozen = (!results.is_empty())
                .then(|| format!("{} s frozen", scenarios::late_cell(&results)));
            (
                c.name,
                Cell {
                    best: scenarios::spread_by(&results, scenarios::healthy_p99),
                    naive: None,
                    note: frozen,
                },
            )
        })
        .collect();
    Some(Row {
        situation: "A client that stops reading",
        when: "a client can stop reading",
        figure: format!(
            "healthy members' delivery p99 in a room with one stalled member; frozen: seconds with a delivery over {} (lower is better)",
            format::micros(scenarios::FROZEN_US)
        ),
        short: "healthy p99",
        reference: None,
        section: "Slow consumer isolation",
        better: Better::Lower,
        unit: Unit::Micros,
        cells,
        generator_limited: false,
    })
}

/// A reader slower than the room: the worst healthy p99 over the paces
/// below the room's, taken within each repeat, then over the repeats.
fn slow_reader_row(ctx: &Ctx<'_>) -> Option<Row> {
    let sweep: Vec<(u32, &Run<SlowResult>)> = ctx
        .data
        .slow_readers
        .iter()
        .filter_map(|r| slow_readers::pace_of(r).map(|p| (p, r)))
        .filter(|(p, _)| *p < 100)
        .collect();
    if sweep.is_empty() {
        return None;
    }
    let mut paces: Vec<u32> = sweep.iter().map(|(p, _)| *p).collect();
    paces.sort_unstable();
    paces.dedup();
    let cells = CONTENDERS
        .iter()
        .filter(|c| c.rooms)
        .map(|c| {
            let runs: Vec<&Run<SlowResult>> = sweep
                .iter()
                .filter(|(_, r)| r.record.server == c.name)
                .map(|(_, r)| *r)
                .collect();
            let results = scenarios::results_of(&runs, c.name);
            let mut repeats: Vec<Option<u32>> = results.iter().map(|(r, _)| *r).collect();
            repeats.dedup();
            let worst: Vec<f64> = repeats
                .iter()
                .map(|repeat| {
                    results
                        .iter()
                        .filter(|(r, _)| r == repeat)
                        .map(|(_, res)| scenarios::healthy_p99(res))
                        .fold(f64::NEG_INFINITY, f64::max)
                })
                .collect();
            (
                c.name,
                Cell {
                    best: spread_of(&worst),
                    naive: None,
                    note: None,
                },
            )
        })
        .collect();
    Some(Row {
        situation: "A slow reader",
        when: "a reader can fall behind the room",
        figure: format!(
            "healthy members' delivery p99, the worst over one member reading at {} of the room's pace (lower is better)",
            super::claims::join(paces.iter().map(|p| format!("{p}%")).collect())
        ),
        short: "healthy p99",
        reference: None,
        section: "Slow readers",
        better: Better::Lower,
        unit: Unit::Micros,
        cells,
        generator_limited: false,
    })
}

/// Pings under an echo flood: the p99 interval between a connection's pings
/// as a multiple of the ping interval, at best and naive.
fn heartbeat_row(ctx: &Ctx<'_>) -> Option<Row> {
    let runs = &ctx.data.heartbeat;
    let size = heartbeat::flood_size(runs)?;
    let cells = CONTENDERS
        .iter()
        .map(|c| {
            (
                c.name,
                Cell {
                    best: heartbeat::flood_p99(runs, c.name, BEST_FLUSH),
                    naive: heartbeat::flood_p99(runs, c.name, "each"),
                    note: None,
                },
            )
        })
        .collect();
    Some(Row {
        situation: "Pings under load",
        when: "peers judge liveness by the server's pings",
        figure: format!(
            "p99 interval between a connection's pings under a {} echo flood, × the ping interval (1.00× is on time; lower is better)",
            format::bytes(size)
        ),
        short: "ping p99",
        reference: None,
        section: "Heartbeat punctuality",
        better: Better::Lower,
        unit: Unit::Ratio,
        cells,
        generator_limited: false,
    })
}

/// Idle connections: the server's RSS per connection.
fn memory_row(ctx: &Ctx<'_>) -> Option<Row> {
    let runs: Vec<&Run<_>> = ctx
        .data
        .memory
        .iter()
        .filter(|r| r.record.case == crate::collect::plan::MEMORY_DEFAULT)
        .collect();
    let conns = runs
        .iter()
        .find_map(|r| r.result.as_ref())
        .map(|m| m.attempted)?;
    let cells = cells_of(&runs, |m: &crate::loadgen::ConnectResult| {
        m.server.as_ref().and_then(|s| s.rss_per_connection_bytes)
    });
    Some(Row {
        situation: "Many idle connections",
        when: "memory per idle connection matters",
        figure: format!(
            "server RSS per connection, {} idle connections (lower is better)",
            format::count(conns as f64)
        ),
        short: "RSS per connection",
        reference: None,
        section: "Memory",
        better: Better::Lower,
        unit: Unit::Bytes,
        cells,
        generator_limited: false,
    })
}

/// Steady open-loop echo: the p99 at the load curve's fixed rate, repeated
/// and in both flush modes; without load-curve runs (results from before
/// the scenario), the single latency run at the highest pinned rate.
fn latency_row(ctx: &Ctx<'_>) -> Option<Row> {
    let curve = &ctx.data.load_curve;
    let (rate, cells, source): (f64, Vec<(&'static str, Cell)>, &str) =
        if let Some(&rate) = load_curve::fixed_rates(curve).last() {
            let cells = CONTENDERS
                .iter()
                .filter(|c| !c.reference || c.name == ECHO_REFERENCE)
                .map(|c| {
                    (
                        c.name,
                        Cell {
                            best: load_curve::p99_at_rate(curve, c.name, BEST_FLUSH, rate),
                            naive: load_curve::p99_at_rate(curve, c.name, "each", rate),
                            note: None,
                        },
                    )
                })
                .collect();
            (rate, cells, "load curve")
        } else {
            let rate = *scenarios::rates(&ctx.data.latency).last()?;
            let runs = scenarios::latency_runs(&ctx.data.latency, Mode::Pinned, rate);
            let cells = cells_of(&runs, |e: &crate::loadgen::EchoResult| {
                Some(e.latency.with_undelivered.p99_us as f64)
            });
            (rate, cells, "latency")
        };
    if cells.iter().all(|(_, c)| c.best.is_none()) {
        return None;
    }
    let section = if source == "load curve" {
        "Latency against load"
    } else {
        "Latency"
    };
    Some(Row {
        situation: "Tail latency under steady load",
        when: "tail latency under steady load decides",
        figure: format!(
            "echo round-trip p99 at {} offered, 64 connections × 64 B, open loop, pinned (lower is better)",
            format::rate(rate)
        ),
        short: "p99",
        reference: None,
        section,
        better: Better::Lower,
        unit: Unit::Micros,
        cells,
        generator_limited: false,
    })
}

/// Every member of a room sending, open loop: the fan-out p99 at the
/// highest offered rate some strategy still carries at its best (so the
/// row compares latency where keeping up is possible, not an overload).
/// Without saturation runs, the Criterion `contention` group.
fn contention_row(ctx: &Ctx<'_>) -> Option<Row> {
    let runs = flush::saturation_runs(&ctx.data.saturation);
    let rates = flush::saturation_rates(&runs);
    let carried_by_some = |rate: f64| {
        strategies()
            .any(|s| flush::carried_at(&runs, s, BEST_FLUSH, rate).is_some_and(|k| k.kept_up()))
    };
    let Some(&rate) = rates.iter().rev().find(|&&r| carried_by_some(r)) else {
        return bench_row(
            ctx,
            "contention",
            "Many writers per socket",
            "many tasks write to the same socket",
            "Contention",
        );
    };
    let members = runs
        .iter()
        .find_map(|r| r.result.as_ref())
        .map_or(0, |r| r.config.conns);
    let size = runs
        .iter()
        .find_map(|r| r.result.as_ref())
        .map_or(0, |r| r.config.size);
    let cells = CONTENDERS
        .iter()
        .filter(|c| c.rooms)
        .map(|c| {
            let best = flush::carried_at(&runs, c.name, BEST_FLUSH, rate);
            let naive = flush::carried_at(&runs, c.name, "each", rate);
            // A figure from a server that did not deliver what was offered
            // is not a latency at that rate: say how much it delivered.
            let short = |k: &flush::Carried| {
                (k.share.median < 0.99)
                    .then(|| format!("delivered {}", format::percent(k.share.median)))
            };
            let note = match (
                best.as_ref().and_then(short),
                naive.as_ref().and_then(short),
            ) {
                (Some(b), Some(n)) => Some(format!("{b}; naive {n}")),
                (Some(b), None) => Some(b),
                (None, Some(n)) => Some(format!("naive {n}")),
                (None, None) => None,
            };
            (
                c.name,
                Cell {
                    best: best.map(|k| k.p99),
                    naive: naive.map(|k| k.p99),
                    note,
                },
            )
        })
        .collect();
    Some(Row {
        situation: "Many writers per socket",
        when: "many tasks write to the same socket",
        figure: format!(
            "fan-out p99 with all {members} members of a room sending {size} B, {} deliveries/s offered \
             (the highest rate a strategy carried), open loop, pinned (lower is better)",
            format::count(rate * members as f64)
        ),
        short: "p99",
        reference: None,
        section: flush::SATURATION_TITLE,
        better: Better::Lower,
        unit: Unit::Micros,
        cells,
        generator_limited: false,
    })
}

fn rows(ctx: &Ctx<'_>) -> Vec<Row> {
    [
        echo_row(ctx, false),
        echo_row(ctx, true),
        bench_row(
            ctx,
            "broadcast",
            "Fan-out to a room",
            "one message goes to a whole room",
            "Broadcast fan-out",
        ),
        contention_row(ctx),
        stalled_row(ctx),
        slow_reader_row(ctx),
        heartbeat_row(ctx),
        memory_row(ctx),
        latency_row(ctx),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The flush policy's cost where it is largest: the smallest and largest
/// naive ÷ batched over the strategies, in the pipelined row, in the
/// figure that row decides on.
fn flush_line(rows: &[Row]) -> Option<String> {
    let row = rows.iter().find(|r| r.situation == "Pipelined replies")?;
    let factors: Vec<f64> = row
        .cells
        .iter()
        .filter(|(s, _)| !contenders::is_reference(s))
        .filter_map(|(_, c)| Some(c.naive?.median / c.best?.median))
        .filter(|f| f.is_finite())
        .collect();
    let lo = factors.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = factors.iter().copied().fold(0.0, f64::max);
    (!factors.is_empty()).then(|| {
        format!(
            "- **Whichever you pick, batch the flushes**: with pipelined replies, flushing every message on its own kept {}–{} of each strategy's batched {}. [Flush policy or strategy?](#flush-policy-or-strategy)",
            format::percent(lo),
            format::percent(hi),
            row.short
        )
    })
}

/// The verdict row of `situation` written as a finding, so that the
/// findings say what the verdict says, from the same figures.
pub(crate) fn finding(ctx: &Ctx<'_>, situation: &str) -> Option<String> {
    rows(ctx)
        .into_iter()
        .find(|r| r.situation == situation)?
        .finding()
}

/// "Verdict": the table and its Pick lines.
pub fn section(ctx: &Ctx<'_>) -> String {
    let rows = rows(ctx);
    let mut out = String::from("## Verdict\n\n");
    if rows.is_empty() {
        out.push_str("No results to decide from.\n\n");
        return out;
    }
    let mut columns: Vec<&'static str> = Vec::new();
    for c in CONTENDERS {
        if rows
            .iter()
            .any(|r| r.cells.iter().any(|(s, _)| *s == c.name))
        {
            columns.push(c.name);
        }
    }
    out.push_str("| Situation | Deciding figure |");
    for c in &columns {
        out.push_str(&format!(" `{c}` |"));
    }
    out.push_str("\n|---|---|");
    for _ in &columns {
        out.push_str("---:|");
    }
    out.push('\n');
    for row in &rows {
        let leaders = row.leaders();
        out.push_str(&format!(
            "| [{}](#{}) | {} |",
            row.situation,
            flush::anchor(row.section),
            row.figure
        ));
        for c in &columns {
            let cell = row
                .cells
                .iter()
                .find(|(s, _)| s == c)
                .map_or_else(|| "n/a".to_owned(), |(s, cell)| row.cell(s, cell, &leaders));
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "\n**Bold ✓**: the best of the three strategies in that row, and every strategy tied with it \
         (repeated figures whose min–max ranges overlap, single figures within {} of each other); the references are not ranked. \
         A range is the median (min–max) over repeated runs; † marks a figure from a single run, without a range. \
         *Naive* is the same server with `--flush each` (every message flushed on its own), where the flush policy matters; \
         the other figure is the server at its best (`--flush batched`).",
        format::percent(TIE)
    ));
    if rows.iter().any(|r| r.generator_limited) {
        out.push_str(&format!(
            " {}: the generator's own CPU was the limit in some of the runs behind that row, so their throughput \
             says only that the servers were at least this fast and ratios near {} say little; \
             echoes per server core-second are the comparison where the results have them.",
            flush::GENERATOR_BOUND,
            format::ratio(1.0)
        ));
    }
    out.push_str("\n\n");
    for line in pick_lines(&rows) {
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(line) = flush_line(&rows) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::super::data::Data;
    use super::super::flush::testing::echo_run;
    use super::*;
    use crate::loadgen::EchoResult;

    /// Every echo server at its best with 1 in flight, three repeats, all at
    /// the same echoes/s with the generator the limit; `cpu(server, repeat)`
    /// its CPU seconds in the window (`None`: results from before them).
    fn runs(cpu: impl Fn(&str, u32) -> Option<f64>) -> Vec<Run<EchoResult>> {
        let mut out = Vec::new();
        for repeat in 1..=3 {
            for c in CONTENDERS
                .iter()
                .filter(|c| !c.reference || c.name == ECHO_REFERENCE)
            {
                let cpu = cpu(c.name, repeat);
                out.push(echo_run(
                    (c.name, BEST_FLUSH),
                    1,
                    repeat,
                    100_000.0,
                    cpu,
                    true,
                ));
            }
        }
        out
    }

    fn request_reply(runs: Vec<Run<EchoResult>>) -> (String, &'static str, Vec<&'static str>) {
        let data = Data {
            throughput: runs,
            ..Data::default()
        };
        let ctx = Ctx {
            data: &data,
            results_link: "results".into(),
            plots: Vec::new(),
        };
        let row = echo_row(&ctx, false).expect("a request/reply row");
        let leaders = row.leaders().into_iter().map(|(s, _)| s).collect();
        (row.figure.clone(), row.short, leaders)
    }

    /// `ws-mpsc-writer` costs its server half the CPU per echo of every
    /// other server, in every repeat (the others vary a little).
    fn cheap_writer(server: &str, repeat: u32) -> Option<f64> {
        let base = if server == "ws-mpsc-writer" { 0.5 } else { 1.0 };
        Some(base * (1.0 + 0.01 * f64::from(repeat)))
    }

    #[test]
    fn the_echo_rows_decide_per_server_core_when_the_runs_have_it() {
        let (figure, short, leaders) = request_reply(runs(cheap_writer));
        assert!(
            figure.starts_with("echoes per server core-second ÷ `ws-ref-unsplit`'s"),
            "{figure}"
        );
        assert!(!figure.contains(flush::GENERATOR_BOUND), "{figure}");
        assert_eq!(short, "echoes per server core");
        assert_eq!(leaders, ["ws-mpsc-writer"]);
    }

    #[test]
    fn the_echo_rows_keep_throughput_without_it() {
        // The same runs without the window's CPU: the same echoes/s, so the
        // three tie, and the figure says it is throughput a generator limited.
        let (figure, short, leaders) = request_reply(runs(|_, _| None));
        assert!(
            figure.starts_with("echo throughput‡ ÷ `ws-ref-unsplit`"),
            "{figure}"
        );
        assert_eq!(short, "throughput");
        assert_eq!(leaders.len(), 3, "{leaders:?}");
        // One strategy without it is enough to keep throughput for the row.
        let partial = |server: &str, repeat| {
            (server != "ws-std-mutex")
                .then(|| cheap_writer(server, repeat))
                .flatten()
        };
        let (figure, _, _) = request_reply(runs(partial));
        assert!(figure.starts_with("echo throughput"), "{figure}");
    }
}
