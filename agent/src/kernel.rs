//! The kernel side of the core task: one owner socket per family (`MRT_INIT`, receives the
//! upcalls, keeps `mc_forwarding` up) and one non-owner "programming" socket per family
//! through which every VIF and MFC entry is installed, so that the entries are
//! `VIFF_STATIC` / `MFC_STATIC` and survive a crash of mgmd (spec C.3, C.8; docs/agent.md).

use std::sync::Arc;

use mgm_core::{ErrorCode, Family, IfIndex, KernelOp, MgmError, VifIndex};
use netlink::dump::{mfc_dump, vif_dump};
use netlink::link::Rtnl;
use netlink::mrt::MrtSocket;
use tracing::{info, warn};

/// The sockets of one family.
pub(crate) struct FamilySockets {
    /// The owner (`MRT_INIT`); shared with the upcall reader task.
    pub owner: Arc<MrtSocket>,
    /// The non-owner socket that programs VIFs and MFCs.
    pub programmer: MrtSocket,
}

/// Both families' sockets; IPv6 is optional (a kernel without `CONFIG_IPV6_MROUTE`).
pub(crate) struct Kernel {
    pub v4: FamilySockets,
    pub v6: Option<FamilySockets>,
}

/// Why the kernel refused an operation.
#[derive(Debug)]
pub(crate) enum KernelError {
    /// The family has no multicast routing here.
    Unavailable(Family),
    /// The kernel said no.
    Netlink(netlink::Error),
}

impl KernelError {
    pub fn code(&self) -> ErrorCode {
        match self {
            KernelError::Unavailable(_) => ErrorCode::CanNotComplete,
            KernelError::Netlink(e) => e.code(),
        }
    }
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelError::Unavailable(family) => f.write_str(&unavailable(*family).message),
            KernelError::Netlink(e) => write!(f, "{e}"),
        }
    }
}

/// The error for requests in a family without multicast routing.
pub(crate) fn unavailable(family: Family) -> MgmError {
    let name = match family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    };
    MgmError::new(
        ErrorCode::CanNotComplete,
        format!("{name} multicast routing is not available"),
    )
}

impl Kernel {
    /// Open the owner and programming sockets of both families.
    ///
    /// # Errors
    ///
    /// Any IPv4 failure (notably [`netlink::Error::MrtInUse`]); IPv6 failures other than
    /// `MrtInUse` only disable IPv6 (logged).
    pub fn open(table: Option<u32>) -> Result<Kernel, netlink::Error> {
        let v4 = open_family(Family::Ipv4, table)?;
        let v6 = match open_family(Family::Ipv6, table) {
            Ok(sockets) => Some(sockets),
            Err(e @ netlink::Error::MrtInUse { .. }) => return Err(e),
            Err(e) => {
                warn!("IPv6 multicast routing is not available: {e}");
                None
            }
        };
        Ok(Kernel { v4, v6 })
    }

    /// The table of `family` (IPv4 and IPv6 defaults differ: 253 and 254).
    pub fn table(&self, family: Family) -> u32 {
        match family {
            Family::Ipv4 => self.v4.owner.table(),
            Family::Ipv6 => self.v6.as_ref().map_or(0, |s| s.owner.table()),
        }
    }

    pub fn available(&self, family: Family) -> bool {
        family == Family::Ipv4 || self.v6.is_some()
    }

    pub fn families(&self) -> Vec<Family> {
        [Family::Ipv4, Family::Ipv6]
            .into_iter()
            .filter(|f| self.available(*f))
            .collect()
    }

    fn sockets(&self, family: Family) -> Result<&FamilySockets, KernelError> {
        match family {
            Family::Ipv4 => Ok(&self.v4),
            Family::Ipv6 => self.v6.as_ref().ok_or(KernelError::Unavailable(family)),
        }
    }

    /// Apply one operation through the programming socket.
    pub fn apply(&self, op: &KernelOp) -> Result<(), KernelError> {
        let family = match op {
            KernelOp::AddMfe { family, .. }
            | KernelOp::AddVif { family, .. }
            | KernelOp::DelMfe { family, .. }
            | KernelOp::DelVif { family, .. } => *family,
        };
        self.sockets(family)?
            .programmer
            .apply(op)
            .map_err(KernelError::Netlink)
    }

