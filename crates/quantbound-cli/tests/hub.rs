//! The Hub for real, without the internet: a loopback HTTP server answers the routes and headers
//! hf-hub reads (`{repo}/resolve/{revision}/{file}`, ranged GETs, `etag`, `x-repo-commit`,
//! `Content-Range`), `quantbound report --model owner/tiny` downloads through hf-hub into a
//! temporary `HF_HOME` with `HF_ENDPOINT` pointing at the server, and the report runs on what came
//! down. The server fails the first request with a 503, which the download must survive, and
//! answers a gated repo with 401, which must give the "set HF_TOKEN" message.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const COMMIT: &str = "3f7c1a9e5b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e";

/// One loopback Hub: the tiny model's files under `owner/tiny`, a gated `owner/gated`.
struct Hub {
    files: BTreeMap<String, Vec<u8>>,
    /// Whether the next request gets a 503 (the first one does).
    fail_next: AtomicBool,
    /// `METHOD path [Range]` of every request, in order.
    log: Mutex<Vec<String>>,
}

impl Hub {
    fn start(model: &Path) -> (Arc<Hub>, String) {
        let files = ["config.json", "tokenizer.json", "model.safetensors"]
            .into_iter()
            .map(|f| (f.to_owned(), std::fs::read(model.join(f)).unwrap()))
            .collect();
        let hub = Arc::new(Hub { files, fail_next: AtomicBool::new(true), log: Mutex::new(Vec::new()) });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = Arc::clone(&hub);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let hub = Arc::clone(&server);
                std::thread::spawn(move || hub.answer(stream));
            }
        });
        (hub, url)
    }

    fn answer(&self, mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        reader.read_line(&mut request).unwrap();
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let mut parts = request.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
        let range = headers.get("range").cloned();
        self.log.lock().unwrap().push(format!("{method} {path} {}", range.as_deref().unwrap_or("")));
        let mut reply = |status: &str, headers: &[(&str, String)], body: &[u8]| {
            let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        };
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return reply("503 Service Unavailable", &[], b"try again");
        }
        let Some((repo, file)) = path.strip_prefix('/').and_then(|p| p.split_once("/resolve/main/")) else {
            return reply("404 Not Found", &[], b"no such route");
        };
        if repo == "owner/gated" {
            let body = b"Access to model owner/gated is restricted. You must be authenticated to access it.";
            return reply("401 Unauthorized", &[("x-error-code", "GatedRepo".into())], body);
        }
        let Some(bytes) = self.files.get(file).filter(|_| repo == "owner/tiny") else {
            return reply("404 Not Found", &[("x-error-code", "EntryNotFound".into())], b"Entry not found");
        };
        // `bytes=a-b` or `bytes=a-`; hf-hub always asks for a range.
        let (start, end) = range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split_once('-'))
            .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap_or(bytes.len() - 1).min(bytes.len() - 1)))
            .unwrap_or((0, bytes.len() - 1));
        let etag =
            format!("\"{:016x}{:08x}\"", bytes.iter().fold(0u64, |h, &b| h.rotate_left(5) ^ u64::from(b)), bytes.len());
        let headers = [
            ("etag", etag),
            ("x-repo-commit", COMMIT.into()),
            ("Content-Range", format!("bytes {start}-{end}/{}", bytes.len())),
        ];
        reply("206 Partial Content", &headers, &bytes[start..=end]);
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/quantbound-llama/tests/data/tiny_llama/tied_gqa")
}

fn quantbound(home: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quantbound"))
        .args(args)
        .env("HF_HOME", home)
        .env("HF_ENDPOINT", endpoint)
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .expect("quantbound runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn report_downloads_a_hub_model_through_hf_endpoint() {
    let (hub, endpoint) = Hub::start(&tiny());
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("hf");
    let texts = dir.path().join("texts.txt");
    std::fs::write(&texts, "The capital of France is Paris.\nRust is a systems language.\n").unwrap();
    let out = dir.path().join("report");
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let (texts_arg, out_arg) = (path(&texts), path(&out));
    let args = [
        "report",
        "--model",
        "owner/tiny",
        "--layer",
        "1",
        "--formats",
        "nf4",
        "--sensitivity",
        "off",
        "--texts",
        &texts_arg,
        "--out",
        &out_arg,
    ];
    let run = quantbound(&home, &endpoint, &args);
    assert!(run.status.success(), "{}\nrequests: {:#?}", text(&run), hub.requests());

    // Every file came from the server, the first request's 503 was tried again, and the sharded
    // index was asked for (a 404: this repo is one file).
    let requests = hub.requests();
    for file in ["config.json", "tokenizer.json", "model.safetensors", "model.safetensors.index.json"] {
        assert!(requests.iter().any(|r| r.contains(&format!("/owner/tiny/resolve/main/{file} "))), "{requests:#?}");
    }
    assert!(requests.iter().filter(|r| r.contains("/config.json")).count() >= 3, "no retry: {requests:#?}");

    // huggingface_hub's cache layout, byte-equal to what was served.
    let snapshot = home.join("hub/models--owner--tiny/snapshots").join(COMMIT);
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        assert_eq!(std::fs::read(snapshot.join(file)).unwrap(), hub.files[file], "{file}");
    }
    let refs = std::fs::read_to_string(home.join("hub/models--owner--tiny/refs/main")).unwrap();
    assert_eq!(refs.trim(), COMMIT);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(report["model"]["resolved"].as_str().unwrap().contains(COMMIT), "{}", report["model"]);
    assert_eq!(report["formats"].as_array().unwrap().len(), 1);

    // A second run needs no server: with the Hub gone (HF_HUB_OFFLINE) the cache serves it.
    let again = path(&dir.path().join("again"));
    let offline = Command::new(env!("CARGO_BIN_EXE_quantbound"))
        .args(["report", "--model", "owner/tiny", "--layer", "1", "--formats", "nf4", "--sensitivity", "off"])
        .args(["--texts", &texts_arg, "--out", &again])
        .env("HF_HOME", &home)
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(offline.status.success(), "{}", text(&offline));
}

#[test]
fn a_gated_repo_says_to_set_hf_token() {
    let (hub, endpoint) = Hub::start(&tiny());
    hub.fail_next.store(false, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let run = quantbound(
        &dir.path().join("hf"),
        &endpoint,
        &["report", "--model", "owner/gated", "--out", out.to_str().unwrap()],
    );
    assert!(!run.status.success() && run.status.code() != Some(101), "{}", text(&run));
    let message = text(&run);
    assert!(message.contains("owner/gated@main") && message.contains("set HF_TOKEN"), "{message}");
    assert!(!out.exists());
}
