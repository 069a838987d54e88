//! [`HostGates`]: the process-wide registry of host gates, optionally
//! sharing request starts with other processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{GateConfig, HostGate};
use crate::coordination::HostSlots;

/// The process-wide registry of host gates: one gate per host, shared by
/// every pipeline that asks for it. Cloning shares the registry.
#[derive(Debug, Clone, Default)]
pub struct HostGates {
    gates: Arc<Mutex<HashMap<String, HostGate>>>,
    shared: Option<Arc<dyn HostSlots>>,
}

impl HostGates {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry whose gates also reserve their start slots in
    /// `slots`, shared with other processes (see [`HostSlots`]): the minimum
    /// interval and `Retry-After` then hold for all of them together.
    pub fn shared(slots: Arc<dyn HostSlots>) -> Self {
        Self {
            gates: Arc::default(),
            shared: Some(slots),
        }
    }

    /// The gate of `host`, created with `config` if it does not exist yet (the
    /// first configuration of a host wins, so pipelines cannot loosen it).
    pub fn gate(&self, host: &str, config: GateConfig) -> HostGate {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates
            .entry(host.to_owned())
            .or_insert_with(|| HostGate::with_slots(host, config, self.shared.clone()))
            .clone()
    }

    /// The gate of `host`, if one exists.
    pub fn get(&self, host: &str) -> Option<HostGate> {
        self.gates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .cloned()
    }
}
