//! The `closed` file: each closed motion's ballot lists, which the state keeps only as
//! their hash (docs/GOVERNANCE.md §10), kept for the replica ([`Archive`]).
//!
//! Appended, one frame per motion closed: the motion's id (32 bytes), the length of the
//! lists (4 bytes, big-endian), then the lists. Only an index of where each motion's
//! latest frame lies is held in memory, a few dozen bytes a motion, not the lists.
//!
//! The lists are derived from the log: loading it closes every motion again and writes
//! any that are missing or differ, and the replica checks what it reads back against the
//! state's hash. So nothing here is synced, and whatever cannot be read on opening (a tail
//! a crash cut short, a damaged length) is cut off and written again by the load.

use mutual_protocol::id::EventId;
use mutual_protocol::replica::{Archive, ArchiveError};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// The file's name in the store's directory.
pub const CLOSED_FILE: &str = "closed";

/// Longest lists one frame may hold: a motion's lists name at most one counted ballot,
/// one declaration and one proxy per partner (about 250 bytes together) and its ballots
/// that never counted (about 34 bytes each), so this holds a partnership of 100,000
/// partners with over half a million uncounted ballots. A longer length read on opening
/// is damage; lists longer than this stay in the replica's memory.
pub const MAX_CLOSED_LISTS_BYTES: usize = 32 << 20;

/// A frame's motion id and length.
const HEADER: u64 = 32 + 4;

/// The open `closed` file and where each motion's lists lie in it.
#[derive(Debug)]
pub(super) struct ClosedFile {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    end: u64,
    /// Each motion's latest frame: where its lists start, and their length.
    index: HashMap<EventId, (u64, u32)>,
}

