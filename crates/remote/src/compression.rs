//! Snappy block compression of remote write and remote read bodies (the framed format is
//! never used by these protocols), with size limits checked before anything is
//! allocated.

/// The only `Content-Encoding` the protocols define.
pub const SNAPPY: &str = "snappy";

/// Why a body could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    /// Go's snappy text, which upstream answers with.
    #[error("snappy: corrupt input")]
    Corrupt,
    #[error("snappy: decoded block is too large: {len} bytes, the limit is {limit} bytes")]
    TooLarge { len: usize, limit: usize },
}

/// Decompresses a snappy block whose decoded size is at most `max_decoded` bytes. The
/// size in the block's header is checked first, so a lying header cannot make us
/// allocate.
pub fn decompress(body: &[u8], max_decoded: usize) -> Result<Vec<u8>, DecompressError> {
    // Go's decoder rejects an empty input (no length header); so do we.
    if body.is_empty() {
        return Err(DecompressError::Corrupt);
    }
    let len = snap::raw::decompress_len(body).map_err(|_| DecompressError::Corrupt)?;
    if len > max_decoded {
        return Err(DecompressError::TooLarge {
            len,
            limit: max_decoded,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|_| DecompressError::Corrupt)
}

/// Why data could not be compressed: snappy blocks hold at most 2^32 - 1 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snappy: cannot compress {0} bytes into one block")]
pub struct CompressError(pub usize);

/// Compresses `data` into one snappy block.
pub fn compress(data: &[u8]) -> Result<Vec<u8>, CompressError> {
    snap::raw::Encoder::new()
        .compress_vec(data)
        .map_err(|_| CompressError(data.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let data = b"hello hello hello hello".repeat(100);
        let c = compress(&data).unwrap();
        assert!(c.len() < data.len());
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
        assert_eq!(
            decompress(&c, data.len() - 1),
            Err(DecompressError::TooLarge {
                len: data.len(),
                limit: data.len() - 1
            })
        );
        assert_eq!(decompress(b"", 10), Err(DecompressError::Corrupt));
        assert_eq!(
            decompress(b"\xff\xff\xff", 10),
            Err(DecompressError::Corrupt)
        );
        // A header claiming 4 GiB is refused by the limit, not by allocating.
        assert!(matches!(
            decompress(b"\xff\xff\xff\xff\x0f", 1 << 20),
            Err(DecompressError::TooLarge { .. })
        ));
        // Valid header, truncated data.
        assert_eq!(
            decompress(&c[..c.len() / 2], 1 << 20),
            Err(DecompressError::Corrupt)
        );
        // The empty message is one byte long.
        assert_eq!(decompress(&compress(b"").unwrap(), 0).unwrap(), b"");
    }
}
