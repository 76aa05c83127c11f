//! A loopback TCP relay between the agents and the coordinator that counts the bytes it
//! forwards each way. The count is TCP payload: protobuf messages with their gRPC and
//! HTTP/2 framing (headers, flow control, pings), everything an agent's link carries
//! except the TCP/IP headers. Relaying keeps the product untouched; a relay costs a copy per
//! message in this process, which is small next to training a pathway.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Bytes relayed, final once [`Relay::finish`] returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct WireBytes {
    /// Agents to coordinator: joins, heartbeats, pull requests, reports with their deltas.
    pub to_coordinator: u64,
    /// Coordinator to agents: leased work items, pulled parameters, answers.
    pub to_agents: u64,
    pub connections: u64,
}

#[derive(Default)]
struct Counters {
    to_coordinator: AtomicU64,
    to_agents: AtomicU64,
    connections: AtomicU64,
}

pub(crate) struct Relay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    acceptor: JoinHandle<()>,
    pumps: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    /// Listens on a free loopback port and relays every connection to `target`.
    pub(crate) fn start(target: SocketAddr) -> io::Result<Relay> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let pumps = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, counters, pumps) = (stop.clone(), counters.clone(), pumps.clone());
            std::thread::spawn(move || accept(&listener, target, &stop, &counters, &pumps))
        };
        Ok(Relay {
            addr,
            stop,
            counters,
            acceptor,
            pumps,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for every relayed connection to close (call it after both
    /// ends have exited), then returns the totals.
    pub(crate) fn finish(self) -> WireBytes {
        self.stop.store(true, Ordering::SeqCst);
        // A blocked accept only returns for a connection: make one.
        let _ = TcpStream::connect(self.addr);
        let _ = self.acceptor.join();
        let pumps = std::mem::take(&mut *self.pumps.lock().unwrap_or_else(PoisonError::into_inner));
        for pump in pumps {
            let _ = pump.join();
        }
        WireBytes {
            to_coordinator: self.counters.to_coordinator.load(Ordering::SeqCst),
            to_agents: self.counters.to_agents.load(Ordering::SeqCst),
            connections: self.counters.connections.load(Ordering::SeqCst),
        }
    }
}

fn accept(
    listener: &TcpListener,
    target: SocketAddr,
    stop: &AtomicBool,
    counters: &Arc<Counters>,
    pumps: &Mutex<Vec<JoinHandle<()>>>,
) {
    for agent in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(agent) = agent else { continue };
        // A refused upstream drops the agent's connection, as a dead coordinator would.
        let Ok(coordinator) = TcpStream::connect(target) else {
            continue;
        };
        let (Ok(agent_read), Ok(coordinator_read)) = (agent.try_clone(), coordinator.try_clone())
        else {
            continue;
        };
        // Both ends ask for no delay; the relay must not add Nagle's wait on either hop.
        let _ = agent.set_nodelay(true);
        let _ = coordinator.set_nodelay(true);
        counters.connections.fetch_add(1, Ordering::SeqCst);
        let (up, down) = (counters.clone(), counters.clone());
        let mut pumps = pumps.lock().unwrap_or_else(PoisonError::into_inner);
        pumps.push(std::thread::spawn(move || {
            pump(agent_read, coordinator, &up.to_coordinator)
        }));
        pumps.push(std::thread::spawn(move || {
            pump(coordinator_read, agent, &down.to_agents)
        }));
    }
}

/// Copies until `from` closes, then half-closes `to` so the other side sees the end too.
fn pump(mut from: TcpStream, mut to: TcpStream, counter: &AtomicU64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_byte_each_way() {
        let server = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let target = server.local_addr().unwrap();
        // An echo server that answers each request with twice its bytes.
        let echo = std::thread::spawn(move || {
            let (mut conn, _) = server.accept().unwrap();
            let mut got = Vec::new();
            conn.read_to_end(&mut got).unwrap();
            conn.write_all(&got).unwrap();
            conn.write_all(&got).unwrap();
        });
        let relay = Relay::start(target).unwrap();
        let mut client = TcpStream::connect(relay.addr()).unwrap();
        client.write_all(&[7u8; 100_000]).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).unwrap();
        drop(client);
        echo.join().unwrap();
        assert_eq!(answer.len(), 200_000);
        assert!(answer.iter().all(|&b| b == 7));
        assert_eq!(
            relay.finish(),
            WireBytes {
                to_coordinator: 100_000,
                to_agents: 200_000,
                connections: 1,
            }
        );
    }
}
