//! The transform task: pulls the fused chain of per-item stages and feeds the sink edge.

use crate::edge::EdgeSender;
use crate::stage::Pull;

/// Pulls the chain and feeds the sink edge until either side ends.
pub(crate) async fn run_chain<T: Send + 'static>(mut chain: Box<dyn Pull<T>>, out: EdgeSender<T>) {
    while let Some(event) = chain.pull().await {
        if out.send(event).await.is_err() {
            break;
        }
    }
}
