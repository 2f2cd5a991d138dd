//! Byte-exact codecs for IGMP (RFC 1112, RFC 2236, RFC 9776) and MLD (RFC 2710, RFC 9777).
//!
//! Every decoder takes the bytes from the IGMP / ICMPv6 header on (no IP header) and never
//! panics: malformed input is a [`DecodeError`]. Every encoder produces bytes that decode back
//! to the same value.
//!
//! The IGMP checksum (the Internet checksum over the whole IGMP message) is computed on encode
//! and verified on decode. The ICMPv6 checksum of MLD covers an IPv6 pseudo-header that only
//! the kernel knows for certain (it picks the source address), and Linux computes and verifies
//! it itself on raw ICMPv6 sockets (`IPPROTO_ICMPV6` always has `IPV6_CHECKSUM` at offset 2),
//! so MLD messages are encoded with checksum 0 and the checksum is not verified on decode.

pub mod igmp;
pub mod mld;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::Serialize;

/// Why a message could not be decoded.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the message type needs (or than its counts announce).
    #[error("message truncated: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        have: usize,
    },
    /// The IGMP checksum does not match.
    #[error("bad checksum")]
    BadChecksum,
    /// A type this codec does not handle (for ICMPv6: not an MLD message).
    #[error("unknown message type {0}")]
    UnknownType(u8),
    /// A length that fits no version of the message (e.g. a 9-byte IGMP query).
    #[error("invalid length {0} for the message type")]
    BadLength(usize),
}

/// The type of a group (multicast address) record in an IGMPv3 / MLDv2 report.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub enum RecordType {
    /// MODE_IS_INCLUDE (1): current state, INCLUDE the sources.
    IsInclude,
    /// MODE_IS_EXCLUDE (2): current state, EXCLUDE the sources.
    IsExclude,
    /// CHANGE_TO_INCLUDE_MODE (3).
    ToInclude,
    /// CHANGE_TO_EXCLUDE_MODE (4).
    ToExclude,
    /// ALLOW_NEW_SOURCES (5).
    AllowNew,
    /// BLOCK_OLD_SOURCES (6).
    BlockOld,
    /// Any other value: receivers ignore such records (RFC 9776 4.2.12).
    Unknown(u8),
}

impl RecordType {
    /// From the wire value.
    pub fn from_u8(value: u8) -> RecordType {
        match value {
            1 => RecordType::IsInclude,
            2 => RecordType::IsExclude,
            3 => RecordType::ToInclude,
            4 => RecordType::ToExclude,
            5 => RecordType::AllowNew,
            6 => RecordType::BlockOld,
            other => RecordType::Unknown(other),
        }
    }

    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            RecordType::IsInclude => 1,
            RecordType::IsExclude => 2,
            RecordType::ToInclude => 3,
            RecordType::ToExclude => 4,
            RecordType::AllowNew => 5,
            RecordType::BlockOld => 6,
            RecordType::Unknown(other) => other,
        }
    }
}

/// One group record of an IGMPv3 or MLDv2 report. Auxiliary data is skipped on decode (no
/// record type defines any) and never encoded.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct GroupRecord<A> {
    /// Record type.
    pub kind: RecordType,
    /// The multicast address.
    pub group: A,
    /// The source list.
    pub sources: Vec<A>,
}

/// The fields a version-3 IGMP query or an MLDv2 query adds to the older query.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct QueryV3<A> {
    /// S flag: Suppress Router-Side Processing.
    pub suppress: bool,
    /// Querier's Robustness Variable (0..=7; 0 = above 7).
    pub qrv: u8,
    /// Querier's Query Interval Code (floating-point encoded seconds, see [`decode_code8`]).
    pub qqic: u8,
    /// Sources of a group-and-source-specific query.
    pub sources: Vec<A>,
}

/// A fixed-size address as it appears in packets.
pub trait WireAddr: Copy + Sized {
    /// Bytes on the wire.
    const LEN: usize;
    /// Read from exactly `LEN` bytes (the caller checks the length).
    fn read(bytes: &[u8]) -> Self;
    /// Append the wire bytes.
    fn write(&self, out: &mut Vec<u8>);
}

