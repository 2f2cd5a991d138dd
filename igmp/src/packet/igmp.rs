//! IGMP messages: IGMPv1 (RFC 1112), IGMPv2 (RFC 2236) and IGMPv3 (RFC 9776) as the router
//! side sees them.
//!
//! ```text
//!  0               1               2               3
//! +---------------+---------------+-------------------------------+
//! |  Type         | Max Resp Code |           Checksum            |
//! +---------------+---------------+-------------------------------+
//! |                         Group Address                         |
//! +-------+-+-----+---------------+-------------------------------+  <- IGMPv3 query only
//! | Resv  |S| QRV |     QQIC      |     Number of Sources (N)     |
//! +-------+-+-----+---------------+-------------------------------+
//! |                      Source Address [1..N]                    |
//! +---------------------------------------------------------------+
//! ```

use std::net::Ipv4Addr;

use super::{
    internet_checksum, read_addrs, read_records, read_u16, slice, write_records, DecodeError,
    GroupRecord, QueryV3, WireAddr,
};

/// Membership Query (all versions).
pub const TYPE_QUERY: u8 = 0x11;
/// IGMPv1 Membership Report.
pub const TYPE_V1_REPORT: u8 = 0x12;
/// IGMPv2 Membership Report.
pub const TYPE_V2_REPORT: u8 = 0x16;
/// IGMPv2 Leave Group.
pub const TYPE_V2_LEAVE: u8 = 0x17;
/// IGMPv3 Membership Report.
pub const TYPE_V3_REPORT: u8 = 0x22;

/// An IGMP message.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub enum IgmpMessage {
    /// Membership Query. Its version follows RFC 9776 7.1: `v3` present = IGMPv3 query
    /// (12 bytes or more); else 8 bytes with `max_resp_code` 0 = IGMPv1, non-zero = IGMPv2.
    Query {
        /// Max Resp Code: IGMPv2 tenths of a second; IGMPv3 the 8-bit floating-point code
        /// ([`super::decode_code8`]) in tenths of a second; IGMPv1 zero.
        max_resp_code: u8,
        /// The group; unspecified for a general query.
        group: Ipv4Addr,
        /// The IGMPv3 fields.
        v3: Option<QueryV3<Ipv4Addr>>,
    },
    /// IGMPv1 Membership Report.
    V1Report {
        /// The group joined.
        group: Ipv4Addr,
    },
    /// IGMPv2 Membership Report.
    V2Report {
        /// The group joined.
        group: Ipv4Addr,
    },
    /// IGMPv2 Leave Group.
    V2Leave {
        /// The group left.
        group: Ipv4Addr,
    },
    /// IGMPv3 Membership Report.
    V3Report {
        /// Group records.
        records: Vec<GroupRecord<Ipv4Addr>>,
    },
}

impl IgmpMessage {
    /// Decode one IGMP message (the IP payload). Verifies the checksum over all of `bytes`.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] for a short or inconsistent message, a bad checksum or an unknown type.
    pub fn decode(bytes: &[u8]) -> Result<IgmpMessage, DecodeError> {
        let head = slice(bytes, 0, 8)?;
        if internet_checksum(bytes) != 0 {
            return Err(DecodeError::BadChecksum);
        }
        let group = Ipv4Addr::read(&head[4..8]);
        match head[0] {
            TYPE_QUERY => {
                let max_resp_code = head[1];
                match bytes.len() {
                    8 => Ok(IgmpMessage::Query {
                        max_resp_code,
                        group,
                        v3: None,
                    }),
                    9..=11 => Err(DecodeError::BadLength(bytes.len())),
                    _ => {
                        let flags = bytes[8];
                        let qqic = bytes[9];
                        let nsrc = usize::from(read_u16(bytes, 10)?);
                        let sources = read_addrs(bytes, 12, nsrc)?;
                        let v3 = QueryV3 {
                            suppress: flags & 0x08 != 0,
                            qrv: flags & 0x07,
                            qqic,
                            sources,
                        };
                        Ok(IgmpMessage::Query {
                            max_resp_code,
                            group,
                            v3: Some(v3),
                        })
                    }
                }
            }
            TYPE_V1_REPORT => Ok(IgmpMessage::V1Report { group }),
            TYPE_V2_REPORT => Ok(IgmpMessage::V2Report { group }),
            TYPE_V2_LEAVE => Ok(IgmpMessage::V2Leave { group }),
            TYPE_V3_REPORT => {
                let count = usize::from(read_u16(bytes, 6)?);
                Ok(IgmpMessage::V3Report {
                    records: read_records(bytes, 8, count)?,
                })
            }
            other => Err(DecodeError::UnknownType(other)),
        }
    }

