//! The 7-byte fragment header and the fragment types (LevelDB's log layout, as Prometheus
//! uses it): `type <1b> | length <2b BE> | CRC32C of the data <4b BE> | data`.
//!
//! The type byte holds, from the high bits: 3 reserved bits, the zstd flag, the snappy flag
//! and the 3-bit fragment type. The flags say how the whole record (all its fragments
//! joined) is compressed.

/// Bytes in a fragment header.
pub const HEADER_SIZE: usize = 7;
/// Snappy (block format) compression flag in the type byte.
pub const SNAPPY_FLAG: u8 = 1 << 3;
/// Zstd (frame format) compression flag in the type byte.
pub const ZSTD_FLAG: u8 = 1 << 4;
const TYPE_MASK: u8 = SNAPPY_FLAG - 1;

/// Where a fragment sits in its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentType {
    /// The rest of the page is zero padding.
    PageTerm,
    /// A whole record in one fragment.
    Full,
    First,
    Middle,
    Last,
}

impl FragmentType {
    /// Decodes the low 3 bits of a type byte; `None` for the unused values 5..=7.
    pub fn from_header(byte: u8) -> Option<FragmentType> {
        Some(match byte & TYPE_MASK {
            0 => FragmentType::PageTerm,
            1 => FragmentType::Full,
            2 => FragmentType::First,
            3 => FragmentType::Middle,
            4 => FragmentType::Last,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        match self {
            FragmentType::PageTerm => 0,
            FragmentType::Full => 1,
            FragmentType::First => 2,
            FragmentType::Middle => 3,
            FragmentType::Last => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FragmentType::PageTerm => "page-term",
            FragmentType::Full => "full",
            FragmentType::First => "first",
            FragmentType::Middle => "middle",
            FragmentType::Last => "last",
        }
    }
}

/// Whether a fragment of type `typ` may come next: continuation fragments only inside a
/// record (`in_record`), first and full ones only outside.
pub(crate) fn check_sequence(
    typ: FragmentType,
    in_record: bool,
) -> Result<(), super::CorruptionReason> {
    let continues = matches!(typ, FragmentType::Middle | FragmentType::Last);
    if continues == in_record {
        return Ok(());
    }
    Err(super::CorruptionReason::UnexpectedFragment {
        found: typ.name(),
        context: if continues {
            "without a record to continue"
        } else {
            "inside an unfinished record"
        },
    })
}

/// Writes a fragment header for `data` into `out[..HEADER_SIZE]`.
pub fn write_header(out: &mut [u8], typ: FragmentType, flags: u8, data: &[u8]) {
    debug_assert!(data.len() <= u16::MAX as usize);
    out[0] = typ.code() | flags;
    out[1..3].copy_from_slice(&(data.len() as u16).to_be_bytes());
    out[3..7].copy_from_slice(&crc32c::crc32c(data).to_be_bytes());
}