impl ClosedFile {
    /// Opens (or creates) the file in `dir`, indexing its frames and cutting off from the
    /// first that cannot be read.
    pub(super) fn open(dir: &Path) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(CLOSED_FILE))?;
        let size = file.metadata()?.len();
        let mut index = HashMap::new();
        let mut r = BufReader::new(&mut file);
        let mut end = 0u64;
        loop {
            let mut header = [0u8; HEADER as usize];
            if !read_whole(&mut r, &mut header)? {
                break;
            }
            let (id, len) = header.split_at(32);
            let len = u32::from_be_bytes(len.try_into().expect("4 bytes"));
            let start = end + HEADER;
            if len as usize > MAX_CLOSED_LISTS_BYTES || start + u64::from(len) > size {
                break;
            }
            r.seek_relative(i64::from(len))?;
            index.insert(EventId(id.try_into().expect("32 bytes")), (start, len));
            end = start + u64::from(len);
        }
        drop(r);
        if end < size {
            tracing::warn!(
                cut = size - end,
                "the closed motions' file ends in a frame that cannot be read: cut off, \
                 and written again as the log loads"
            );
            file.set_len(end)?;
        }
        Ok(ClosedFile {
            inner: Mutex::new(Inner { file, end, index }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Fills `buf` from `r`: false at the end, or if only part of it was there.
fn read_whole(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

impl Inner {
    fn read(&self, motion: &EventId) -> io::Result<Option<Vec<u8>>> {
        let Some(&(start, len)) = self.index.get(motion) else {
            return Ok(None);
        };
        let mut lists = vec![0; len as usize];
        self.file.read_exact_at(&mut lists, start)?;
        Ok(Some(lists))
    }

    /// Writes a frame at the end. Each write names its place, so a write that fails
    /// part way leaves the next frame's place as it was; opening cuts off what it left.
    fn append(&mut self, motion: &EventId, lists: &[u8]) -> io::Result<()> {
        let len = u32::try_from(lists.len())
            .ok()
            .filter(|&n| n as usize <= MAX_CLOSED_LISTS_BYTES)
            .ok_or_else(|| io::Error::other("the lists are longer than a frame may hold"))?;
        let mut header = [0u8; HEADER as usize];
        header[..32].copy_from_slice(motion.as_bytes());
        header[32..].copy_from_slice(&len.to_be_bytes());
        self.file.write_all_at(&header, self.end)?;
        self.file.write_all_at(lists, self.end + HEADER)?;
        self.index.insert(*motion, (self.end + HEADER, len));
        self.end += HEADER + u64::from(len);
        Ok(())
    }
}

impl Archive for ClosedFile {
    fn put(&self, motion: &EventId, lists: &[u8]) -> Result<(), ArchiveError> {
        let mut inner = self.lock();
        // Loading the log closes every motion again: what is already kept is not
        // written twice.
        let kept = inner.read(motion).ok().flatten();
        if kept.as_deref() == Some(lists) {
            return Ok(());
        }
        inner.append(motion, lists).map_err(|e| {
            // The replica keeps in memory what this fails to take: said here.
            tracing::error!(%motion, error = %e, "a closed motion's ballots could not be kept in the store; kept in memory");
            ArchiveError {
                motion: *motion,
                detail: e.to_string(),
            }
        })
    }

    fn get(&self, motion: &EventId) -> Result<Option<Vec<u8>>, ArchiveError> {
        self.lock().read(motion).map_err(|e| ArchiveError {
            motion: *motion,
            detail: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn id(n: u8) -> EventId {
        EventId([n; 32])
    }

    #[test]
    fn lists_are_kept_across_opening_and_the_latest_frame_counts() {
        let dir = tempfile::TempDir::new().expect("dir");
        let f = ClosedFile::open(dir.path()).expect("open");
        assert_eq!(f.get(&id(1)), Ok(None));
        f.put(&id(1), b"first").expect("put");
        f.put(&id(2), b"").expect("put");
        f.put(&id(1), b"second").expect("put");
        let size = std::fs::metadata(dir.path().join(CLOSED_FILE))
            .expect("meta")
            .len();
        // The same lists again are not written again.
        f.put(&id(1), b"second").expect("put");
        let again = std::fs::metadata(dir.path().join(CLOSED_FILE))
            .expect("meta")
            .len();
        assert_eq!(size, again);
        drop(f);
        let f = ClosedFile::open(dir.path()).expect("open");
        assert_eq!(f.get(&id(1)), Ok(Some(b"second".to_vec())));
        assert_eq!(f.get(&id(2)), Ok(Some(Vec::new())));
        assert_eq!(f.get(&id(3)), Ok(None));
    }

    #[test]
    fn a_frame_cut_short_or_over_the_limit_is_cut_off_on_opening() {
        let dir = tempfile::TempDir::new().expect("dir");
        let path = dir.path().join(CLOSED_FILE);
        let f = ClosedFile::open(dir.path()).expect("open");
        f.put(&id(1), b"whole").expect("put");
        drop(f);
        let whole = std::fs::metadata(&path).expect("meta").len();
        // A frame whose length is one over the limit, with that many bytes after it
        // (a sparse file): not a frame this file writes, so damage, cut off.
        let header = |n: u8, len: usize| {
            let mut h = id(n).as_bytes().to_vec();
            h.extend_from_slice(&(len as u32).to_be_bytes());
            h
        };
        let mut file = OpenOptions::new().append(true).open(&path).expect("file");
        file.write_all(&header(2, MAX_CLOSED_LISTS_BYTES + 1))
            .expect("write");
        file.set_len(whole + HEADER + MAX_CLOSED_LISTS_BYTES as u64 + 1)
            .expect("grow");
        drop(file);
        let f = ClosedFile::open(dir.path()).expect("open");
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), whole);
        assert_eq!(f.get(&id(1)), Ok(Some(b"whole".to_vec())));
        assert_eq!(f.get(&id(2)), Ok(None));
        // One at the limit is kept, across opening too; one over is refused before
        // anything is written.
        f.put(&id(3), &vec![7u8; MAX_CLOSED_LISTS_BYTES])
            .expect("at the limit");
        let size = std::fs::metadata(&path).expect("meta").len();
        assert!(f
            .put(&id(6), &vec![7u8; MAX_CLOSED_LISTS_BYTES + 1])
            .is_err());
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), size);
        drop(f);
        let f = ClosedFile::open(dir.path()).expect("open");
        let read = f.get(&id(3)).expect("read").map(|l| l.len());
        assert_eq!(read, Some(MAX_CLOSED_LISTS_BYTES));
        // What comes after a frame cut short is written where the damage began.
        f.put(&id(4), b"after").expect("put");
        drop(f);
        let mut file = OpenOptions::new().append(true).open(&path).expect("file");
        file.write_all(&header(5, 9)[..20]).expect("write");
        drop(file);
        let f = ClosedFile::open(dir.path()).expect("open");
        assert_eq!(f.get(&id(5)), Ok(None));
        f.put(&id(7), b"next").expect("put");
        drop(f);
        let f = ClosedFile::open(dir.path()).expect("open");
        assert_eq!(f.get(&id(4)), Ok(Some(b"after".to_vec())));
        assert_eq!(f.get(&id(7)), Ok(Some(b"next".to_vec())));
    }
}
