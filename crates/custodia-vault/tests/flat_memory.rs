//! 64 MiB through `DiskStore::put_stream` then `DiskStore::open_stream`,
//! checking with a counting allocator that heap use stays flat (a few
//! 64 KiB buffers) instead of growing with the data. Its own test binary,
//! so no other test's allocations are counted. Not timed.

use custodia_vault::{stream::ciphertext_len, DataKey, DiskStore};
use sha2::{Digest, Sha256};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            grew(new_size - layout.size());
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SIZE: u64 = 64 << 20;
/// Far below the 64 MiB that buffering the data would take, far above the
/// handful of 64 KiB buffers that streaming needs.
const BUDGET: usize = 1 << 20;

/// `len` deterministic bytes (xorshift64), hashed as they are handed out.
struct Generator {
    left: u64,
    state: u64,
    hash: Sha256,
}

impl Generator {
    fn new(len: u64) -> Self {
        Self {
            left: len,
            state: 0x9e37_79b9_7f4a_7c15,
            hash: Sha256::new(),
        }
    }
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Odd-sized reads, so chunk boundaries never line up with them.
        let n = buf
            .len()
            .min(12_345)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        // One xorshift64 step per 8 bytes: cheap even unoptimised.
        for word in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            word.copy_from_slice(&self.state.to_le_bytes()[..word.len()]);
        }
        self.hash.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

/// Discards what it is given, keeping its hash and length.
#[derive(Default)]
struct HashSink {
    hash: Sha256,
    len: u64,
}

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hash.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn sixty_four_mib_in_flat_memory() {
    let dir = std::env::temp_dir().join(format!("custodia-vault-flat-{}", std::process::id()));
    let store = DiskStore::open(&dir).expect("store opens");
    let key = DataKey::generate();
    let aad = b"ImagingStudy/ct-1/_history/1";

    let baseline = CURRENT.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);

    // Plaintext generated on the fly, sealed straight to disk: neither it
    // nor the ciphertext is ever whole in memory.
    let mut generator = Generator::new(SIZE);
    let sealed = store.put_stream(&key, aad, &mut generator).expect("stores");
    let plaintext_hash: [u8; 32] = generator.hash.finalize().into();

    let mut sink = HashSink::default();
    let opened = store
        .open_stream(&sealed.ciphertext_hash, &key, aad, &mut sink)
        .expect("opens")
        .expect("present");

    let peak = PEAK.load(Ordering::Relaxed) - baseline;

    assert_eq!(sealed.plaintext_len, SIZE);
    assert_eq!(sealed.ciphertext_len, ciphertext_len(SIZE));
    assert_eq!(
        store.len(&sealed.ciphertext_hash).expect("stat"),
        Some(sealed.ciphertext_len)
    );
    assert_eq!(opened.plaintext_len, SIZE);
    assert_eq!(sink.len, SIZE);
    assert_eq!(<[u8; 32]>::from(sink.hash.finalize()), plaintext_hash);
    assert_eq!(opened.ciphertext_hash, sealed.ciphertext_hash);
    assert_eq!(opened.commitment, sealed.commitment);

    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        peak < BUDGET,
        "heap grew by {peak} bytes while streaming {SIZE} bytes (budget {BUDGET})"
    );
    println!("peak heap growth while streaming {SIZE} bytes in and out: {peak} bytes");
}
