//! `user-management healthcheck`: exit 0 when the local service answers
//! `GET /health` with 200 (for container health checks; no HTTP client
//! library needed).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Config;

/// Asks `HOST:PORT/health` (`0.0.0.0` and `::` mean this machine; a host
/// name is resolved and each of its addresses tried).
pub async fn run(config: Config) -> anyhow::Result<()> {
    let target = format!("{}:{}", config.host, config.port);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((config.host.as_str(), config.port))
        .await
        .with_context(|| format!("HOST: cannot resolve {}", config.host))?
        .map(|mut a| {
            if a.ip().is_unspecified() {
                a.set_ip(match a.ip() {
                    IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                    IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
                });
            }
            a
        })
        .collect();
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(&addresses[..]).await?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(Duration::from_secs(5), check)
        .await
        .with_context(|| format!("{target}: no answer within 5 s"))?
        .with_context(|| format!("cannot reach {target}"))?;
    if head.starts_with(b"HTTP/1.1 200") {
        println!("healthy");
        Ok(())
    } else {
        anyhow::bail!("unhealthy: {}", String::from_utf8_lossy(&head))
    }
}
