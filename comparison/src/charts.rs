//! SVG charts of one run's figures, drawn with plotters' SVG backend: grouped bar
//! charts, one file per workload, written into a folder (`comparison/charts/` by
//! default, see the bench's `--charts`).
//!
//! plotters is built without its font and bitmap features: the SVG backend writes
//! text as `<text>` elements, laid out with plotters' own estimate of a text's
//! width, and the viewer's fonts draw them; so nothing here needs system fonts.

use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::connections::{ConnContender, ConnFigures};
use crate::loopback::{Contender, LoopbackFigures, PERCENTILES};
use crate::streams::{StreamContender, StreamRound};

/// One panel: bars in groups along x, one bar per series in each group.
struct Bars {
    title: String,
    y_label: &'static str,
    /// The groups' names, along x.
    groups: Vec<String>,
    /// Each series' name (the legend) and its value in each group.
    series: Vec<(String, Vec<f64>)>,
    /// A logarithmic y axis, for latencies whose tails are many times their
    /// medians.
    log: bool,
}

/// Colours of the series, in order (a colour-blind-safe palette).
const COLOURS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
];

/// How a value is printed on an axis or above its bar: three significant figures
/// at most, with `k` and `M` for thousands and millions, no trailing zeros.
fn short(v: f64) -> String {
    let (v, unit) = match v.abs() {
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let digits = match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    };
    let digits = if digits.contains('.') {
        digits.trim_end_matches('0').trim_end_matches('.')
    } else {
        &digits
    };
    format!("{digits}{unit}")
}

/// Writes `panels` side by side into one SVG file at `path`, with `note` (what
/// run this is) along the bottom.
fn write(path: &Path, panels: &[Bars], note: &str) -> Result<(), Box<dyn Error>> {
    let width = 120 + 560 * panels.len() as u32;
    let root = SVGBackend::new(path, (width, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let (body, footer) = root.split_vertically(440);
    footer.draw(&Text::new(
        note.to_string(),
        (10, 4),
        ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90)),
    ))?;
    for (area, bars) in body.split_evenly((1, panels.len())).iter().zip(panels) {
        panel(area, bars)?;
    }
    root.present()?;
    Ok(())
}

/// Draws one panel into `area`, on a linear or a logarithmic y axis.
fn panel(area: &DrawingArea<SVGBackend, Shift>, bars: &Bars) -> Result<(), Box<dyn Error>> {
    let values = || bars.series.iter().flat_map(|(_, v)| v.iter().copied());
    let top = values().fold(0.0, f64::max).max(1e-9);
    let groups = bars.groups.len().max(1) as f64;
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&bars.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64);
    let x = -0.5..groups - 0.5;
    // Room above the bars for their values and the legend (top right).
    let room: f64 = if bars.series.len() > 1 { 1.45 } else { 1.15 };
    if bars.log {
        let bottom = values().filter(|v| *v > 0.0).fold(top, f64::min);
        // Whole decades around the values, so the axis reads 1, 10, 100...
        let (bottom, top) = (
            10f64.powf(bottom.log10().floor()),
            10f64.powf((top * room.powi(4)).log10().ceil()),
        );
        let mut chart = builder.build_cartesian_2d(x, (bottom..top).log_scale())?;
        draw(&mut chart, bars, bottom)
    } else {
        let mut chart = builder.build_cartesian_2d(x, 0.0..top * room)?;
        draw(&mut chart, bars, 0.0)
    }
}

/// Draws the mesh, the bars (from `base` up) with their values, and the legend.
fn draw<'a, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, Y>>,
    bars: &Bars,
    base: f64,
) -> Result<(), Box<dyn Error>>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let names = bars.groups.clone();
    // The groups sit at whole x positions; only those get a label.
    let group_name = move |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(RGBColor(245, 245, 245))
        .x_labels(bars.groups.len() + 1)
        .x_label_formatter(&group_name)
        .y_desc(bars.y_label)
        .y_label_formatter(&|v| short(*v))
        .label_style(("sans-serif", 12))
        .draw()?;
    let n = bars.series.len().max(1) as f64;
    let width = 0.8 / n;
    let label_at = bars.groups.len() * bars.series.len() <= 16;
    for (s, (name, values)) in bars.series.iter().enumerate() {
        let colour = COLOURS[s % COLOURS.len()];
        let left = |g: usize| g as f64 - 0.4 + s as f64 * width;
        chart
            .draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(g, &v)| {
                        Rectangle::new(
                            [(left(g), base), (left(g) + width * 0.92, v)],
                            colour.filled(),
                        )
                    }),
            )?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        if label_at {
            let style = ("sans-serif", 11)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(g, &v)| Text::new(short(v), (left(g) + width * 0.46, v), style.clone())),
            )?;
        }
    }
    if bars.series.len() > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font(("sans-serif", 12))
            .draw()?;
    }
    Ok(())
}

/// The figures of one run, whichever workloads it ran.
pub struct Run<'a> {
    /// The loopback workload's figures.
    pub loopback: &'a [(Contender, LoopbackFigures)],
    /// The streams workload's rounds.
    pub streams: Option<&'a [(StreamContender, Vec<StreamRound>)]>,
    /// The many-connections workload's figures.
    pub connections: Option<&'a [(ConnContender, ConnFigures)]>,
    /// What run this is (date, load, commit), printed under every chart.
    pub note: String,
}

