//! The MGM error codes and the error type every request returns.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an MGM request was refused: the MGM codes (`winerror.h` names), closed so that clients
/// can switch on them. The IPC carries them by name (`"AlreadyExists"`).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// `ERROR_ALREADY_EXISTS` (183): duplicate registration, or the interface already has an
    /// owner of this kind.
    AlreadyExists,
    /// `ERROR_CAN_NOT_COMPLETE` (1003): well-formed but impossible now (deregistering while
    /// owning interfaces, the kernel refused).
    CanNotComplete,
    /// `ERROR_INVALID_PARAMETER` (87): unknown or stale handle, interface owned by another
    /// protocol, invalid address or mask.
    InvalidParameter,
    /// `ERROR_NOT_ENOUGH_MEMORY` (8): a bounded table is full (VIFs, MFEs, memberships).
    NotEnoughMemory,
    /// `ERROR_NOT_FOUND` (1168): no such interface, MFE or membership.
    NotFound,
}

impl ErrorCode {
    /// The Win32 value of the code, for clients that want the MGM numbers.
    pub fn win32(self) -> u32 {
        match self {
            ErrorCode::AlreadyExists => 183,
            ErrorCode::CanNotComplete => 1003,
            ErrorCode::InvalidParameter => 87,
            ErrorCode::NotEnoughMemory => 8,
            ErrorCode::NotFound => 1168,
        }
    }

    /// The code's name, as carried on the IPC.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AlreadyExists => "AlreadyExists",
            ErrorCode::CanNotComplete => "CanNotComplete",
            ErrorCode::InvalidParameter => "InvalidParameter",
            ErrorCode::NotEnoughMemory => "NotEnoughMemory",
            ErrorCode::NotFound => "NotFound",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: an MGM code plus a sentence for people ("interface 7 is not
/// multicast-capable").
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct MgmError {
    /// The MGM code.
    pub code: ErrorCode,
    /// What was wrong, for logs and operators.
    pub message: String,
}

impl MgmError {
    /// Build an error from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> MgmError {
        MgmError {
            code,
            message: message.into(),
        }
    }
}
