//! Conformance transform (wasm/conformance/README.md): the record's key
//! says what to do with it.
use sluice_plugin::{config_or, policy, reject, Error, Header, Headers, Record, Writer};

thread_local! {
    // Read once per instance (on first use): the configuration never changes.
    static EMIT_TOPIC: String = config_or("emit_topic", "conformance-emits");
}

fn transform(r: &Record, w: &mut Writer) -> Result<(), Error> {
    match r.key {
        Some(b"drop") => {}
        Some(b"dup") => {
            w.keep();
            w.write(&Record { key: Some(b"dup-copy"), offset: -1, ..*r });
        }
        Some(b"upper") => {
            let value = r.value.map(|v| v.to_ascii_uppercase());
            let mut headers: Vec<Header> = r.headers.iter().collect();
            headers.push(Header::new("x-upper", Some(b"1")));
            w.write(&Record { value: value.as_deref(), headers: Headers::from_slice(&headers), ..*r });
        }
        Some(b"emit") => {
            w.keep();
            EMIT_TOPIC.with(|t| w.emit(t, r));
        }
        Some(b"reject") => return Err(reject("reject")),
        Some(b"policy") => return Err(policy("policy")),
        Some(b"panic") => panic!("panic"),
        _ => w.keep(),
    }
    Ok(())
}

sluice_plugin::transform!(transform);
