//! A small tokio runtime an input owns, so that its synchronous `gather` (run on the
//! input's own thread, or inside `block_in_place` for `--once`/`--test`) can drive async
//! clients such as reqwest and tokio-postgres.

use std::future::Future;

/// A current-thread runtime, shut down without blocking when dropped (an input may be
/// dropped from async code, where dropping a runtime the ordinary way panics).
#[derive(Debug)]
pub struct LocalRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl LocalRuntime {
    /// A new runtime with I/O and timers.
    ///
    /// # Errors
    /// When the runtime cannot be built (out of file descriptors, say).
    pub fn new() -> Result<LocalRuntime, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| format!("cannot start a runtime for the input: {err}"))?;
        Ok(LocalRuntime {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` to completion on this thread.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.runtime {
            Some(runtime) => runtime.block_on(future),
            None => unreachable!("the runtime is only taken when dropped"),
        }
    }
}

impl Drop for LocalRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
