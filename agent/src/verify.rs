//! `verify`: the agent's desired kernel state against the kernel's own dump
//! (`RTM_GETROUTE` / `RTM_GETLINK` of the IPMR families, through `netlink::dump`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use mgm_core::{Family, IfIndex, VifIndex};
use netlink::dump::{mfc_dump, vif_dump, KernelMfe, KernelVif};
use netlink::link::Rtnl;
use serde_json::{json, Value};

/// What the core believes is installed in one family.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct FamilyState {
    /// VIF → interface.
    pub vifs: BTreeMap<VifIndex, IfIndex>,
    /// Installed (source, group) → (iif, oifs) as interfaces.
    pub mfes: BTreeMap<(IpAddr, IpAddr), (IfIndex, BTreeSet<IfIndex>)>,
}

/// The core's snapshot for `verify`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct Expected {
    /// Per available family: the table in use and the desired state.
    pub families: Vec<(Family, u32, FamilyState)>,
}

/// Dump the kernel and compare: `{clean, differences, notes}`. A table the kernel cannot
/// show (IPv6 MIFs of a non-default table) is a note, not a difference.
pub(crate) async fn run(rtnl: &Rtnl, expected: &Expected) -> Value {
    let mut differences = Vec::new();
    let mut notes = Vec::new();
    for (family, table, state) in &expected.families {
        let vifs = match vif_dump(rtnl, *family, *table).await {
            Ok(v) => Some(v),
            Err(e @ netlink::Error::Invalid(_)) => {
                notes.push(format!("{family}: VIFs not compared: {e}"));
                None
            }
            Err(e) => {
                differences.push(format!("{family}: cannot dump VIFs: {e}"));
                continue;
            }
        };
        let mfes = match mfc_dump(rtnl, *family, *table).await {
            Ok(m) => m,
            Err(e) => {
                differences.push(format!("{family}: cannot dump MFC entries: {e}"));
                continue;
            }
        };
        let mut found = compare(*family, state, vifs.as_deref().unwrap_or_default(), &mfes);
        if vifs.is_none() {
            found.retain(|d| !d.contains(" VIF "));
        }
        differences.extend(found);
    }
    json!({"clean": differences.is_empty(), "differences": differences, "notes": notes})
}

/// Differences between the desired state and the kernel's VIF and MFC tables of a family,
/// one sentence each. Unresolved kernel entries (packets queued while an upcall is pending)
/// are not compared.
pub(crate) fn compare(
    family: Family,
    state: &FamilyState,
    vifs: &[KernelVif],
    mfes: &[KernelMfe],
) -> Vec<String> {
    let mut out = Vec::new();
    let kernel_vifs: BTreeMap<VifIndex, IfIndex> =
        vifs.iter().map(|v| (v.vif, v.ifindex)).collect();
    for (vif, ifindex) in &state.vifs {
        match kernel_vifs.get(vif) {
            None => out.push(format!(
                "{family} VIF {vif} (ifindex {ifindex}) missing in the kernel"
            )),
            Some(k) if k != ifindex => out.push(format!(
                "{family} VIF {vif}: kernel has ifindex {k}, mgmd expects {ifindex}"
            )),
            Some(_) => {}
        }
    }
    for (vif, ifindex) in &kernel_vifs {
        if !state.vifs.contains_key(vif) {
            out.push(format!(
                "{family} VIF {vif} (ifindex {ifindex}) in the kernel is unknown to mgmd"
            ));
        }
    }
    let kernel_mfes: BTreeMap<(IpAddr, IpAddr), &KernelMfe> = mfes
        .iter()
        .filter(|m| m.resolved)
        .map(|m| ((m.source, m.group), m))
        .collect();
    for ((source, group), (iif, oifs)) in &state.mfes {
        let Some(k) = kernel_mfes.get(&(*source, *group)) else {
            out.push(format!("MFE ({source}, {group}) missing in the kernel"));
            continue;
        };
        if k.iif != Some(*iif) {
            out.push(format!(
                "MFE ({source}, {group}): kernel iif {:?}, mgmd expects ifindex {iif}",
                k.iif.map(|i| i.0)
            ));
        }
        let kernel_oifs: BTreeSet<IfIndex> = k.oifs.iter().map(|(i, _)| *i).collect();
        if &kernel_oifs != oifs {
            out.push(format!(
                "MFE ({source}, {group}): kernel oifs {:?}, mgmd expects {:?}",
                kernel_oifs.iter().map(|i| i.0).collect::<Vec<_>>(),
                oifs.iter().map(|i| i.0).collect::<Vec<_>>()
            ));
        }
    }
    for (source, group) in kernel_mfes.keys() {
        if !state.mfes.contains_key(&(*source, *group)) {
            out.push(format!(
                "MFE ({source}, {group}) in the kernel is unknown to mgmd"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use mgm_core::MfeCounters;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn vif(vif: u16, ifindex: u32) -> KernelVif {
        KernelVif {
            family: Family::Ipv4,
            table: 253,
            vif: VifIndex(vif),
            ifindex: IfIndex(ifindex),
            flags: 0x8008,
            is_static: true,
        }
    }

    fn mfe(source: &str, group: &str, iif: u32, oifs: &[u32], resolved: bool) -> KernelMfe {
        KernelMfe {
            family: Family::Ipv4,
            table: 253,
            source: ip(source),
            group: ip(group),
            iif: Some(IfIndex(iif)),
            oifs: oifs.iter().map(|i| (IfIndex(*i), 1)).collect(),
            counters: MfeCounters::default(),
            is_static: true,
            resolved,
        }
    }

    fn state() -> FamilyState {
        let mut s = FamilyState::default();
        s.vifs.insert(VifIndex(0), IfIndex(2));
        s.vifs.insert(VifIndex(1), IfIndex(3));
        s.mfes.insert(
            (ip("10.0.0.1"), ip("239.1.1.1")),
            (IfIndex(2), [IfIndex(3)].into_iter().collect()),
        );
        s
    }

    #[test]
    fn identical_is_clean() {
        let kernel_mfes = [
            mfe("10.0.0.1", "239.1.1.1", 2, &[3], true),
            mfe("10.0.0.9", "239.9.9.9", 2, &[], false),
        ];
        let d = compare(
            Family::Ipv4,
            &state(),
            &[vif(0, 2), vif(1, 3)],
            &kernel_mfes,
        );
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn every_kind_of_difference_is_reported() {
        let d = compare(
            Family::Ipv4,
            &state(),
            &[vif(0, 4), vif(7, 3)],
            &[
                mfe("10.0.0.1", "239.1.1.1", 3, &[2], true),
                mfe("10.0.0.2", "239.1.1.1", 2, &[3], true),
            ],
        );
        let text = d.join("\n");
        assert_eq!(d.len(), 6, "{text}");
        assert!(text.contains("VIF 0: kernel has ifindex 4"), "{text}");
        assert!(text.contains("VIF 1 (ifindex 3) missing"), "{text}");
        assert!(
            text.contains("VIF 7 (ifindex 3) in the kernel is unknown"),
            "{text}"
        );
        assert!(text.contains("kernel iif Some(3)"), "{text}");
        assert!(text.contains("kernel oifs [2]"), "{text}");
        assert!(
            text.contains("(10.0.0.2, 239.1.1.1) in the kernel is unknown"),
            "{text}"
        );
        let missing = compare(Family::Ipv4, &state(), &[vif(0, 2), vif(1, 3)], &[]);
        assert_eq!(missing, ["MFE (10.0.0.1, 239.1.1.1) missing in the kernel"]);
    }
}
