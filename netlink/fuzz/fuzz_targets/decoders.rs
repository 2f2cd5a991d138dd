//! `cargo +nightly fuzz run decoders` (from netlink/): every decoder of bytes that come from
//! the kernel must return, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mgm_core::Family;

fuzz_target!(|data: &[u8]| {
    let _ = netlink::upcall::decode_v4(data);
    let _ = netlink::upcall::decode_v6(data);
    let _ = netlink::upcall::hop_by_hop_has_router_alert(data);
    let _ = netlink::upcall::ipv4_options_have_router_alert(data);
    let _ = netlink::dump::parse_ipmr_link(data);
    let family = if data.first().is_some_and(|b| b & 1 == 1) { Family::Ipv6 } else { Family::Ipv4 };
    let _ = netlink::dump::parse_proc_vifs(family, &String::from_utf8_lossy(data));
});
