//! Server-rendered SVG charts for the admin dashboard: no JavaScript, a fixed coordinate
//! system scaled to the container, colours from CSS classes (`series-0`…`series-5`). Each
//! chart is an image with a title and description for assistive technology, followed by the
//! same numbers as a table. The geometry lives in small pure functions so it can be tested.

use crate::model::admin::{CategoryRate, GroupRates};
use leptos::prelude::*;

/// Width of every chart's coordinate system; the SVG scales to its container.
pub const WIDTH: f64 = 640.0;
/// Number of distinct series colours in the stylesheet; further series reuse them.
pub const SERIES_COLOURS: usize = 6;
/// Shown instead of a chart without a single decision to plot.
pub const EMPTY: &str = "No records in this period";

/// A rectangle of the coordinate system that holds the data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plot {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

impl Plot {
    fn bottom(&self) -> f64 {
        self.top + self.height
    }
}

/// One optional category drawn as a series, with its colour slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub key: String,
    pub name: String,
    pub index: usize,
}

impl Series {
    pub fn class(&self) -> String {
        series_class(self.index)
    }
}

pub fn series_class(index: usize) -> String {
    format!("series-{}", index % SERIES_COLOURS)
}

/// The series of a dashboard in a stable order: the overall category list first, then any
/// category that only appears in a group. Every chart uses it, so a category keeps its
/// colour across charts.
pub fn series_of<'a>(
    categories: &'a [CategoryRate],
    groups: impl IntoIterator<Item = &'a GroupRates>,
) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    let all = categories.iter().chain(groups.into_iter().flat_map(|g| g.categories.iter()));
    for c in all {
        if !out.iter().any(|s| s.key == c.category) {
            let name = if c.name.is_empty() { c.category.clone() } else { c.name.clone() };
            out.push(Series { key: c.category.clone(), name, index: out.len() });
        }
    }
    out
}

/// Length of a bar for `rate` (0–1) in a plot `plot_width` wide; out-of-range rates are
/// clamped so a bad value cannot draw outside the plot.
pub fn bar_length(rate: f64, plot_width: f64) -> f64 {
    let rate = if rate.is_nan() { 0.0 } else { rate.clamp(0.0, 1.0) };
    rate * plot_width
}

/// Vertical position of `rate` in the plot (SVG y grows downwards: 100 % is at the top).
pub fn rate_y(rate: f64, plot: Plot) -> f64 {
    plot.bottom() - bar_length(rate, plot.height)
}

/// Horizontal position of point `i` of `n`, spread evenly from the left to the right edge;
/// a single point sits in the middle.
pub fn index_x(i: usize, n: usize, plot: Plot) -> f64 {
    if n <= 1 {
        plot.left + plot.width / 2.0
    } else {
        plot.left + plot.width * i as f64 / (n - 1) as f64
    }
}

