//! The internal rules of [`Mgm`]: validation helpers, membership records and the alert
//! recipient rules, the MFE life cycle, ownership changes.

use super::oif::{add_mfe_op, OifCtx};
use super::*;

impl Mgm {
    pub(super) fn protocol_ref(&self, protocol: ProtocolHandle) -> Result<&Protocol, MgmError> {
        self.protocols
            .get(&protocol)
            .ok_or_else(|| invalid(format!("unknown or stale protocol handle {protocol}")))
    }

    pub(super) fn handles(&self, protocol: ProtocolHandle, callback: Callback) -> bool {
        self.protocols
            .get(&protocol)
            .is_some_and(|p| p.callbacks.contains(callback))
    }

    pub(super) fn is_igmp(&self, protocol: ProtocolHandle) -> bool {
        self.protocols
            .get(&protocol)
            .is_some_and(|p| p.id.is_igmp())
    }

    /// Queue `notification` for `protocol` if it handles that callback.
    pub(super) fn notify(&mut self, protocol: ProtocolHandle, notification: Notification) {
        let callback = match &notification {
            Notification::CreationAlert { .. } => Callback::CreationAlert,
            Notification::DisableIgmp { .. } => Callback::DisableIgmp,
            Notification::EnableIgmp { .. } => Callback::EnableIgmp,
            Notification::InterfaceDeleted { .. } => Callback::InterfaceDeleted,
            Notification::JoinAlert { .. } => Callback::JoinAlert,
            Notification::LocalJoin { .. } => Callback::LocalJoin,
            Notification::LocalLeave { .. } => Callback::LocalLeave,
            Notification::PruneAlert { .. } => Callback::PruneAlert,
            Notification::Rpf { .. } => Callback::Rpf,
            Notification::WrongIf { .. } => Callback::WrongIf,
        };
        if self.handles(protocol, callback) {
            self.push_notify(protocol, notification);
        }
    }

    pub(super) fn push_notify(&mut self, protocol: ProtocolHandle, notification: Notification) {
        self.actions.push_back(Action::Notify {
            protocol,
            notification,
        });
    }

    /// The protocol answering for `iface`: its routing owner, else its IGMP owner.
    pub(super) fn owner_of(&self, iface: InterfaceKey) -> Option<ProtocolHandle> {
        self.owners.get(&iface).and_then(|o| o.routing.or(o.igmp))
    }

    /// Owned keys of `ifindex` (of `family`, or both), with their owners.
    pub(super) fn keys_on(
        &self,
        ifindex: IfIndex,
        family: Option<Family>,
    ) -> Vec<(InterfaceKey, Owners)> {
        let lo = InterfaceKey {
            ifindex,
            next_hop: Family::Ipv4.unspecified(),
        };
        let hi = InterfaceKey {
            ifindex,
            next_hop: max_addr(Family::Ipv6),
        };
        self.owners
            .range(lo..=hi)
            .filter(|(k, _)| family.is_none_or(|f| k.family() == f))
            .map(|(k, o)| (*k, *o))
            .collect()
    }

    /// The owned key of (ifindex, family) that traffic through `hint` belongs to: (ifindex,
    /// hint) if owned, else the whole link if owned, else the lowest owned key.
    pub(super) fn owned_key_for(
        &self,
        ifindex: IfIndex,
        family: Family,
        hint: Option<IpAddr>,
    ) -> Option<InterfaceKey> {
        if let Some(h) = hint.filter(|h| Family::of(*h) == family) {
            let key = InterfaceKey {
                ifindex,
                next_hop: h,
            };
            if self.owners.contains_key(&key) {
                return Some(key);
            }
        }
        let link = InterfaceKey::link(ifindex, family);
        if self.owners.contains_key(&link) {
            return Some(link);
        }
        self.keys_on(ifindex, Some(family)).first().map(|(k, _)| *k)
    }

    pub(super) fn allocate_vif(
        &mut self,
        ifindex: IfIndex,
        family: Family,
    ) -> Result<VifIndex, MgmError> {
        let fi = family_index(family);
        let Some(slot) = self.vifs[fi].iter().position(Option::is_none) else {
            return Err(MgmError::new(
                ErrorCode::NotEnoughMemory,
                format!("all {} {family} VIFs are in use", self.config.max_vifs),
            ));
        };
        let vif = VifIndex(u16::try_from(slot).unwrap_or(u16::MAX));
        self.vifs[fi][slot] = Some(ifindex);
        if let Some(intf) = self.interfaces.get_mut(&ifindex) {
            intf.vif[fi] = Some(vif);
        }
        Ok(vif)
    }