impl WireAddr for Ipv4Addr {
    const LEN: usize = 4;
    fn read(bytes: &[u8]) -> Self {
        let mut b = [0u8; 4];
        b.copy_from_slice(&bytes[..4]);
        Ipv4Addr::from(b)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
}

impl WireAddr for Ipv6Addr {
    const LEN: usize = 16;
    fn read(bytes: &[u8]) -> Self {
        let mut b = [0u8; 16];
        b.copy_from_slice(&bytes[..16]);
        Ipv6Addr::from(b)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
}

/// `bytes[at..at + len]`, or [`DecodeError::Truncated`].
pub(crate) fn slice(bytes: &[u8], at: usize, len: usize) -> Result<&[u8], DecodeError> {
    let end = at.checked_add(len).ok_or(DecodeError::Truncated {
        needed: usize::MAX,
        have: bytes.len(),
    })?;
    bytes.get(at..end).ok_or(DecodeError::Truncated {
        needed: end,
        have: bytes.len(),
    })
}

pub(crate) fn read_u16(bytes: &[u8], at: usize) -> Result<u16, DecodeError> {
    let b = slice(bytes, at, 2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

pub(crate) fn read_addrs<A: WireAddr>(
    bytes: &[u8],
    at: usize,
    count: usize,
) -> Result<Vec<A>, DecodeError> {
    let b = slice(bytes, at, count.saturating_mul(A::LEN))?;
    Ok(b.chunks_exact(A::LEN).map(A::read).collect())
}

/// Decode the group records of a version-3 report starting at `at`.
pub(crate) fn read_records<A: WireAddr>(
    bytes: &[u8],
    mut at: usize,
    count: usize,
) -> Result<Vec<GroupRecord<A>>, DecodeError> {
    // Each record takes at least 4 + A::LEN bytes: refuse absurd counts before allocating.
    let min = count.saturating_mul(4 + A::LEN);
    if bytes.len().saturating_sub(at) < min {
        return Err(DecodeError::Truncated {
            needed: at.saturating_add(min),
            have: bytes.len(),
        });
    }
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let head = slice(bytes, at, 4)?;
        let kind = RecordType::from_u8(head[0]);
        let aux_words = usize::from(head[1]);
        let nsrc = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let group = A::read(slice(bytes, at + 4, A::LEN)?);
        let sources = read_addrs(bytes, at + 4 + A::LEN, nsrc)?;
        at += 4 + A::LEN + nsrc * A::LEN;
        slice(bytes, at, aux_words * 4)?;
        at += aux_words * 4;
        records.push(GroupRecord {
            kind,
            group,
            sources,
        });
    }
    Ok(records)
}

/// Append group records (source counts above 65535 are truncated to 65535 sources).
pub(crate) fn write_records<A: WireAddr>(out: &mut Vec<u8>, records: &[GroupRecord<A>]) {
    for record in records {
        let nsrc = record.sources.len().min(usize::from(u16::MAX));
        out.push(record.kind.to_u8());
        out.push(0);
        out.extend_from_slice(&(nsrc as u16).to_be_bytes());
        record.group.write(out);
        for source in &record.sources[..nsrc] {
            source.write(out);
        }
    }
}

/// The Internet checksum (RFC 1071) of `bytes`: one's complement of the one's complement sum
/// of the 16-bit words (an odd last byte is padded with zero).
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Decode the 8-bit floating-point code of IGMPv3 Max Resp Code and of QQIC (RFC 9776 4.1.1,
/// 4.1.7; MLDv2 QQIC, RFC 9777 5.1.9): below 128 the value itself, else
/// `(mant | 0x10) << (exp + 3)` with `exp` = bits 4-6 and `mant` = bits 0-3.
pub fn decode_code8(code: u8) -> u32 {
    if code < 128 {
        u32::from(code)
    } else {
        let exp = u32::from((code >> 4) & 0x7);
        let mant = u32::from(code & 0xf);
        (mant | 0x10) << (exp + 3)
    }
}

/// Encode `value` as an 8-bit floating-point code, rounding down to the nearest representable
/// value and saturating at the largest (31744).
pub fn encode_code8(value: u32) -> u8 {
    if value < 128 {
        return value as u8;
    }
    for exp in 0..8u32 {
        let mant = value >> (exp + 3);
        if mant < 0x20 {
            return 0x80 | ((exp as u8) << 4) | ((mant as u8) & 0xf);
        }
    }
    0xff
}

/// Decode the 16-bit floating-point Maximum Response Code of MLDv2 (RFC 9777 5.1.3): below
/// 32768 the value itself (milliseconds), else `(mant | 0x1000) << (exp + 3)` with
/// `exp` = bits 12-14 and `mant` = bits 0-11.
pub fn decode_code16(code: u16) -> u32 {
    if code < 0x8000 {
        u32::from(code)
    } else {
        let exp = u32::from((code >> 12) & 0x7);
        let mant = u32::from(code & 0xfff);
        (mant | 0x1000) << (exp + 3)
    }
}

/// Encode `value` as a 16-bit floating-point code, rounding down and saturating at the largest
/// representable value (8387584).
pub fn encode_code16(value: u32) -> u16 {
    if value < 0x8000 {
        return value as u16;
    }
    for exp in 0..8u32 {
        let mant = value >> (exp + 3);
        if mant < 0x2000 {
            return 0x8000 | ((exp as u16) << 12) | ((mant as u16) & 0xfff);
        }
    }
    0xffff
}

/// A duration in whole units of `unit`, saturating at `u32::MAX`.
pub(crate) fn units(d: Duration, unit: Duration) -> u32 {
    u32::try_from(d.as_nanos() / unit.as_nanos().max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_rfc1071_example() {
        // RFC 1071 section 3 example: words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d.
        assert_eq!(
            internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        // Odd length: the last byte is the high byte of a zero-padded word.
        assert_eq!(internet_checksum(&[0x01]), !0x0100);
    }

    #[test]
    fn code8_every_value_roundtrips() {
        for code in 0..=255u8 {
            assert_eq!(encode_code8(decode_code8(code)), code, "code {code}");
        }
        assert_eq!(decode_code8(0x80), 128);
        assert_eq!(decode_code8(0xff), 31744);
        // 125 s default query interval fits literally; 200 is 0x89 (0x19 << 3 = 200).
        assert_eq!(encode_code8(125), 125);
        assert_eq!(encode_code8(200), 0x89);
        assert_eq!(encode_code8(201), 0x89, "rounds down");
        assert_eq!(encode_code8(1_000_000), 0xff, "saturates");
    }

    #[test]
    fn code16_every_value_roundtrips() {
        for code in 0..=u16::MAX {
            assert_eq!(encode_code16(decode_code16(code)), code, "code {code}");
        }
        assert_eq!(decode_code16(0x8000), 32768);
        assert_eq!(decode_code16(0xffff), 8_387_584);
        assert_eq!(encode_code16(10_000), 10_000);
        assert_eq!(encode_code16(u32::MAX), 0xffff);
    }

    #[test]
    fn encoding_rounds_down_monotonically() {
        let mut last = 0;
        for value in 0..40_000u32 {
            let decoded = decode_code8(encode_code8(value));
            assert!(decoded <= value || value > 31744);
            assert!(decoded >= last);
            last = decoded;
        }
    }
}
