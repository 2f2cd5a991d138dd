//! MLD messages: MLDv1 (RFC 2710) and MLDv2 (RFC 9777), from the ICMPv6 header on.
//!
//! ```text
//!  0               1               2               3
//! +---------------+---------------+-------------------------------+
//! |  Type = 130   |      Code     |           Checksum            |
//! +---------------+---------------+-------------------------------+
//! |    Maximum Response Code      |           Reserved            |
//! +-------------------------------+-------------------------------+
//! |                  Multicast Address (16 bytes)                 |
//! +-------+-+-----+---------------+-------------------------------+  <- MLDv2 query only
//! | Resv  |S| QRV |     QQIC      |     Number of Sources (N)     |
//! +-------+-+-----+---------------+-------------------------------+
//! |                 Source Address [1..N] (16 bytes each)         |
//! +---------------------------------------------------------------+
//! ```
//!
//! The checksum is left 0 on encode and not verified on decode: the kernel computes and checks
//! the ICMPv6 checksum (with its pseudo-header) on raw ICMPv6 sockets.

use std::net::Ipv6Addr;

use super::{
    read_addrs, read_records, read_u16, slice, write_records, DecodeError, GroupRecord, QueryV3,
    WireAddr,
};

/// Multicast Listener Query (MLDv1 and MLDv2).
pub const TYPE_QUERY: u8 = 130;
/// MLDv1 Multicast Listener Report.
pub const TYPE_V1_REPORT: u8 = 131;
/// MLDv1 Multicast Listener Done.
pub const TYPE_V1_DONE: u8 = 132;
/// MLDv2 Multicast Listener Report.
pub const TYPE_V2_REPORT: u8 = 143;

/// Whether an ICMPv6 type is one of the MLD messages above.
pub fn is_mld_type(kind: u8) -> bool {
    matches!(
        kind,
        TYPE_QUERY | TYPE_V1_REPORT | TYPE_V1_DONE | TYPE_V2_REPORT
    )
}

/// An MLD message.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub enum MldMessage {
    /// Multicast Listener Query. `v2` present = MLDv2 query (28 bytes or more), else the
    /// 24-byte MLDv1 query (RFC 9777 8.1).
    Query {
        /// Maximum Response Code in milliseconds: MLDv1 literal, MLDv2 the 16-bit
        /// floating-point code ([`super::decode_code16`]).
        max_resp_code: u16,
        /// The multicast address; unspecified for a general query.
        group: Ipv6Addr,
        /// The MLDv2 fields.
        v2: Option<QueryV3<Ipv6Addr>>,
    },
    /// MLDv1 Report.
    V1Report {
        /// The multicast address listened to.
        group: Ipv6Addr,
    },
    /// MLDv1 Done.
    V1Done {
        /// The multicast address no longer listened to.
        group: Ipv6Addr,
    },
    /// MLDv2 Report.
    V2Report {
        /// Multicast address records.
        records: Vec<GroupRecord<Ipv6Addr>>,
    },
}

impl MldMessage {
    /// Decode one MLD message (the ICMPv6 message). The checksum is not verified.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnknownType`] for ICMPv6 types other than MLD, and [`DecodeError`] for
    /// short or inconsistent messages.
    pub fn decode(bytes: &[u8]) -> Result<MldMessage, DecodeError> {
        let kind = *bytes
            .first()
            .ok_or(DecodeError::Truncated { needed: 1, have: 0 })?;
        if !is_mld_type(kind) {
            return Err(DecodeError::UnknownType(kind));
        }
        if kind == TYPE_V2_REPORT {
            let count = usize::from(read_u16(bytes, 6)?);
            return Ok(MldMessage::V2Report {
                records: read_records(bytes, 8, count)?,
            });
        }
        let head = slice(bytes, 0, 24)?;
        let group = Ipv6Addr::read(&head[8..24]);
        match kind {
            TYPE_QUERY => {
                let max_resp_code = u16::from_be_bytes([head[4], head[5]]);
                match bytes.len() {
                    24 => Ok(MldMessage::Query {
                        max_resp_code,
                        group,
                        v2: None,
                    }),
                    25..=27 => Err(DecodeError::BadLength(bytes.len())),
                    _ => {
                        let flags = bytes[24];
                        let qqic = bytes[25];
                        let nsrc = usize::from(read_u16(bytes, 26)?);
                        let sources = read_addrs(bytes, 28, nsrc)?;
                        let v2 = QueryV3 {
                            suppress: flags & 0x08 != 0,
                            qrv: flags & 0x07,
                            qqic,
                            sources,
                        };
                        Ok(MldMessage::Query {
                            max_resp_code,
                            group,
                            v2: Some(v2),
                        })
                    }
                }
            }
            TYPE_V1_REPORT => Ok(MldMessage::V1Report { group }),
            _ => Ok(MldMessage::V1Done { group }),
        }
    }

