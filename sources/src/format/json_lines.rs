//! Splitting a JSON Lines (NDJSON) page: one JSON value per line.

/// Calls `item` with each non-blank line of `body` (without its line end)
/// and its line number (from 1); stops at the first error `item` returns,
/// giving the line number with it.
pub(crate) fn each_line<E>(
    body: &[u8],
    mut item: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<usize, (usize, E)> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut count = 0;
    for (index, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            continue;
        }
        item(line).map_err(|e| (index + 1, e))?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(body: &[u8]) -> Result<Vec<String>, (usize, &'static str)> {
        let mut out = Vec::new();
        each_line(body, |l| {
            if l.starts_with(b"{") {
                out.push(String::from_utf8_lossy(l).into_owned());
                Ok(())
            } else {
                Err("not an object")
            }
        })?;
        Ok(out)
    }

    #[test]
    fn lines_split_on_newlines_and_blank_ones_are_skipped() {
        assert_eq!(
            lines(b"\xEF\xBB\xBF{\"a\":1}\r\n\n  \n{\"b\":2}").unwrap(),
            ["{\"a\":1}", "{\"b\":2}"]
        );
        assert_eq!(lines(b"").unwrap(), Vec::<String>::new());
        assert_eq!(lines(b"{}\n\nnope\n{}\n"), Err((3, "not an object")));
    }
}
