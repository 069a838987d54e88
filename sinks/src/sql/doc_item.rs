//! The items a typed table's encoder reads ([`DocItem`]: a parsed `Value`
//! or a `RawItem`'s text) and what it reads from each: the values at a
//! batch's pointers ([`FieldPlan`], [`Fields`]), in one pass over a raw
//! item's text where the pointers are top-level names (`pick.rs`), with the
//! fields that are there but cannot be read told apart from missing ones.

use std::borrow::Cow;

use crawlpipe_core::RawItem;
use serde_json::Value;

use super::encode::SqlValue;
use super::pick::{Names, Picked, Picks, pick, pick_and_scan, top_level_name, unknown_scalars};

/// Why a key closure's item is rejected when it gave no key.
pub(crate) const NO_CLOSURE_KEY: &str = "the key closure gave no key";

/// An item the typed encoder reads: a parsed `Value` or raw JSON text.
pub(crate) trait DocItem: Send + 'static {
    /// The value at `pointer` (`""`: the whole item).
    fn field(&self, pointer: &str) -> Option<Cow<'_, Value>>;
    /// The item's JSON text, for `pipeline_rejected`.
    fn json_text(&self) -> String;
    /// The item as the `data` column's value.
    fn into_data(self) -> SqlValue;
    /// The key a closure gives, or why there is none.
    fn closure_key(&self, f: &(dyn Fn(&Value) -> Option<String> + Send + Sync)) -> Result<String, String>;
    /// The top-level scalar fields not named in `known`, for inference
    /// (`None`: not an object).
    fn new_fields(&self, known: &Names) -> Option<Vec<(String, Value)>>;
    /// The values at `plan`'s pointers, in order.
    fn fields(&self, plan: &FieldPlan) -> Fields<'_> {
        Fields {
            values: plan.pointers.iter().map(|p| self.field(p)).collect(),
            unreadable: Vec::new(),
        }
    }
    /// [`fields`](Self::fields) and the top-level fields not in `known`
    /// in one pass, where the item is text read once for both (`None`:
    /// read them separately).
    fn pick_and_scan(&self, plan: &FieldPlan, known: &Names) -> Option<Picked<'_>> {
        let _ = (plan, known);
        None
    }
}

/// The values an item has at a [`FieldPlan`]'s pointers.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    /// One per pointer; `None`: nothing there, or nothing readable.
    pub(crate) values: Vec<Option<Cow<'a, Value>>>,
    /// Positions whose value is there but cannot be read as a `Value` (a
    /// number beyond `f64`'s range, nesting deeper than 128; see
    /// `RawItem::try_pointer`), and why: a mismatch of that column, or an
    /// unreadable key, never a missing value.
    pub(crate) unreadable: Vec<(usize, String)>,
}

impl From<Picks> for Fields<'_> {
    fn from(picks: Picks) -> Self {
        Self {
            values: picks.values.into_iter().map(|v| v.map(Cow::Owned)).collect(),
            unreadable: picks.unreadable,
        }
    }
}

/// The pointers a batch reads from each item (the key's, the columns', the
/// unnested arrays'), and their names when all are top-level fields.
#[derive(Debug)]
pub(crate) struct FieldPlan {
    pub(crate) pointers: Vec<String>,
    pub(crate) names: Option<Vec<String>>,
}

impl FieldPlan {
    pub(crate) fn new(pointers: Vec<String>) -> Self {
        let names = pointers.iter().map(|p| top_level_name(p)).collect();
        Self { pointers, names }
    }
}

impl DocItem for Value {
    fn field(&self, pointer: &str) -> Option<Cow<'_, Value>> {
        self.pointer(pointer).map(Cow::Borrowed)
    }
    fn json_text(&self) -> String {
        self.to_string()
    }
    fn into_data(self) -> SqlValue {
        SqlValue::Json(self)
    }
    fn closure_key(&self, f: &(dyn Fn(&Value) -> Option<String> + Send + Sync)) -> Result<String, String> {
        f(self).ok_or_else(|| NO_CLOSURE_KEY.to_owned())
    }
    fn new_fields(&self, known: &Names) -> Option<Vec<(String, Value)>> {
        let fields = self.as_object()?;
        Some(
            fields
                .iter()
                .filter(|(k, v)| !known.contains(*k) && !v.is_object() && !v.is_array())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

impl DocItem for RawItem {
    fn field(&self, pointer: &str) -> Option<Cow<'_, Value>> {
        self.pointer(pointer).map(Cow::Owned)
    }
    fn json_text(&self) -> String {
        self.as_str().to_owned()
    }
    fn into_data(self) -> SqlValue {
        SqlValue::RawJson(self)
    }
    fn closure_key(&self, f: &(dyn Fn(&Value) -> Option<String> + Send + Sync)) -> Result<String, String> {
        match self.to_value() {
            Ok(value) => f(&value).ok_or_else(|| NO_CLOSURE_KEY.to_owned()),
            Err(e) => Err(format!("the item cannot be read for the key closure: {e}")),
        }
    }
    fn fields(&self, plan: &FieldPlan) -> Fields<'_> {
        match &plan.names {
            // One pass over the text for every field.
            Some(names) => pick(self.as_str(), names)
                .unwrap_or_else(|| Picks::new(names.len()))
                .into(),
            None => {
                let mut unreadable = Vec::new();
                let values = (plan.pointers.iter().enumerate())
                    .map(|(at, p)| {
                        self.try_pointer(p)
                            .unwrap_or_else(|e| {
                                unreadable.push((at, e.to_string()));
                                None
                            })
                            .map(Cow::Owned)
                    })
                    .collect();
                Fields { values, unreadable }
            }
        }
    }

    fn new_fields(&self, known: &Names) -> Option<Vec<(String, Value)>> {
        // Known fields and nested values are skipped unparsed.
        unknown_scalars(self.as_str(), known)
    }

    fn pick_and_scan(&self, plan: &FieldPlan, known: &Names) -> Option<Picked<'_>> {
        let names = plan.names.as_ref()?;
        Some(
            pick_and_scan(self.as_str(), names, known)
                .unwrap_or_else(|| (Picks::new(names.len()), Vec::new())),
        )
    }
}