/// The points of a line through `values` (one per x position), split into separate
/// segments wherever a value is missing, so a gap is drawn as a gap and not interpolated.
pub fn line_segments(values: &[Option<f64>], plot: Plot) -> Vec<Vec<(f64, f64)>> {
    let mut segments = Vec::new();
    let mut current = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(rate) => current.push((index_x(i, values.len(), plot), rate_y(*rate, plot))),
            None if !current.is_empty() => segments.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// A `points` attribute for `<polyline>`.
pub fn points_attr(points: &[(f64, f64)]) -> String {
    points.iter().map(|(x, y)| format!("{},{}", num(*x), num(*y))).collect::<Vec<_>>().join(" ")
}

/// A coordinate with at most one decimal, which keeps the markup small.
pub fn num(v: f64) -> String {
    // `+ 0.0` turns -0 into 0.
    let rounded = (v * 10.0).round() / 10.0 + 0.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// `0.734` → `73%`.
pub fn percent_label(rate: f64) -> String {
    format!("{}%", (rate * 100.0).round() as i64)
}

/// Up to `max` indices of `n` positions for axis labels, evenly spread, always including the
/// first and the last.
pub fn tick_indices(n: usize, max: usize) -> Vec<usize> {
    if n == 0 || max == 0 {
        return Vec::new();
    }
    if n <= max || max == 1 {
        return if max == 1 { vec![0] } else { (0..n).collect() };
    }
    let mut out: Vec<usize> =
        (0..max).map(|k| ((k * (n - 1)) as f64 / (max - 1) as f64).round() as usize).collect();
    out.dedup();
    out
}

/// Shortens a label for the fixed label column, marking the cut with an ellipsis.
pub fn truncate_label(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The rate of `key` within a group; None when missing or nobody decided.
fn rate_in(group: &GroupRates, key: &str) -> Option<f64> {
    group.categories.iter().find(|c| c.category == key).and_then(CategoryRate::rate)
}

fn any_decided(rates: &[CategoryRate]) -> bool {
    rates.iter().any(|c| c.decided > 0)
}

/// A table cell: `73% (11 of 15)`, or a dash without decisions.
fn rate_cell(rate: Option<&CategoryRate>) -> String {
    match rate {
        Some(c) if c.decided > 0 => {
            format!("{} ({} of {})", percent_label(c.granted as f64 / c.decided as f64), c.granted, c.decided)
        }
        _ => "—".to_owned(),
    }
}

const LABEL_END: f64 = 170.0;
const TICKS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];
const LABEL_CHARS: usize = 24;

/// The horizontal plot of the bar charts: right of the label column, room for a percent
/// label after a full bar.
fn bar_plot(top: f64, height: f64) -> Plot {
    Plot { left: LABEL_END + 10.0, top, width: WIDTH - LABEL_END - 10.0 - 70.0, height }
}

/// Vertical grid lines with percent labels under the plot of a horizontal bar chart.
fn bar_axis(plot: Plot) -> impl IntoView {
    TICKS
        .iter()
        .map(|t| {
            let x = num(plot.left + bar_length(*t, plot.width));
            view! {
                <line class="grid" x1=x.clone() x2=x.clone() y1=num(plot.top) y2=num(plot.bottom())/>
                <text class="tick" x=x y=num(plot.bottom() + 16.0) text-anchor="middle">{percent_label(*t)}</text>
            }
        })
        .collect_view()
}

/// One horizontal bar with its percent label, or "no decisions" when there is no rate.
fn bar(
    plot: Plot,
    y: f64,
    thickness: f64,
    rate: Option<f64>,
    class: String,
    tooltip: String,
) -> impl IntoView {
    let mid = num(y + thickness / 2.0);
    match rate {
        Some(rate) => {
            let len = bar_length(rate, plot.width);
            view! {
                <rect class=format!("bar {class}") x=num(plot.left) y=num(y) width=num(len) height=num(thickness)>
                    <title>{tooltip}</title>
                </rect>
                <text class="value" x=num(plot.left + len + 6.0) y=mid dy="0.35em">{percent_label(rate)}</text>
            }
            .into_any()
        }
        None => view! {
            <text class="value na" x=num(plot.left + 6.0) y=mid dy="0.35em">"no decisions"</text>
        }
        .into_any(),
    }
}

/// The frame shared by all charts: an accessible SVG image and the data table behind it.
fn figure(
    id: &str,
    title: String,
    desc: String,
    height: f64,
    body: AnyView,
    legend: Option<AnyView>,
    table: AnyView,
) -> AnyView {
    let (title_id, desc_id) = (format!("{id}-title"), format!("{id}-desc"));
    let labelled_by = format!("{title_id} {desc_id}");
    view! {
        <figure class="chart" id=id.to_owned()>
            {legend}
            <div class="chart-frame">
                <svg class="chart-svg" role="img" aria-labelledby=labelled_by
                    viewBox=format!("0 0 {} {}", num(WIDTH), num(height)) width="100%"
                    preserveAspectRatio="xMinYMin meet">
                    <title id=title_id>{title}</title>
                    <desc id=desc_id>{desc}</desc>
                    {body}
                </svg>
            </div>
            <details>
                <summary>"Data"</summary>
                <div class="table-wrap">{table}</div>
            </details>
        </figure>
    }
    .into_any()
}

fn empty() -> AnyView {
    view! { <p class="chart-empty">{EMPTY}</p> }.into_any()
}

/// Colour key for charts with several series. Decorative swatches: the names carry it.
#[component]
pub fn ChartLegend(series: Vec<Series>) -> impl IntoView {
    view! {
        <ul class="chart-legend">
            {series
                .into_iter()
                .map(|s| view! { <li><span class=format!("swatch {}", s.class()) aria-hidden="true"></span>{s.name}</li> })
                .collect_view()}
        </ul>
    }
}

const ROW: f64 = 30.0;
const BAR: f64 = 18.0;
const TOP: f64 = 8.0;
const AXIS: f64 = 28.0;

/// Opt-in rate per category: one horizontal bar each.
#[component]
pub fn CategoryRateChart(
    id: &'static str,
    title: String,
    desc: String,
    series: Vec<Series>,
    categories: Vec<CategoryRate>,
) -> impl IntoView {
    if !any_decided(&categories) {
        return empty();
    }
    let plot = bar_plot(TOP, ROW * categories.len() as f64);
    let class_of = |key: &str| series.iter().find(|s| s.key == key).map(Series::class).unwrap_or_default();
    let rows = categories
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let y = plot.top + ROW * i as f64;
            let name = if c.name.is_empty() { c.category.clone() } else { c.name.clone() };
            let tooltip = format!("{name}: {}", rate_cell(Some(c)));
            view! {
                <text class="label" x=num(LABEL_END) y=num(y + ROW / 2.0) dy="0.35em" text-anchor="end">
                    {truncate_label(&name, LABEL_CHARS)}
                </text>
                {bar(plot, y + (ROW - BAR) / 2.0, BAR, c.rate(), class_of(&c.category), tooltip)}
            }
        })
        .collect_view();
    let body = view! { {bar_axis(plot)} {rows} }.into_any();
    let table = view! {
        <table>
            <thead><tr><th scope="col">"Category"</th><th scope="col">"Granted"</th>
                <th scope="col">"Decided"</th><th scope="col">"Opt-in rate"</th></tr></thead>
            <tbody>
                {categories
                    .iter()
                    .map(|c| view! {
                        <tr>
                            <th scope="row">{if c.name.is_empty() { c.category.clone() } else { c.name.clone() }}</th>
                            <td>{c.granted}</td>
                            <td>{c.decided}</td>
                            <td>{c.rate().map(percent_label).unwrap_or_else(|| "—".to_owned())}</td>
                        </tr>
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any();
    figure(id, title, desc, plot.bottom() + AXIS, body, None, table)
}

/// A table with one row per group and one column per series (the fallback of the grouped
/// charts).
fn group_table(groups: &[GroupRates], series: &[Series], group_header: &'static str) -> AnyView {
    view! {
        <table>
            <thead>
                <tr>
                    <th scope="col">{group_header}</th>
                    <th scope="col">"Records"</th>
                    {series.iter().map(|s| view! { <th scope="col">{s.name.clone()}</th> }).collect_view()}
                </tr>
            </thead>
            <tbody>
                {groups
                    .iter()
                    .map(|g| view! {
                        <tr>
                            <th scope="row">{g.label.clone()}</th>
                            <td>{g.records}</td>
                            {series
                                .iter()
                                .map(|s| view! { <td>{rate_cell(g.categories.iter().find(|c| c.category == s.key))}</td> })
                                .collect_view()}
                        </tr>
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

const GROUP_BAR: f64 = 14.0;
const GROUP_BAR_GAP: f64 = 4.0;
const GROUP_GAP: f64 = 16.0;

/// Opt-in rate per category for each group (jurisdiction): grouped horizontal bars, one
/// colour per category.
#[component]
pub fn GroupedRateChart(
    id: &'static str,
    title: String,
    desc: String,
    series: Vec<Series>,
    groups: Vec<GroupRates>,
) -> impl IntoView {
    if series.is_empty() || !groups.iter().any(|g| any_decided(&g.categories)) {
        return empty();
    }
    let group_height = series.len() as f64 * (GROUP_BAR + GROUP_BAR_GAP) - GROUP_BAR_GAP;
    let height = groups.len() as f64 * (group_height + GROUP_GAP) - GROUP_GAP;
    let plot = bar_plot(TOP, height);
    let body_groups = groups
        .iter()
        .enumerate()
        .map(|(gi, g)| {
            let top = plot.top + gi as f64 * (group_height + GROUP_GAP);
            let bars = series
                .iter()
                .enumerate()
                .map(|(si, s)| {
                    let y = top + si as f64 * (GROUP_BAR + GROUP_BAR_GAP);
                    let cell = rate_cell(g.categories.iter().find(|c| c.category == s.key));
                    let tooltip = format!("{}, {}: {cell}", g.label, s.name);
                    bar(plot, y, GROUP_BAR, rate_in(g, &s.key), s.class(), tooltip)
                })
                .collect_view();
            view! {
                <text class="label group" x=num(LABEL_END) y=num(top + group_height / 2.0) dy="0.35em"
                    text-anchor="end">{truncate_label(&g.label, LABEL_CHARS)}</text>
                {bars}
            }
        })
        .collect_view();
    let body = view! { {bar_axis(plot)} {body_groups} }.into_any();
    let legend = view! { <ChartLegend series=series.clone()/> }.into_any();
    let table = group_table(&groups, &series, "Jurisdiction");
    figure(id, title, desc, plot.bottom() + AXIS, body, Some(legend), table)
}

const LINE_PLOT: Plot = Plot { left: 52.0, top: 12.0, width: WIDTH - 52.0 - 44.0, height: 200.0 };
const MAX_DAY_LABELS: usize = 5;

/// Opt-in rate per day: one line per category; days without decisions leave a gap.
#[component]
pub fn DailyRateChart(
    id: &'static str,
    title: String,
    desc: String,
    series: Vec<Series>,
    days: Vec<GroupRates>,
) -> impl IntoView {
    if series.is_empty() || !days.iter().any(|d| any_decided(&d.categories)) {
        return empty();
    }
    let plot = LINE_PLOT;
    let grid = TICKS
        .iter()
        .map(|t| {
            let y = num(rate_y(*t, plot));
            view! {
                <line class="grid" x1=num(plot.left) x2=num(plot.left + plot.width) y1=y.clone() y2=y.clone()/>
                <text class="tick" x=num(plot.left - 6.0) y=y dy="0.35em" text-anchor="end">{percent_label(*t)}</text>
            }
        })
        .collect_view();
    let day_labels = tick_indices(days.len(), MAX_DAY_LABELS)
        .into_iter()
        .map(|i| {
            view! {
                <text class="tick" x=num(index_x(i, days.len(), plot)) y=num(plot.bottom() + 18.0)
                    text-anchor="middle">{days[i].label.clone()}</text>
            }
        })
        .collect_view();
    let lines = series
        .iter()
        .map(|s| {
            let values: Vec<Option<f64>> = days.iter().map(|d| rate_in(d, &s.key)).collect();
            let segments = line_segments(&values, plot);
            let markers = segments
                .iter()
                .flatten()
                .map(|(x, y)| view! { <circle class=format!("dot {}", s.class()) cx=num(*x) cy=num(*y) r="3"/> })
                .collect_view();
            let polylines = segments
                .iter()
                .map(|seg| view! { <polyline class=format!("line {}", s.class()) points=points_attr(seg)/> })
                .collect_view();
            view! { <g>{polylines}{markers}</g> }
        })
        .collect_view();
    let body = view! { {grid} {day_labels} {lines} }.into_any();
    let legend = view! { <ChartLegend series=series.clone()/> }.into_any();
    let table = group_table(&days, &series, "Day");
    figure(id, title, desc, plot.bottom() + 30.0, body, Some(legend), table)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLOT: Plot = Plot { left: 10.0, top: 0.0, width: 100.0, height: 50.0 };

    fn rate(category: &str, granted: u64, decided: u64) -> CategoryRate {
        CategoryRate { category: category.to_owned(), name: category.to_uppercase(), granted, decided }
    }

    #[test]
    fn bar_lengths_scale_rates_to_the_plot_width() {
        assert_eq!(bar_length(0.0, 400.0), 0.0);
        assert_eq!(bar_length(0.5, 400.0), 200.0);
        assert_eq!(bar_length(1.0, 400.0), 400.0);
        // Out-of-range input stays inside the plot.
        assert_eq!(bar_length(1.7, 400.0), 400.0);
        assert_eq!(bar_length(-0.2, 400.0), 0.0);
        assert_eq!(bar_length(f64::NAN, 400.0), 0.0);
    }

    #[test]
    fn rates_map_to_y_with_full_at_the_top() {
        assert_eq!(rate_y(1.0, PLOT), 0.0);
        assert_eq!(rate_y(0.0, PLOT), 50.0);
        assert_eq!(rate_y(0.5, PLOT), 25.0);
    }

    #[test]
    fn points_spread_across_the_plot() {
        assert_eq!(index_x(0, 3, PLOT), 10.0);
        assert_eq!(index_x(1, 3, PLOT), 60.0);
        assert_eq!(index_x(2, 3, PLOT), 110.0);
        assert_eq!(index_x(0, 1, PLOT), 60.0);
    }

    #[test]
    fn gaps_split_a_line_into_segments() {
        let values = [Some(1.0), Some(0.0), None, None, Some(0.5), None];
        let segments = line_segments(&values, PLOT);
        assert_eq!(segments, vec![vec![(10.0, 0.0), (30.0, 50.0)], vec![(90.0, 25.0)]]);
        assert!(line_segments(&[None, None], PLOT).is_empty());
        assert_eq!(line_segments(&[Some(0.5), Some(0.5)], PLOT).len(), 1);
    }

    #[test]
    fn points_attribute_is_compact() {
        assert_eq!(points_attr(&[(10.0, 0.0), (30.04, 12.25)]), "10,0 30,12.3");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(2.25), "2.3");
    }

    #[test]
    fn percent_labels_round() {
        assert_eq!(percent_label(0.734), "73%");
        assert_eq!(percent_label(0.125), "13%");
        assert_eq!(percent_label(1.0), "100%");
        assert_eq!(percent_label(0.0), "0%");
    }

    #[test]
    fn ticks_include_both_ends() {
        assert_eq!(tick_indices(0, 5), Vec::<usize>::new());
        assert_eq!(tick_indices(3, 5), vec![0, 1, 2]);
        assert_eq!(tick_indices(31, 5), vec![0, 8, 15, 23, 30]);
        assert_eq!(tick_indices(6, 5), vec![0, 1, 3, 4, 5]);
        assert_eq!(tick_indices(10, 1), vec![0]);
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis() {
        assert_eq!(truncate_label("Analytics", 24), "Analytics");
        assert_eq!(truncate_label("Personalised advertising", 10), "Personali…");
    }

    #[test]
    fn series_keep_one_colour_per_category_across_charts() {
        let overall = [rate("analytics", 1, 2), rate("marketing", 0, 2)];
        let groups = [GroupRates {
            label: "gdpr".into(),
            records: 2,
            categories: vec![rate("marketing", 0, 1), rate("video", 1, 1)],
        }];
        let series = series_of(&overall, &groups);
        let keys: Vec<_> = series.iter().map(|s| (s.key.as_str(), s.class())).collect();
        assert_eq!(
            keys,
            [
                ("analytics", "series-0".into()),
                ("marketing", "series-1".into()),
                ("video", "series-2".into())
            ]
        );
        assert_eq!(series_class(7), "series-1");
    }

    #[test]
    fn table_cells_show_counts() {
        assert_eq!(rate_cell(Some(&rate("a", 11, 15))), "73% (11 of 15)");
        assert_eq!(rate_cell(Some(&rate("a", 0, 0))), "—");
        assert_eq!(rate_cell(None), "—");
    }

    fn render(view: impl IntoView) -> String {
        let owner = Owner::new();
        owner.with(|| view.into_view().to_html())
    }

    #[test]
    fn charts_render_accessible_svg() {
        let categories = vec![rate("analytics", 3, 4), rate("marketing", 0, 0)];
        let series = series_of(&categories, []);
        let html = render(view! {
            <CategoryRateChart id="cat" title="Opt-in".into() desc="Bars".into() series categories/>
        });
        assert!(html.contains(r#"role="img""#), "{html}");
        assert!(html.contains(r#"aria-labelledby="cat-title cat-desc""#), "{html}");
        assert!(html.contains(r#"viewBox="0 0 640 "#), "{html}");
        assert!(html.contains(r#"<title id="cat-title">Opt-in</title>"#), "{html}");
        assert!(html.contains(">75%</text>"), "{html}");
        assert!(html.contains("no decisions"), "{html}");
        assert!(html.contains("<summary>Data</summary>"), "{html}");
    }

    #[test]
    fn daily_chart_draws_one_polyline_per_segment() {
        let day = |label: &str, granted, decided| GroupRates {
            label: label.into(),
            records: decided,
            categories: vec![rate("analytics", granted, decided)],
        };
        let days = vec![day("2024-01-01", 1, 2), day("2024-01-02", 0, 0), day("2024-01-03", 2, 2)];
        let series = series_of(&[], &days);
        let html = render(view! { <DailyRateChart id="days" title="t".into() desc="d".into() series days/> });
        assert_eq!(html.matches("<polyline").count(), 2, "{html}");
        assert_eq!(html.matches("<circle").count(), 2, "{html}");
    }

    #[test]
    fn empty_data_renders_a_sentence_instead_of_a_chart() {
        let html = render(view! {
            <GroupedRateChart id="j" title="t".into() desc="d".into() series=vec![] groups=vec![]/>
        });
        assert!(html.contains(EMPTY) && !html.contains("<svg"), "{html}");
        let days =
            vec![GroupRates { label: "2024-01-01".into(), records: 0, categories: vec![rate("a", 0, 0)] }];
        let series = series_of(&[], &days);
        let html = render(view! { <DailyRateChart id="d" title="t".into() desc="d".into() series days/> });
        assert!(html.contains(EMPTY), "{html}");
    }
}
