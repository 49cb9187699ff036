//! Reading key lists: one S3 key per line, exactly as stored in S3.
//!
//! A key line is taken verbatim: no URL-decoding and no trimming of inner or trailing spaces (S3
//! keys may end in a space). Only the line terminator is removed (`\n`, and a `\r` before it, so
//! lists written on Windows work). Blank lines are skipped. Anything S3 cannot hold is an error that
//! names the line, found before anything is uploaded or launched.
//!
//! Lot manifests thaw writes use the same format, with one extension for inputs that pin versions
//! or name a destination per key: extra fields after a U+001F separator (see [`KeyLine::encode`]).

use std::io::BufRead;

/// The longest key S3 accepts, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// Why a line of a key list is not a usable S3 key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyLineError {
    /// The line is not valid UTF-8 (S3 keys are UTF-8).
    #[error("line {line}: key is not valid UTF-8")]
    InvalidUtf8 {
        /// 1-based line number in the input.
        line: u64,
    },
    /// The key is longer than S3's 1,024-byte limit.
    #[error("line {line}: key is {len} bytes, S3 keys are at most {MAX_KEY_BYTES} bytes")]
    TooLong {
        /// 1-based line number in the input.
        line: u64,
        /// Length of the key in bytes.
        len: usize,
    },
    /// The key holds a character S3 cannot return in its XML listings (NUL and other C0 controls).
    #[error("line {line}: key contains control character U+{code:04X}, which S3 cannot hold")]
    ControlCharacter {
        /// 1-based line number in the input.
        line: u64,
        /// The offending code point.
        code: u32,
    },
    /// The list starts with a UTF-8 byte order mark (a Windows editor's doing); as a key prefix it
    /// would name objects that do not exist.
    #[error("line 1 starts with a UTF-8 byte order mark (U+FEFF): save the list without a BOM")]
    ByteOrderMark,
    /// A manifest line with fields (version, destination) that do not parse.
    #[error("line {line}: bad manifest entry: {what}")]
    BadEntry {
        /// 1-based line number in the input.
        line: u64,
        /// What is wrong.
        what: String,
    },
    /// Reading the input failed.
    #[error("reading keys: {0}")]
    Io(String),
}

/// Checks one raw line (terminator already removed) and returns the key it holds.
pub fn parse_key_line(raw: &[u8], line: u64) -> Result<Option<String>, KeyLineError> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.is_empty() {
        return Ok(None);
    }
    let key = std::str::from_utf8(raw).map_err(|_| KeyLineError::InvalidUtf8 { line })?;
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyLineError::TooLong {
            line,
            len: key.len(),
        });
    }
    // XML 1.0 (S3's wire format) cannot carry these; tab is allowed, CR/LF cannot be in a line.
    if let Some(c) = key
        .chars()
        .find(|c| (*c < ' ' && *c != '\t') || *c == '\u{FFFE}' || *c == '\u{FFFF}')
    {
        return Err(KeyLineError::ControlCharacter {
            line,
            code: c as u32,
        });
    }
    Ok(Some(key.to_owned()))
}

/// Separates the fields of a lot manifest line that pins a version or names a destination.
/// U+001F (unit separator) is a control character, which no S3 key can hold, so a plain key line
/// is the one-field case and lists without versions or destinations stay one key per line.
pub const FIELD_SEP: char = '\u{1f}';

/// A key read from a list, with the 1-based line it came from, the version it pins and where its
/// copy goes (set only in lists thaw wrote from a Batch Operations CSV or a pairs list).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyLine {
    /// 1-based line number in the input (for error messages).
    pub line: u64,
    /// The key, exactly as stored in S3.
    pub key: String,
    /// The source version to copy, when the input pins one.
    pub version_id: Option<String>,
    /// Destination bucket and key, when the input names one per key (pairs lists).
    pub dest: Option<(String, String)>,
}

impl KeyLine {
    /// The manifest line for this entry (without the newline): the key alone, or
    /// `key<US>version[<US>dest-bucket<US>dest-key]` with U+001F between fields.
    pub fn encode(&self) -> String {
        let mut s = self.key.clone();
        if self.version_id.is_some() || self.dest.is_some() {
            s.push(FIELD_SEP);
            s.push_str(self.version_id.as_deref().unwrap_or(""));
        }
        if let Some((b, k)) = &self.dest {
            s.push(FIELD_SEP);
            s.push_str(b);
            s.push(FIELD_SEP);
            s.push_str(k);
        }
        s
    }
}

