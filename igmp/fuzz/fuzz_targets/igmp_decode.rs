//! IGMP decoding never panics, and whatever decodes re-encodes to bytes that decode the same.
#![no_main]

use igmp::packet::igmp::IgmpMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = IgmpMessage::decode(data) {
        assert_eq!(IgmpMessage::decode(&message.encode()), Ok(message));
    }
});
