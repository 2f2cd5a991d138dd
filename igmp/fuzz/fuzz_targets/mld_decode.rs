//! MLD decoding never panics, and whatever decodes re-encodes to bytes that decode the same.
#![no_main]

use igmp::packet::mld::MldMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = MldMessage::decode(data) {
        assert_eq!(MldMessage::decode(&message.encode()), Ok(message));
    }
});
