//! Chunked encryption of large files (imaging, PDFs) in flat memory, with
//! the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár
//! (`aead-stream`'s `StreamBE32` over XChaCha20-Poly1305): each segment's
//! nonce is `prefix (19) || counter (4, big-endian) || last-segment flag (1)`.
//!
//! Layout:
//!
//! ```text
//! header (28)    = "CVST" || version 0x01 || chunk size (u32 BE, 65536) || nonce prefix (19)
//! segment 0      = AEAD(salt (32)) || tag (16)          counter 0, not last
//! segments 1..n  = AEAD(plaintext chunk) || tag (16)    counter i, flag set on n only
//! ```
//!
//! Every data segment but the last holds exactly 64 KiB of plaintext; the
//! last holds 0..64 KiB - 1 and carries the last-segment flag (a plaintext
//! that is an exact multiple of 64 KiB ends with an empty last segment, a
//! bare tag). A reader therefore knows which segment is last from its length
//! alone, without lookahead, and dropping the last segment cannot go
//! unnoticed. Every segment's associated data is `header || aad`, which
//! binds the header and the caller's context to each chunk; the counter in
//! the nonce binds each chunk to its position.
//!
//! The salt travels encrypted (segment 0) for the same reason
//! [`crate::envelope`] encrypts it: the commitment
//! `SHA-256("custodia/commitment/v1" || salt || plaintext)` must not be
//! testable by whoever merely holds the ciphertext. It is computed exactly
//! as [`crate::commitment`] computes it, so a file gets the same kind of
//! commitment whether it was sealed whole or streamed.
//!
//! [`open_stream`] writes each chunk only after authenticating it, but a
//! truncated or tampered stream is detected only when the damage is reached:
//! treat the output as unverified until `open_stream` returns `Ok` (write it
//! to a temporary file and rename on success, or abort the response).

use crate::{
    envelope::{commitment_hasher, SALT_LEN},
    DataKey, Hash, VaultError,
};
use aead_stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::XChaCha20Poly1305;
use rand::RngExt as _;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};
use zeroize::Zeroizing;

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// The same, as written in the header.
const CHUNK_SIZE_U32: u32 = 64 * 1024;
const _: () = assert!(CHUNK_SIZE_U32 as usize == CHUNK_SIZE);
/// Bytes of the STREAM nonce prefix: the 24-byte XChaCha nonce less the
/// 4-byte counter and 1-byte last-segment flag.
const NONCE_PREFIX_LEN: usize = 19;
/// Bytes of the stream header.
pub const HEADER_LEN: usize = MAGIC.len() + 1 + 4 + NONCE_PREFIX_LEN;
/// Bytes of a Poly1305 tag.
const TAG_LEN: usize = 16;

const MAGIC: [u8; 4] = *b"CVST";
const VERSION: u8 = 1;
const SALT_SEGMENT_LEN: usize = SALT_LEN + TAG_LEN;
const FULL_SEGMENT_LEN: usize = CHUNK_SIZE + TAG_LEN;

/// What [`seal_stream`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSealed {
    /// Plaintext bytes read.
    pub plaintext_len: u64,
    /// Ciphertext bytes written (always [`ciphertext_len`]`(plaintext_len)`).
    pub ciphertext_len: u64,
    /// SHA-256 of everything written: the store address, for the chain.
    pub ciphertext_hash: Hash,
    /// Salted commitment to the plaintext, for the chain.
    pub commitment: Hash,
}

/// What [`open_stream`] authenticated and wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOpened {
    /// Plaintext bytes written.
    pub plaintext_len: u64,
    /// SHA-256 of everything read: compare with the chain's ciphertext hash.
    pub ciphertext_hash: Hash,
    /// The commitment salt, revealed so a reader can check the commitment.
    pub salt: [u8; SALT_LEN],
    /// The recomputed commitment: compare with the chain's.
    pub commitment: Hash,
}

impl StreamOpened {
    /// Whether this plaintext is the one the chain committed to.
    #[must_use]
    pub fn matches(&self, expected: &Hash) -> bool {
        &self.commitment == expected
    }
}

/// The ciphertext size [`seal_stream`] produces for `plaintext_len` bytes
/// (for a Content-Length before sealing, or a sanity check after).
#[must_use]
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    // Full chunks plus the last (possibly empty) one, each with a tag.
    let data_segments = plaintext_len / CHUNK_SIZE as u64 + 1;
    (HEADER_LEN + SALT_SEGMENT_LEN) as u64 + plaintext_len + data_segments * TAG_LEN as u64
}

