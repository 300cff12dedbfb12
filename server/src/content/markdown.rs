//! Policy Markdown → HTML with heading anchors and a table of contents.

use app::model::TocEntry;
use pulldown_cmark::{html, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Renders Markdown; raw HTML in the source is shown as text, never passed through.
/// Level-2 headings get stable ids and make up the table of contents.
pub fn render(markdown: &str) -> (String, Vec<TocEntry>) {
    let mut events: Vec<Event> = Parser::new_ext(markdown, Options::ENABLE_TABLES)
        .map(|e| match e {
            Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
            other => other,
        })
        .collect();
    let mut toc = Vec::new();
    let mut used = std::collections::HashSet::new();
    let mut next_suffix = std::collections::HashMap::new();
    let mut i = 0;
    while i < events.len() {
        if let Event::Start(Tag::Heading { level, .. }) = &events[i] {
            let level = *level;
            let text: String = events[i + 1..]
                .iter()
                .take_while(|e| !matches!(e, Event::End(TagEnd::Heading(_))))
                .filter_map(|e| match e {
                    Event::Text(t) | Event::Code(t) => Some(t.as_ref()),
                    _ => None,
                })
                .collect();
            let base = slug(&text);
            let mut id = base.clone();
            if !used.insert(id.clone()) {
                // Resume where the last duplicate of this slug stopped: many equal headings
                // cost linear time, not quadratic (20 000 of them took minutes).
                let n = next_suffix.entry(base.clone()).or_insert(2);
                loop {
                    id = format!("{base}-{n}");
                    *n += 1;
                    if used.insert(id.clone()) {
                        break;
                    }
                }
            }
            if level == HeadingLevel::H2 {
                toc.push(TocEntry { id: id.clone(), title: text });
            }
            if let Event::Start(Tag::Heading { id: slot, .. }) = &mut events[i] {
                *slot = Some(CowStr::from(id));
            }
        }
        i += 1;
    }
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events.into_iter());
    (out, toc)
}

fn slug(text: &str) -> String {
    let mut s = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-').to_owned();
    if s.is_empty() {
        "section".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_get_ids_and_toc_and_html_is_escaped() {
        let (html, toc) =
            render("## What we collect\ntext <script>x</script>\n## What we collect\n### Sub\n");
        assert_eq!(toc.len(), 2);
        assert_eq!(toc[0].id, "what-we-collect");
        assert_eq!(toc[1].id, "what-we-collect-2");
        assert!(html.contains("<h2 id=\"what-we-collect\">"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn many_equal_headings_render_quickly_with_distinct_ids() {
        let started = std::time::Instant::now();
        let (html, toc) = render(&"## h\n## h-3\n".repeat(5000));
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
        assert_eq!(toc.len(), 10_000);
        let ids: std::collections::HashSet<&str> = toc.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids.len(), 10_000, "every id is distinct");
        assert_eq!((toc[0].id.as_str(), toc[1].id.as_str(), toc[2].id.as_str()), ("h", "h-3", "h-2"));
        assert!(html.contains("<h2 id=\"h-4\">"));
    }
}