    /// Free the VIF of (ifindex, family) when no key of it is owned any more.
    pub(super) fn free_vif_if_unused(&mut self, ifindex: IfIndex, family: Family) {
        if !self.keys_on(ifindex, Some(family)).is_empty() {
            return;
        }
        let fi = family_index(family);
        let Some(vif) = self
            .interfaces
            .get_mut(&ifindex)
            .and_then(|i| i.vif[fi].take())
        else {
            return;
        };
        if let Some(slot) = self.vifs[fi].get_mut(usize::from(vif.0)) {
            *slot = None;
        }
        self.actions.push_back(Action::Kernel(KernelOp::DelVif {
            family,
            vif,
            ifindex,
        }));
    }

    /// Validation shared by add and delete membership. Returns the (S,G) MFE a
    /// FORWARD_STATE request applies to, if it exists.
    pub(super) fn check_membership_request(
        &self,
        protocol: ProtocolHandle,
        scope: SourceGroup,
        iface: InterfaceKey,
        flags: MembershipFlags,
    ) -> Result<Option<MfeKey>, MgmError> {
        self.protocol_ref(protocol)?;
        if iface.family() != scope.family {
            return Err(invalid(format!(
                "{iface} is not an {} interface key (scope {scope})",
                scope.family
            )));
        }
        if !self.interfaces.contains_key(&iface.ifindex) {
            return Err(not_found(format!(
                "interface {} does not exist",
                iface.ifindex
            )));
        }
        let owners = self.owners(iface);
        if owners.routing != Some(protocol) && owners.igmp != Some(protocol) {
            return Err(invalid(match owners.routing.or(owners.igmp) {
                Some(other) => format!("{iface} is owned by protocol {other}, not {protocol}"),
                None => format!("protocol {protocol} does not own {iface}"),
            }));
        }
        if !flags.join_state() && !flags.forward_state() {
            return Err(invalid(format!(
                "flags {:#x}: set JOIN_STATE (0x1) and/or FORWARD_STATE (0x2)",
                flags.0
            )));
        }
        if !flags.forward_state() {
            return Ok(None);
        }
        let (Some(source), Some(group)) = (scope.source, scope.group) else {
            return Err(invalid(format!(
                "FORWARD_STATE needs an (S,G) scope, not {scope}"
            )));
        };
        let mk = (scope.family, group, source);
        Ok(self.mfes.contains_key(&mk).then_some(mk))
    }

    pub(super) fn check_answer(
        &self,
        protocol: ProtocolHandle,
        query: QueryId,
        kind: impl Fn(&QueryKind) -> bool,
    ) -> Result<MfeKey, MgmError> {
        self.protocol_ref(protocol)?;
        let q = self
            .queries
            .get(&query)
            .ok_or_else(|| not_found(format!("unknown or expired query {}", query.0)))?;
        if q.protocol != protocol {
            return Err(invalid(format!(
                "query {} was not asked to protocol {protocol}",
                query.0
            )));
        }
        if !kind(&q.kind) {
            return Err(invalid(format!("query {} is of another kind", query.0)));
        }
        if !self.mfes.contains_key(&q.mfe) {
            return Err(not_found(format!(
                "the forwarding entry of query {} is gone",
                query.0
            )));
        }
        Ok(q.mfe)
    }

    pub(super) fn new_query(
        &mut self,
        protocol: ProtocolHandle,
        mfe: MfeKey,
        kind: QueryKind,
    ) -> QueryId {
        let id = QueryId(self.next_query);
        self.next_query = self.next_query.wrapping_add(1);
        self.queries.insert(
            id,
            Query {
                protocol,
                mfe,
                kind,
            },
        );
        id
    }

    // ----- memberships -----

