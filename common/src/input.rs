//! Parsing the key lists ops teams already have, besides plain `keys.txt`: S3 Batch Operations
//! CSV manifests, source/destination pair lists, S3 Inventory CSV rows, DataSync-style include and
//! exclude patterns, and date placeholders for "yesterday's partition" prefixes.
//!
//! Pure functions, unit-tested without AWS: the part that decides what a line means.
//! `coordinator launch` reads Batch Operations CSV (with version ids), pairs lists, inventories
//! and `--from` listings through them.

use std::fmt;

/// What kind of list a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One key per line, exactly as stored.
    Keys,
    /// S3 Batch Operations CSV: `bucket,key[,versionId]`, keys URL-encoded, no header.
    BatchCsv,
    /// S3 Inventory `manifest.json` (with gzipped CSV data files).
    Inventory,
    /// `s3://src-bucket/key,s3://dst-bucket/key` per line.
    Pairs,
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputFormat::Keys => "keys",
            InputFormat::BatchCsv => "csv",
            InputFormat::Inventory => "inventory",
            InputFormat::Pairs => "pairs",
        })
    }
}

/// Guesses the format from the file name and its first non-blank line: a `manifest.json` is an
/// inventory; a `.csv` is a pairs list when its first field is an `s3://` URI, else a Batch
/// Operations CSV; anything else is a plain key list.
pub fn detect_format(name: &str, first_line: &str) -> InputFormat {
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit('/').next().unwrap_or(&lower);
    if base == "manifest.json" {
        InputFormat::Inventory
    } else if base.ends_with(".csv") {
        if first_line
            .trim_start_matches('\u{feff}')
            .trim_start()
            .trim_start_matches('"')
            .starts_with("s3://")
        {
            InputFormat::Pairs
        } else {
            InputFormat::BatchCsv
        }
    } else {
        InputFormat::Keys
    }
}

/// Why a line of a list cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A Batch Operations CSV with a header row (they have none: the most common mistake).
    #[error("line {line}: '{text}' looks like a header row; S3 Batch Operations manifests have no header: remove it")]
    HeaderRow {
        /// 1-based line number.
        line: u64,
        /// The line.
        text: String,
    },
    /// Wrong number of fields, or an unterminated quote.
    #[error("line {line}: {what}")]
    Malformed {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        what: String,
    },
    /// A `%XX` escape that is not valid, or does not decode to UTF-8.
    #[error("line {line}: key '{text}' is not valid URL-encoded UTF-8")]
    BadEncoding {
        /// 1-based line number.
        line: u64,
        /// The encoded key.
        text: String,
    },
}

/// One object to process: where it is, which version, and where its copy goes (`None`: in place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Source bucket.
    pub bucket: String,
    /// Source key (decoded).
    pub key: String,
    /// Source version, when pinned.
    pub version_id: Option<String>,
    /// Destination bucket and key, for copies elsewhere.
    pub dest: Option<(String, String)>,
}

/// Splits one CSV line into fields (RFC 4180 quoting: `"a,b"` and `""` inside quotes).
pub fn split_csv(line: &str, lineno: u64) -> Result<Vec<String>, InputError> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (false, ',') => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
            }
            (_, c) => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(InputError::Malformed {
            line: lineno,
            what: "unterminated quoted field".into(),
        });
    }
    fields.push(cur);
    Ok(fields)
}

/// Decodes a URL-encoded key (`%XX` escapes; with `plus_is_space`, `+` is a space, as in
/// S3 Inventory reports).
pub fn url_decode(text: &str, plus_is_space: bool, lineno: u64) -> Result<String, InputError> {
    let bad = || InputError::BadEncoding {
        line: lineno,
        text: text.to_owned(),
    };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(bad());
                }
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// Parses one line of an S3 Batch Operations CSV manifest (`bucket,key[,versionId]`).
pub fn parse_batch_csv_line(line: &str, lineno: u64) -> Result<Entry, InputError> {
    let fields = split_csv(line, lineno)?;
    if !(2..=3).contains(&fields.len()) {
        return Err(InputError::Malformed {
            line: lineno,
            what: format!(
                "expected bucket,key[,versionId], found {} fields",
                fields.len()
            ),
        });
    }
    let looks_like_header = |f: &str| {
        matches!(
            f.trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase()
                .as_str(),
            "bucket" | "key" | "versionid" | "version_id" | "bucketname" | "object"
        )
    };
    if lineno == 1 && (looks_like_header(&fields[0]) || looks_like_header(&fields[1])) {
        return Err(InputError::HeaderRow {
            line: lineno,
            text: line.to_owned(),
        });
    }
    if fields[0].is_empty() || fields[1].is_empty() {
        return Err(InputError::Malformed {
            line: lineno,
            what: "empty bucket or key".into(),
        });
    }
    Ok(Entry {
        bucket: fields[0].clone(),
        key: url_decode(&fields[1], false, lineno)?,
        version_id: fields.get(2).filter(|v| !v.is_empty()).cloned(),
        dest: None,
    })
}

