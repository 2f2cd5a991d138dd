//! Addresses and keys: address family, interface and VIF indices, the MGM (ifindex, next hop)
//! interface key, and validated (source, group) specifications.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, MgmError};

/// Address family. Every key in the core carries one: IPv4 and IPv6 state never mix.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4: VIFs, `MRT_*` options on a raw IGMP socket.
    Ipv4,
    /// IPv6: MIFs, `MRT6_*` options on a raw ICMPv6 socket.
    Ipv6,
}

impl Family {
    /// The family of `addr`.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// The unspecified address of this family (`0.0.0.0` or `::`): the next hop of a whole
    /// broadcast or point-to-point link.
    pub fn unspecified(self) -> IpAddr {
        match self {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// Address length in bits (32 or 128).
    pub fn bits(self) -> u8 {
        match self {
            Family::Ipv4 => 32,
            Family::Ipv6 => 128,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        })
    }
}

/// A kernel interface index (`ifindex`), as rtnetlink reports it.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IfIndex(pub u32);

impl fmt::Display for IfIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A kernel virtual interface number (VIF for IPv4, MIF for IPv6), allocated by the core,
/// always `< MAX_VIFS`. Never the ifindex.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VifIndex(pub u16);

impl fmt::Display for VifIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Linux `MAXVIFS` / `MAXMIFS` (uapi/linux/mroute.h): VIFs per family and table.
pub const MAX_VIFS: u16 = 32;

/// A set of VIFs (bit i = VIF i), the kernel's outgoing-interface list.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VifSet(pub u32);

impl VifSet {
    /// The empty set.
    pub const EMPTY: VifSet = VifSet(0);

    /// Add `vif` (ignored when `vif >= MAX_VIFS`).
    pub fn insert(&mut self, vif: VifIndex) {
        if vif.0 < MAX_VIFS {
            self.0 |= 1 << vif.0;
        }
    }

    /// Remove `vif`.
    pub fn remove(&mut self, vif: VifIndex) {
        if vif.0 < MAX_VIFS {
            self.0 &= !(1 << vif.0);
        }
    }

    /// Whether `vif` is in the set.
    pub fn contains(&self, vif: VifIndex) -> bool {
        vif.0 < MAX_VIFS && self.0 & (1 << vif.0) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// Number of VIFs in the set.
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// The VIFs in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = VifIndex> + '_ {
        (0..MAX_VIFS).map(VifIndex).filter(|v| self.contains(*v))
    }
}

/// The MGM interface key: (ifindex, next hop).
///
/// The next hop is the unspecified address of the family (`0.0.0.0` / `::`) for a whole
/// broadcast or point-to-point link, or a neighbour's address on a point-to-multipoint link.
/// Its family is the key's family: `(eth0, 0.0.0.0)` and `(eth0, ::)` are two keys, one per
/// family, with one VIF and one MIF. All keys of one (ifindex, family) share one VIF.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct InterfaceKey {
    /// Kernel interface index.
    pub ifindex: IfIndex,
    /// Next hop; unspecified for a whole link.
    pub next_hop: IpAddr,
}

impl InterfaceKey {
    /// The key of a whole link (`next_hop` unspecified) in `family`.
    pub fn link(ifindex: IfIndex, family: Family) -> InterfaceKey {
        InterfaceKey {
            ifindex,
            next_hop: family.unspecified(),
        }
    }

    /// The key's address family (that of its next hop).
    pub fn family(&self) -> Family {
        Family::of(self.next_hop)
    }

    /// Whether this key names a whole link (unspecified next hop).
    pub fn is_link(&self) -> bool {
        self.next_hop.is_unspecified()
    }
}

impl fmt::Display for InterfaceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(if {}, next hop {})", self.ifindex, self.next_hop)
    }
}

/// A membership or alert scope: (S,G), (*,G) or (*,*), in one family.
///
/// `None` is the MGM wildcard (address 0, mask 0). Construct with [`SourceGroup::new`] or
/// [`SourceGroup::from_masks`], which validate: the group is multicast, the source is a
/// unicast address, both are of `family`, and an (S,*) entry (specific source, any group) is
/// refused.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct SourceGroup {
    /// Address family.
    pub family: Family,
    /// Source; `None` = any source.
    pub source: Option<IpAddr>,
    /// Group; `None` = all groups.
    pub group: Option<IpAddr>,
}

impl SourceGroup {
    /// Validate and build a source/group specification.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::InvalidParameter`] when an address is of another family, the group is not
    /// multicast, the source is multicast or unspecified, or a specific source is paired with a
    /// wildcard group.
    pub fn new(
        family: Family,
        source: Option<IpAddr>,
        group: Option<IpAddr>,
    ) -> Result<SourceGroup, MgmError> {
        let invalid = |message: String| MgmError::new(ErrorCode::InvalidParameter, message);
        if let Some(g) = group {
            if Family::of(g) != family {
                return Err(invalid(format!("group {g} is not an {family} address")));
            }
            if !g.is_multicast() {
                return Err(invalid(format!("group {g} is not a multicast address")));
            }
        }
        if let Some(s) = source {
            if Family::of(s) != family {
                return Err(invalid(format!("source {s} is not an {family} address")));
            }
            if s.is_multicast() || s.is_unspecified() {
                return Err(invalid(format!("source {s} is not a unicast address")));
            }
            if group.is_none() {
                return Err(invalid(format!(
                    "source {s} with a wildcard group: only (S,G), (*,G) and (*,*) exist"
                )));
            }
        }
        Ok(SourceGroup {
            family,
            source,
            group,
        })
    }