    /// Encode, with the checksum filled in. Lists longer than 65535 entries are truncated.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        match self {
            IgmpMessage::Query {
                max_resp_code,
                group,
                v3,
            } => {
                out.extend_from_slice(&[TYPE_QUERY, *max_resp_code, 0, 0]);
                group.write(&mut out);
                if let Some(v3) = v3 {
                    let nsrc = v3.sources.len().min(usize::from(u16::MAX));
                    out.push(u8::from(v3.suppress) << 3 | (v3.qrv & 0x07));
                    out.push(v3.qqic);
                    out.extend_from_slice(&(nsrc as u16).to_be_bytes());
                    for source in &v3.sources[..nsrc] {
                        source.write(&mut out);
                    }
                }
            }
            IgmpMessage::V1Report { group } => simple(&mut out, TYPE_V1_REPORT, *group),
            IgmpMessage::V2Report { group } => simple(&mut out, TYPE_V2_REPORT, *group),
            IgmpMessage::V2Leave { group } => simple(&mut out, TYPE_V2_LEAVE, *group),
            IgmpMessage::V3Report { records } => {
                let count = records.len().min(usize::from(u16::MAX));
                out.extend_from_slice(&[TYPE_V3_REPORT, 0, 0, 0, 0, 0]);
                out.extend_from_slice(&(count as u16).to_be_bytes());
                write_records(&mut out, &records[..count]);
            }
        }
        let checksum = internet_checksum(&out);
        out[2..4].copy_from_slice(&checksum.to_be_bytes());
        out
    }
}