fn split_s3_uri(uri: &str, lineno: u64) -> Result<(String, String), InputError> {
    // No trimming: spaces at either end of a key are part of it.
    if !uri.starts_with("s3://") {
        return Err(InputError::Malformed {
            line: lineno,
            what: format!("'{uri}' is not an s3:// URI"),
        });
    }
    match crate::spec::object_uri(uri) {
        Some((b, k)) => Ok((b.to_owned(), k.to_owned())),
        None => Err(InputError::Malformed {
            line: lineno,
            what: format!("'{uri}' names no object (expected s3://bucket/key)"),
        }),
    }
}

/// Parses one line of a pairs list (`s3://src/key,s3://dst/key`); keys are taken as written.
pub fn parse_pair_line(line: &str, lineno: u64) -> Result<Entry, InputError> {
    let fields = split_csv(line, lineno)?;
    if fields.len() != 2 {
        return Err(InputError::Malformed {
            line: lineno,
            what: format!(
                "expected s3://src/key,s3://dst/key, found {} fields",
                fields.len()
            ),
        });
    }
    let (bucket, key) = split_s3_uri(&fields[0], lineno)?;
    let dest = split_s3_uri(&fields[1], lineno)?;
    Ok(Entry {
        bucket,
        key,
        version_id: None,
        dest: Some(dest),
    })
}

/// DataSync-style filter: `|`-separated patterns where `*` matches any run of characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternSet {
    patterns: Vec<String>,
}

impl PatternSet {
    /// Parses `a/*|*.jpg`; empty patterns are dropped.
    pub fn parse(text: &str) -> Self {
        Self {
            patterns: text
                .split('|')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// True when any pattern matches the whole key.
    pub fn matches(&self, key: &str) -> bool {
        self.patterns.iter().any(|p| glob_match(p, key))
    }
}

/// `*`-only glob matching over the whole text, linear time (no backtracking blow-up).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A calendar date (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// Year.
    pub year: i64,
    /// Month, 1-12.
    pub month: u32,
    /// Day, 1-31.
    pub day: u32,
}

impl Date {
    /// The date of a Unix day number (days since 1970-01-01).
    pub fn from_days(days: i64) -> Self {
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self { year, month, day }
    }

    /// Today, UTC.
    pub fn today() -> Self {
        Self::from_days(crate::progress::now_secs().div_euclid(86_400))
    }

    fn format(&self, spec: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = spec.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('Y') => out.push_str(&format!("{:04}", self.year)),
                Some('m') => out.push_str(&format!("{:02}", self.month)),
                Some('d') => out.push_str(&format!("{:02}", self.day)),
                Some('%') => out.push('%'),
                other => {
                    return Err(format!(
                        "unsupported date format '%{}' (use %Y, %m, %d)",
                        other.map(String::from).unwrap_or_default()
                    ))
                }
            }
        }
        Ok(out)
    }
}

