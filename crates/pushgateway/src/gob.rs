//! Go's `encoding/gob` stream format, as far as the pushgateway's persistence file needs
//! it: a decoder for any stream of type definitions followed by one value (into a
//! dynamic [`GobValue`]), and an [`Encoder`] for the pieces the file is made of.
//!
//! A gob stream is a sequence of messages, each a byte count then a type id: a negative
//! id defines a type (a `wireType` struct follows), a positive one carries a value of that
//! type. Unsigned integers are one byte below 128, else a negated byte count and the
//! big-endian bytes; signed integers are zig-zag folded; floats are byte-reversed bits;
//! structs are (field delta, value) pairs ending in 0, zero fields left out; a top-level
//! value that is not a struct is preceded by a 0 delta. The decoder trusts nothing: every
//! length is checked against the input and nesting is bounded.

use std::collections::HashMap;

/// The first id of user types; lower ones are gob's predefined types.
pub const FIRST_USER_TYPE: i64 = 65;
const T_BOOL: i64 = 1;
const T_INT: i64 = 2;
const T_UINT: i64 = 3;
const T_FLOAT: i64 = 4;
const T_BYTES: i64 = 5;
const T_STRING: i64 = 6;
const T_COMPLEX: i64 = 7;
/// Deeper nesting than any sane stream has; bounds the decoder's recursion.
const MAX_DEPTH: usize = 32;

/// A decoded value. Strings stay bytes: Go strings need not be UTF-8 (the
/// pushgateway's group keys contain 0xff separators).
#[derive(Debug, Clone, PartialEq)]
pub enum GobValue {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Bytes(Vec<u8>),
    String(Vec<u8>),
    Complex(f64, f64),
    Map(Vec<(GobValue, GobValue)>),
    /// Fields present in the stream, by name (zero-valued fields are absent).
    Struct(Vec<(String, GobValue)>),
    Slice(Vec<GobValue>),
    /// What a `GobEncoder`, `BinaryMarshaler` or `TextMarshaler` wrote.
    Encoded(Vec<u8>),
}

