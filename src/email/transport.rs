//! Where delivered mail goes: an SMTP server, or files in a directory.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying (server down, 4xx reply, timeout).
    #[error("temporary: {0}")]
    Transient(String),
    /// Not worth retrying (5xx reply, bad address).
    #[error("permanent: {0}")]
    Permanent(String),
}

/// A mail transport.
pub enum Transport {
    /// An SMTP relay.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory (the embedded default).
    Directory(PathBuf),
}

impl Transport {
    /// From `SMTP_URL`, or a directory when it is unset.
    pub fn from_config(smtp_url: Option<&SecretString>, dir: PathBuf) -> anyhow::Result<Self> {
        match smtp_url {
            Some(url) => Ok(Transport::Smtp(smtp_from_url(url.expose_secret())?)),
            None => Ok(Transport::Directory(dir)),
        }
    }

    /// A description for the start-up banner, without credentials.
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp(_) => "SMTP".into(),
            Transport::Directory(dir) => format!("files in {} (SMTP_URL unset)", dir.display()),
        }
    }

    /// Delivers one message. `text` is its plain-text part, which the
    /// directory transport also writes as `<id>.txt` for people to read.
    pub async fn send(
        &self,
        id: uuid::Uuid,
        message: Message,
        text: &str,
    ) -> Result<(), SendError> {
        match self {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
            Transport::Directory(dir) => {
                let path = dir.join(format!("{id}.eml"));
                let write = async {
                    let private = dir.clone();
                    tokio::task::spawn_blocking(move || {
                        crate::config::create_private_dir(&private)
                    })
                    .await
                    .map_err(std::io::Error::other)??;
                    write_private(&dir.join(format!("{id}.txt")), text.as_bytes()).await?;
                    write_private(&path, &message.formatted()).await
                };
                write.await.map_err(|e| {
                    SendError::Transient(format!("writing {}: {e}", path.display()))
                })?;
                tracing::info!(file = %path.display(), "mail written to the outbox directory");
                Ok(())
            }
        }
    }
}

/// Writes a new file (or replaces one) readable by its owner only: mail
/// carries one-time links.
async fn write_private(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(contents).await?;
    file.flush().await
}

/// Parses `smtp[s]://[user:pw@]host[:port][?tls=none|starttls|tls]`.
fn smtp_from_url(raw: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let url = url::Url::parse(raw).map_err(|e| anyhow::anyhow!("SMTP_URL: not a URL: {e}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("SMTP_URL: missing host"))?
        .to_owned();
    let tls_mode = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| {
            if url.scheme() == "smtps" {
                "tls"
            } else {
                "starttls"
            }
            .into()
        });
    let (tls, default_port) = match (url.scheme(), tls_mode.as_str()) {
        ("smtp" | "smtps", "none") => (Tls::None, 25),
        ("smtp" | "smtps", "starttls") => (Tls::Required(TlsParameters::new(host.clone())?), 587),
        ("smtp" | "smtps", "tls") => (Tls::Wrapper(TlsParameters::new(host.clone())?), 465),
        ("smtp" | "smtps", other) => {
            anyhow::bail!("SMTP_URL: tls={other} is not one of none, starttls, tls")
        }
        (scheme, _) => anyhow::bail!("SMTP_URL: scheme {scheme} is not smtp or smtps"),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(url.port().unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(Duration::from_secs(15)));
    if !url.username().is_empty() {
        let user = percent_decode(url.username());
        let password = percent_decode(url.password().unwrap_or(""));
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(builder.build())
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn outbox_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("dir");
        let dir = root.path().join("outbox");
        let transport = Transport::Directory(dir.clone());
        let message = Message::builder()
            .from("a@example.com".parse().expect("from"))
            .to("b@example.com".parse().expect("to"))
            .subject("s")
            .body("link".to_owned())
            .expect("message");
        let id = uuid::Uuid::now_v7();
        transport.send(id, message, "link").await.expect("written");
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("exists").permissions().mode() & 0o777
        };
        assert_eq!(mode(&dir), 0o700, "the outbox directory");
        for ext in ["eml", "txt"] {
            assert_eq!(mode(&dir.join(format!("{id}.{ext}"))), 0o600, "{ext}");
        }
    }

    #[tokio::test]
    async fn smtp_urls_parse() {
        assert!(smtp_from_url("smtp://127.0.0.1:2525?tls=none").is_ok());
        assert!(smtp_from_url("smtp://user:p%40ss@mail:587?tls=starttls").is_ok());
        assert!(smtp_from_url("smtps://mail").is_ok());
        assert!(smtp_from_url("smtp://mail?tls=maybe").is_err());
        assert!(smtp_from_url("http://mail").is_err());
        assert_eq!(percent_decode("p%40ss"), "p@ss");
    }
}
