//! Parse errors: every problem found in a query with its byte range, printed as upstream
//! prints the first one (`1:5: parse error: unexpected ...`).

use std::fmt;

use crate::ast::PosRange;

/// One problem in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseErrorItem {
    pub pos: PosRange,
    pub message: String,
}

/// The problems found in a query, in the order they were found. Displays the first, as
/// upstream's `ParseErrors.Error()` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub errors: Vec<ParseErrorItem>,
    /// The text the positions refer to.
    pub query: String,
    /// Lines before `query` in a larger file (test scripts), added to reported lines.
    pub line_offset: usize,
}

impl ParseError {
    pub(crate) fn new(query: &str, errors: Vec<ParseErrorItem>) -> ParseError {
        ParseError {
            errors,
            query: query.to_string(),
            line_offset: 0,
        }
    }

    /// A single error.
    pub fn single(query: &str, pos: PosRange, message: impl Into<String>) -> ParseError {
        ParseError::new(
            query,
            vec![ParseErrorItem {
                pos,
                message: message.into(),
            }],
        )
    }

    /// The message of the first error, without position.
    pub fn message(&self) -> &str {
        self.errors.first().map_or("", |e| e.message.as_str())
    }

    /// Places the error in a larger text: `query` is the full line the parsed text was
    /// taken from (at byte `column_offset`), on line `line_offset` (0-based) of a file.
    pub fn relocate(&mut self, query: &str, line_offset: usize, column_offset: usize) {
        for e in &mut self.errors {
            e.pos.start += column_offset;
            e.pos.end += column_offset;
        }
        self.query = query.to_string();
        self.line_offset = line_offset;
    }

    /// `line:column` of a position (1-based, column in bytes), as upstream's
    /// `PositionRange.StartPosInput`.
    pub fn position_string(&self, pos: PosRange) -> String {
        if self.query.is_empty() {
            return "unknown position".to_string();
        }
        let start = pos.start;
        let Some(before) = self.query.as_bytes().get(..start) else {
            return "invalid position".to_string();
        };
        let mut line = self.line_offset + 1;
        let mut last_break: Option<usize> = None;
        for (i, b) in before.iter().enumerate() {
            if *b == b'\n' {
                last_break = Some(i);
                line += 1;
            }
        }
        let col = match last_break {
            Some(i) => start - i,
            None => start + 1,
        };
        format!("{line}:{col}")
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.first() {
            Some(e) => write!(
                f,
                "{}: parse error: {}",
                self.position_string(e.pos),
                e.message
            ),
            None => f.write_str("error contains no error message"),
        }
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_like_upstream() {
        let e = ParseError::single("foo\n  bar", PosRange::new(6, 9), "boom");
        assert_eq!(e.to_string(), "2:3: parse error: boom");
        let e = ParseError::single("", PosRange::new(0, 0), "no expression found in input");
        assert_eq!(
            e.to_string(),
            "unknown position: parse error: no expression found in input"
        );
        let mut e = ParseError::single("1 +", PosRange::new(3, 3), "unexpected end of input");
        assert_eq!(e.to_string(), "1:4: parse error: unexpected end of input");
        e.relocate("eval instant at 1m 1 +", 9, 19);
        assert_eq!(e.to_string(), "10:23: parse error: unexpected end of input");
    }
}
