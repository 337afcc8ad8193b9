//! Lifecycle providers: how a managed backend is started and stopped. `process` starts a
//! child process; tests use in-memory providers; the `command` provider (operator hooks
//! for clouds) plugs in here too.

use super::process::{self, ProcessSpec, Running};
use devassist_core::GatewayError;
use std::time::Duration;

#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Starts one instance and returns once it is ready to serve.
    async fn start(&self) -> Result<Box<dyn Instance>, GatewayError>;
}

#[async_trait::async_trait]
pub trait Instance: Send + 'static {
    /// Base URL of the running backend's API.
    fn base_url(&self) -> &str;
    /// Resolves if the instance dies on its own, with a description for the error message.
    async fn exited(&mut self) -> String;
    /// Stops it, forcefully after `grace`.
    async fn stop(self: Box<Self>, grace: Duration);
}

/// Runs a backend as a child process of the gateway.
pub struct ProcessProvider {
    pub name: String,
    pub spec: ProcessSpec,
}

#[async_trait::async_trait]
impl Provider for ProcessProvider {
    async fn start(&self) -> Result<Box<dyn Instance>, GatewayError> {
        Ok(Box::new(process::start(&self.name, &self.spec).await?))
    }
}

#[async_trait::async_trait]
impl Instance for Running {
    fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn exited(&mut self) -> String {
        let status = self.child.wait().await;
        // Let the output readers catch the last lines.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let status = status
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        format!("process exited ({status}): {}", self.tail.last(5))
    }

    async fn stop(self: Box<Self>, grace: Duration) {
        Running::stop(*self, grace).await;
    }
}
