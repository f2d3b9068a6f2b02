//! The progress bar of a run, and the log writer that steps around it: each log line
//! clears the bar, is written, and the bar is redrawn, so the two never garble each other.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

/// The bar of this process's run, once there is one (a process runs one command).
static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// A bar over `len` posts on stderr; hidden with `--no-progress` or when stderr is no terminal.
pub fn bar(len: u64, disabled: bool) -> ProgressBar {
    let bar = if disabled || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} posts {msg}")
        {
            bar.set_style(style);
        }
        bar
    };
    let _ = BAR.set(bar.clone());
    bar
}

/// Whether log lines may carry colour: only when stderr is a terminal and `NO_COLOR` is
/// unset or empty (<https://no-color.org>), so a redirected log holds no escape codes.
pub fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Where `tracing` writes: stderr, around the bar. Never log from inside
/// `ProgressBar::suspend`: the bar's lock is held there, and this writer takes it again.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BAR.get() {
            Some(bar) if !bar.is_hidden() => bar.suspend(|| std::io::stderr().write(buf)),
            _ => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
