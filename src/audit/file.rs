//! The `file` output: JSON lines appended to a path, reopened after log rotation.
//!
//! Owned by the writer thread. Lines are buffered ([`FILE_BUFFER_BYTES`], a write call per
//! few hundred events under load) and flushed at least every
//! [`super::sink::AuditTuning::file_flush_interval`] (checked once per round of the writer,
//! not per line) and at shutdown. SIGHUP bumps a shared
//! generation number; the next write (or idle tick) sees it, flushes into the old file and
//! opens the path again, so `logrotate`'s rename-then-signal loses nothing.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes of lines gathered before a write call.
const FILE_BUFFER_BYTES: usize = 256 * 1024;

pub struct FileOutput {
    path: PathBuf,
    writer: BufWriter<File>,
    generation: u64,
    last_flush: Instant,
    flush_interval: Duration,
}

impl FileOutput {
    /// Opens (creating, never truncating) the file; a missing directory is an error here, at
    /// start, not a silent loss later.
    pub fn open(path: &Path, generation: u64, flush_interval: Duration) -> io::Result<FileOutput> {
        Ok(FileOutput {
            path: path.to_path_buf(),
            writer: BufWriter::with_capacity(FILE_BUFFER_BYTES, open_append(path)?),
            generation,
            last_flush: Instant::now(),
            flush_interval,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line (the newline is added here).
    pub fn write_line(&mut self, line: &[u8], generation: u64) -> io::Result<()> {
        self.reopen_if_rotated(generation)?;
        self.writer.write_all(line)?;
        self.writer.write_all(b"\n")
    }

    /// Called after each round of the writer: reopen after a rotation, flush old lines.
    pub fn tick(&mut self, generation: u64) -> io::Result<()> {
        self.reopen_if_rotated(generation)?;
        self.flush_if_due()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.last_flush = Instant::now();
        self.writer.flush()
    }

    fn flush_if_due(&mut self) -> io::Result<()> {
        if self.last_flush.elapsed() >= self.flush_interval {
            self.flush()?;
        }
        Ok(())
    }

    fn reopen_if_rotated(&mut self, generation: u64) -> io::Result<()> {
        if generation == self.generation {
            return Ok(());
        }
        // Lines written before the signal belong to the old (renamed) file.
        self.flush()?;
        // On failure the generation stays old, so the next write tries again.
        let file = open_append(&self.path)?;
        self.writer = BufWriter::with_capacity(FILE_BUFFER_BYTES, file);
        self.generation = generation;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("audit file {}: {e}", path.display())))
}
