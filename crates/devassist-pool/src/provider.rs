//! Lifecycle providers: how a managed backend is started and stopped. `process` starts a
//! child process (`process.rs`), `command` runs operator hooks (`command.rs`), `external`
//! waits for a scaler to start it (`external.rs`); tests use in-memory providers.

use super::kind::ProviderKind;
use super::process::{self, ProcessSpec, Running};
use devassist_core::GatewayError;
use std::time::Duration;

#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Starts one instance and returns once it is ready to serve.
    async fn start(&self) -> Result<Box<dyn Instance>, GatewayError>;

    /// What kind of provider it is, for `/status`.
    fn kind(&self) -> ProviderKind;
}

#[async_trait::async_trait]
pub trait Instance: Send + 'static {
    /// Base URL of the running backend's API.
    fn base_url(&self) -> &str;
    /// The process id, for instances that are a local process.
    fn pid(&self) -> Option<u32> {
        None
    }
    /// Resolves if the instance dies on its own, with a description for the error message.
    async fn exited(&mut self) -> String;
    /// Stops it, forcefully after `grace`. An error (a failing stop hook) is reported in
    /// `/status`; the backend counts as stopped either way.
    async fn stop(self: Box<Self>, grace: Duration) -> Result<(), String>;
}

/// Runs a backend as a child process of the gateway.
pub struct ProcessProvider {
    pub name: String,
    pub spec: ProcessSpec,
    /// `Process`, or `Engine` for local GGUF models.
    pub kind: ProviderKind,
}

#[async_trait::async_trait]
impl Provider for ProcessProvider {
    async fn start(&self) -> Result<Box<dyn Instance>, GatewayError> {
        Ok(Box::new(process::start(&self.name, &self.spec).await?))
    }

    fn kind(&self) -> ProviderKind {
        self.kind
    }
}

#[async_trait::async_trait]
impl Instance for Running {
    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn pid(&self) -> Option<u32> {
        Running::pid(self)
    }

    async fn exited(&mut self) -> String {
        Running::exited(self).await
    }

    async fn stop(self: Box<Self>, grace: Duration) -> Result<(), String> {
        Running::stop(*self, grace).await;
        Ok(())
    }
}