/// Writes every chart that `run` has the figures for into `dir` (created if
/// missing) and returns the files written.
///
/// # Errors
///
/// When the folder or a file cannot be written.
pub fn write_all(dir: &Path, run: &Run) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut chart = |name: &str, panels: Vec<Bars>| -> Result<(), Box<dyn Error>> {
        if panels.iter().all(|p| p.groups.is_empty()) {
            return Ok(());
        }
        let path = dir.join(name);
        write(&path, &panels, &run.note)?;
        written.push(path);
        Ok(())
    };
    let lb = |c: Contender| run.loopback.iter().find(|(k, _)| *k == c).map(|(_, f)| f);
    let present: Vec<(Contender, &LoopbackFigures)> = Contender::ALL
        .iter()
        .filter_map(|&c| Some((c, lb(c)?)))
        .collect();

    // Sequential calls: the percentiles of each contender.
    chart(
        "latency.svg",
        vec![Bars {
            title: "Sequential calls over loopback: latency (µs, log scale)".into(),
            y_label: "µs",
            groups: present.iter().map(|(c, _)| c.name().into()).collect(),
            series: PERCENTILES
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    (
                        format!("p{p}"),
                        present.iter().map(|(_, f)| f.percentiles_us[i]).collect(),
                    )
                })
                .collect(),
            log: true,
        }],
    )?;
    // 64 in flight: calls per second of each contender.
    chart(
        "throughput.svg",
        vec![Bars {
            title: "64 calls in flight over loopback: calls/s (log scale)".into(),
            y_label: "calls/s",
            groups: present.iter().map(|(c, _)| c.name().into()).collect(),
            series: vec![(
                "calls/s".into(),
                present.iter().map(|(_, f)| f.calls_per_sec).collect(),
            )],
            log: true,
        }],
    )?;
    // HTTP and WebSocket: ours against jsonrpsee, calls/s and latency in flight.
    let pairs: Vec<(&str, &LoopbackFigures, &LoopbackFigures)> = [
        ("WebSocket", Contender::OursWs, Contender::Jsonrpsee),
        ("HTTP POST", Contender::OursHttp, Contender::JsonrpseeHttp),
        // The servers alone: jsonrpsee's client against both.
        (
            "HTTP servers alone",
            Contender::OursServerHttp,
            Contender::JsonrpseeHttp,
        ),
    ]
    .into_iter()
    .filter_map(|(name, o, t)| Some((name, lb(o)?, lb(t)?)))
    .collect();
    let pair_series = |f: fn(&LoopbackFigures) -> f64| {
        vec![
            (
                "ours".to_string(),
                pairs.iter().map(|(_, o, _)| f(o)).collect(),
            ),
            (
                "jsonrpsee".to_string(),
                pairs.iter().map(|(_, _, t)| f(t)).collect(),
            ),
        ]
    };
    let groups: Vec<String> = pairs.iter().map(|(n, _, _)| n.to_string()).collect();
    chart(
        "http_ws.svg",
        vec![
            Bars {
                title: "HTTP (64 keep-alive connections) and WebSocket: calls/s".into(),
                y_label: "calls/s",
                groups: groups.clone(),
                series: pair_series(|f| f.calls_per_sec),
                log: false,
            },
            Bars {
                title: "64 in flight: latency p50 and p99 (µs, log scale)".into(),
                y_label: "µs",
                groups,
                series: [
                    pair_series(|f| f.in_flight_p50_us.unwrap_or(0.0)),
                    pair_series(|f| f.in_flight_p99_us.unwrap_or(0.0)),
                ]
                .into_iter()
                .zip(["p50", "p99"])
                .flat_map(|(series, p)| {
                    series
                        .into_iter()
                        .map(move |(name, v)| (format!("{name} {p}"), v))
                })
                .collect(),
                log: true,
            },
        ],
    )?;
    if let Some(connections) = run.connections {
        let groups: Vec<String> = connections.iter().map(|(c, _)| c.name().into()).collect();
        chart(
            "connections.svg",
            vec![
                Bars {
                    title: "1,000 connections, 1 call in flight each: calls/s".into(),
                    y_label: "calls/s",
                    groups: groups.clone(),
                    series: vec![(
                        "calls/s".into(),
                        connections.iter().map(|(_, f)| f.calls_per_sec).collect(),
                    )],
                    log: false,
                },
                Bars {
                    title: "1,000 connections: latency p50 and p99 (ms, log scale)".into(),
                    y_label: "ms",
                    groups,
                    series: vec![
                        (
                            "p50".into(),
                            connections.iter().map(|(_, f)| f.p50_us / 1e3).collect(),
                        ),
                        (
                            "p99".into(),
                            connections.iter().map(|(_, f)| f.p99_us / 1e3).collect(),
                        ),
                    ],
                    log: true,
                },
            ],
        )?;
    }
    if let Some(streams) = run.streams {
        let median = |rounds: &[StreamRound], many: bool| {
            let mut v: Vec<f64> = rounds
                .iter()
                .map(|r| if many { r.many_per_sec } else { r.one_per_sec })
                .collect();
            crate::stats::median(&mut v)
        };
        chart(
            "streams.svg",
            vec![Bars {
                title: "Subscriptions: items/s".into(),
                y_label: "items/s",
                groups: vec!["one stream".into(), "64 streams at once".into()],
                series: streams
                    .iter()
                    .filter(|(_, rounds)| !rounds.is_empty())
                    .map(|(c, rounds)| {
                        (
                            c.name().to_string(),
                            vec![median(rounds, false), median(rounds, true)],
                        )
                    })
                    .collect(),
                log: false,
            }],
        )?;
    }
    Ok(written)
}
