//! `quantbound inspect`: what the second seed notebook did by hand, for any bnb-4bit tensor.

use std::path::PathBuf;

use clap::Args;
use quantbound_codebook::{checkpoint, hf, nibble, Absmax, NESTED_BLOCKSIZE};

use crate::files::{map, Checkpoint, Error};

#[derive(Args)]
pub struct InspectArgs {
    /// A bnb-4bit safetensors checkpoint: one file, or a sharded one (its folder or its index).
    file: PathBuf,
    /// The weight to inspect (e.g. model.layers.0.mlp.down_proj.weight). Without it, list the
    /// file's 4-bit weights.
    #[arg(long)]
    tensor: Option<String>,
    /// How many packed bytes to show.
    #[arg(long, default_value_t = 8)]
    bytes: usize,
    /// How many blocks' absmax to show.
    #[arg(long, default_value_t = 4)]
    blocks: usize,
}

pub fn inspect(args: InspectArgs) -> Result<(), Error> {
    let checkpoint = Checkpoint::open(&args.file)?;
    let Some(name) = &args.tensor else {
        return list(&checkpoint);
    };
    // The shard the index puts the weight in (bnb's quant-state tensors sit beside it).
    let path = match &checkpoint {
        Checkpoint::File(path) => path.clone(),
        Checkpoint::Sharded { dir, index } => match index.weight_map.get(name) {
            Some(shard) => dir.join(shard),
            None => return Err(format!("{}: the index lists no tensor {name}", args.file.display()).into()),
        },
    };
    let file = path.display().to_string();
    let bytes = map(&path)?;
    let st = checkpoint::open(&bytes, &file)?;
    show(&st, name, &file, &args)
}

/// Every bnb-4bit weight of every shard, with its shape, dtype, table and blocksize.
fn list(checkpoint: &Checkpoint) -> Result<(), Error> {
    for path in checkpoint.files() {
        let file = path.display().to_string();
        let bytes = map(&path)?;
        let st = checkpoint::open(&bytes, &file)?;
        let mut names: Vec<&str> = st.names().into_iter().filter(|n| hf::bnb_quant_type(&st, n).is_some()).collect();
        names.sort();
        println!("{} bnb-4bit weights in {file}:", names.len());
        for name in names {
            let q = hf::from_safetensors(&st, name, &file)?;
            println!(
                "  {name}  {:?} {} {} blocksize {}",
                q.state.shape,
                q.state.dtype.bnb_name(),
                quant_type(&q),
                q.state.blocksize
            );
        }
    }
    Ok(())
}

/// The quant state, packed bytes, absmax and first values of the weight `name` in `st`.
fn show(st: &safetensors::SafeTensors<'_>, name: &str, file: &str, args: &InspectArgs) -> Result<(), Error> {
    let q = hf::from_safetensors(st, name, file)?;
    let state = &q.state;
    println!("{name} ({file})");
    println!("  shape       {:?}", state.shape);
    println!("  dtype       {}", state.dtype.bnb_name());
    println!("  quant_type  {}", quant_type(&q));
    println!("  blocksize   {}", state.blocksize);
    println!("  blocks      {}", state.absmax.len());
    match &state.absmax {
        Absmax::Plain(_) => println!("  double quant no (absmax stored as f32)"),
        Absmax::Double(d) => println!(
            "  double quant yes: u8 codes in groups of {NESTED_BLOCKSIZE}, {} nested absmax, offset {:e}",
            d.nested_absmax.len(),
            d.offset
        ),
    }
    println!("  code table  (index: value)");
    for (i, v) in state.code.values().iter().enumerate() {
        println!("    {i:>2} {i:04b}: {v:>+.8}");
    }

    println!("\n  first packed bytes (element 2j in the high nibble, 2j+1 in the low nibble)");
    println!("    byte  hex   binary     high → value        low → value");
    for (j, &byte) in q.packed.iter().take(args.bytes).enumerate() {
        let (hi, lo) = nibble::unpack(byte);
        let code = state.code.values();
        println!(
            "    {j:>4}  0x{byte:02x}  {:04b} {:04b}  {hi:>2} → {:>+.6}  {lo:>2} → {:>+.6}",
            hi, lo, code[hi as usize], code[lo as usize]
        );
    }

    let absmax = state.absmax.to_f32();
    println!("\n  first blocks' absmax");
    for (b, a) in absmax.iter().take(args.blocks).enumerate() {
        match &state.absmax {
            Absmax::Plain(_) => println!("    block {b:>4}: {a:e}"),
            Absmax::Double(d) => println!(
                "    block {b:>4}: {a:e} = code[{}] ({:+e}) × nested_absmax[{}] ({:e}) + offset",
                d.codes[b],
                d.nested_code[d.codes[b] as usize],
                b / NESTED_BLOCKSIZE,
                d.nested_absmax[b / NESTED_BLOCKSIZE]
            ),
        }
    }

    let values = q.dequantize().to_f32_vec();
    let first_block = &values[..state.blocksize.get().min(values.len())];
    println!("\n  dequantized values of block 0 ({} values, in {})", first_block.len(), state.dtype.bnb_name());
    for row in first_block.chunks(8) {
        let row: Vec<String> = row.iter().map(|v| format!("{v:>+11.4e}")).collect();
        println!("    {}", row.join(" "));
    }
    Ok(())
}

fn quant_type(q: &quantbound_codebook::Quantized4bit) -> &'static str {
    q.state.code.quant_type().map_or("custom", |t| t.as_str())
}
