//! [`QuotaBudgets`]: the process-wide registry of request budgets, one per
//! host and credential, optionally shared with other processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::QuotaBudget;
use crate::coordination::QuotaStore;

/// The process-wide registry of request budgets: one [`QuotaBudget`] per
/// host and budget key, shared by every pipeline that sends the same
/// credential there. Cloning shares the registry.
#[derive(Debug, Clone, Default)]
pub struct QuotaBudgets {
    budgets: Arc<Mutex<HashMap<(String, String), QuotaBudget>>>,
    store: Option<Arc<dyn QuotaStore>>,
}

impl QuotaBudgets {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry whose budgets are kept in `store` too, shared with
    /// other processes (see [`QuotaStore`]).
    pub fn shared(store: Arc<dyn QuotaStore>) -> Self {
        Self {
            budgets: Arc::default(),
            store: Some(store),
        }
    }

    /// The budget of `key` (a digest of the credential, never the
    /// credential) on `host`, created if it does not exist yet.
    pub fn budget(&self, host: &str, key: &str) -> QuotaBudget {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        budgets
            .entry((host.to_owned(), key.to_owned()))
            .or_insert_with(|| QuotaBudget::with_store(host.to_owned(), key.to_owned(), self.store.clone()))
            .clone()
    }
}
