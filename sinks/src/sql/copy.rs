//! PostgreSQL's binary `COPY` format: how staging mode writes a batch.
//!
//! A staging table is read by no one until the swap and has no unique index
//! (see [`Dialect::create_append_only`](super::dialect::Dialect)), so a batch
//! can be streamed in with `COPY … FROM STDIN (FORMAT binary)` instead of an
//! upsert: no conflict check, no index maintenance, no text parsing of
//! numbers. Each row gets the next value of the table's ordinal column; the
//! swap keeps the row with the highest ordinal per key, which is the row the
//! upserts would have left.
//!
//! Each batch's transaction (`COPY`, then the checkpoint row) commits
//! asynchronously (`SET LOCAL synchronous_commit = off`): it does not wait
//! for its WAL to reach the disk, which on a small batch is most of its
//! time. A client killed at any point loses nothing the server acknowledged.
//! A *server* crash may lose the last acknowledged batches, rows and cursor
//! together, so the stored checkpoint still matches the staging table; but a
//! crawl still running would go on past them. So each batch's checkpoint
//! upsert applies only while the row holds the counts (pages, items written)
//! this run last committed, and the swap checks them too (synchronously):
//! after lost commits the run fails, resumably, and resumes from what the
//! server kept (see docs/design-notes.md).
//!
//! The format: a signature and two zero words, then per row a field count
//! and, per field, its length in bytes (`-1` for NULL) and its binary value;
//! then `-1` as the field count. `jsonb` values are a version byte (1) and
//! the JSON text.

use std::io::Write;

use super::encode::{Batch, ColumnType, SqlValue};

/// The 11-byte signature, flags (none) and header extension length (none).
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The `jsonb` binary format version.
const JSONB_VERSION: u8 = 1;

/// Why a row cannot be put in the binary format.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CopyEncodeError(pub(crate) String);

/// The bytes of a binary `COPY` stream, produced a slice of rows at a time
/// so the first rows can be on their way while later ones are encoded.
pub(crate) struct CopyStream<'a> {
    batch: &'a Batch,
    types: &'a [ColumnType],
    fields: i16,
}

impl<'a> CopyStream<'a> {
    /// A stream of `batch`'s rows (key, then one value per column of `types`).
    pub(crate) fn new(batch: &'a Batch, types: &'a [ColumnType]) -> Result<Self, CopyEncodeError> {
        let fields = i16::try_from(1 + types.len())
            .map_err(|_| CopyEncodeError(format!("{} columns are too many for COPY", types.len())))?;
        Ok(Self { batch, types, fields })
    }

    /// Appends the stream's header.
    pub(crate) fn header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(HEADER);
    }

    /// Appends `rows`.
    pub(crate) fn rows(&self, rows: &[usize], out: &mut Vec<u8>) -> Result<(), CopyEncodeError> {
        for &i in rows {
            let (key, values) = self.batch.row(i);
            out.extend_from_slice(&self.fields.to_be_bytes());
            field(out, |out| {
                out.extend_from_slice(key.as_bytes());
                Ok(())
            })?;
            for (value, ty) in values.iter().zip(self.types) {
                encode_value(value, *ty, out)?;
            }
        }
        Ok(())
    }

    /// Appends the end-of-data marker.
    pub(crate) fn trailer(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(-1i16).to_be_bytes());
    }
}

/// Appends `rows` of `batch` (key, then one value per column of `types`) to
/// `out` as a complete binary `COPY` stream.
#[cfg(test)]
fn encode_rows(
    batch: &Batch,
    rows: &[usize],
    types: &[ColumnType],
    out: &mut Vec<u8>,
) -> Result<(), CopyEncodeError> {
    let stream = CopyStream::new(batch, types)?;
    stream.header(out);
    stream.rows(rows, out)?;
    stream.trailer(out);
    Ok(())
}

/// One field: its length, patched in after `write` appended its bytes.
fn field(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), CopyEncodeError>,
) -> Result<(), CopyEncodeError> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out)?;
    let len = i32::try_from(out.len() - at - 4)
        .map_err(|_| CopyEncodeError("a value is larger than 2 GiB".to_owned()))?;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn encode_value(value: &SqlValue, ty: ColumnType, out: &mut Vec<u8>) -> Result<(), CopyEncodeError> {
    // Encoding made every value match its column's type (or be NULL), as the
    // UNNEST path assumes too; anything else is written as NULL like there.
    match (ty, value) {
        (ColumnType::Text, SqlValue::Text(s)) => field(out, |out| {
            out.extend_from_slice(s.as_bytes());
            Ok(())
        }),
        (ColumnType::Integer, SqlValue::Int(i)) => fixed(out, &i.to_be_bytes()),
        (ColumnType::Real, SqlValue::Real(f)) => fixed(out, &f.to_be_bytes()),
        (ColumnType::Boolean, SqlValue::Bool(b)) => fixed(out, &[u8::from(*b)]),
        (ColumnType::Timestamp, SqlValue::Timestamp { pg_micros, .. }) => {
            fixed(out, &pg_micros.to_be_bytes())
        }
        (ColumnType::Date, SqlValue::Date { pg_days, .. }) => fixed(out, &pg_days.to_be_bytes()),
        (ColumnType::Json, SqlValue::Json(j)) => field(out, |out| {
            out.push(JSONB_VERSION);
            serde_json::to_writer(&mut *out, j).map_err(|e| CopyEncodeError(format!("JSON: {e}")))
        }),
        // Raw JSON text is valid JSON already: it goes in as it is.
        (ColumnType::Json, SqlValue::RawJson(r)) => field(out, |out| {
            out.push(JSONB_VERSION);
            out.extend_from_slice(r.as_str().as_bytes());
            Ok(())
        }),
        _ => {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            Ok(())
        }
    }
}

fn fixed(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), CopyEncodeError> {
    // At most 8 bytes: the length always fits.
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.write_all(bytes).map_err(|e| CopyEncodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_row_is_a_field_count_then_length_prefixed_fields() {
        let batch = Batch {
            keys: vec!["k".to_owned()],
            values: vec![
                SqlValue::Int(258),
                SqlValue::Null(ColumnType::Text),
                SqlValue::Json(json!({"a": 1})),
            ],
            width: 3,
            ..Batch::default()
        };
        let types = [ColumnType::Integer, ColumnType::Text, ColumnType::Json];
        let mut out = Vec::new();
        encode_rows(&batch, &[0], &types, &mut out).unwrap();
        let mut want = HEADER.to_vec();
        want.extend_from_slice(&4i16.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 1, b'k']);
        want.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2]);
        want.extend_from_slice(&[0xff; 4]);
        want.extend_from_slice(&[0, 0, 0, 8, 1]);
        want.extend_from_slice(b"{\"a\":1}");
        want.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(out, want);
        assert_eq!(HEADER.len(), 19);
    }
}
