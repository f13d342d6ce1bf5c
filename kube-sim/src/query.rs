//! Query string decoding.
use std::collections::HashMap;

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse(q: Option<&str>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    if let Some(q) = q {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            m.insert(decode(k), decode(v));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes() {
        let m = super::parse(Some("labelSelector=app%3Dweb%2Ctier+in+(a)&limit=2&x"));
        assert_eq!(m["labelSelector"], "app=web,tier in (a)");
        assert_eq!(m["limit"], "2");
        assert_eq!(m["x"], "");
    }
}
