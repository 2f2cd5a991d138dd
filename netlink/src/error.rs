//! The crate's error type: one variant per kind of failure, the errno kept, and the one table
//! that maps kernel errors to MGM codes ([`Error::code`]).

use std::io;

use mgm_core::{ErrorCode, Family, MgmError};

/// A failed kernel operation.
///
/// Every variant that comes from a system call or a netlink answer keeps its errno
/// ([`Error::errno`]); [`Error::code`] turns it into an MGM code in one place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call on a socket failed (`setsockopt(MRT_ADD_VIF)`, `ioctl(SIOCGETSGCNT)`,
    /// `recvmsg`, ...). `op` names the call.
    #[error("{op} failed: {source}{}", hint(op, source))]
    Sys {
        /// The kernel verb, e.g. `"MRT_ADD_VIF"`.
        op: &'static str,
        /// The OS error, errno included.
        #[source]
        source: io::Error,
    },
    /// `MRT_INIT` / `MRT6_INIT` answered `EADDRINUSE`: another process owns the table.
    #[error(
        "another multicast router already owns the {} multicast routing table {table} in \
         network namespace {netns} ({}: EADDRINUSE); is pimd, smcroute, igmpproxy or another \
         mgmd running?",
        family_name(*family),
        init_name(*family)
    )]
    MrtInUse {
        /// Family of the socket.
        family: Family,
        /// Table id (when none was asked for: 253 = `RT_TABLE_DEFAULT` for IPv4, 254 for IPv6).
        table: u32,
        /// The network namespace: its `ip netns` name if it has one, else `net:[inode]`.
        netns: String,
    },
    /// A netlink request was refused by the kernel (`errno` set) or the connection failed.
    #[error("netlink {op} failed: {message}")]
    Netlink {
        /// The request, e.g. `"RTM_GETROUTE"`.
        op: &'static str,
        /// The errno of the kernel's `NLMSG_ERROR`, when there was one.
        errno: Option<i32>,
        /// What went wrong.
        message: String,
    },
    /// Bytes from the kernel could not be decoded (short or malformed message).
    #[error("could not decode {what}: {reason}")]
    Decode {
        /// What was being decoded, e.g. `"igmpmsg"`.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The caller passed something this operation cannot take (an address of the other
    /// family, a VIF number out of range, an unsupported table for a dump).
    #[error("invalid argument: {0}")]
    Invalid(String),
}

/// A sentence that tells an operator what a known kernel refusal means.
fn hint(op: &str, source: &io::Error) -> &'static str {
    let errno = source.raw_os_error().unwrap_or(0);
    match (op, errno) {
        ("MRT_INIT" | "MRT6_INIT", libc::EOPNOTSUPP | libc::ENOPROTOOPT) => {
            "; the kernel has no multicast routing (CONFIG_IP_MROUTE / CONFIG_IPV6_MROUTE)"
        }
        ("MRT_TABLE" | "MRT6_TABLE", libc::ENOPROTOOPT) => {
            "; the kernel has no multiple multicast routing tables \
             (CONFIG_IP_MROUTE_MULTIPLE_TABLES / CONFIG_IPV6_MROUTE_MULTIPLE_TABLES)"
        }
        ("MRT_PIM" | "MRT6_PIM", libc::ENOPROTOOPT) => {
            "; the kernel has no PIM support (CONFIG_IP_PIMSM_V2 / CONFIG_IPV6_PIMSM_V2)"
        }
        ("socket", libc::EPERM | libc::EACCES) => "; raw sockets need CAP_NET_RAW",
        (_, libc::EACCES) => "; a non-owner socket needs CAP_NET_ADMIN",
        ("MRT_ADD_VIF" | "MRT6_ADD_MIF", libc::ENFILE) => "; VIF numbers go from 0 to 31",
        ("MRT_ADD_VIF" | "MRT6_ADD_MIF", libc::EADDRINUSE) => "; that VIF number is taken",
        _ => "",
    }
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

fn init_name(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "MRT_INIT",
        Family::Ipv6 => "MRT6_INIT",
    }
}

impl Error {
    /// Build [`Error::Sys`] from `op` and an OS error.
    pub(crate) fn sys(op: &'static str, source: io::Error) -> Error {
        Error::Sys { op, source }
    }

    /// Build [`Error::Sys`] from `op` and the calling thread's last OS error.
    #[allow(dead_code)]
    pub(crate) fn last_os(op: &'static str) -> Error {
        Error::Sys {
            op,
            source: io::Error::last_os_error(),
        }
    }

    /// The errno behind this error, if it came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Sys { source, .. } => source.raw_os_error(),
            Error::MrtInUse { .. } => Some(libc::EADDRINUSE),
            Error::Netlink { errno, .. } => *errno,
            Error::Decode { .. } => None,
            Error::Invalid(_) => Some(libc::EINVAL),
        }
    }

    /// The MGM code of this error: the one mapping table of the project.
    ///
    /// | errno | code |
    /// | --- | --- |
    /// | `EEXIST`, `EADDRINUSE` | `AlreadyExists` |
    /// | `EINVAL`, `ENODEV`, `ENXIO`, `EADDRNOTAVAIL` | `InvalidParameter` |
    /// | `ENOBUFS`, `ENOMEM`, `ENFILE` | `NotEnoughMemory` |
    /// | anything else, or none | `CanNotComplete` |
    pub fn code(&self) -> ErrorCode {
        match self.errno() {
            Some(errno) => code_of_errno(errno),
            None => ErrorCode::CanNotComplete,
        }
    }
}

