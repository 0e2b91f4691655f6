//! The frame format of streamed remote read (`STREAMED_XOR_CHUNKS`), as upstream's
//! `ChunkedWriter`/`ChunkedReader`: each frame is the uvarint length of the data, the
//! big-endian CRC-32 (Castagnoli) of the data, then the data (one `ChunkedReadResponse`).

use std::io::{self, BufRead, BufReader, Read, Write};

/// Writes frames to any writer; the caller flushes when it wants the bytes sent.
pub struct ChunkedWriter<W> {
    writer: W,
}

impl<W: Write> ChunkedWriter<W> {
    pub fn new(writer: W) -> ChunkedWriter<W> {
        ChunkedWriter { writer }
    }

    /// Writes one frame holding `data` and returns `data.len()` (the delimiter and
    /// checksum are not counted). Empty data writes nothing, as upstream.
    pub fn write_frame(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let mut head = [0u8; 10 + 4];
        let n = put_uvarint(&mut head, data.len() as u64);
        head[n..n + 4].copy_from_slice(&crc32c::crc32c(data).to_be_bytes());
        self.writer.write_all(&head[..n + 4])?;
        self.writer.write_all(data)?;
        Ok(data.len())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    pub fn into_inner(self) -> W {
        self.writer
    }
}

/// Writes `v` as a uvarint into `buf` (at least 10 bytes) and returns its length.
fn put_uvarint(buf: &mut [u8], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        buf[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    buf[i] = v as u8;
    i + 1
}

/// Why a frame could not be read (upstream's texts where it has them).
#[derive(Debug, thiserror::Error)]
pub enum ChunkedError {
    #[error("chunkedReader: message size exceeded the limit {limit} bytes; got: {size} bytes")]
    TooLarge { limit: u64, size: u64 },
    #[error("chunkedReader: corrupted frame; checksum mismatch")]
    ChecksumMismatch,
    #[error("unexpected EOF")]
    UnexpectedEof,
    #[error("binary: varint overflows a 64-bit integer")]
    VarintOverflow,
    #[error("reading frame: {0}")]
    Io(#[from] io::Error),
    #[error("decoding frame: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Reads frames from any reader, checking each frame's size limit (before allocating)
/// and checksum.
pub struct ChunkedReader<R> {
    reader: BufReader<R>,
    size_limit: u64,
    data: Vec<u8>,
}

impl<R: Read> ChunkedReader<R> {
    pub fn new(reader: R, size_limit: u64) -> ChunkedReader<R> {
        ChunkedReader {
            reader: BufReader::new(reader),
            size_limit,
            data: Vec::new(),
        }
    }

    /// The next frame's data, or `None` at the end of the stream (between frames).
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, ChunkedError> {
        let Some(size) = self.read_uvarint()? else {
            return Ok(None);
        };
        if size > self.size_limit {
            return Err(ChunkedError::TooLarge {
                limit: self.size_limit,
                size,
            });
        }
        let mut crc = [0u8; 4];
        read_exact(&mut self.reader, &mut crc)?;
        // Bounded by the size limit checked above.
        self.data.resize(size as usize, 0);
        read_exact(&mut self.reader, &mut self.data)?;
        if crc32c::crc32c(&self.data) != u32::from_be_bytes(crc) {
            return Err(ChunkedError::ChecksumMismatch);
        }
        Ok(Some(&self.data))
    }

    /// The next frame decoded as message `M`.
    pub fn next_message<M: prost::Message + Default>(&mut self) -> Result<Option<M>, ChunkedError> {
        match self.next_frame()? {
            Some(data) => Ok(Some(M::decode(data)?)),
            None => Ok(None),
        }
    }

    /// `None` on a clean end of stream before the first byte.
    fn read_uvarint(&mut self) -> Result<Option<u64>, ChunkedError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = {
                let buf = self.reader.fill_buf()?;
                match buf.first() {
                    Some(b) => *b,
                    None if i == 0 => return Ok(None),
                    None => return Err(ChunkedError::UnexpectedEof),
                }
            };
            self.reader.consume(1);
            if i == 9 && byte > 1 {
                return Err(ChunkedError::VarintOverflow);
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(Some(v));
            }
        }
        Err(ChunkedError::VarintOverflow)
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), ChunkedError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ChunkedError::UnexpectedEof,
        _ => ChunkedError::Io(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut w = ChunkedWriter::new(Vec::new());
        assert_eq!(w.write_frame(b"hello").unwrap(), 5);
        assert_eq!(w.write_frame(b"").unwrap(), 0);
        let big = vec![7u8; 300];
        w.write_frame(&big).unwrap();
        let bytes = w.into_inner();
        // 5 → one varint byte, then the checksum, then the data.
        assert_eq!(bytes[0], 5);
        assert_eq!(&bytes[1..5], &crc32c::crc32c(b"hello").to_be_bytes());
        assert_eq!(&bytes[5..10], b"hello");

        let mut r = ChunkedReader::new(&bytes[..], 1024);
        assert_eq!(r.next_frame().unwrap().unwrap(), b"hello");
        assert_eq!(r.next_frame().unwrap().unwrap(), &big[..]);
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut w = ChunkedWriter::new(Vec::new());
        w.write_frame(b"hello world").unwrap();
        let good = w.into_inner();

        let mut corrupt = good.clone();
        *corrupt.last_mut().unwrap() ^= 1;
        assert!(matches!(
            ChunkedReader::new(&corrupt[..], 1024).next_frame(),
            Err(ChunkedError::ChecksumMismatch)
        ));
        assert_eq!(
            ChunkedReader::new(&good[..], 4)
                .next_frame()
                .unwrap_err()
                .to_string(),
            "chunkedReader: message size exceeded the limit 4 bytes; got: 11 bytes"
        );
        for cut in 1..good.len() {
            assert!(matches!(
                ChunkedReader::new(&good[..cut], 1024).next_frame(),
                Err(ChunkedError::UnexpectedEof)
            ));
        }
        let overflow = [0xffu8; 11];
        assert!(matches!(
            ChunkedReader::new(&overflow[..], u64::MAX).next_frame(),
            Err(ChunkedError::VarintOverflow)
        ));
    }
}
