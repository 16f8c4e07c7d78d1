//! Synchronous wrappers for code without an async runtime: each owns a small tokio
//! runtime (one worker thread) that runs the requests and the writer's tasks.

use std::sync::Arc;

use sluice_lp::Point;
use tokio::runtime::Runtime;

use crate::error::{Error, Result};
use crate::writer::{WriteOptions, WriterMetrics};

fn runtime() -> Result<Arc<Runtime>> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sluice-client")
        .enable_all()
        .build()
        .map(Arc::new)
        .map_err(|err| Error::Transport(format!("cannot start the client runtime: {err}")))
}

/// A blocking [`crate::Client`]. Must not be used from inside an async runtime.
#[derive(Debug, Clone)]
pub struct Client {
    runtime: Arc<Runtime>,
    inner: crate::Client,
}

impl Client {
    /// Wraps `client`.
    ///
    /// # Errors
    /// When the runtime cannot start.
    pub fn new(client: crate::Client) -> Result<Client> {
        Ok(Client {
            runtime: runtime()?,
            inner: client,
        })
    }

    /// See [`crate::Client::write_lp`].
    ///
    /// # Errors
    /// As [`crate::Client::write_lp`].
    pub fn write_lp(&self, text: impl AsRef<[u8]>) -> Result<()> {
        self.runtime.block_on(self.inner.write_lp(text))
    }

    /// See [`crate::Client::write_point`].
    ///
    /// # Errors
    /// As [`crate::Client::write_lp`].
    pub fn write_point(&self, point: &Point) -> Result<()> {
        self.runtime.block_on(self.inner.write_point(point))
    }

    /// See [`crate::Client::write_points`].
    ///
    /// # Errors
    /// As [`crate::Client::write_lp`].
    pub fn write_points(&self, points: &[Point]) -> Result<()> {
        self.runtime.block_on(self.inner.write_points(points))
    }
}

/// A blocking [`crate::BatchWriter`]; its batches go out from a background thread.
#[derive(Debug)]
pub struct BatchWriter {
    runtime: Arc<Runtime>,
    inner: crate::BatchWriter,
}

impl BatchWriter {
    /// See [`crate::BatchWriter::new`].
    ///
    /// # Errors
    /// As [`crate::BatchWriter::new`], or when the runtime cannot start.
    pub fn new(client: crate::Client, options: WriteOptions) -> Result<BatchWriter> {
        let runtime = runtime()?;
        let inner = {
            let _guard = runtime.enter();
            crate::BatchWriter::new(client, options)?
        };
        Ok(BatchWriter { runtime, inner })
    }

    /// See [`crate::BatchWriter::write_point`].
    ///
    /// # Errors
    /// As [`crate::BatchWriter::write_point`].
    pub fn write_point(&self, point: &Point) -> Result<()> {
        self.runtime.block_on(self.inner.write_point(point))
    }

    /// See [`crate::BatchWriter::write_points`].
    ///
    /// # Errors
    /// As [`crate::BatchWriter::write_point`].
    pub fn write_points(&self, points: &[Point]) -> Result<()> {
        self.runtime.block_on(self.inner.write_points(points))
    }

    /// See [`crate::BatchWriter::write_lp`].
    ///
    /// # Errors
    /// As [`crate::BatchWriter::write_point`].
    pub fn write_lp(&self, text: impl AsRef<[u8]>) -> Result<()> {
        self.runtime.block_on(self.inner.write_lp(text))
    }

    /// See [`crate::BatchWriter::flush`].
    ///
    /// # Errors
    /// As [`crate::BatchWriter::flush`].
    pub fn flush(&self) -> Result<()> {
        self.runtime.block_on(self.inner.flush())
    }

    /// See [`crate::BatchWriter::close`].
    ///
    /// # Errors
    /// As [`crate::BatchWriter::flush`].
    pub fn close(&self) -> Result<()> {
        self.runtime.block_on(self.inner.close())
    }

    /// See [`crate::BatchWriter::metrics`].
    pub fn metrics(&self) -> WriterMetrics {
        self.inner.metrics()
    }
}