/// Map an errno to an MGM code (see [`Error::code`]).
pub fn code_of_errno(errno: i32) -> ErrorCode {
    match errno {
        libc::EEXIST | libc::EADDRINUSE => ErrorCode::AlreadyExists,
        libc::EINVAL | libc::ENODEV | libc::ENXIO | libc::EADDRNOTAVAIL => {
            ErrorCode::InvalidParameter
        }
        libc::ENOBUFS | libc::ENOMEM | libc::ENFILE => ErrorCode::NotEnoughMemory,
        _ => ErrorCode::CanNotComplete,
    }
}

impl From<&Error> for MgmError {
    fn from(error: &Error) -> MgmError {
        MgmError::new(error.code(), error.to_string())
    }
}

impl From<Error> for MgmError {
    fn from(error: Error) -> MgmError {
        MgmError::from(&error)
    }
}

/// Convert an rtnetlink error, keeping the errno of an `NLMSG_ERROR` answer.
pub(crate) fn from_rtnetlink(op: &'static str, error: rtnetlink::Error) -> Error {
    match error {
        rtnetlink::Error::NetlinkError(message) => {
            let errno = message.code.map(|code| code.get().abs());
            let text = match errno {
                Some(e) => io::Error::from_raw_os_error(e).to_string(),
                None => "unexpected acknowledgement".to_owned(),
            };
            Error::Netlink {
                op,
                errno,
                message: text,
            }
        }
        other => Error::Netlink {
            op,
            errno: None,
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_table() {
        let table = [
            (libc::EEXIST, ErrorCode::AlreadyExists),
            (libc::EADDRINUSE, ErrorCode::AlreadyExists),
            (libc::EINVAL, ErrorCode::InvalidParameter),
            (libc::ENODEV, ErrorCode::InvalidParameter),
            (libc::ENXIO, ErrorCode::InvalidParameter),
            (libc::EADDRNOTAVAIL, ErrorCode::InvalidParameter),
            (libc::ENOBUFS, ErrorCode::NotEnoughMemory),
            (libc::ENOMEM, ErrorCode::NotEnoughMemory),
            (libc::ENFILE, ErrorCode::NotEnoughMemory),
            (libc::EPERM, ErrorCode::CanNotComplete),
            (libc::EACCES, ErrorCode::CanNotComplete),
            (libc::ENOPROTOOPT, ErrorCode::CanNotComplete),
        ];
        for (errno, code) in table {
            let error = Error::sys("MRT_ADD_VIF", io::Error::from_raw_os_error(errno));
            assert_eq!(error.errno(), Some(errno));
            assert_eq!(error.code(), code, "errno {errno}");
            assert_eq!(MgmError::from(&error).code, code);
        }
        let decode = Error::Decode {
            what: "igmpmsg",
            reason: "short".into(),
        };
        assert_eq!(decode.errno(), None);
        assert_eq!(decode.code(), ErrorCode::CanNotComplete);
    }

    #[test]
    fn mrt_in_use_message() {
        let error = Error::MrtInUse {
            family: Family::Ipv4,
            table: 253,
            netns: "X".into(),
        };
        assert_eq!(
            error.to_string(),
            "another multicast router already owns the IPv4 multicast routing table 253 in \
             network namespace X (MRT_INIT: EADDRINUSE); is pimd, smcroute, igmpproxy or \
             another mgmd running?"
        );
        assert_eq!(error.code(), ErrorCode::AlreadyExists);
        assert_eq!(error.errno(), Some(libc::EADDRINUSE));
        let v6 = Error::MrtInUse {
            family: Family::Ipv6,
            table: 7,
            netns: "n".into(),
        };
        assert!(v6.to_string().contains("IPv6 multicast routing table 7"));
        assert!(v6.to_string().contains("MRT6_INIT: EADDRINUSE"));
    }

    #[test]
    fn hints_name_the_kernel_option() {
        let e = Error::sys("MRT_TABLE", io::Error::from_raw_os_error(libc::ENOPROTOOPT));
        assert!(
            e.to_string().contains("CONFIG_IP_MROUTE_MULTIPLE_TABLES"),
            "{e}"
        );
        let e = Error::sys(
            "MRT_ADD_VIF",
            io::Error::from_raw_os_error(libc::EADDRINUSE),
        );
        assert!(e.to_string().starts_with("MRT_ADD_VIF failed: "), "{e}");
        assert!(e.to_string().ends_with("that VIF number is taken"), "{e}");
        let e = Error::sys("MRT_DEL_MFC", io::Error::from_raw_os_error(libc::ENOENT));
        assert!(!e.to_string().contains(';'), "{e}");
    }

    #[test]
    fn rtnetlink_errno_kept() {
        let mut message = netlink_packet_core::ErrorMessage::default();
        message.code = std::num::NonZeroI32::new(-libc::ENETUNREACH);
        let error = from_rtnetlink("RTM_GETROUTE", rtnetlink::Error::NetlinkError(message));
        assert_eq!(error.errno(), Some(libc::ENETUNREACH));
        assert_eq!(error.code(), ErrorCode::CanNotComplete);
    }
}
