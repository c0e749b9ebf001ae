//! The shutdown signal of a daemon: Ctrl-C, or SIGTERM (what systemd sends).

use std::fmt;

/// Which signal asked for the shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// SIGINT: Ctrl-C on the terminal.
    Interrupt,
    /// SIGTERM: systemd's stop, `kill`.
    Terminate,
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Received::Interrupt => "Ctrl-C",
            Received::Terminate => "SIGTERM",
        })
    }
}

/// Handlers installed by [`Shutdown::listen`]: a signal that arrives from
/// then on is kept until [`Shutdown::wait`] sees it.
#[derive(Debug)]
pub struct Shutdown {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    /// Installs the handlers now; call inside a tokio runtime.
    pub fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Shutdown { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
        }
        #[cfg(not(unix))]
        {
            Ok(Shutdown {})
        }
    }

    /// Completes when either signal arrives.
    pub async fn wait(self) -> std::io::Result<Received> {
        #[cfg(unix)]
        {
            let Shutdown { mut interrupt, mut terminate } = self;
            tokio::select! {
                _ = interrupt.recv() => Ok(Received::Interrupt),
                _ = terminate.recv() => Ok(Received::Terminate),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.map(|()| Received::Interrupt)
        }
    }
}

/// Installs the handlers and completes on Ctrl-C or SIGTERM; an error means
/// a handler could not be installed.
pub async fn shutdown() -> std::io::Result<Received> {
    Shutdown::listen()?.wait().await
}

#[cfg(test)]
mod tests;