    /// Build from MGM-style address/mask pairs: a mask is either all zeros (wildcard, with an
    /// unspecified address) or all ones (exact).
    ///
    /// # Errors
    ///
    /// [`ErrorCode::InvalidParameter`] for a range (any other mask), a mask or address of
    /// another family, or anything [`SourceGroup::new`] refuses.
    pub fn from_masks(
        source: IpAddr,
        source_mask: IpAddr,
        group: IpAddr,
        group_mask: IpAddr,
    ) -> Result<SourceGroup, MgmError> {
        let family = Family::of(group);
        let source = exact_or_wildcard(family, "source", source, source_mask)?;
        let group = exact_or_wildcard(family, "group", group, group_mask)?;
        SourceGroup::new(family, source, group)
    }

    /// (S,G).
    pub fn sg(source: IpAddr, group: IpAddr) -> Result<SourceGroup, MgmError> {
        SourceGroup::new(Family::of(group), Some(source), Some(group))
    }

    /// (*,G).
    pub fn star_g(group: IpAddr) -> Result<SourceGroup, MgmError> {
        SourceGroup::new(Family::of(group), None, Some(group))
    }

    /// (*,*) of `family`.
    pub fn star_star(family: Family) -> SourceGroup {
        SourceGroup {
            family,
            source: None,
            group: None,
        }
    }

    /// Whether this specification covers the flow (`source`, `group`).
    pub fn matches(&self, source: IpAddr, group: IpAddr) -> bool {
        Family::of(group) == self.family
            && self.group.is_none_or(|g| g == group)
            && self.source.is_none_or(|s| s == source)
    }
}

impl fmt::Display for SourceGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.source, self.group) {
            (Some(s), Some(g)) => write!(f, "({s}, {g})"),
            (None, Some(g)) => write!(f, "(*, {g})"),
            _ => write!(f, "(*, *) {}", self.family),
        }
    }
}

fn exact_or_wildcard(
    family: Family,
    what: &str,
    addr: IpAddr,
    mask: IpAddr,
) -> Result<Option<IpAddr>, MgmError> {
    let invalid = |message: String| MgmError::new(ErrorCode::InvalidParameter, message);
    if Family::of(addr) != family || Family::of(mask) != family {
        return Err(invalid(format!(
            "{what} {addr}/{mask} is not an {family} address/mask"
        )));
    }
    let ones = match mask {
        IpAddr::V4(m) => u32::from(m) == u32::MAX,
        IpAddr::V6(m) => u128::from(m) == u128::MAX,
    };
    if mask.is_unspecified() {
        if !addr.is_unspecified() {
            return Err(invalid(format!(
                "{what} {addr} with a zero mask: a wildcard is 0/0"
            )));
        }
        Ok(None)
    } else if ones {
        Ok(Some(addr))
    } else {
        Err(invalid(format!(
            "{what} mask {mask} is a range: only wildcard (0) or exact (all ones) masks are supported"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn vif_set_bits() {
        let mut set = VifSet::EMPTY;
        set.insert(VifIndex(0));
        set.insert(VifIndex(31));
        set.insert(VifIndex(32));
        assert_eq!(set.len(), 2);
        assert!(set.contains(VifIndex(31)));
        assert!(!set.contains(VifIndex(32)));
        assert_eq!(set.iter().collect::<Vec<_>>(), [VifIndex(0), VifIndex(31)]);
        set.remove(VifIndex(0));
        assert_eq!(set.iter().collect::<Vec<_>>(), [VifIndex(31)]);
    }

    #[test]
    fn source_group_validation() {
        assert!(SourceGroup::sg(ip("10.0.0.1"), ip("239.1.1.1")).is_ok());
        assert!(SourceGroup::star_g(ip("ff3e::1")).is_ok());
        assert!(SourceGroup::star_g(ip("10.0.0.1")).is_err());
        assert!(SourceGroup::sg(ip("239.0.0.1"), ip("239.1.1.1")).is_err());
        assert!(SourceGroup::sg(ip("fd00::1"), ip("239.1.1.1")).is_err());
        assert!(SourceGroup::new(Family::Ipv4, Some(ip("10.0.0.1")), None).is_err());
    }

    #[test]
    fn masks_are_wildcard_or_exact() {
        let any = ip("0.0.0.0");
        let all = ip("255.255.255.255");
        let sg = SourceGroup::from_masks(ip("10.0.0.1"), all, ip("239.1.1.1"), all).unwrap();
        assert_eq!(sg.source, Some(ip("10.0.0.1")));
        let star = SourceGroup::from_masks(any, any, ip("239.1.1.1"), all).unwrap();
        assert_eq!(star.source, None);
        let range =
            SourceGroup::from_masks(ip("10.0.0.0"), ip("255.255.255.0"), ip("239.1.1.1"), all);
        assert_eq!(range.unwrap_err().code, ErrorCode::InvalidParameter);
    }

    #[test]
    fn matching() {
        let sg = SourceGroup::star_g(ip("239.1.1.1")).unwrap();
        assert!(sg.matches(ip("10.0.0.1"), ip("239.1.1.1")));
        assert!(!sg.matches(ip("10.0.0.1"), ip("239.1.1.2")));
        assert!(SourceGroup::star_star(Family::Ipv4).matches(ip("10.0.0.1"), ip("239.1.1.2")));
        assert!(!SourceGroup::star_star(Family::Ipv6).matches(ip("10.0.0.1"), ip("239.1.1.2")));
    }
}
