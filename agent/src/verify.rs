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

/// Dump the kernel and compare: `{clean, differences}`.
pub(crate) async fn run(rtnl: &Rtnl, expected: &Expected) -> Value {
    let mut differences = Vec::new();
    for (family, table, state) in &expected.families {
        let vifs = match vif_dump(rtnl, *family, *table).await {
            Ok(v) => v,
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
        differences.extend(compare(*family, state, &vifs, &mfes));
    }
    json!({"clean": differences.is_empty(), "differences": differences})
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