impl GobValue {
    pub fn field(&self, name: &str) -> Option<&GobValue> {
        match self {
            GobValue::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GobError {
    #[error("gob: unexpected end of data at byte {0}")]
    Truncated(usize),
    #[error("gob: invalid unsigned integer at byte {0}")]
    BadUint(usize),
    #[error("gob: length {len} at byte {at} exceeds the remaining data")]
    TooLong { at: usize, len: u64 },
    #[error("gob: unknown type id {0}")]
    UnknownType(i64),
    #[error("gob: unsupported type definition for id {0}")]
    BadTypeDefinition(i64),
    #[error("gob: interface values are not supported")]
    Interface,
    #[error("gob: field {field} out of range for struct type {id}")]
    BadField { id: i64, field: i64 },
    #[error("gob: non-zero delta {0} before a single value")]
    BadSingleton(u64),
    #[error("gob: values nest too deeply")]
    TooDeep,
    #[error("gob: the stream holds no value")]
    NoValue,
}

#[derive(Debug, Clone)]
enum WireType {
    Array { elem: i64 },
    Slice { elem: i64 },
    Struct { fields: Vec<(String, i64)> },
    Map { key: i64, elem: i64 },
    Encoded,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    /// Absolute offset of `b[0]` in the stream, for messages.
    base: usize,
}

impl<'a> Reader<'a> {
    fn at(&self) -> usize {
        self.base + self.pos
    }

    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, GobError> {
        let b = *self.b.get(self.pos).ok_or(GobError::Truncated(self.at()))?;
        self.pos += 1;
        Ok(b)
    }

    fn uint(&mut self) -> Result<u64, GobError> {
        let at = self.at();
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(u64::from(first));
        }
        let n = usize::from(first.wrapping_neg());
        if n == 0 || n > 8 {
            return Err(GobError::BadUint(at));
        }
        let bytes = self.take(n)?;
        Ok(bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }

    fn int(&mut self) -> Result<i64, GobError> {
        let u = self.uint()?;
        Ok(if u & 1 == 1 {
            !(u >> 1) as i64
        } else {
            (u >> 1) as i64
        })
    }

    fn float(&mut self) -> Result<f64, GobError> {
        Ok(f64::from_bits(self.uint()?.swap_bytes()))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], GobError> {
        if n > self.remaining() {
            return Err(GobError::Truncated(self.at()));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A length, checked against what is left: every element takes at least one byte.
    fn count(&mut self) -> Result<usize, GobError> {
        let at = self.at();
        let len = self.uint()?;
        if len > self.remaining() as u64 {
            return Err(GobError::TooLong { at, len });
        }
        Ok(len as usize)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, GobError> {
        let n = self.count()?;
        Ok(self.take(n)?.to_vec())
    }

    /// Struct fields as (field number, reader positioned at its value): `f` reads them.
    fn fields(
        &mut self,
        mut f: impl FnMut(&mut Reader<'a>, i64) -> Result<(), GobError>,
    ) -> Result<(), GobError> {
        let mut field = -1i64;
        loop {
            let delta = self.uint()?;
            if delta == 0 {
                return Ok(());
            }
            field = field.saturating_add(i64::try_from(delta).unwrap_or(i64::MAX));
            f(self, field)?;
        }
    }
}

/// Decodes a gob stream's type definitions and its first value.
pub fn decode(input: &[u8]) -> Result<GobValue, GobError> {
    let mut stream = Reader {
        b: input,
        pos: 0,
        base: 0,
    };
    let mut types: HashMap<i64, WireType> = HashMap::new();
    while stream.remaining() > 0 {
        let len = stream.count()?;
        let base = stream.at();
        let mut msg = Reader {
            b: stream.take(len)?,
            pos: 0,
            base,
        };
        let id = msg.int()?;
        if id < 0 {
            let id = id.checked_neg().ok_or(GobError::BadTypeDefinition(id))?;
            types.insert(id, wire_type(&mut msg, id)?);
            continue;
        }
        let decoder = Decoder { types: &types };
        if !matches!(types.get(&id), Some(WireType::Struct { .. })) {
            let delta = msg.uint()?;
            if delta != 0 {
                return Err(GobError::BadSingleton(delta));
            }
        }
        return decoder.value(&mut msg, id, 0);
    }
    Err(GobError::NoValue)
}

/// Reads a `wireType` struct (its layout is fixed by gob itself).
fn wire_type(r: &mut Reader<'_>, id: i64) -> Result<WireType, GobError> {
    let mut out = None;
    r.fields(|r, field| {
        let mut elem = 0;
        let mut key = 0;
        let mut fields = Vec::new();
        // Every variant starts with CommonType (field 0): Name, Id.
        r.fields(|r, f| {
            match (field, f) {
                (_, 0) => common_type(r)?,
                (0, 1) | (1, 1) => elem = r.int()?,
                (0, 2) => {
                    r.int()?; // array length
                }
                (2, 1) => {
                    let n = r.count()?;
                    for _ in 0..n {
                        let mut name = Vec::new();
                        let mut fid = 0;
                        r.fields(|r, ff| {
                            match ff {
                                0 => name = r.bytes()?,
                                1 => fid = r.int()?,
                                _ => return Err(GobError::BadTypeDefinition(id)),
                            }
                            Ok(())
                        })?;
                        fields.push((String::from_utf8_lossy(&name).into_owned(), fid));
                    }
                }
                (3, 1) => key = r.int()?,
                (3, 2) => elem = r.int()?,
                _ => return Err(GobError::BadTypeDefinition(id)),
            }
            Ok(())
        })?;
        out = Some(match field {
            0 => WireType::Array { elem },
            1 => WireType::Slice { elem },
            2 => WireType::Struct {
                fields: std::mem::take(&mut fields),
            },
            3 => WireType::Map { key, elem },
            4..=6 => WireType::Encoded,
            _ => return Err(GobError::BadTypeDefinition(id)),
        });
        Ok(())
    })?;
    out.ok_or(GobError::BadTypeDefinition(id))
}

fn common_type(r: &mut Reader<'_>) -> Result<(), GobError> {
    r.fields(|r, f| {
        match f {
            0 => {
                r.bytes()?;
            }
            _ => {
                r.int()?;
            }
        }
        Ok(())
    })
}

struct Decoder<'t> {
    types: &'t HashMap<i64, WireType>,
}

impl Decoder<'_> {
    fn value(&self, r: &mut Reader<'_>, id: i64, depth: usize) -> Result<GobValue, GobError> {
        if depth > MAX_DEPTH {
            return Err(GobError::TooDeep);
        }
        Ok(match id {
            T_BOOL => GobValue::Bool(r.uint()? != 0),
            T_INT => GobValue::Int(r.int()?),
            T_UINT => GobValue::Uint(r.uint()?),
            T_FLOAT => GobValue::Float(r.float()?),
            T_BYTES => GobValue::Bytes(r.bytes()?),
            T_STRING => GobValue::String(r.bytes()?),
            T_COMPLEX => GobValue::Complex(r.float()?, r.float()?),
            8 => return Err(GobError::Interface),
            _ => match self.types.get(&id).ok_or(GobError::UnknownType(id))? {
                WireType::Encoded => GobValue::Encoded(r.bytes()?),
                WireType::Array { elem } | WireType::Slice { elem } => {
                    let n = r.count()?;
                    let mut out = Vec::with_capacity(n);
                    for _ in 0..n {
                        out.push(self.value(r, *elem, depth + 1)?);
                    }
                    GobValue::Slice(out)
                }
                WireType::Map { key, elem } => {
                    let n = r.count()?;
                    let mut out = Vec::with_capacity(n);
                    for _ in 0..n {
                        let k = self.value(r, *key, depth + 1)?;
                        let v = self.value(r, *elem, depth + 1)?;
                        out.push((k, v));
                    }
                    GobValue::Map(out)
                }
                WireType::Struct { fields } => {
                    let mut out = Vec::new();
                    r.fields(|r, f| {
                        let (name, fid) = usize::try_from(f)
                            .ok()
                            .and_then(|i| fields.get(i))
                            .ok_or(GobError::BadField { id, field: f })?;
                        out.push((name.clone(), self.value(r, *fid, depth + 1)?));
                        Ok(())
                    })?;
                    GobValue::Struct(out)
                }
            },
        })
    }
}

/// Writes gob messages. Callers lay out type definitions and values; this type knows
/// the integer, string and framing rules.
#[derive(Default)]
pub struct Encoder {
    out: Vec<u8>,
}

/// The body of one message under construction.
#[derive(Default)]
pub struct Message {
    b: Vec<u8>,
}

impl Message {
    pub fn uint(&mut self, v: u64) -> &mut Message {
        if v < 0x80 {
            self.b.push(v as u8);
        } else {
            let bytes = v.to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            self.b.push((8 - skip as u8).wrapping_neg());
            self.b.extend_from_slice(&bytes[skip..]);
        }
        self
    }

    pub fn int(&mut self, v: i64) -> &mut Message {
        let u = if v < 0 {
            (!(v as u64)) << 1 | 1
        } else {
            (v as u64) << 1
        };
        self.uint(u)
    }

    pub fn bytes(&mut self, v: &[u8]) -> &mut Message {
        self.uint(v.len() as u64);
        self.b.extend_from_slice(v);
        self
    }

    /// A struct field: the delta from the previous field number.
    pub fn delta(&mut self, d: u64) -> &mut Message {
        self.uint(d)
    }

    /// Ends a struct.
    pub fn end(&mut self) -> &mut Message {
        self.b.push(0);
        self
    }

    /// `CommonType{Name, Id}` as the first field of a type definition.
    fn common(&mut self, name: &str, id: i64) -> &mut Message {
        self.delta(1);
        if name.is_empty() {
            self.delta(2).int(id);
        } else {
            self.delta(1).bytes(name.as_bytes()).delta(1).int(id);
        }
        self.end()
    }
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder::default()
    }

    fn message(&mut self, id: i64, body: &Message) {
        let mut m = Message::default();
        m.int(id);
        let mut framed = Message::default();
        framed.uint((m.b.len() + body.b.len()) as u64);
        self.out.extend_from_slice(&framed.b);
        self.out.extend_from_slice(&m.b);
        self.out.extend_from_slice(&body.b);
    }

    /// Defines a map type.
    pub fn define_map(&mut self, id: i64, name: &str, key: i64, elem: i64) {
        let mut m = Message::default();
        m.delta(4).common(name, id);
        m.delta(1).int(key).delta(1).int(elem).end().end();
        self.message(-id, &m);
    }

    /// Defines a struct type with its fields (name, type id) in order.
    pub fn define_struct(&mut self, id: i64, name: &str, fields: &[(&str, i64)]) {
        let mut m = Message::default();
        m.delta(3).common(name, id);
        m.delta(1).uint(fields.len() as u64);
        for (n, t) in fields {
            m.delta(1).bytes(n.as_bytes()).delta(1).int(*t).end();
        }
        m.end().end();
        self.message(-id, &m);
    }

    /// Defines a type that encodes itself (`GobEncoder`).
    pub fn define_gob_encoder(&mut self, id: i64, name: &str) {
        let mut m = Message::default();
        m.delta(5).common(name, id);
        m.end().end();
        self.message(-id, &m);
    }

    /// Sends a value of type `id`; a non-struct value gets the singleton delta first.
    pub fn value(&mut self, id: i64, is_struct: bool, body: Message) {
        let mut m = Message::default();
        if !is_struct {
            m.uint(0);
        }
        m.b.extend_from_slice(&body.b);
        self.message(id, &m);
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// The predefined id of strings.
pub const STRING: i64 = T_STRING;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_go_writes_them() {
        let mut m = Message::default();
        m.uint(7).uint(256).int(-1).int(-65).int(65).uint(u64::MAX);
        assert_eq!(
            m.b,
            [
                7, 0xfe, 1, 0, 1, 0xff, 0x81, 0xff, 0x82, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0xff, 0xff
            ]
        );
        let mut r = Reader {
            b: &m.b,
            pos: 0,
            base: 0,
        };
        assert_eq!(r.uint(), Ok(7));
        assert_eq!(r.uint(), Ok(256));
        assert_eq!(r.int(), Ok(-1));
        assert_eq!(r.int(), Ok(-65));
        assert_eq!(r.int(), Ok(65));
        assert_eq!(r.uint(), Ok(u64::MAX));
    }

    #[test]
    fn map_of_strings_matches_go() {
        // gob.NewEncoder(w).Encode(map[string]string{"a": "b"}) in Go writes these bytes.
        let go: &[u8] = &[
            0x0e, 0xff, 0x81, 0x04, 0x01, 0x02, 0xff, 0x82, 0x00, 0x01, 0x0c, 0x01, 0x0c, 0x00,
            0x00, 0x08, 0xff, 0x82, 0x00, 0x01, 0x01, 0x61, 0x01, 0x62,
        ];
        let mut e = Encoder::new();
        e.define_map(65, "", STRING, STRING);
        let mut body = Message::default();
        body.uint(1).bytes(b"a").bytes(b"b");
        e.value(65, false, body);
        assert_eq!(e.finish(), go);
        assert_eq!(
            decode(go),
            Ok(GobValue::Map(vec![(
                GobValue::String(b"a".to_vec()),
                GobValue::String(b"b".to_vec())
            )]))
        );
    }

    #[test]
    fn structs_round_trip() {
        let mut e = Encoder::new();
        e.define_struct(66, "S", &[("A", T_INT), ("B", STRING), ("C", 67)]);
        e.define_gob_encoder(67, "E");
        let mut body = Message::default();
        // A is zero and left out; B and C follow.
        body.delta(2).bytes(b"x").delta(1).bytes(&[1, 2, 3]).end();
        e.value(66, true, body);
        let v = decode(&e.finish()).unwrap();
        assert_eq!(v.field("A"), None);
        assert_eq!(v.field("B"), Some(&GobValue::String(b"x".to_vec())));
        assert_eq!(v.field("C"), Some(&GobValue::Encoded(vec![1, 2, 3])));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut e = Encoder::new();
        e.define_map(65, "M", STRING, STRING);
        let mut body = Message::default();
        body.uint(2).bytes(b"a").bytes(b"b").bytes(b"c").bytes(b"d");
        e.value(65, false, body);
        let good = e.finish();
        assert!(decode(&good).is_ok());
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..good.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xf7, 0xff] {
                let mut bad = good.clone();
                bad[i] = v;
                let _ = decode(&bad);
            }
        }
        assert_eq!(decode(&[]), Err(GobError::NoValue));
        // Deep self-nesting is bounded.
        let mut e = Encoder::new();
        e.define_struct(65, "R", &[("R", 65)]);
        let mut body = Message::default();
        for _ in 0..100 {
            body.delta(1);
        }
        e.value(65, true, body);
        assert!(decode(&e.finish()).is_err());
    }
}
