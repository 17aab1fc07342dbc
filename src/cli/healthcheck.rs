//! `user-management healthcheck`: exit 0 when the local service answers
//! `GET /health` with 200 (for container health checks; no HTTP client
//! library needed).

use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Config;

/// Asks `HOST:PORT/health` (`0.0.0.0` and `::` mean this machine).
pub async fn run(config: Config) -> anyhow::Result<()> {
    let host = if config.host.is_unspecified() {
        if config.host.is_ipv4() {
            "127.0.0.1".parse()?
        } else {
            "::1".parse()?
        }
    } else {
        config.host
    };
    let address = std::net::SocketAddr::new(host, config.port);
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(Duration::from_secs(5), check)
        .await
        .context("no answer within 5 s")?
        .with_context(|| format!("cannot reach {address}"))?;
    if head.starts_with(b"HTTP/1.1 200") {
        println!("healthy");
        Ok(())
    } else {
        anyhow::bail!("unhealthy: {}", String::from_utf8_lossy(&head))
    }
}
