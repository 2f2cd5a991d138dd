//! What the MRT tests share beyond the namespace harness (`testns`).

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::time::Duration;

use mgm_core::Upcall;
use netlink::mrt::{MrtMessage, MrtSocket};
use tokio::time::timeout;

/// Read until an upcall arrives; IGMP / MLD packets read meanwhile are collected in `packets`.
pub async fn next_upcall(sock: &MrtSocket, packets: &mut Vec<MrtMessage>) -> Upcall {
    loop {
        let message = timeout(Duration::from_secs(5), sock.recv())
            .await
            .expect("no upcall within 5 s")
            .expect("recv");
        match message {
            MrtMessage::Upcall(upcall) => return upcall,
            packet => packets.push(packet),
        }
    }
}

/// Hex form of an IPv4 address in `/proc/net/ip_mr_cache` (the `__be32` printed with `%08X`
/// on a little-endian host).
pub fn proc_hex(addr: Ipv4Addr) -> String {
    format!("{:08X}", u32::from_ne_bytes(addr.octets()))
}
