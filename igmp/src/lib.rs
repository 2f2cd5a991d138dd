//! IGMP/MLD router side (being written).