/// Expands `{today:FMT}` and `{yesterday:FMT}` placeholders (FMT with `%Y`, `%m`, `%d`) in a
/// prefix, for the common "yesterday's partition" job.
pub fn expand_dates(text: &str, today: Date) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in '{text}'"))?
            + start;
        let inner = &rest[start + 1..end];
        let (which, fmt) = inner
            .split_once(':')
            .ok_or_else(|| format!("'{{{inner}}}' needs a format, e.g. {{yesterday:%Y-%m-%d}}"))?;
        let day_number = days_from_civil(today);
        let date = match which {
            "today" => today,
            "yesterday" => Date::from_days(day_number - 1),
            other => {
                return Err(format!(
                    "unknown date placeholder '{other}' (use today or yesterday)"
                ))
            }
        };
        out.push_str(&date.format(fmt)?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Seconds since the Unix epoch of an ISO 8601 UTC time as S3 Inventory writes it
/// (`2026-11-27T10:11:12.000Z`); `None` when it is not one.
pub fn epoch_seconds(text: &str) -> Option<i64> {
    let t = text.trim();
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    if t.len() < 19 || t.as_bytes()[4] != b'-' || t.as_bytes()[10] != b'T' {
        return None;
    }
    let date = Date {
        year: num(0..4)?,
        month: u32::try_from(num(5..7)?)
            .ok()
            .filter(|m| (1..=12).contains(m))?,
        day: u32::try_from(num(8..10)?)
            .ok()
            .filter(|d| (1..=31).contains(d))?,
    };
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    Some(days_from_civil(date) * 86_400 + h * 3600 + m * 60 + s)
}

fn days_from_civil(d: Date) -> i64 {
    let y = d.year - i64::from(d.month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(d.month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d.day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        assert_eq!(
            detect_format("inv/manifest.json", "{"),
            InputFormat::Inventory
        );
        assert_eq!(detect_format("m.csv", "bkt,a%20b"), InputFormat::BatchCsv);
        assert_eq!(
            detect_format("M.CSV", "s3://a/b,s3://c/d"),
            InputFormat::Pairs
        );
        assert_eq!(
            detect_format("p.csv", "\"s3://a/b c\",\"s3://c/d\""),
            InputFormat::Pairs
        );
        assert_eq!(detect_format("keys.txt", "a,b"), InputFormat::Keys);
        assert_eq!(detect_format("-", "x"), InputFormat::Keys);
    }

    #[test]
    fn batch_csv_lines() {
        let e = parse_batch_csv_line("bkt,photos/a%20b%2Bc.jpg,v1", 3).expect("ok");
        assert_eq!(
            (e.bucket.as_str(), e.key.as_str(), e.version_id.as_deref()),
            ("bkt", "photos/a b+c.jpg", Some("v1"))
        );
        // '+' stays '+' in Batch Operations keys; %-escapes of UTF-8 decode
        assert_eq!(parse_batch_csv_line("b,a+b", 2).unwrap().key, "a+b");
        assert_eq!(parse_batch_csv_line("b,%C3%A9", 2).unwrap().key, "é");
        assert_eq!(parse_batch_csv_line("b,\"k,1\",", 2).unwrap().key, "k,1");
        assert_eq!(parse_batch_csv_line("b,k,", 2).unwrap().version_id, None);
    }

    #[test]
    fn batch_csv_header_and_errors() {
        for header in ["Bucket,Key", "bucket,key,versionId", "my-bucket,Key"] {
            assert!(
                matches!(
                    parse_batch_csv_line(header, 1),
                    Err(InputError::HeaderRow { line: 1, .. })
                ),
                "{header}"
            );
        }
        let e = parse_batch_csv_line("Bucket,Key", 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("header row") && e.contains("line 1"), "{e}");
        // a key literally named "key" later in the file is data
        assert_eq!(parse_batch_csv_line("b,key", 5).unwrap().key, "key");
        assert!(matches!(
            parse_batch_csv_line("only-one-field", 2),
            Err(InputError::Malformed { .. })
        ));
        assert!(matches!(
            parse_batch_csv_line("b,k,v,extra", 2),
            Err(InputError::Malformed { .. })
        ));
        assert!(matches!(
            parse_batch_csv_line("b,%ZZ", 2),
            Err(InputError::BadEncoding { .. })
        ));
        assert!(matches!(
            parse_batch_csv_line("b,%FF", 2),
            Err(InputError::BadEncoding { .. })
        ));
        assert!(matches!(
            parse_batch_csv_line("b,\"open", 2),
            Err(InputError::Malformed { .. })
        ));
        assert!(matches!(
            parse_batch_csv_line(",k", 2),
            Err(InputError::Malformed { .. })
        ));
    }

    #[test]
    fn review_findings() {
        assert!(matches!(
            parse_batch_csv_line("b,%+5", 2),
            Err(InputError::BadEncoding { .. })
        ));
        // an Excel export starts with a byte order mark
        assert!(matches!(
            parse_batch_csv_line("\u{feff}Bucket,Key", 1),
            Err(InputError::HeaderRow { .. })
        ));
        // spaces at the ends of keys are kept
        let e = parse_pair_line("s3://src/a ,s3://dst/ b", 1).expect("ok");
        assert_eq!(e.key, "a ");
        assert_eq!(e.dest.map(|d| d.1), Some(" b".to_owned()));
    }

    #[test]
    fn inventory_plus_is_space() {
        assert_eq!(url_decode("a+b%2B", true, 1).unwrap(), "a b+");
        assert_eq!(url_decode("a+b", false, 1).unwrap(), "a+b");
        assert!(url_decode("%4", true, 1).is_err());
    }

    #[test]
    fn pairs() {
        let e = parse_pair_line("s3://src/a b.txt,s3://dst/x/a b.txt", 1).expect("ok");
        assert_eq!((e.bucket.as_str(), e.key.as_str()), ("src", "a b.txt"));
        assert_eq!(e.dest, Some(("dst".into(), "x/a b.txt".into())));
        assert!(parse_pair_line("s3://src/a", 1).is_err());
        assert!(parse_pair_line("s3://src/a,dst/b", 1).is_err());
        assert!(parse_pair_line("s3://src/,s3://dst/b", 1).is_err());
    }

    #[test]
    fn patterns() {
        let p = PatternSet::parse("photos/*.jpg|*/raw/*");
        assert!(p.matches("photos/a.jpg"));
        assert!(p.matches("x/raw/y"));
        assert!(!p.matches("photos/a.png"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("exact", "exact") && !glob_match("exact", "exact2"));
        // no exponential backtracking
        let long = "a".repeat(5000);
        assert!(!glob_match("*a*a*a*a*a*b", &long));
        assert!(!PatternSet::parse("").matches("anything"));
    }

    #[test]
    fn inventory_times() {
        assert_eq!(epoch_seconds("1970-01-02T00:00:01.000Z"), Some(86_401));
        assert_eq!(epoch_seconds("2026-11-27T10:11:12Z"), Some(1_795_774_272));
        assert_eq!(epoch_seconds(""), None);
        assert_eq!(epoch_seconds("2026-13-01T00:00:00Z"), None);
        assert_eq!(epoch_seconds("yesterday"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(
            Date::from_days(0),
            Date {
                year: 1970,
                month: 1,
                day: 1
            }
        );
        let d = Date {
            year: 2026,
            month: 3,
            day: 1,
        };
        assert_eq!(Date::from_days(days_from_civil(d)), d);
        assert_eq!(
            expand_dates(
                "year={yesterday:%Y}/month={yesterday:%m}/day={yesterday:%d}/",
                d
            )
            .unwrap(),
            "year=2026/month=02/day=28/"
        );
        let ny = Date {
            year: 2027,
            month: 1,
            day: 1,
        };
        assert_eq!(
            expand_dates("{yesterday:%Y-%m-%d}", ny).unwrap(),
            "2026-12-31"
        );
        assert_eq!(expand_dates("{today:%Y%m%d}x", ny).unwrap(), "20270101x");
        assert_eq!(expand_dates("plain/prefix/", ny).unwrap(), "plain/prefix/");
        assert!(expand_dates("{tomorrow:%Y}", ny).is_err());
        assert!(expand_dates("{yesterday:%H}", ny).is_err());
        assert!(expand_dates("{yesterday", ny).is_err());
        // leap day
        let mar1 = Date {
            year: 2028,
            month: 3,
            day: 1,
        };
        assert_eq!(expand_dates("{yesterday:%m-%d}", mar1).unwrap(), "02-29");
    }

    #[test]
    fn formats_display_as_named_on_the_command_line() {
        let names: Vec<String> = [
            InputFormat::Keys,
            InputFormat::BatchCsv,
            InputFormat::Inventory,
            InputFormat::Pairs,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(names, ["keys", "csv", "inventory", "pairs"]);
    }

    #[test]
    fn epoch_seconds_needs_the_iso_separators_and_a_whole_time() {
        assert_eq!(epoch_seconds("2026/11/27T10:11:12Z"), None);
        assert_eq!(epoch_seconds("2026-11-27 10:11:12Z"), None);
        assert_eq!(epoch_seconds("2026-11-27"), None);
        assert_eq!(epoch_seconds("2026-11-27T10:11"), None);
        assert_eq!(epoch_seconds("2026-11-32T10:11:12Z"), None);
        assert_eq!(epoch_seconds("2026-00-27T10:11:12Z"), None);
        // leap day, end of year, surrounding blanks
        assert_eq!(epoch_seconds(" 2024-02-29T00:00:00Z "), Some(1_709_164_800));
        assert_eq!(epoch_seconds("1999-12-31T23:59:59Z"), Some(946_684_799));
    }

    #[test]
    fn days_and_dates_agree_across_centuries() {
        // mid-1838 .. 2517: century years, 400-year eras (2000-02-29 ends one), leap days
        let mut prev: Option<Date> = None;
        for n in -48_000..200_000 {
            let d = Date::from_days(n);
            assert!(
                (1..=12).contains(&d.month) && (1..=31).contains(&d.day),
                "{n}: {d:?}"
            );
            assert_eq!(days_from_civil(d), n, "{d:?}");
            if let Some(p) = prev {
                assert!(
                    (p.year, p.month, p.day) < (d.year, d.month, d.day),
                    "{p:?} {d:?}"
                );
            }
            prev = Some(d);
        }
        assert_eq!(
            Date::from_days(11_016),
            Date {
                year: 2000,
                month: 2,
                day: 29
            }
        );
    }

    #[test]
    fn csv_quotes_only_open_a_field_and_double_inside_one() {
        assert_eq!(
            split_csv("ab\"c,d", 1).expect("csv"),
            vec!["ab\"c".to_owned(), "d".to_owned()]
        );
        assert_eq!(
            split_csv("\"a\"\"b\",c", 1).expect("csv"),
            vec!["a\"b".to_owned(), "c".to_owned()]
        );
    }

    #[test]
    fn an_iso_time_of_exactly_19_characters_is_whole() {
        assert_eq!(epoch_seconds("1970-01-02T00:00:01"), Some(86_401));
    }
}