    /// Encode with checksum 0 (the kernel fills it in). Lists longer than 65535 entries are
    /// truncated.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(28);
        match self {
            MldMessage::Query {
                max_resp_code,
                group,
                v2,
            } => {
                out.extend_from_slice(&[TYPE_QUERY, 0, 0, 0]);
                out.extend_from_slice(&max_resp_code.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                group.write(&mut out);
                if let Some(v2) = v2 {
                    let nsrc = v2.sources.len().min(usize::from(u16::MAX));
                    out.push(u8::from(v2.suppress) << 3 | (v2.qrv & 0x07));
                    out.push(v2.qqic);
                    out.extend_from_slice(&(nsrc as u16).to_be_bytes());
                    for source in &v2.sources[..nsrc] {
                        source.write(&mut out);
                    }
                }
            }
            MldMessage::V1Report { group } => simple(&mut out, TYPE_V1_REPORT, *group),
            MldMessage::V1Done { group } => simple(&mut out, TYPE_V1_DONE, *group),
            MldMessage::V2Report { records } => {
                let count = records.len().min(usize::from(u16::MAX));
                out.extend_from_slice(&[TYPE_V2_REPORT, 0, 0, 0, 0, 0]);
                out.extend_from_slice(&(count as u16).to_be_bytes());
                write_records(&mut out, &records[..count]);
            }
        }
        out
    }
}

fn simple(out: &mut Vec<u8>, kind: u8, group: Ipv6Addr) {
    out.extend_from_slice(&[kind, 0, 0, 0, 0, 0, 0, 0]);
    group.write(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::RecordType;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_general_query_bytes() {
        #[rustfmt::skip]
        let bytes = [
            130, 0, 0, 0,           // query, code, checksum (kernel's)
            0x27, 0x10, 0, 0,       // max resp 10000 ms, reserved
            0, 0, 0, 0, 0, 0, 0, 0, // ::
            0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let msg = MldMessage::Query {
            max_resp_code: 10_000,
            group: Ipv6Addr::UNSPECIFIED,
            v2: None,
        };
        assert_eq!(msg.encode(), bytes);
        assert_eq!(MldMessage::decode(&bytes), Ok(msg));
    }

    #[test]
    fn v2_query_bytes() {
        #[rustfmt::skip]
        let bytes = [
            130, 0, 0x12, 0x34,     // query, code, a checksum (ignored)
            0x80, 0x00, 0, 0,       // max resp code 0x8000 = 32768 ms
            0xff, 0x3e, 0, 0, 0, 0, 0, 0, // ff3e::1
            0, 0, 0, 0, 0, 0, 0, 1,
            0x02, 125, 0, 1,        // S=0 QRV=2, QQIC 125, 1 source
            0xfd, 0, 0, 0, 0, 0, 0, 0, // fd00::5
            0, 0, 0, 0, 0, 0, 0, 5,
        ];
        let msg = MldMessage::decode(&bytes).unwrap();
        let expected = MldMessage::Query {
            max_resp_code: 0x8000,
            group: ip("ff3e::1"),
            v2: Some(QueryV3 {
                suppress: false,
                qrv: 2,
                qqic: 125,
                sources: vec![ip("fd00::5")],
            }),
        };
        assert_eq!(msg, expected);
        let mut zeroed = bytes;
        zeroed[2] = 0;
        zeroed[3] = 0;
        assert_eq!(expected.encode(), zeroed);
    }

    #[test]
    fn v1_report_and_done() {
        let mut bytes = vec![131, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&ip("ff05::1:3").octets());
        assert_eq!(
            MldMessage::decode(&bytes),
            Ok(MldMessage::V1Report {
                group: ip("ff05::1:3")
            })
        );
        assert_eq!(
            MldMessage::V1Report {
                group: ip("ff05::1:3")
            }
            .encode(),
            bytes
        );
        bytes[0] = 132;
        assert_eq!(
            MldMessage::decode(&bytes),
            Ok(MldMessage::V1Done {
                group: ip("ff05::1:3")
            })
        );
    }

    #[test]
    fn v2_report_bytes() {
        #[rustfmt::skip]
        let bytes = [
            143, 0, 0, 0,           // v2 report, reserved, checksum
            0, 0, 0, 1,             // reserved, 1 record
            3, 0, 0, 1,             // TO_IN, no aux, 1 source
            0xff, 0x3e, 0, 0, 0, 0, 0, 0, // ff3e::1
            0, 0, 0, 0, 0, 0, 0, 1,
            0xfd, 0, 0, 0, 0, 0, 0, 0, // fd00::5
            0, 0, 0, 0, 0, 0, 0, 5,
        ];
        let msg = MldMessage::V2Report {
            records: vec![GroupRecord {
                kind: RecordType::ToInclude,
                group: ip("ff3e::1"),
                sources: vec![ip("fd00::5")],
            }],
        };
        assert_eq!(msg.encode(), bytes);
        assert_eq!(MldMessage::decode(&bytes), Ok(msg));
    }

    #[test]
    fn other_icmpv6_and_short() {
        assert_eq!(
            MldMessage::decode(&[135, 0, 0, 0]),
            Err(DecodeError::UnknownType(135))
        );
        assert_eq!(
            MldMessage::decode(&[]),
            Err(DecodeError::Truncated { needed: 1, have: 0 })
        );
        assert!(matches!(
            MldMessage::decode(&[131, 0, 0, 0]),
            Err(DecodeError::Truncated { .. })
        ));
        assert_eq!(
            MldMessage::decode(&[130; 26]),
            Err(DecodeError::BadLength(26))
        );
    }
}
