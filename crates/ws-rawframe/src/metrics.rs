//! Reading a server's `GET /metrics` (the Prometheus text format) over a
//! plain TCP socket, so a test or a scenario can check what the server says
//! about itself (open connections, rooms) without an HTTP client library.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response read, so a confused server cannot fill memory.
const MAX_RESPONSE: u64 = 4 << 20;

/// The samples of a Prometheus text exposition, by series name (labels
/// included as written, e.g. `http_requests_total{code="200"}`). Comments,
/// blank lines and lines whose value does not parse are skipped.
pub fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            // The series ends at the last space outside the labels; an
            // optional timestamp would follow the value.
            let series_end = match line.find('}') {
                Some(close) => close + 1,
                None => line.find(' ')?,
            };
            let (series, rest) = line.split_at(series_end);
            let value = rest.split_whitespace().next()?;
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                other => other.parse().ok()?,
            };
            Some((series.to_owned(), value))
        })
        .collect()
}

/// `GET path` over HTTP/1.1 with `Connection: close`: the status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.take(MAX_RESPONSE).read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status line"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Fetches and parses `GET path` on `addr`; an error unless the status is 200.
pub async fn scrape(addr: SocketAddr, path: &str) -> io::Result<BTreeMap<String, f64>> {
    let (status, body) = http_get(addr, path).await?;
    if status != 200 {
        return Err(io::Error::other(format!("GET {path} answered {status}")));
    }
    Ok(parse_metrics(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_servers_exposition() {
        let text = "# HELP ws_connections Open WebSocket connections.\n\
                    # TYPE ws_connections gauge\n\
                    ws_connections 3\n\
                    ws_messages_sent_total 7 1700000000\n\
                    http{code=\"200 ok\"} 1.5\n\
                    broken line\n\
                    # EOF\n";
        let samples = parse_metrics(text);
        assert_eq!(samples.get("ws_connections"), Some(&3.0));
        assert_eq!(samples.get("ws_messages_sent_total"), Some(&7.0));
        assert_eq!(samples.get("http{code=\"200 ok\"}"), Some(&1.5));
        assert_eq!(samples.len(), 3);
    }
}