/// Encrypt everything `reader` yields, chunk by chunk, to `writer`. Memory
/// stays at one 64 KiB buffer whatever the size. `aad` binds the ciphertext
/// to its context, as in [`crate::seal`].
///
/// # Errors
/// [`VaultError::Io`] if reading or writing fails (the output is then
/// incomplete and must be discarded); [`VaultError::TooLarge`] past
/// 2^32 - 1 chunks.
pub fn seal_stream(
    key: &DataKey,
    aad: &[u8],
    mut reader: impl Read,
    writer: impl Write,
) -> Result<StreamSealed, VaultError> {
    let prefix: [u8; NONCE_PREFIX_LEN] = rand::rng().random();
    let header = header(&prefix);
    let segment_aad = [&header[..], aad].concat();
    let mut encryptor = EncryptorBE32::<XChaCha20Poly1305>::from_aead(key.cipher(), &prefix.into());
    // Sized for the largest segment up front so it never reallocates (which
    // would leave an unwiped copy of plaintext behind); wiped on drop.
    let mut buf = Zeroizing::new(Vec::with_capacity(FULL_SEGMENT_LEN));
    let mut out = HashingWriter::new(writer);
    out.write_all(&header)?;

    let salt: Zeroizing<[u8; SALT_LEN]> = Zeroizing::new(rand::rng().random());
    buf.extend_from_slice(&*salt);
    encryptor
        .encrypt_next_in_place(&segment_aad, &mut *buf)
        .map_err(|_| VaultError::TooLarge)?;
    out.write_all(&buf)?;

    let mut commitment = commitment_hasher(&salt);
    let plaintext_len = seal_chunks(
        encryptor,
        &segment_aad,
        &mut reader,
        &mut out,
        &mut buf,
        &mut commitment,
    )?;
    out.flush()?;

    let (ciphertext_hash, ciphertext_len) = out.finish();
    Ok(StreamSealed {
        plaintext_len,
        ciphertext_len,
        ciphertext_hash,
        commitment: commitment.finalize().into(),
    })
}

/// Seal the data segments, feeding the plaintext to `commitment` on the
/// way. Returns the plaintext length.
fn seal_chunks(
    mut encryptor: EncryptorBE32<XChaCha20Poly1305>,
    segment_aad: &[u8],
    reader: &mut impl Read,
    out: &mut impl Write,
    buf: &mut Vec<u8>,
    commitment: &mut Sha256,
) -> Result<u64, VaultError> {
    let mut plaintext_len = 0u64;
    loop {
        buf.clear();
        buf.resize(CHUNK_SIZE, 0);
        let n = read_full(reader, buf)?;
        buf.truncate(n);
        commitment.update(&buf[..]);
        plaintext_len += n as u64;
        if n < CHUNK_SIZE {
            // The only way XChaCha20-Poly1305 fails to encrypt is a message
            // past its limit, which a 64 KiB chunk never is.
            encryptor
                .encrypt_last_in_place(segment_aad, buf)
                .map_err(|_| VaultError::TooLarge)?;
            out.write_all(buf)?;
            return Ok(plaintext_len);
        }
        // A full chunk is never the last one (see the module docs), so an
        // exact multiple of CHUNK_SIZE ends with an empty last segment.
        // This fails only when the counter is exhausted.
        encryptor
            .encrypt_next_in_place(segment_aad, buf)
            .map_err(|_| VaultError::TooLarge)?;
        out.write_all(buf)?;
    }
}

