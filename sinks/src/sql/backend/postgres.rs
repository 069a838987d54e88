//! PostgreSQL's own parts of [`Backend`]: binding a batch as `UNNEST`
//! arrays, asynchronous staging commits and binary `COPY`.

use sqlx::Connection;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo};

use super::{Backend, Q};
use crate::sql::encode::{Batch, ColumnType, SqlValue};

impl Backend for sqlx::Postgres {
    // Concurrent `CREATE TABLE IF NOT EXISTS` of one name can fail on a
    // catalog unique index; a transaction-scoped advisory lock serializes them.
    const DDL_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(7245817201)");

    fn begin(
        conn: &mut sqlx::PgConnection,
        async_commit: bool,
    ) -> impl Future<Output = Result<sqlx::Transaction<'_, Self>, sqlx::Error>> + Send {
        // Sent as one simple query: the setting costs no extra round trip.
        match async_commit {
            true => conn.begin_with("BEGIN; SET LOCAL synchronous_commit = off"),
            false => conn.begin_with("BEGIN"),
        }
    }

    async fn copy_rows(
        conn: &mut sqlx::PgConnection,
        sql: &str,
        batch: &Batch,
        rows: &[usize],
        types: &[ColumnType],
    ) -> Result<(), sqlx::Error> {
        let encode = |e| sqlx::Error::Encode(Box::new(e));
        let stream = crate::sql::copy::CopyStream::new(batch, types).map_err(encode)?;
        let mut copy = conn.copy_in_raw(sql).await?;
        // Slices of rows, each sent (no reply awaited) before the next is
        // encoded: the server parses one while the client encodes the next.
        let mut data = Vec::with_capacity(COPY_SLICE_BYTES + 4096);
        stream.header(&mut data);
        for slice in rows.chunks(COPY_SLICE_ROWS) {
            if let Err(e) = stream.rows(slice, &mut data) {
                if let Err(abort) = copy.abort(e.to_string()).await {
                    tracing::warn!(%abort, "aborting a COPY failed");
                }
                return Err(encode(e));
            }
            if data.len() >= COPY_SLICE_BYTES {
                copy.send(data.as_slice()).await?;
                data.clear();
            }
        }
        stream.trailer(&mut data);
        copy.send(data).await?;
        copy.finish().await?;
        Ok(())
    }

    fn bind_rows<'q>(mut q: Q<'q, Self>, batch: &Batch, rows: &[usize], types: &[ColumnType]) -> Q<'q, Self> {
        q = q.bind(rows.iter().map(|&i| batch.row(i).0).collect::<Vec<&str>>());
        for (col, ty) in types.iter().enumerate() {
            let cells = rows.iter().map(|&i| &batch.row(i).1[col]);
            // Encoding made every value match its column's type (or be NULL).
            q = match ty {
                ColumnType::Text => q.bind(array(cells, |v| match v {
                    SqlValue::Text(s) => Some(s.as_str()),
                    _ => None,
                })),
                ColumnType::Integer => q.bind(array(cells, |v| match v {
                    SqlValue::Int(i) => Some(*i),
                    _ => None,
                })),
                ColumnType::Real => q.bind(array(cells, |v| match v {
                    SqlValue::Real(f) => Some(*f),
                    _ => None,
                })),
                ColumnType::Boolean => q.bind(array(cells, |v| match v {
                    SqlValue::Bool(b) => Some(*b),
                    _ => None,
                })),
                // In binary: the server parses no text.
                ColumnType::Timestamp => q.bind(array(cells, |v| match v {
                    SqlValue::Timestamp { pg_micros, .. } => Some(PgTimestamp(*pg_micros)),
                    _ => None,
                })),
                ColumnType::Date => q.bind(array(cells, |v| match v {
                    SqlValue::Date { pg_days, .. } => Some(PgDate(*pg_days)),
                    _ => None,
                })),
                // Raw JSON text goes to `jsonb` as it is, without a `Value`.
                ColumnType::Json if cells.clone().any(|v| matches!(v, SqlValue::RawJson(_))) => {
                    q.bind(array(cells, |v| match v {
                        SqlValue::RawJson(r) => Some(sqlx::types::Json(r.as_raw())),
                        _ => None,
                    }))
                }
                ColumnType::Json => q.bind(array(cells, |v| match v {
                    SqlValue::Json(j) => Some(sqlx::types::Json(j)),
                    _ => None,
                })),
            };
        }
        q
    }
}

/// Rows encoded between checks of the `COPY` buffer's size.
const COPY_SLICE_ROWS: usize = 64;

/// Bytes of `COPY` data sent at once (when a slice of rows passes it).
const COPY_SLICE_BYTES: usize = 32 * 1024;

/// One column of a batch as a PostgreSQL array for `UNNEST`: NULL where a cell
/// holds no value of the column's type.
fn array<'a, T>(
    cells: impl Iterator<Item = &'a SqlValue>,
    value: impl Fn(&'a SqlValue) -> Option<T>,
) -> Vec<Option<T>> {
    cells.map(value).collect()
}

/// A `timestamptz` in PostgreSQL's binary format: microseconds since
/// 2000-01-01 UTC (see `timestamp.rs`).
#[derive(Debug, Clone, Copy)]
struct PgTimestamp(i64);

/// A `date` in PostgreSQL's binary format: days since 2000-01-01.
#[derive(Debug, Clone, Copy)]
struct PgDate(i32);

/// The catalog's type numbers (`pg_type.oid`) of `timestamptz`, `date` and their arrays.
const TIMESTAMPTZ: Oid = Oid(1184);
const TIMESTAMPTZ_ARRAY: Oid = Oid(1185);
const DATE: Oid = Oid(1082);
const DATE_ARRAY: Oid = Oid(1182);

impl sqlx::Type<sqlx::Postgres> for PgTimestamp {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(TIMESTAMPTZ)
    }
}

impl PgHasArrayType for PgTimestamp {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(TIMESTAMPTZ_ARRAY)
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for PgTimestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(&self.0.to_be_bytes());
        Ok(IsNull::No)
    }
}

impl sqlx::Type<sqlx::Postgres> for PgDate {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(DATE)
    }
}

impl PgHasArrayType for PgDate {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(DATE_ARRAY)
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for PgDate {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(&self.0.to_be_bytes());
        Ok(IsNull::No)
    }
}
