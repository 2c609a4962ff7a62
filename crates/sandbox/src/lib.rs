mod convert;
mod guard;
mod host;
mod limits;
mod outcome;
mod run;
mod stack;
mod transpile;

use std::sync::Arc;

pub use host::{Host, NoTools, ToolError};
pub use limits::{Limit, Limits};
pub use outcome::{CallRecord, ErrorInfo, Outcome, Stats};
pub use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Default)]
pub struct Sandbox {
    limits: Limits,
}

impl Sandbox {
    pub fn new(limits: Limits) -> Self {
        Sandbox { limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub async fn execute(&self, code: &str, host: Arc<dyn Host>) -> Outcome {
        run::execute(&self.limits, code, host, CancellationToken::new()).await
    }

    pub async fn execute_with_cancel(
        &self,
        code: &str,
        host: Arc<dyn Host>,
        cancel: CancellationToken,
    ) -> Outcome {
        run::execute(&self.limits, code, host, cancel).await
    }
}