    /// (family, table) of every available family, for the counter poller.
    pub fn tables(&self) -> Vec<(Family, u32)> {
        self.families()
            .into_iter()
            .map(|f| (f, self.table(f)))
            .collect()
    }

    /// The owner sockets, for the upcall readers.
    pub fn owners(&self) -> Vec<Arc<MrtSocket>> {
        std::iter::once(&self.v4)
            .chain(self.v6.as_ref())
            .map(|s| s.owner.clone())
            .collect()
    }

    /// Start-up reconciliation: the desired state is empty, so every VIF and MFC entry left in
    /// our table (by a previous mgmd that crashed, or by hand) is logged and deleted.
    pub async fn reconcile_at_start(&self, rtnl: &Rtnl) {
        for family in self.families() {
            let Ok(sockets) = self.sockets(family) else {
                continue;
            };
            let table = self.table(family);
            match mfc_dump(rtnl, family, table).await {
                Ok(entries) => {
                    for e in entries.iter().filter(|e| e.resolved) {
                        info!(
                            %family, source = %e.source, group = %e.group, iif = ?e.iif,
                            oifs = ?e.oifs, is_static = e.is_static,
                            "deleting leftover MFC entry from a previous run"
                        );
                        if let Err(err) = sockets.programmer.del_mfc(e.source, e.group) {
                            warn!(%family, source = %e.source, group = %e.group, "cannot delete leftover MFC entry: {err}");
                        }
                    }
                }
                Err(e) => warn!(%family, "cannot dump the MFC table: {e}"),
            }
            match vif_dump(rtnl, family, table).await {
                Ok(vifs) => {
                    for v in &vifs {
                        info!(
                            %family, vif = %v.vif, ifindex = %v.ifindex, flags = v.flags,
                            "deleting leftover VIF from a previous run"
                        );
                        if let Err(err) = sockets.programmer.del_vif(v.vif, v.ifindex) {
                            warn!(%family, vif = %v.vif, "cannot delete leftover VIF: {err}");
                        }
                    }
                }
                Err(e @ netlink::Error::Invalid(_)) if family == Family::Ipv6 => {
                    // The kernel cannot show MIFs of this table: delete every MIF number
                    // blindly (MRT6_DEL_MIF needs only the number; free ones just fail).
                    let deleted = (0..mgm_core::MAX_VIFS)
                        .filter(|v| sockets.programmer.del_vif(VifIndex(*v), IfIndex(0)).is_ok())
                        .count();
                    info!(%family, deleted, "leftover MIFs deleted blindly ({e})");
                }
                Err(e) => warn!(%family, "cannot check for leftover VIFs: {e}"),
            }
        }
    }

    /// `MRT_DONE` and close (after the readers are gone).
    pub fn close(self) {
        for sockets in std::iter::once(self.v4).chain(self.v6) {
            let family = sockets.programmer.family();
            drop(sockets.programmer);
            match Arc::try_unwrap(sockets.owner) {
                Ok(owner) => {
                    if let Err(e) = owner.close() {
                        warn!(%family, "MRT_DONE failed: {e}");
                    }
                }
                Err(_) => warn!(%family, "owner socket still shared at close; dropping it"),
            }
        }
    }
}

fn open_family(family: Family, table: Option<u32>) -> Result<FamilySockets, netlink::Error> {
    let owner = MrtSocket::open(family, table)?;
    // MRT_ASSERT: WRONGVIF upcalls (for the MGM wrong-interface callback) when a packet of an
    // installed flow arrives on one of its outgoing interfaces; the kernel rate-limits them.
    if let Err(e) = owner.set_assert(true) {
        warn!(%family, "MRT_ASSERT failed, no wrong_if callbacks: {e}");
    }
    let programmer = MrtSocket::open_static(family, table)?;
    Ok(FamilySockets {
        owner: Arc::new(owner),
        programmer,
    })
}
