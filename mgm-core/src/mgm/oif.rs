//! Outgoing-list changes of MFEs: one pass over the MFEs a membership shapes, with the kernel
//! update and the MFE-level join / prune alerts.

use super::*;

/// Split borrows of the tables an outgoing-list change touches (see `Mgm::split`).
pub(super) struct OifCtx<'a> {
    pub(super) interfaces: &'a BTreeMap<IfIndex, Interface>,
    pub(super) owners: &'a BTreeMap<InterfaceKey, Owners>,
    pub(super) protocols: &'a BTreeMap<ProtocolHandle, Protocol>,
    pub(super) scopes: &'a BTreeMap<SourceGroup, ScopeMembers>,
    pub(super) queries: &'a mut BTreeMap<QueryId, Query>,
    pub(super) next_query: &'a mut u64,
    pub(super) actions: &'a mut VecDeque<Action>,
}

pub(super) fn vif_of_key(
    interfaces: &BTreeMap<IfIndex, Interface>,
    key: InterfaceKey,
) -> Option<VifIndex> {
    interfaces
        .get(&key.ifindex)
        .and_then(|i| i.vif[family_index(key.family())])
}

/// The outgoing VIFs of `m` as the kernel sees them.
pub(super) fn kernel_oifs(
    interfaces: &BTreeMap<IfIndex, Interface>,
    family: Family,
    m: &Mfe,
) -> VifSet {
    let mut set = VifSet::EMPTY;
    for k in m.oifs.iter().filter(|k| k.family() == family) {
        if let Some(v) = vif_of_key(interfaces, *k) {
            set.insert(v);
        }
    }
    set
}

pub(super) fn add_mfe_op(
    interfaces: &BTreeMap<IfIndex, Interface>,
    mk: MfeKey,
    m: &Mfe,
) -> Option<KernelOp> {
    Some(KernelOp::AddMfe {
        family: mk.0,
        source: mk.2,
        group: mk.1,
        iif: vif_of_key(interfaces, m.iif)?,
        oifs: kernel_oifs(interfaces, mk.0, m),
    })
}

pub(super) fn sg_scope(mk: MfeKey) -> SourceGroup {
    SourceGroup {
        family: mk.0,
        source: Some(mk.2),
        group: Some(mk.1),
    }
}

impl OifCtx<'_> {
    fn owner_of(&self, iface: InterfaceKey) -> Option<ProtocolHandle> {
        self.owners.get(&iface).and_then(|o| o.routing.or(o.igmp))
    }

    fn handles(&self, protocol: ProtocolHandle, callback: Callback) -> bool {
        self.protocols
            .get(&protocol)
            .is_some_and(|p| p.callbacks.contains(callback))
    }

    /// Whether some membership or a FORWARD_STATE force still puts `iface` in `m`'s list.
    fn covered(&self, mk: MfeKey, m: &Mfe, iface: InterfaceKey) -> bool {
        let (f, g, s) = mk;
        let scopes = [
            SourceGroup {
                family: f,
                source: Some(s),
                group: Some(g),
            },
            SourceGroup {
                family: f,
                source: None,
                group: Some(g),
            },
            SourceGroup::star_star(f),
        ];
        scopes.iter().any(|sc| {
            self.scopes
                .get(sc)
                .is_some_and(|e| e.keys.contains_key(&iface))
        }) || m
            .forced
            .range((iface, ProtocolHandle(0))..=(iface, ProtocolHandle(u32::MAX)))
            .next()
            .is_some()
    }

    /// Add `iface` to `m`'s list (unless on the iif's link or disabled), or remove it when no
    /// membership or force covers it any more; then update the kernel and alert.
    pub(super) fn change(&mut self, mk: MfeKey, m: &mut Mfe, iface: InterfaceKey, add: bool) {
        if add {
            if iface.ifindex == m.iif.ifindex
                || m.disabled.contains(&iface)
                || m.oifs.contains(&iface)
            {
                return;
            }
        } else if !m.oifs.contains(&iface) || self.covered(mk, m, iface) {
            return;
        }
        let before = kernel_oifs(self.interfaces, mk.0, m);
        if add {
            m.oifs.insert(iface);
        } else {
            m.oifs.remove(&iface);
        }
        if m.stage != Stage::Installed {
            return;
        }
        let after = kernel_oifs(self.interfaces, mk.0, m);
        if after == before {
            return;
        }
        if let Some(op) = add_mfe_op(self.interfaces, mk, m) {
            self.actions.push_back(Action::Kernel(op));
        }
        // MGM: an MFE's list going empty <-> non-empty alerts the iif owner (spec 5.7).
        if before.is_empty() && !after.is_empty() {
            if let Some(owner) = self
                .owner_of(m.iif)
                .filter(|o| self.handles(*o, Callback::JoinAlert))
            {
                self.actions.push_back(Action::Notify {
                    protocol: owner,
                    notification: Notification::JoinAlert {
                        scope: sg_scope(mk),
                        member_update: false,
                    },
                });
            }
        } else if !before.is_empty() && after.is_empty() {
            self.negative_prune_alert(mk, m);
        }
    }

    /// Tell the iif owner that `m` forwards nowhere; it may answer with a cache timeout.
    pub(super) fn negative_prune_alert(&mut self, mk: MfeKey, m: &mut Mfe) {
        let Some(owner) = self
            .owner_of(m.iif)
            .filter(|o| self.handles(*o, Callback::PruneAlert))
        else {
            return;
        };
        let query = QueryId(*self.next_query);
        *self.next_query = self.next_query.wrapping_add(1);
        self.queries.insert(
            query,
            Query {
                protocol: owner,
                mfe: mk,
                kind: QueryKind::Prune,
            },
        );
        if let Some(old) = m.prune_query.replace(query) {
            self.queries.remove(&old);
        }
        self.actions.push_back(Action::Notify {
            protocol: owner,
            notification: Notification::PruneAlert {
                query: Some(query),
                scope: sg_scope(mk),
                iface: Some(m.iif),
                member_delete: false,
                timeout: m.timeout_secs,
            },
        });
    }
}