/// Parses a manifest line thaw wrote (see [`KeyLine::encode`]); every key in it is checked as
/// [`parse_key_line`] does.
fn parse_entry_line(raw: &[u8], line: u64) -> Result<Option<KeyLine>, KeyLineError> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let sep = FIELD_SEP as u8;
    if !raw.contains(&sep) {
        return Ok(parse_key_line(raw, line)?.map(|key| KeyLine {
            line,
            key,
            ..KeyLine::default()
        }));
    }
    let fields: Vec<&[u8]> = raw.split(|b| *b == sep).collect();
    let bad = |what: &str| KeyLineError::BadEntry {
        line,
        what: what.to_owned(),
    };
    let key = parse_key_line(fields[0], line)?.ok_or_else(|| bad("empty key"))?;
    let text = |f: &[u8]| {
        std::str::from_utf8(f)
            .map(str::to_owned)
            .map_err(|_| KeyLineError::InvalidUtf8 { line })
    };
    let version_id = Some(text(fields[1])?).filter(|v| !v.is_empty());
    let dest = match fields.len() {
        2 => None,
        4 => {
            let bucket = text(fields[2])?;
            let dkey =
                parse_key_line(fields[3], line)?.ok_or_else(|| bad("empty destination key"))?;
            if bucket.is_empty() {
                return Err(bad("empty destination bucket"));
            }
            Some((bucket, dkey))
        }
        n => return Err(bad(&format!("{n} fields, expected 1, 2 or 4"))),
    };
    if version_id.is_none() && dest.is_none() {
        return Err(bad("a separator with neither version nor destination"));
    }
    Ok(Some(KeyLine {
        line,
        key,
        version_id,
        dest,
    }))
}

/// Streams the keys of a list, one line at a time: memory does not grow with the input.
pub struct KeyReader<R> {
    input: R,
    line: u64,
    buf: Vec<u8>,
    /// Set for a list a person gave: plain keys only, a byte order mark refused. Unset for a
    /// manifest thaw wrote, whose lines may also pin versions and name destinations.
    refuse_bom: bool,
}

impl<R: BufRead> KeyReader<R> {
    /// Wraps a buffered reader of a list thaw wrote itself (a lot manifest): every line is a key,
    /// with its pinned version and destination when it has them.
    pub fn new(input: R) -> Self {
        Self {
            input,
            line: 0,
            buf: Vec::with_capacity(256),
            refuse_bom: false,
        }
    }

    /// Wraps a buffered reader of a list a person gave: a UTF-8 byte order mark at the start is
    /// refused (a Windows editor's doing, it would become part of the first key).
    pub fn user_list(input: R) -> Self {
        Self {
            refuse_bom: true,
            ..Self::new(input)
        }
    }
}