    /// The protocol owning the RPF interface toward the source of an (S,G) scope.
    pub(super) fn rpf_owner(
        &self,
        scope: SourceGroup,
        rpf: Option<&Route>,
    ) -> Option<ProtocolHandle> {
        let (source, group) = (scope.source?, scope.group?);
        if let Some(m) = self.mfes.get(&(scope.family, group, source)) {
            return self.owner_of(m.iif);
        }
        let owner = rpf
            .and_then(|r| self.owned_key_for(r.ifindex, scope.family, r.gateway))
            .and_then(|k| self.owner_of(k));
        if owner.is_none() {
            debug!(%scope, "no RPF interface owner known, (S,G) alert not sent");
        }
        owner
    }

    /// Send a join or prune alert with `bMemberUpdate` / `bMemberDelete` true to the MGM
    /// recipients (spec 3.3, 3.4, 5.8). (S,G): only the owner of the RPF interface toward S, when
    /// the scope's first membership appears or its last goes (`scope_changed`). (*,G) and (*,*):
    /// when a protocol's first record appears or its last goes (`protocol_changed`), every other
    /// registered protocol if no `peers` (other protocols with records) exist, the single peer
    /// if there is exactly one, nobody from the third on. `cause` filters out the protocol whose
    /// request caused the alert.
    #[allow(clippy::too_many_arguments)]
    fn send_membership_alert(
        &mut self,
        scope: SourceGroup,
        rpf: Option<&Route>,
        scope_changed: bool,
        protocol_changed: bool,
        peers: &[ProtocolHandle],
        cause: impl Fn(&ProtocolHandle) -> bool,
        alert: Notification,
    ) {
        if scope.source.is_some() {
            if scope_changed {
                if let Some(owner) = self.rpf_owner(scope, rpf).filter(|p| cause(p)) {
                    self.notify(owner, alert);
                }
            }
        } else if protocol_changed {
            match peers {
                [] => {
                    let all: Vec<ProtocolHandle> = self
                        .protocols
                        .keys()
                        .copied()
                        .filter(|p| cause(p))
                        .collect();
                    for p in all {
                        self.notify(p, alert.clone());
                    }
                }
                [peer] if cause(peer) => self.notify(*peer, alert),
                _ => {}
            }
        }
    }

    pub(super) fn insert_membership(
        &mut self,
        _now: Instant,
        protocol: ProtocolHandle,
        iface: InterfaceKey,
        scope: SourceGroup,
        rpf: Option<&Route>,
    ) {
        let is_igmp = self.is_igmp(protocol);
        let routing_owner = self.owners(iface).routing.filter(|o| *o != protocol);
        // MGM: IGMP on an interface a routing protocol owns speaks through that owner (local
        // join); only on an IGMP-only interface does IGMP count as a client of its own (5.1).
        let identity = if is_igmp {
            routing_owner.unwrap_or(protocol)
        } else {
            protocol
        };
        self.records.insert((protocol, iface, scope), identity);
        let entry = self.scopes.entry(scope).or_default();
        let scope_was_empty = entry.keys.is_empty();
        let records = entry.by_protocol.entry(identity).or_insert(0);
        *records += 1;
        let protocol_first = *records == 1;
        let count = entry.keys.entry(iface).or_insert(0);
        *count += 1;
        let key_first = *count == 1;
        let others: Vec<ProtocolHandle> = entry
            .by_protocol
            .keys()
            .copied()
            .filter(|p| *p != identity)
            .collect();

        // MGM join-alert recipients (spec 3.4, 5.8).
        let alert = Notification::JoinAlert {
            scope,
            member_update: true,
        };
        let cause = |p: &ProtocolHandle| *p != protocol && *p != identity;
        self.send_membership_alert(
            scope,
            rpf,
            scope_was_empty,
            protocol_first,
            &others,
            cause,
            alert,
        );
        // MGM: IGMP joins on a routing-owned interface -> local join to the owner.
        if let (true, Some(owner)) = (is_igmp, routing_owner) {
            self.notify(owner, Notification::LocalJoin { scope, iface });
        }
        if key_first {
            self.update_matching(scope, iface, true);
        }
    }