/// Decrypt a stream made by [`seal_stream`] with the same key and `aad`,
/// writing the plaintext to `writer` chunk by chunk in flat memory.
///
/// # Errors
/// [`VaultError::Truncated`] if the stream ends at a chunk boundary before
/// its last chunk; [`VaultError::Decrypt`] for a wrong key or `aad`, or any
/// altered, reordered, dropped or cut chunk; [`VaultError::TrailingData`]
/// for bytes after the last chunk; [`VaultError::BadStreamHeader`] for
/// something that is not such a stream; [`VaultError::Io`] if reading or
/// writing fails. On any error, discard what was written.
pub fn open_stream(
    key: &DataKey,
    aad: &[u8],
    reader: impl Read,
    mut writer: impl Write,
) -> Result<StreamOpened, VaultError> {
    let mut input = HashingReader::new(reader);
    let header = read_header(&mut input)?;
    let prefix = parse_header(&header)?;
    let segment_aad = [&header[..], aad].concat();
    let mut decryptor = DecryptorBE32::<XChaCha20Poly1305>::from_aead(key.cipher(), &prefix.into());
    // As in `seal_stream`: never reallocated, wiped on drop.
    let mut buf = Zeroizing::new(Vec::with_capacity(FULL_SEGMENT_LEN));

    buf.resize(SALT_SEGMENT_LEN, 0);
    if read_full(&mut input, &mut buf)? < SALT_SEGMENT_LEN {
        return Err(VaultError::Truncated);
    }
    decryptor
        .decrypt_next_in_place(&segment_aad, &mut *buf)
        .map_err(|_| VaultError::Decrypt)?;
    let salt: [u8; SALT_LEN] = buf[..].try_into().map_err(|_| VaultError::Decrypt)?;

    let mut commitment = commitment_hasher(&salt);
    let plaintext_len = open_chunks(
        decryptor,
        &segment_aad,
        &mut input,
        &mut writer,
        &mut buf,
        &mut commitment,
    )?;
    ensure_at_end(&mut input)?;
    writer.flush()?;

    Ok(StreamOpened {
        plaintext_len,
        ciphertext_hash: input.finish(),
        salt,
        commitment: commitment.finalize().into(),
    })
}

/// Open the data segments, writing each only once it is authenticated and
/// feeding it to `commitment`. Returns the plaintext length.
fn open_chunks(
    mut decryptor: DecryptorBE32<XChaCha20Poly1305>,
    segment_aad: &[u8],
    input: &mut impl Read,
    writer: &mut impl Write,
    buf: &mut Vec<u8>,
    commitment: &mut Sha256,
) -> Result<u64, VaultError> {
    let mut plaintext_len = 0u64;
    loop {
        buf.clear();
        buf.resize(FULL_SEGMENT_LEN, 0);
        let n = read_full(input, buf)?;
        buf.truncate(n);
        if n < TAG_LEN {
            // Nothing (or less than a tag) where the last segment should
            // be: the stream was cut at, or just after, a segment boundary.
            return Err(VaultError::Truncated);
        }
        if n < FULL_SEGMENT_LEN {
            // Short, so the last (module docs). Consumes the decryptor:
            // nothing may follow the last segment.
            decryptor
                .decrypt_last_in_place(segment_aad, buf)
                .map_err(|_| VaultError::Decrypt)?;
            return release(buf, commitment, writer).map(|n| plaintext_len + n);
        }
        decryptor
            .decrypt_next_in_place(segment_aad, buf)
            .map_err(|_| VaultError::Decrypt)?;
        plaintext_len += release(buf, commitment, writer)?;
    }
}

/// Hand an authenticated chunk to the commitment and the writer; returns
/// its length.
fn release(
    chunk: &[u8],
    commitment: &mut Sha256,
    writer: &mut impl Write,
) -> Result<u64, VaultError> {
    commitment.update(chunk);
    writer.write_all(chunk)?;
    Ok(chunk.len() as u64)
}

/// Read the header; a short one is a truncated stream if what there is
/// looks like one, and not a stream at all otherwise.
fn read_header(input: &mut impl Read) -> Result<[u8; HEADER_LEN], VaultError> {
    let mut header = [0u8; HEADER_LEN];
    let n = read_full(input, &mut header)?;
    if n < HEADER_LEN {
        let seen = &header[..n.min(MAGIC.len())];
        return Err(if MAGIC.starts_with(seen) {
            VaultError::Truncated
        } else {
            VaultError::BadStreamHeader("wrong magic bytes")
        });
    }
    Ok(header)
}

fn header(prefix: &[u8; NONCE_PREFIX_LEN]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&MAGIC);
    header[4] = VERSION;
    header[5..9].copy_from_slice(&CHUNK_SIZE_U32.to_be_bytes());
    header[9..].copy_from_slice(prefix);
    header
}