impl<R: BufRead> Iterator for KeyReader<R> {
    type Item = Result<KeyLine, KeyLineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(KeyLineError::Io(e.to_string()))),
            }
            self.line += 1;
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
            }
            if self.refuse_bom && self.line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
                return Some(Err(KeyLineError::ByteOrderMark));
            }
            let parsed = if self.refuse_bom {
                parse_key_line(&self.buf, self.line).map(|k| {
                    k.map(|key| KeyLine {
                        line: self.line,
                        key,
                        ..KeyLine::default()
                    })
                })
            } else {
                parse_entry_line(&self.buf, self.line)
            };
            match parsed {
                Ok(Some(entry)) => return Some(Ok(entry)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8]) -> Vec<Result<KeyLine, KeyLineError>> {
        KeyReader::user_list(input).collect()
    }

    fn keys(input: &[u8]) -> Vec<String> {
        read(input)
            .into_iter()
            .map(|r| r.expect("valid").key)
            .collect()
    }

    #[test]
    fn crlf_and_blank_lines() {
        assert_eq!(keys(b"a\r\n\r\nb\n\nc"), vec!["a", "b", "c"]);
    }

    #[test]
    fn spaces_are_kept() {
        assert_eq!(keys(b" a b \n\tc\n"), vec![" a b ", "\tc"]);
    }

    #[test]
    fn line_numbers_count_blank_lines() {
        let lines: Vec<u64> = read(b"a\n\nb\n")
            .into_iter()
            .map(|r| r.expect("ok").line)
            .collect();
        assert_eq!(lines, vec![1, 3]);
    }

    #[test]
    fn no_url_decoding() {
        assert_eq!(keys(b"a%20b+c\n"), vec!["a%20b+c"]);
    }

    #[test]
    fn invalid_utf8_names_line() {
        let r = read(b"ok\n\xff\xfe\n");
        assert_eq!(r[1], Err(KeyLineError::InvalidUtf8 { line: 2 }));
        assert!(r[1].as_ref().unwrap_err().to_string().contains("line 2"));
    }

    #[test]
    fn key_length_limit() {
        let ok = "k".repeat(1024);
        assert_eq!(keys(ok.as_bytes()), vec![ok.clone()]);
        let long = "k".repeat(1025);
        assert_eq!(
            read(format!("a\n{long}\n").as_bytes())[1],
            Err(KeyLineError::TooLong { line: 2, len: 1025 })
        );
    }

    #[test]
    fn multibyte_length_counts_bytes() {
        let long = "é".repeat(513); // 1,026 bytes
        assert!(matches!(
            read(long.as_bytes())[0],
            Err(KeyLineError::TooLong { .. })
        ));
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(
            read(b"a\0b\n")[0],
            Err(KeyLineError::ControlCharacter { line: 1, code: 0 })
        );
    }

    #[test]
    fn byte_order_mark_is_refused() {
        assert_eq!(
            read(b"\xEF\xBB\xBFa\nb\n")[0],
            Err(KeyLineError::ByteOrderMark)
        );
        // a BOM character later in a key is just a character
        assert_eq!(keys("a\u{FEFF}b\n".as_bytes()), vec!["a\u{FEFF}b"]);
        // in a manifest thaw wrote, a key may start with U+FEFF
        let lot: Vec<String> = KeyReader::new("\u{FEFF}k\n".as_bytes())
            .map(|k| k.expect("ok").key)
            .collect();
        assert_eq!(lot, vec!["\u{FEFF}k"]);
    }

    #[test]
    fn entry_lines_round_trip() {
        let entries = [
            KeyLine {
                line: 1,
                key: "a b".into(),
                ..KeyLine::default()
            },
            KeyLine {
                line: 2,
                key: "k".into(),
                version_id: Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY".into()),
                dest: None,
            },
            KeyLine {
                line: 3,
                key: "k2".into(),
                version_id: None,
                dest: Some(("dst".into(), "x/k2 ".into())),
            },
            KeyLine {
                line: 4,
                key: "k3".into(),
                version_id: Some("null".into()),
                dest: Some(("dst".into(), "y".into())),
            },
        ];
        let text: String = entries.iter().map(|e| e.encode() + "\n").collect();
        assert_eq!(entries[0].encode(), "a b");
        let back: Vec<KeyLine> = KeyReader::new(text.as_bytes())
            .map(|r| r.expect("valid"))
            .collect();
        assert_eq!(back, entries);
        // a person's list never holds fields: the separator is a control character there
        assert!(matches!(
            read(entries[1].encode().as_bytes())[0],
            Err(KeyLineError::ControlCharacter { code: 0x1f, .. })
        ));
        for bad in [
            "k\u{1f}",
            "k\u{1f}v\u{1f}b",
            "\u{1f}v",
            "k\u{1f}v\u{1f}\u{1f}x",
            "k\u{1f}\u{1f}b\u{1f}\0",
        ] {
            assert!(
                KeyReader::new(bad.as_bytes()).next().expect("one").is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_ascii_kept() {
        assert_eq!(keys("日本/ü ñ.txt\n".as_bytes()), vec!["日本/ü ñ.txt"]);
    }

    #[test]
    fn noncharacters_are_refused_like_controls() {
        for (key, code) in [("a\u{FFFE}b", 0xFFFE), ("\u{FFFF}", 0xFFFF)] {
            assert_eq!(
                parse_key_line(key.as_bytes(), 3),
                Err(KeyLineError::ControlCharacter { line: 3, code })
            );
        }
        assert_eq!(
            parse_key_line("a\u{FFFD}".as_bytes(), 1),
            Ok(Some("a\u{FFFD}".to_owned()))
        );
    }
}
