//! The store's run files ([`RunFiles`]): where the per-event indexes of the store and of
//! the replica keep the sorted runs that do not fit in memory
//! ([`mutual_protocol::runs`]), one file each in the store's `runs` directory.
//!
//! They are scratch, made again from the log whenever the store opens: nothing in them is
//! synced, and opening empties the directory first (what a crash or a stop left there
//! belongs to no index). Files are read with positioned reads, not mapped, so what the
//! runs hold sits in the kernel's page cache, which the kernel may drop at will, never in
//! the node's own memory.

use mutual_protocol::runs::{RunFiles, RunId};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The directory's name in the store's.
pub(super) const RUNS_DIR: &str = "runs";

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct RunDir {
    dir: PathBuf,
    next: AtomicU64,
    files: RwLock<HashMap<RunId, Arc<File>>>,
}

impl RunDir {
    /// Makes the store's `runs` directory empty, creating it if it is not there, and a
    /// directory of this opening's own in it. (A store opened again while an index of an
    /// earlier opening is still alive leaves that index its open files, which it reads;
    /// only the runs it then tries to write fail, and stay in its memory.)
    pub(super) fn open(store: &Path) -> io::Result<RunDir> {
        static OPENINGS: AtomicU64 = AtomicU64::new(0);
        let runs = store.join(RUNS_DIR);
        match fs::remove_dir_all(&runs) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let dir = runs.join(format!(
            "{}-{}",
            std::process::id(),
            OPENINGS.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir)?;
        Ok(RunDir {
            dir,
            next: AtomicU64::new(0),
            files: RwLock::new(HashMap::new()),
        })
    }

    fn file(&self, run: RunId) -> io::Result<Arc<File>> {
        self.files
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&run)
            .cloned()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("run {run} is not in {}", self.dir.display()),
                )
            })
    }

    fn path(&self, run: RunId) -> PathBuf {
        self.dir.join(format!("{run:08}"))
    }
}

impl RunFiles for RunDir {
    fn create(&self) -> io::Result<RunId> {
        let run = self.next.fetch_add(1, Ordering::Relaxed);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(self.path(run))?;
        self.files
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run, Arc::new(file));
        Ok(run)
    }

    fn append(&self, run: RunId, bytes: &[u8]) -> io::Result<()> {
        (&*self.file(run)?).write_all(bytes)
    }

    fn read_at(&self, run: RunId, at: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file(run)?.read_exact_at(buf, at)
    }

    fn remove(&self, run: RunId) {
        self.files
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&run);
        if let Err(e) = fs::remove_file(self.path(run)) {
            tracing::warn!(run, error = %e, "an index run could not be removed");
        }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // Every map using it holds it, so none is left: what remains is scratch.
        let _ = fs::remove_dir_all(&self.dir);
        if let Some(runs) = self.dir.parent() {
            // Removed only if no other opening's directory is in it.
            let _ = fs::remove_dir(runs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutual_protocol::runs::RunMap;

    #[test]
    fn runs_are_files_that_read_back_and_go_when_done() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join(RUNS_DIR)).unwrap();
        fs::write(
            tmp.path().join(RUNS_DIR).join("00000007"),
            b"left by a crash",
        )
        .unwrap();
        let dir = Arc::new(RunDir::open(tmp.path()).unwrap());
        let own = dir.dir.clone();
        assert_eq!(
            fs::read_dir(tmp.path().join(RUNS_DIR)).unwrap().count(),
            1,
            "emptied on opening, but for this opening's own directory"
        );
        assert_eq!(fs::read_dir(&own).unwrap().count(), 0);
        let mut m: RunMap<u64, u64> = RunMap::new(true);
        m.set_files(dir.clone(), 100);
        for k in 0..1000u64 {
            m.insert(k, k * 2);
        }
        assert!(m.runs() >= 1);
        let files = fs::read_dir(&own).unwrap().count();
        assert_eq!(files, m.runs(), "one file a run, merged runs removed");
        assert!((0..1000).all(|k| m.get(&k) == Some(k * 2)));
        assert_eq!(m.iter().count(), 1000);
        drop(m);
        assert_eq!(fs::read_dir(&own).unwrap().count(), 0);
        drop(dir);
        assert!(
            !tmp.path().join(RUNS_DIR).exists(),
            "removed with the store"
        );
    }
}