    pub(super) fn remove_membership(
        &mut self,
        _now: Instant,
        protocol: ProtocolHandle,
        iface: InterfaceKey,
        scope: SourceGroup,
        rpf: Option<&Route>,
        local_alerts: bool,
    ) {
        let Some(identity) = self.records.remove(&(protocol, iface, scope)) else {
            return;
        };
        let Some(entry) = self.scopes.get_mut(&scope) else {
            return;
        };
        let mut protocol_last = false;
        if let Some(records) = entry.by_protocol.get_mut(&identity) {
            *records = records.saturating_sub(1);
            if *records == 0 {
                entry.by_protocol.remove(&identity);
                protocol_last = true;
            }
        }
        let mut key_last = false;
        if let Some(count) = entry.keys.get_mut(&iface) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                entry.keys.remove(&iface);
                key_last = true;
            }
        }
        let scope_empty = entry.keys.is_empty();
        let remaining: Vec<ProtocolHandle> = entry.by_protocol.keys().copied().collect();
        if scope_empty {
            self.scopes.remove(&scope);
        }

        // MGM prune-alert recipients (spec 3.3, 5.8).
        let timeout = u32::try_from(self.config.mfe_timeout.as_secs()).unwrap_or(u32::MAX);
        let alert = Notification::PruneAlert {
            query: None,
            scope,
            iface: Some(iface),
            member_delete: true,
            timeout,
        };
        let cause = |p: &ProtocolHandle| *p != protocol && *p != identity;
        self.send_membership_alert(
            scope,
            rpf,
            scope_empty,
            protocol_last,
            &remaining,
            cause,
            alert,
        );
        if local_alerts && self.is_igmp(protocol) {
            if let Some(owner) = self.owners(iface).routing.filter(|o| *o != protocol) {
                self.notify(owner, Notification::LocalLeave { scope, iface });
            }
        }
        if key_last {
            self.update_matching(scope, iface, false);
        }
    }

    /// Drop every membership `protocol` has on `iface`.
    pub(super) fn drop_memberships_of(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        iface: InterfaceKey,
        local_alerts: bool,
    ) {
        let lo = SourceGroup::star_star(Family::Ipv4);
        let hi = SourceGroup {
            family: Family::Ipv6,
            source: Some(max_addr(Family::Ipv6)),
            group: Some(max_addr(Family::Ipv6)),
        };
        let scopes: Vec<SourceGroup> = self
            .records
            .range((protocol, iface, lo)..=(protocol, iface, hi))
            .map(|(r, _)| r.2)
            .collect();
        for scope in scopes {
            self.remove_membership(now, protocol, iface, scope, None, local_alerts);
        }
    }

    /// The range of MFE keys a membership of `scope` shapes.
    pub(super) fn mfe_range(scope: SourceGroup) -> (Bound<MfeKey>, Bound<MfeKey>) {
        let f = scope.family;
        let (lo, hi) = match (scope.source, scope.group) {
            (Some(s), Some(g)) => ((f, g, s), (f, g, s)),
            (None, Some(g)) => ((f, g, f.unspecified()), (f, g, max_addr(f))),
            _ => (
                (f, f.unspecified(), f.unspecified()),
                (f, max_addr(f), max_addr(f)),
            ),
        };
        (Bound::Included(lo), Bound::Included(hi))
    }

    /// The keys of the MFEs a membership of `scope` shapes.
    pub(super) fn matching_mfes(&self, scope: SourceGroup) -> Vec<MfeKey> {
        self.mfe_order
            .range(Mgm::mfe_range(scope))
            .copied()
            .collect()
    }

    /// The MFE table and the tables an outgoing-list change reads or writes, borrowed apart so
    /// that a (*,G) or (*,*) change runs over its range of MFEs in one pass.
    pub(super) fn split(&mut self) -> (&mut HashMap<MfeKey, Mfe>, &BTreeSet<MfeKey>, OifCtx<'_>) {
        (
            &mut self.mfes,
            &self.mfe_order,
            OifCtx {
                interfaces: &self.interfaces,
                owners: &self.owners,
                protocols: &self.protocols,
                scopes: &self.scopes,
                queries: &mut self.queries,
                next_query: &mut self.next_query,
                actions: &mut self.actions,
            },
        )
    }

    /// Add (`add`) or remove `iface` in every MFE a membership of `scope` shapes. Cost:
    /// O(log n + MFEs in range).
    pub(super) fn update_matching(&mut self, scope: SourceGroup, iface: InterfaceKey, add: bool) {
        let (mfes, order, mut ctx) = self.split();
        for mk in order.range(Mgm::mfe_range(scope)) {
            if let Some(m) = mfes.get_mut(mk) {
                ctx.change(*mk, m, iface, add);
            }
        }
    }

    pub(super) fn add_oif(&mut self, mk: MfeKey, iface: InterfaceKey) {
        let (mfes, _, mut ctx) = self.split();
        if let Some(m) = mfes.get_mut(&mk) {
            ctx.change(mk, m, iface, true);
        }
    }

    pub(super) fn remove_oif_if_uncovered(&mut self, mk: MfeKey, iface: InterfaceKey) {
        let (mfes, _, mut ctx) = self.split();
        if let Some(m) = mfes.get_mut(&mk) {
            ctx.change(mk, m, iface, false);
        }
    }

    pub(super) fn force_oif(&mut self, mk: MfeKey, iface: InterfaceKey, protocol: ProtocolHandle) {
        if let Some(m) = self.mfes.get_mut(&mk) {
            m.forced.insert((iface, protocol));
            m.disabled.remove(&iface);
        }
        self.add_oif(mk, iface);
    }

    pub(super) fn unforce_oif(
        &mut self,
        mk: MfeKey,
        iface: InterfaceKey,
        protocol: ProtocolHandle,
    ) {
        if let Some(m) = self.mfes.get_mut(&mk) {
            m.forced.remove(&(iface, protocol));
        }
        self.remove_oif_if_uncovered(mk, iface);
    }

    pub(super) fn add_mfe_op(&self, mk: MfeKey) -> Option<KernelOp> {
        let m = self.mfes.get(&mk)?;
        add_mfe_op(&self.interfaces, mk, m)
    }

    /// Tell the iif owner that `mk` forwards nowhere; it may answer with a cache timeout.
    pub(super) fn negative_prune_alert(&mut self, mk: MfeKey) {
        let (mfes, _, mut ctx) = self.split();
        if let Some(m) = mfes.get_mut(&mk) {
            ctx.negative_prune_alert(mk, m);
        }
    }

    // ----- MFE life cycle -----

    /// The outgoing keys a new MFE gets from the memberships.
    pub(super) fn membership_oifs(&self, mk: MfeKey, iif: InterfaceKey) -> BTreeSet<InterfaceKey> {
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
        scopes
            .iter()
            .filter_map(|sc| self.scopes.get(sc))
            .flat_map(|e| e.keys.keys().copied())
            .filter(|k| k.ifindex != iif.ifindex)
            .collect()
    }

    /// RPF is settled: build the outgoing list and send the creation alerts (or install).
    pub(super) fn stage_creation(&mut self, now: Instant, mk: MfeKey) {
        let Some(m) = self.mfes.get(&mk) else {
            return;
        };
        // The iif may have lost its owner while the RPF query was open: fall back to the
        // arrival interface, and drop the flow when that is gone too.
        let usable =
            |k: InterfaceKey| self.owner_of(k).is_some() && self.vif_of(k.ifindex, mk.0).is_some();
        let Some(iif) = [m.iif, m.arrival].into_iter().find(|k| usable(*k)) else {
            debug!(source = %mk.2, group = %mk.1, "no usable incoming interface, flow dropped");
            self.delete_mfe(mk);
            return;
        };
        let mut oifs = self.membership_oifs(mk, iif);
        oifs.retain(|k| !m.disabled.contains(k));
        for (k, _) in &m.forced {
            if k.ifindex != iif.ifindex {
                oifs.insert(*k);
            }
        }
        let mut by_owner: BTreeMap<ProtocolHandle, Vec<OifEntry>> = BTreeMap::new();
        for k in &oifs {
            let owners = self.owners(*k);
            if let Some(owner) = owners
                .routing
                .or(owners.igmp)
                .filter(|o| self.handles(*o, Callback::CreationAlert))
            {
                by_owner.entry(owner).or_default().push(OifEntry {
                    iface: *k,
                    igmp: owners.igmp.is_some(),
                    enabled: true,
                });
            }
        }
        // Protocols that do not handle creation alerts keep their interfaces unasked.
        let (_, group, source) = mk;
        let mut pending = BTreeSet::new();
        for (owner, entries) in by_owner {
            let offered = entries.iter().map(|e| e.iface).collect();
            let query = self.new_query(owner, mk, QueryKind::Creation { offered });
            pending.insert(query);
            self.push_notify(
                owner,
                Notification::CreationAlert {
                    query,
                    source,
                    group,
                    iif,
                    oifs: entries,
                },
            );
        }
        let asked = !pending.is_empty();
        let Some(m) = self.mfes.get_mut(&mk) else {
            return;
        };
        m.iif = iif;
        m.oifs = oifs;
        m.stage = Stage::Creation;
        m.pending = pending;
        if let Some(at) = m.deadline.take() {
            self.timers.remove(&(at, TimerKey::Deadline(mk)));
        }
        if asked {
            self.arm_deadline(now, mk);
        } else {
            self.install(now, mk);
        }
    }

    pub(super) fn install(&mut self, now: Instant, mk: MfeKey) {
        let Some(m) = self.mfes.get_mut(&mk) else {
            return;
        };
        if let Some(at) = m.deadline.take() {
            self.timers.remove(&(at, TimerKey::Deadline(mk)));
        }
        m.stage = Stage::Installed;
        for q in std::mem::take(&mut m.pending) {
            self.queries.remove(&q);
        }
        let Some(op) = add_mfe_op(&self.interfaces, mk, m) else {
            warn!(source = %mk.2, group = %mk.1, "incoming interface has no VIF, MFE dropped");
            self.delete_mfe(mk);
            return;
        };
        let negative = matches!(op, KernelOp::AddMfe { oifs, .. } if oifs.is_empty());
        self.actions.push_back(Action::Kernel(op));
        self.arm_expiry(now, mk);
        if negative {
            self.negative_prune_alert(mk);
        }
    }

    pub(super) fn arm_deadline(&mut self, now: Instant, mk: MfeKey) {
        self.clear_deadline(mk);
        // `Mgm::new` caps the deadline, so this cannot overflow in practice.
        let at = now
            .checked_add(self.config.callback_deadline)
            .unwrap_or(now);
        if let Some(m) = self.mfes.get_mut(&mk) {
            m.deadline = Some(at);
            self.timers.insert((at, TimerKey::Deadline(mk)));
        }
    }

    pub(super) fn clear_deadline(&mut self, mk: MfeKey) {
        if let Some(at) = self.mfes.get_mut(&mk).and_then(|m| m.deadline.take()) {
            self.timers.remove(&(at, TimerKey::Deadline(mk)));
        }
    }

    /// (Re)start the expiry of `mk` from `now` with its timeout (0: not aged).
    pub(super) fn arm_expiry(&mut self, now: Instant, mk: MfeKey) {
        let Some(m) = self.mfes.get_mut(&mk) else {
            return;
        };
        if let Some(at) = m.expires.take() {
            self.timers.remove(&(at, TimerKey::Expire(mk)));
        }
        // A timeout beyond the clock's range is as good as "not aged".
        let at = Some(m.timeout_secs)
            .filter(|secs| *secs > 0)
            .and_then(|secs| now.checked_add(Duration::from_secs(u64::from(secs))));
        if let Some(at) = at {
            m.expires = Some(at);
            self.timers.insert((at, TimerKey::Expire(mk)));
        }
    }

    /// Forget `mk` (queuing DelMfe when it was installed), its timers and queries.
    pub(super) fn delete_mfe(&mut self, mk: MfeKey) {
        let Some(m) = self.mfes.remove(&mk) else {
            return;
        };
        self.mfe_order.remove(&mk);
        if let Some(at) = m.deadline {
            self.timers.remove(&(at, TimerKey::Deadline(mk)));
        }
        if let Some(at) = m.expires {
            self.timers.remove(&(at, TimerKey::Expire(mk)));
        }
        for q in m.pending.iter().chain(m.prune_query.iter()) {
            self.queries.remove(q);
        }
        if m.stage == Stage::Installed {
            let (family, group, source) = mk;
            self.actions.push_back(Action::Kernel(KernelOp::DelMfe {
                family,
                source,
                group,
            }));
        }
    }

    pub(super) fn mfe_info(&self, now: Instant, mk: MfeKey, m: &Mfe) -> MfeInfo {
        let (family, group, source) = mk;
        MfeInfo {
            family,
            source,
            group,
            iif: m.iif,
            iif_vif: self
                .vif_of(m.iif.ifindex, family)
                .unwrap_or(VifIndex(MAX_VIFS)),
            iif_protocol: self
                .owner_of(m.iif)
                .and_then(|h| self.protocols.get(&h))
                .map(|p| p.id),
            upstream: m.upstream,
            route: m.route.clone(),
            oifs: m.oifs.iter().copied().collect(),
            installed: m.stage == Stage::Installed,
            uptime_secs: now.saturating_duration_since(m.created).as_secs(),
            expires_in_secs: m
                .expires
                .map(|at| at.saturating_duration_since(now).as_secs()),
            timeout_secs: m.timeout_secs,
            counters: m.counters,
        }
    }

    // ----- ownership changes -----

    /// `protocol` stops owning `iface` (it does own it). `handshake`: run Disable/Enable-IGMP
    /// when the routing owner leaves a key IGMP also has.
    pub(super) fn release_key(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        iface: InterfaceKey,
        handshake: bool,
    ) {
        let owners = self.owners(iface);
        let is_routing = owners.routing == Some(protocol);
        let igmp = if is_routing { owners.igmp } else { None };
        let handshake = handshake && igmp.is_some();
        if handshake {
            if let Some(i) = igmp {
                self.notify(i, Notification::DisableIgmp { iface });
            }
        }
        self.drop_memberships_of(now, protocol, iface, true);
        if handshake {
            if let Some(i) = igmp {
                self.drop_memberships_of(now, i, iface, false);
            }
        }
        // MFEs: delete those whose incoming interface this protocol answered for; drop its
        // FORWARD_STATE forces on the key.
        let iif_owner = is_routing || owners.routing.is_none();
        let family = iface.family();
        let all = SourceGroup::star_star(family);
        for mk in self.matching_mfes(all) {
            let Some(m) = self.mfes.get(&mk) else {
                continue;
            };
            if iif_owner && m.iif == iface {
                self.delete_mfe(mk);
            } else if m.forced.contains(&(iface, protocol)) {
                self.unforce_oif(mk, iface, protocol);
            }
        }
        if let Some(o) = self.owners.get_mut(&iface) {
            if is_routing {
                o.routing = None;
            } else {
                o.igmp = None;
            }
            if o.routing.is_none() && o.igmp.is_none() {
                self.owners.remove(&iface);
            }
        }
        if let Some(p) = self.protocols.get_mut(&protocol) {
            p.keys.remove(&iface);
        }
        self.free_vif_if_unused(iface.ifindex, family);
        if handshake {
            if let Some(i) = igmp {
                self.notify(i, Notification::EnableIgmp { iface });
            }
        }
    }

    pub(super) fn remove_interface(&mut self, now: Instant, ifindex: IfIndex) {
        let keys = self.keys_on(ifindex, None);
        for (key, owners) in &keys {
            for p in [owners.routing, owners.igmp].into_iter().flatten() {
                self.notify(p, Notification::InterfaceDeleted { iface: *key });
            }
        }
        for (key, owners) in keys {
            for p in [owners.routing, owners.igmp].into_iter().flatten() {
                self.release_key(now, p, key, false);
            }
        }
        if self.interfaces.remove(&ifindex).is_some() {
            debug!(%ifindex, "interface removed");
        }
    }

    /// Deregistration: end enumerations, default-answer queries, forget the protocol. With
    /// `now`, the MFEs waiting only for it proceed at once; without, at their deadline.
    pub(super) fn forget_protocol(&mut self, now: Option<Instant>, protocol: ProtocolHandle) {
        let Some(p) = self.protocols.remove(&protocol) else {
            return;
        };
        for e in p.enums {
            self.enums.remove(&e);
        }
        let mine: Vec<(QueryId, MfeKey, QueryKind)> = self
            .queries
            .iter()
            .filter(|(_, q)| q.protocol == protocol)
            .map(|(id, q)| (*id, q.mfe, q.kind.clone()))
            .collect();
        for (id, mk, kind) in mine {
            self.queries.remove(&id);
            let Some(m) = self.mfes.get_mut(&mk) else {
                continue;
            };
            if kind == QueryKind::Prune {
                m.prune_query = None;
                continue;
            }
            m.pending.remove(&id);
            let (stage, empty) = (m.stage, m.pending.is_empty());
            if let (Some(now), true) = (now, empty) {
                match stage {
                    Stage::Rpf => self.stage_creation(now, mk),
                    Stage::Creation => self.install(now, mk),
                    Stage::Installed => {}
                }
            }
        }
    }
}