fn simple(out: &mut Vec<u8>, kind: u8, group: Ipv4Addr) {
    out.extend_from_slice(&[kind, 0, 0, 0]);
    group.write(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::RecordType;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn v2_general_query_bytes() {
        // Linux's IGMPv2 general query: max resp 10 s = 100 tenths, group 0.
        #[rustfmt::skip]
        let bytes = [
            0x11, 0x64, 0xee, 0x9b, // type query, max resp 100, checksum
            0x00, 0x00, 0x00, 0x00, // group 0.0.0.0
        ];
        let msg = IgmpMessage::Query {
            max_resp_code: 100,
            group: Ipv4Addr::UNSPECIFIED,
            v3: None,
        };
        assert_eq!(msg.encode(), bytes);
        assert_eq!(IgmpMessage::decode(&bytes), Ok(msg));
    }

    #[test]
    fn v1_query_is_eight_bytes_with_zero_code() {
        let bytes = IgmpMessage::Query {
            max_resp_code: 0,
            group: ip("0.0.0.0"),
            v3: None,
        }
        .encode();
        assert_eq!(bytes, [0x11, 0, 0xee, 0xff, 0, 0, 0, 0]);
    }

    #[test]
    fn v3_group_and_source_query_bytes() {
        #[rustfmt::skip]
        let bytes = [
            0x11, 0x0a, 0xdf, 0x6e, // query, max resp 1 s, checksum
            0xef, 0x01, 0x02, 0x03, // group 239.1.2.3
            0x0a, 0x7d, 0x00, 0x02, // S=1 QRV=2, QQIC 125, 2 sources
            0x0a, 0x00, 0x00, 0x01, // 10.0.0.1
            0x0a, 0x00, 0x00, 0x02, // 10.0.0.2
        ];
        let msg = IgmpMessage::Query {
            max_resp_code: 10,
            group: ip("239.1.2.3"),
            v3: Some(QueryV3 {
                suppress: true,
                qrv: 2,
                qqic: 125,
                sources: vec![ip("10.0.0.1"), ip("10.0.0.2")],
            }),
        };
        assert_eq!(msg.encode(), bytes);
        assert_eq!(IgmpMessage::decode(&bytes), Ok(msg));
    }

    #[test]
    fn v2_report_and_leave_bytes() {
        let report = [0x16, 0x00, 0xf8, 0xfa, 0xef, 0x01, 0x02, 0x03];
        assert_eq!(
            IgmpMessage::decode(&report),
            Ok(IgmpMessage::V2Report {
                group: ip("239.1.2.3")
            })
        );
        assert_eq!(
            IgmpMessage::V2Report {
                group: ip("239.1.2.3")
            }
            .encode(),
            report
        );
        let leave = [0x17, 0x00, 0xf7, 0xfa, 0xef, 0x01, 0x02, 0x03];
        assert_eq!(
            IgmpMessage::decode(&leave),
            Ok(IgmpMessage::V2Leave {
                group: ip("239.1.2.3")
            })
        );
        let v1 = [0x12, 0x00, 0xfc, 0xfa, 0xef, 0x01, 0x02, 0x03];
        assert_eq!(
            IgmpMessage::decode(&v1),
            Ok(IgmpMessage::V1Report {
                group: ip("239.1.2.3")
            })
        );
    }

    #[test]
    fn v3_report_bytes_with_aux_data_skipped() {
        #[rustfmt::skip]
        let bytes = [
            0x22, 0x00, 0x59, 0x54, // v3 report, checksum
            0x00, 0x00, 0x00, 0x02, // reserved, 2 records
            0x01, 0x01, 0x00, 0x01, // IS_IN, 1 aux word, 1 source
            0xe8, 0x01, 0x01, 0x01, // group 232.1.1.1
            0x0a, 0x00, 0x00, 0x05, // source 10.0.0.5
            0xde, 0xad, 0xbe, 0xef, // aux data (skipped)
            0x04, 0x00, 0x00, 0x00, // TO_EX, no aux, 0 sources
            0xef, 0x00, 0x00, 0x01, // group 239.0.0.1
        ];
        let msg = IgmpMessage::decode(&bytes).unwrap();
        assert_eq!(
            msg,
            IgmpMessage::V3Report {
                records: vec![
                    GroupRecord {
                        kind: RecordType::IsInclude,
                        group: ip("232.1.1.1"),
                        sources: vec![ip("10.0.0.5")],
                    },
                    GroupRecord {
                        kind: RecordType::ToExclude,
                        group: ip("239.0.0.1"),
                        sources: vec![]
                    },
                ]
            }
        );
        // Re-encoding drops the aux data (and so changes the checksum), decoding gives the same.
        let again = msg.encode();
        assert_eq!(again.len(), bytes.len() - 4);
        assert_eq!(IgmpMessage::decode(&again), Ok(msg));
    }

    #[test]
    fn errors() {
        assert_eq!(
            IgmpMessage::decode(&[0x11, 0, 0]),
            Err(DecodeError::Truncated { needed: 8, have: 3 })
        );
        let mut bad = IgmpMessage::V2Report {
            group: ip("239.1.2.3"),
        }
        .encode();
        bad[7] ^= 1;
        assert_eq!(IgmpMessage::decode(&bad), Err(DecodeError::BadChecksum));
        // A 9-byte query fits no version (checksum made valid first).
        let mut nine = vec![0x11, 0x64, 0, 0, 0, 0, 0, 0, 0];
        let c = internet_checksum(&nine);
        nine[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(IgmpMessage::decode(&nine), Err(DecodeError::BadLength(9)));
        let mut unknown = vec![0x13, 0, 0, 0, 0, 0, 0, 0];
        let c = internet_checksum(&unknown);
        unknown[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            IgmpMessage::decode(&unknown),
            Err(DecodeError::UnknownType(0x13))
        );
        // A report announcing more records than present.
        let mut short = vec![0x22, 0, 0, 0, 0, 0, 0xff, 0xff];
        let c = internet_checksum(&short);
        short[2..4].copy_from_slice(&c.to_be_bytes());
        assert!(matches!(
            IgmpMessage::decode(&short),
            Err(DecodeError::Truncated { .. })
        ));
    }
}