/// Check the fixed fields and return the nonce prefix.
fn parse_header(header: &[u8; HEADER_LEN]) -> Result<[u8; NONCE_PREFIX_LEN], VaultError> {
    if header[..4] != MAGIC {
        return Err(VaultError::BadStreamHeader("wrong magic bytes"));
    }
    if header[4] != VERSION {
        return Err(VaultError::BadStreamHeader("unsupported format version"));
    }
    if header[5..9] != CHUNK_SIZE_U32.to_be_bytes() {
        return Err(VaultError::BadStreamHeader("unsupported chunk size"));
    }
    let mut prefix = [0u8; NONCE_PREFIX_LEN];
    prefix.copy_from_slice(&header[9..]);
    Ok(prefix)
}

/// The last segment has been read up to the reader's end of input; a reader
/// that still has bytes after that is handing us something appended.
fn ensure_at_end(input: &mut impl Read) -> Result<(), VaultError> {
    let mut probe = [0u8; 1];
    if read_full(input, &mut probe)? != 0 {
        return Err(VaultError::TrailingData);
    }
    Ok(())
}

/// Fill `buf` as far as the reader allows; fewer bytes only at end of input.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Passes writes through, hashing and counting them.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// SHA-256 and length of everything written.
    pub(crate) fn finish(self) -> (Hash, u64) {
        (self.hasher.finalize().into(), self.len)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        // Only what the inner writer accepted counts.
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Passes reads through, hashing them.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn finish(self) -> Hash {
        self.hasher.finalize().into()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{commitment, sha256};

    const AAD: &[u8] = b"DocumentReference/scan-7/_history/1";

    /// Deterministic bytes that do not repeat with any short period.
    fn pattern(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    fn seal_vec(key: &DataKey, plaintext: &[u8]) -> (Vec<u8>, StreamSealed) {
        let mut out = Vec::new();
        let sealed = seal_stream(key, AAD, plaintext, &mut out).expect("seals");
        (out, sealed)
    }

    fn open_vec(key: &DataKey, ciphertext: &[u8]) -> Result<(Vec<u8>, StreamOpened), VaultError> {
        let mut out = Vec::new();
        let opened = open_stream(key, AAD, ciphertext, &mut out)?;
        Ok((out, opened))
    }

    /// Byte range of data segment `i` (1-based, as in the module docs).
    fn segment(i: usize) -> std::ops::Range<usize> {
        let start = HEADER_LEN + SALT_SEGMENT_LEN + (i - 1) * FULL_SEGMENT_LEN;
        start..start + FULL_SEGMENT_LEN
    }

    /// A reader that hands out at most `max` bytes per call.
    struct Dribble<'a>(&'a [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn round_trip_over_sizes() {
        let key = DataKey::generate();
        for len in [
            0,
            1,
            TAG_LEN,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            2 * CHUNK_SIZE,
            3 * CHUNK_SIZE + 17,
        ] {
            let plaintext = pattern(len, len as u64);
            let (ciphertext, sealed) = seal_vec(&key, &plaintext);
            assert_eq!(sealed.plaintext_len, len as u64);
            assert_eq!(sealed.ciphertext_len, ciphertext.len() as u64, "len {len}");
            assert_eq!(ciphertext_len(len as u64), ciphertext.len() as u64);
            assert_eq!(sealed.ciphertext_hash, sha256(&[&ciphertext]));

            let (back, opened) = open_vec(&key, &ciphertext).expect("opens");
            assert_eq!(back, plaintext, "len {len}");
            assert_eq!(opened.plaintext_len, len as u64);
            assert_eq!(opened.ciphertext_hash, sealed.ciphertext_hash);
            assert!(opened.matches(&sealed.commitment));
        }
    }

    #[test]
    fn streamed_commitment_equals_the_envelope_commitment() {
        let key = DataKey::generate();
        for len in [0, 5, CHUNK_SIZE, 2 * CHUNK_SIZE + 9] {
            let plaintext = pattern(len, 40 + len as u64);
            let (ciphertext, sealed) = seal_vec(&key, &plaintext);
            let (_, opened) = open_vec(&key, &ciphertext).expect("opens");
            // The whole plaintext, committed in one go, under the salt the
            // stream carried: the same hash the chunked one produced.
            assert_eq!(commitment(&opened.salt, &plaintext), sealed.commitment);
            assert_eq!(opened.commitment, sealed.commitment);
            // And that is the documented formula, whatever the code sharing.
            let by_hand = sha256(&[b"custodia/commitment/v1", &opened.salt, &plaintext]);
            assert_eq!(sealed.commitment, by_hand);
        }
    }

    #[test]
    fn short_reads_and_writes_do_not_matter() {
        let key = DataKey::generate();
        let plaintext = pattern(2 * CHUNK_SIZE + 5, 9);
        let mut ciphertext = Vec::new();
        let sealed =
            seal_stream(&key, AAD, Dribble(&plaintext, 1000), &mut ciphertext).expect("seals");
        let mut back = Vec::new();
        let opened = open_stream(&key, AAD, Dribble(&ciphertext, 777), &mut back).expect("opens");
        assert_eq!(back, plaintext);
        assert_eq!(opened.commitment, sealed.commitment);
    }

    #[test]
    fn the_same_content_gets_unlinkable_ciphertexts_and_commitments() {
        let key = DataKey::generate();
        let plaintext = pattern(100, 1);
        let (a, sealed_a) = seal_vec(&key, &plaintext);
        let (b, sealed_b) = seal_vec(&key, &plaintext);
        assert_ne!(a, b);
        assert_ne!(sealed_a.commitment, sealed_b.commitment);
    }

    #[test]
    fn wrong_key_fails() {
        let (ciphertext, _) = seal_vec(&DataKey::generate(), &pattern(1000, 2));
        assert!(matches!(
            open_vec(&DataKey::generate(), &ciphertext),
            Err(VaultError::Decrypt)
        ));
    }

    #[test]
    fn wrong_aad_fails() {
        let key = DataKey::generate();
        let (ciphertext, _) = seal_vec(&key, &pattern(CHUNK_SIZE + 3, 2));
        let mut sink = Vec::new();
        let result = open_stream(
            &key,
            b"DocumentReference/scan-7/_history/2",
            &ciphertext[..],
            &mut sink,
        );
        assert!(matches!(result, Err(VaultError::Decrypt)));
        // The salt segment already fails, so no plaintext was released.
        assert!(sink.is_empty());
    }

    #[test]
    fn dropping_the_last_chunk_is_truncation() {
        let key = DataKey::generate();
        // Exact multiple: the last segment is an empty chunk (a bare tag).
        let (ciphertext, _) = seal_vec(&key, &pattern(2 * CHUNK_SIZE, 3));
        let cut = ciphertext.len() - TAG_LEN;
        assert_eq!(cut, segment(2).end);
        assert!(matches!(
            open_vec(&key, &ciphertext[..cut]),
            Err(VaultError::Truncated)
        ));

        // Not a multiple: drop the short last segment.
        let (ciphertext, _) = seal_vec(&key, &pattern(2 * CHUNK_SIZE + 100, 4));
        let cut = segment(2).end;
        assert_eq!(ciphertext.len() - cut, 100 + TAG_LEN);
        assert!(matches!(
            open_vec(&key, &ciphertext[..cut]),
            Err(VaultError::Truncated)
        ));
        // Dropping the last two is still truncation.
        assert!(matches!(
            open_vec(&key, &ciphertext[..segment(1).end]),
            Err(VaultError::Truncated)
        ));
        // Only the header and salt left.
        assert!(matches!(
            open_vec(&key, &ciphertext[..HEADER_LEN + SALT_SEGMENT_LEN]),
            Err(VaultError::Truncated)
        ));
        // Not even a whole header.
        assert!(matches!(
            open_vec(&key, &ciphertext[..10]),
            Err(VaultError::Truncated)
        ));
        assert!(matches!(open_vec(&key, &[]), Err(VaultError::Truncated)));
    }

    #[test]
    fn cutting_inside_a_chunk_fails_authentication() {
        let key = DataKey::generate();
        let (ciphertext, _) = seal_vec(&key, &pattern(2 * CHUNK_SIZE + 50, 5));
        for cut in [
            segment(1).start + CHUNK_SIZE / 2,
            segment(1).end - 1,
            segment(2).start + TAG_LEN + 1,
            ciphertext.len() - 1,
        ] {
            // The remainder is taken for the (short) last segment and fails
            // to authenticate as one.
            let err = open_vec(&key, &ciphertext[..cut]).expect_err("cut unnoticed");
            assert!(matches!(err, VaultError::Decrypt), "cut at {cut}: {err}");
        }
        // Cut inside the salt segment, or within a tag's length after a
        // boundary: too short to be a segment at all.
        for cut in [
            HEADER_LEN + 1,
            HEADER_LEN + SALT_SEGMENT_LEN + 5,
            segment(1).end + 1,
        ] {
            let err = open_vec(&key, &ciphertext[..cut]).expect_err("cut unnoticed");
            assert!(matches!(err, VaultError::Truncated), "cut at {cut}: {err}");
        }
    }

    #[test]
    fn reordered_dropped_or_spliced_chunks_fail() {
        let key = DataKey::generate();
        let (ciphertext, _) = seal_vec(&key, &pattern(3 * CHUNK_SIZE + 10, 6));
        let mut swapped = ciphertext.clone();
        let (one, two) = (segment(1), segment(2));
        swapped[one.clone()].copy_from_slice(&ciphertext[two.clone()]);
        swapped[two].copy_from_slice(&ciphertext[one]);
        assert!(matches!(open_vec(&key, &swapped), Err(VaultError::Decrypt)));

        // Dropping a middle chunk shifts the counters.
        let mut dropped = ciphertext[..segment(1).start].to_vec();
        dropped.extend_from_slice(&ciphertext[segment(2).start..]);
        assert!(matches!(open_vec(&key, &dropped), Err(VaultError::Decrypt)));

        // A chunk from another stream under the same key has another prefix.
        let (other, _) = seal_vec(&key, &pattern(3 * CHUNK_SIZE + 10, 6));
        let mut spliced = ciphertext.clone();
        spliced[segment(2)].copy_from_slice(&other[segment(2)]);
        assert!(matches!(open_vec(&key, &spliced), Err(VaultError::Decrypt)));
    }

    #[test]
    fn flipped_bytes_fail() {
        let key = DataKey::generate();
        let (ciphertext, _) = seal_vec(&key, &pattern(2 * CHUNK_SIZE + 300, 7));
        let positions = [
            0,                                 // magic
            4,                                 // version
            7,                                 // chunk size
            9,                                 // nonce prefix
            HEADER_LEN - 1,                    // nonce prefix
            HEADER_LEN + 3,                    // salt segment
            segment(1).start,                  // first chunk
            segment(1).end - 1,                // first chunk's tag
            segment(2).start + CHUNK_SIZE / 2, // middle
            ciphertext.len() - TAG_LEN - 1,    // last chunk's body
            ciphertext.len() - 1,              // last tag
        ];
        for i in positions {
            let mut tampered = ciphertext.clone();
            tampered[i] ^= 0x10;
            let err = open_vec(&key, &tampered).expect_err("tampering unnoticed");
            let expected = if i < 9 {
                matches!(err, VaultError::BadStreamHeader(_))
            } else {
                matches!(err, VaultError::Decrypt)
            };
            assert!(expected, "flip at {i}: {err}");
        }
    }

    #[test]
    fn trailing_data_is_refused() {
        let key = DataKey::generate();
        let (ciphertext, _) = seal_vec(&key, &pattern(500, 8));
        // Appended bytes join the last segment, which then fails to open
        // (or, past a full segment's length, is no longer taken as last).
        for extra in [1, TAG_LEN, CHUNK_SIZE] {
            let mut longer = ciphertext.clone();
            longer.extend(std::iter::repeat_n(0u8, extra));
            assert!(
                matches!(open_vec(&key, &longer), Err(VaultError::Decrypt)),
                "{extra} bytes appended"
            );
        }

        // A reader that reports end of input, then has more.
        struct EofThenMore<'a>(&'a [u8], bool);
        impl Read for EofThenMore<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() && !self.1 {
                    self.1 = true;
                    self.0 = b"more";
                    return Ok(0);
                }
                let n = buf.len().min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut sink = Vec::new();
        let result = open_stream(&key, AAD, EofThenMore(&ciphertext, false), &mut sink);
        assert!(matches!(result, Err(VaultError::TrailingData)));
    }

    #[test]
    fn an_envelope_ciphertext_is_not_a_stream() {
        let key = DataKey::generate();
        let sealed = crate::seal(&key, b"{}", AAD);
        assert!(matches!(
            open_vec(&key, &sealed.ciphertext),
            Err(VaultError::BadStreamHeader(_))
        ));
        // Nor is a short non-stream (not mistaken for a truncated one).
        assert!(matches!(
            open_vec(&key, b"{}"),
            Err(VaultError::BadStreamHeader(_))
        ));
    }

    #[test]
    fn io_errors_surface() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let result = seal_stream(&DataKey::generate(), AAD, Failing, Vec::new());
        assert!(matches!(result, Err(VaultError::Io(_))));
    }
}
