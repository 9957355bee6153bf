//! The canonical encoding the trace digest hashes payloads with: serde's
//! data model written out byte by byte, the same on every machine and with
//! every compiler (std's `Hash` promises neither for derived impls).
//!
//! Version 2 of the digest ([`super::hash::DIGEST_VERSION`]):
//! - integers little-endian at their declared width (`usize`/`isize` as 64
//!   bits), `bool` one byte, `char` as `u32`, floats by their IEEE bits;
//! - strings and byte strings: length (`u64`) then the bytes (UTF-8);
//! - `None` the byte 0, `Some(x)` the byte 1 then `x`; unit writes nothing;
//! - an enum variant: its index (`u32`) then its content;
//! - sequences and maps: length (`u64`) then the elements (map keys before
//!   their values, in the map's own order: `BTreeMap`s are sorted);
//! - structs and tuples: their fields in declaration order, no names.
//!
//! Nothing in it depends on a type's *name* or field names, only on its
//! shape: renaming a field keeps digests, reordering fields changes them.

use serde::ser::{self, Serialize};
use std::fmt;
use xxhash_rust::xxh3::Xxh3;

/// Where the encoding goes: into the hash, or (to show it) into bytes.
// One lives on the stack for one encoding; boxing the hasher would cost an
// allocation per message hashed.
#[allow(clippy::large_enum_variant)]
enum Sink {
    Hash(Xxh3),
    Bytes(Vec<u8>),
}

/// Feeds a value's canonical encoding into XXH3-128.
pub struct Canon(Sink);

/// Encoding never fails; serde's trait wants an error type all the same.
#[derive(Debug)]
pub struct Never(String);

impl fmt::Display for Never {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Never {}
impl ser::Error for Never {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Never(msg.to_string())
    }
}

/// The canonical hash of `value` (see the module docs).
pub fn hash<T: Serialize + ?Sized>(value: &T) -> u128 {
    match encode_into(Sink::Hash(Xxh3::new()), value) {
        Sink::Hash(h) => h.digest128(),
        Sink::Bytes(_) => unreachable!("a hash sink stays one"),
    }
}

/// The canonical encoding of `value` itself (what [`hash`] hashes).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    match encode_into(Sink::Bytes(Vec::new()), value) {
        Sink::Bytes(b) => b,
        Sink::Hash(_) => unreachable!("a byte sink stays one"),
    }
}

fn encode_into<T: Serialize + ?Sized>(sink: Sink, value: &T) -> Sink {
    let mut c = Canon(sink);
    // Our encoder never fails; a type's own Serialize may (a custom impl
    // refusing a value): its message is encoded, so the digest stays
    // deterministic.
    if let Err(Never(e)) = value.serialize(&mut c) {
        c.bytes(e.as_bytes());
    }
    c.0
}

impl Canon {
    fn put(&mut self, b: &[u8]) {
        match &mut self.0 {
            Sink::Hash(h) => h.update(b),
            Sink::Bytes(v) => v.extend_from_slice(b),
        }
    }
    fn len(&mut self, n: usize) {
        self.put(&(n as u64).to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.put(b);
    }
}

type R = Result<(), Never>;

impl ser::Serializer for &mut Canon {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> R {
        self.put(&[v as u8]);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> R {
        self.put(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> R {
        self.put(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> R {
        self.put(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> R {
        self.put(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> R {
        self.put(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> R {
        self.put(&[v]);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> R {
        self.put(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> R {
        self.put(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> R {
        self.put(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> R {
        self.put(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> R {
        self.put(&v.to_bits().to_le_bytes());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> R {
        self.put(&v.to_bits().to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> R {
        self.put(&(v as u32).to_le_bytes());
        Ok(())
    }
    fn serialize_str(self, v: &str) -> R {
        self.bytes(v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        self.bytes(v);
        Ok(())
    }
    fn serialize_none(self) -> R {
        self.put(&[0]);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R {
        self.put(&[1]);
        value.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> R {
        Ok(())
    }
    fn serialize_unit_variant(self, _name: &'static str, index: u32, _variant: &'static str) -> R {
        self.put(&index.to_le_bytes());
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> R {
        self.put(&index.to_le_bytes());
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Never> {
        // Every sequence we hash knows its length (Vec, slices, maps).
        self.len(len.ok_or_else(|| ser::Error::custom("a sequence of unknown length"))?);
        Ok(self)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, Never> {
        self.put(&index.to_le_bytes());
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self, Never> {
        self.len(len.ok_or_else(|| ser::Error::custom("a map of unknown length"))?);
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, Never> {
        self.put(&index.to_le_bytes());
        Ok(self)
    }
}

macro_rules! elements {
    ($($tr:ident :: $m:ident),*) => {$(
        impl ser::$tr for &mut Canon {
            type Ok = ();
            type Error = Never;
            fn $m<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
                value.serialize(&mut **self)
            }
            fn end(self) -> R {
                Ok(())
            }
        }
    )*};
}
elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for &mut Canon {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> R {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        value.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

macro_rules! fields {
    ($($tr:ident),*) => {$(
        impl ser::$tr for &mut Canon {
            type Ok = ();
            type Error = Never;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, _key: &'static str, value: &T) -> R {
                value.serialize(&mut **self)
            }
            fn skip_field(&mut self, _key: &'static str) -> R {
                // A skipped field still takes its place: an absent value.
                self.put(&[0xff]);
                Ok(())
            }
            fn end(self) -> R {
                Ok(())
            }
        }
    )*};
}
fields!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    enum Msg {
        Ping { seq: u64 },
        Note(String),
        Stop,
    }

    /// The encoding is pinned: these hashes are part of the digest format
    /// (v2). If one changes, every trace digest changes — bump
    /// DIGEST_VERSION and say why.
    #[test]
    fn the_bytes_are_as_documented() {
        // Variant index 0 as u32, then the u64 field.
        assert_eq!(encode(&Msg::Ping { seq: 7 }), [0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
        // Index 1, then the string's length as u64 and its bytes.
        assert_eq!(encode(&Msg::Note("ab".into())), [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']);
        assert_eq!(encode(&Msg::Stop), [2, 0, 0, 0]);
        // A tuple: its fields in order; Some is 1 then the value, None 0.
        assert_eq!(
            encode(&(1u32, "a", Some(2i64), None::<u8>)),
            [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, b'a', 1, 2, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // A map: its length, then key, value, ... in order.
        let m: BTreeMap<u8, bool> = [(2, true), (1, false)].into();
        assert_eq!(encode(&m), [2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 1]);
    }

    #[test]
    fn the_encoding_is_pinned() {
        assert_eq!(format!("{:032x}", hash(&Msg::Ping { seq: 7 })), PING_7);
        assert_eq!(format!("{:032x}", hash(&(1u32, "a", Some(2i64), None::<u8>))), TUPLE);
    }
    const PING_7: &str = "18f9d9fe31825d48cb4535af32f04be6";
    const TUPLE: &str = "72d4978500d3f961c926893190abe0b7";

    #[test]
    fn shapes_are_told_apart() {
        let h = |m: &Msg| hash(m);
        assert_ne!(h(&Msg::Ping { seq: 0 }), h(&Msg::Stop), "variants by index");
        assert_ne!(hash(&Msg::Note("ab".into())), hash(&(Msg::Note("a".into()), "b")), "lengths");
        let mut a = BTreeMap::new();
        a.insert(1u8, 2u8);
        let mut b = BTreeMap::new();
        b.insert(2u8, 1u8);
        assert_ne!(hash(&a), hash(&b));
        assert_ne!(hash(&Some(0u8)), hash(&None::<u8>));
    }
}
