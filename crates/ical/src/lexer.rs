//! Content lines: physical lines → unfolded logical lines → `name;params:value`,
//! plus TEXT escaping in both directions and 75-octet folding.

/// Iterates over the *logical* (unfolded) lines of an iCalendar body.
///
/// Physical lines may end in CRLF, LF or a lone CR. A physical line that starts
/// with a space or a horizontal tab continues the previous one; the single
/// leading whitespace character is removed (RFC 5545 §3.1). Empty physical
/// lines are skipped.
pub(crate) struct LogicalLines<'a> {
    rest: &'a str,
    buf: String,
}

impl<'a> LogicalLines<'a> {
    pub(crate) fn new(body: &'a str) -> Self {
        Self { rest: body, buf: String::new() }
    }

    /// The next physical line, without its line break.
    fn physical(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let bytes = self.rest.as_bytes();
        match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            None => {
                let line = self.rest;
                self.rest = "";
                Some(line)
            }
            Some(i) => {
                let line = &self.rest[..i];
                let skip = if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                self.rest = &self.rest[i + skip..];
                Some(line)
            }
        }
    }

    fn peek_is_continuation(&self) -> bool {
        matches!(self.rest.as_bytes().first(), Some(b' ' | b'\t'))
    }

    /// The next logical line. The returned slice borrows an internal buffer
    /// and is valid until the next call.
    pub(crate) fn next_line(&mut self) -> Option<&str> {
        loop {
            let first = self.physical()?;
            if first.is_empty() {
                continue;
            }
            self.buf.clear();
            self.buf.push_str(first);
            while self.peek_is_continuation() {
                let cont = self.physical().unwrap_or("");
                // Drop exactly one leading space/tab (ASCII, so slicing is safe).
                self.buf.push_str(&cont[1..]);
            }
            return Some(&self.buf);
        }
    }
}

/// One parsed content line. `name` and parameter names keep their original
/// case; compare them with `eq_ignore_ascii_case`.
#[derive(Debug)]
pub(crate) struct ContentLine<'a> {
    pub name: &'a str,
    params: Vec<(&'a str, &'a str)>,
    pub value: &'a str,
}

impl<'a> ContentLine<'a> {
    /// The value of parameter `name` (case-insensitive), surrounding double
    /// quotes removed.
    pub(crate) fn param(&self, name: &str) -> Option<&'a str> {
        self.params.iter().find(|(n, _)| n.trim().eq_ignore_ascii_case(name)).map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
        })
    }
}

/// Splits `name *(";" param) ":" value`. Colons and semicolons inside quoted
/// parameter values do not end the parameter list. Returns `None` when the
/// line has no value separator at all (garbage lines are ignored by the reader).
pub(crate) fn parse_content_line(line: &str) -> Option<ContentLine<'_>> {
    let bytes = line.as_bytes();
    let name_end = bytes.iter().position(|&b| b == b';' || b == b':')?;
    let name = line[..name_end].trim();
    let mut params = Vec::new();
    let mut i = name_end;
    // Invariant: bytes[i] is ';' or ':' (both ASCII, so all slices are on char boundaries).
    while bytes[i] == b';' {
        let start = i + 1;
        let mut j = start;
        let mut in_quotes = false;
        while j < bytes.len() {
            match bytes[j] {
                b'"' => in_quotes = !in_quotes,
                b';' | b':' if !in_quotes => break,
                _ => {}
            }
            j += 1;
        }
        if j >= bytes.len() {
            // No value separator after the parameters.
            return None;
        }
        let raw = &line[start..j];
        let (pname, pvalue) = raw.split_once('=').unwrap_or((raw, ""));
        params.push((pname, pvalue));
        i = j;
    }
    Some(ContentLine { name, params, value: &line[i + 1..] })
}

/// Undoes TEXT escaping: `\n`/`\N` → newline, `\\` → `\`, `\,` → `,`, `\;` → `;`.
/// Also accepts the non-standard `\:`. Any other backslash is kept as is.
pub(crate) fn unescape_text(value: &str) -> String {
    if !value.contains('\\') {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(e @ ('\\' | ',' | ';' | ':')) => out.push(e),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Escapes a TEXT value (RFC 5545 §3.3.11). Newlines (CRLF, LF or CR) become
/// `\n`; other control characters, which TEXT does not allow, are dropped
/// (except HTAB).
pub(crate) fn escape_text(value: &str, out: &mut String) {
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
}

/// Maximum octets per physical line, excluding CRLF (RFC 5545 §3.1).
pub const MAX_LINE_OCTETS: usize = 75;

/// Appends `line` to `out` folded at 75 octets, never splitting a UTF-8
/// character, each physical line terminated by CRLF. Continuation lines start
/// with one space, which counts towards their 75 octets.
pub(crate) fn push_folded(out: &mut String, line: &str) {
    let mut rest = line;
    let mut limit = MAX_LINE_OCTETS;
    let mut first = true;
    loop {
        if !first {
            out.push(' ');
        }
        if rest.len() <= limit {
            out.push_str(rest);
            out.push_str("\r\n");
            return;
        }
        let mut cut = limit;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n");
        rest = &rest[cut..];
        first = false;
        limit = MAX_LINE_OCTETS - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(body: &str) -> Vec<String> {
        let mut it = LogicalLines::new(body);
        let mut v = Vec::new();
        while let Some(l) = it.next_line() {
            v.push(l.to_owned());
        }
        v
    }

    #[test]
    fn unfolds_crlf_lf_cr_and_tabs() {
        assert_eq!(lines("A:1\r\n  b\r\nC:2\n\tx\rD:3\r\n\r\n"), vec!["A:1 b", "C:2x", "D:3"]);
        assert_eq!(lines(""), Vec::<String>::new());
        assert_eq!(lines(" lonely continuation"), vec![" lonely continuation"]);
    }

    #[test]
    fn content_line_with_quoted_params() {
        let l = parse_content_line(r#"DTSTART;X-A="a;b:c";TZID="America/Argentina/Cordoba":20260110T140000"#).unwrap();
        assert_eq!(l.name, "DTSTART");
        assert_eq!(l.param("tzid"), Some("America/Argentina/Cordoba"));
        assert_eq!(l.param("x-a"), Some("a;b:c"));
        assert_eq!(l.value, "20260110T140000");
        assert!(parse_content_line("garbage").is_none());
        assert!(parse_content_line("A;B=\"x:").is_none());
        let l = parse_content_line("URL:https://x.test/a:b").unwrap();
        assert_eq!(l.value, "https://x.test/a:b");
    }

    #[test]
    fn escaping_round_trips() {
        let s = "a\\b;c,d\ne: f";
        let mut esc = String::new();
        escape_text(s, &mut esc);
        assert_eq!(esc, "a\\\\b\\;c\\,d\\ne: f");
        assert_eq!(unescape_text(&esc), s);
        assert_eq!(unescape_text("x\\Ny\\"), "x\ny\\");
        assert_eq!(unescape_text("\\q"), "\\q");
    }

    #[test]
    fn folding_respects_char_boundaries() {
        let line = format!("SUMMARY:{}", "ñ".repeat(100));
        let mut out = String::new();
        push_folded(&mut out, &line);
        for l in out.split_terminator("\r\n") {
            assert!(l.len() <= MAX_LINE_OCTETS, "{} octets", l.len());
        }
        assert_eq!(lines(&out), vec![line]);
    }
}
