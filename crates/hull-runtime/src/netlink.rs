//! The few rtnetlink requests `linux.netDevices` needs (find a link, read its addresses, move
//! it to another network namespace under a new name, add an address, set it up), over a
//! blocking netlink socket: the `netlink-*` crates build and parse the messages, this module
//! only sends a request and collects its replies. No async runtime, no thread.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::sched::{setns, CloneFlags};

use crate::error::{Context, Error, Result};

/// A route netlink socket bound to one network namespace (the one it was opened in).
pub struct Rtnl {
    sock: Socket,
    seq: u32,
}

impl Rtnl {
    /// A socket in the caller's network namespace.
    pub fn open() -> Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE).ctx(|| "open a netlink socket")?;
        sock.bind_auto().ctx(|| "bind the netlink socket")?;
        sock.connect(&SocketAddr::new(0, 0))
            .ctx(|| "connect the netlink socket")?;
        Ok(Rtnl { sock, seq: 0 })
    }

    /// A socket in the network namespace `ns` (a socket keeps the namespace it was made in):
    /// the caller enters `ns` for the socket() call only. The caller must be single-threaded.
    pub fn open_in(ns: &File) -> Result<Rtnl> {
        let home = File::open("/proc/thread-self/ns/net").ctx(|| "open our network namespace")?;
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
            .ctx(|| "enter the container's network namespace")?;
        let sock = Rtnl::open();
        setns(home.as_fd(), CloneFlags::CLONE_NEWNET).ctx(|| "return to our network namespace")?;
        sock
    }

    /// Send `msg` with `flags` and collect the replies until the dump ends or the ack comes
    /// (every request but a dump asks for an ack, so that its end is known).
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        // NLM_F_DUMP shares its bits with NLM_F_EXCL and NLM_F_CREATE: compare, do not mask.
        let flags = match flags == NLM_F_DUMP {
            true => flags,
            false => flags | NLM_F_ACK,
        };
        self.seq += 1;
        let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
        packet.header.flags = NLM_F_REQUEST | flags;
        packet.header.sequence_number = self.seq;
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.sock.send(&buf, 0).ctx(|| "send a netlink request")?;
        let mut replies = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full().ctx(|| "read a netlink reply")?;
            let mut offset = 0;
            while offset < data.len() {
                let reply: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&data[offset..])
                        .map_err(|e| Error::Msg(format!("bad netlink reply: {e}")))?;
                let len = reply.header.length as usize;
                match reply.payload {
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(replies),
                        Some(code) => {
                            return Err(Error::Msg(
                                nix::errno::Errno::from_raw(-code.get()).desc().to_string(),
                            ))
                        }
                    },
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    /// The index of the link named `name`, or None.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(_) => Ok(None),
        }
    }

    /// Whether link `index` is up.
    pub fn is_up(&mut self, index: u32) -> Result<bool> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        let replies = self.request(RouteNetlinkMessage::GetLink(msg), 0)?;
        Ok(replies.iter().any(|r| {
            matches!(r, RouteNetlinkMessage::NewLink(l) if l.header.flags.contains(LinkFlags::Up))
        }))
    }

    /// The addresses of link `index`.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<AddressMessage>> {
        let replies = self.request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => Some(a),
                _ => None,
            })
            .collect())
    }

    /// Move link `index` into the network namespace `ns`, named `name` there.
    pub fn move_link(&mut self, index: u32, ns: &File, name: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.request(RouteNetlinkMessage::SetLink(msg), 0).map(drop)
    }

    /// Add `address` to link `index`.
    pub fn add_address(&mut self, index: u32, address: &AddressMessage) -> Result<()> {
        let mut msg = address.clone();
        msg.header.index = index;
        let flags = NLM_F_CREATE | NLM_F_EXCL;
        self.request(RouteNetlinkMessage::NewAddress(msg), flags)
            .map(drop)
    }

    /// Set link `index` up.
    pub fn set_up(&mut self, index: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(msg), 0).map(drop)
    }
}
