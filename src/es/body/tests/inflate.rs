use super::*;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::Compression;
use std::io::Write;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn raw(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn inflate_chunks(enc: ContentEncoding, chunks: &[&[u8]], max: u64) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let mut inflater = Inflater::new(enc, max);
    for chunk in chunks {
        inflater.feed(chunk, |p| {
            out.extend_from_slice(p);
            Ok(())
        })?;
    }
    let total = inflater.finish()?;
    assert_eq!(total, out.len() as u64);
    Ok(out)
}

fn sample() -> Vec<u8> {
    (0..20_000u32)
        .flat_map(|i| {
            format!(
                "{{\"index\":{{\"_index\":\"l-{}\"}}}}\n{{\"n\":{i}}}\n",
                i % 7
            )
            .into_bytes()
        })
        .collect()
}

#[test]
fn encoding_header() {
    use ContentEncoding::*;
    for (value, expected) in [
        (None, Ok(Identity)),
        (Some(&b""[..]), Ok(Identity)),
        (Some(b"identity"), Ok(Identity)),
        (Some(b"gzip"), Ok(Gzip)),
        (Some(b" GZip \t"), Ok(Gzip)),
        (Some(b"x-gzip"), Ok(Gzip)),
        (Some(b"deflate"), Ok(Deflate)),
        (Some(b"X-Deflate"), Ok(Deflate)),
        (Some(b"br"), Err(BodyError::UnsupportedEncoding)),
        (Some(b"zstd"), Err(BodyError::UnsupportedEncoding)),
        (Some(b"gzip, gzip"), Err(BodyError::UnsupportedEncoding)),
        (Some(b"gzip;q=1"), Err(BodyError::UnsupportedEncoding)),
    ] {
        assert_eq!(ContentEncoding::from_header(value), expected, "{value:?}");
    }
}

/// `data` in each encoding the gateway inflates (deflate both zlib-wrapped and raw).
fn every_encoding_of(data: &[u8]) -> [(ContentEncoding, Vec<u8>); 4] {
    [
        (ContentEncoding::Gzip, gzip(data)),
        (ContentEncoding::Deflate, zlib(data)),
        (ContentEncoding::Deflate, raw(data)),
        (ContentEncoding::Identity, data.to_vec()),
    ]
}

#[test]
fn round_trips() {
    let data = sample();
    for (enc, packed) in every_encoding_of(&data) {
        assert_eq!(
            inflate_chunks(enc, &[&packed], u64::MAX).unwrap(),
            data,
            "{enc:?}"
        );
        let pieces: Vec<&[u8]> = packed.chunks(7).collect();
        assert_eq!(
            inflate_chunks(enc, &pieces, u64::MAX).unwrap(),
            data,
            "{enc:?} in pieces"
        );
        assert_eq!(
            inflate_to_vec(enc, &packed, data.len() as u64).unwrap(),
            data
        );
    }
}

#[test]
fn every_split_point() {
    let data = b"{\"index\":{\"_index\":\"a\"}}\n{\"m\":\"hello hello hello\"}\n";
    for (enc, packed) in [
        (ContentEncoding::Gzip, gzip(data)),
        (ContentEncoding::Deflate, zlib(data)),
        (ContentEncoding::Deflate, raw(data)),
    ] {
        for cut in 0..=packed.len() {
            let got = inflate_chunks(enc, &[&packed[..cut], &packed[cut..]], u64::MAX);
            assert_eq!(got.as_deref(), Ok(&data[..]), "{enc:?} cut {cut}");
        }
    }
}

#[test]
fn gzip_optional_header_fields() {
    let data = b"payload\n";
    let deflated = raw(data);
    let crc = {
        let mut c = flate2::Crc::new();
        c.update(data);
        c.sum()
    };
    let mut packed = vec![
        0x1f,
        0x8b,
        8,
        FEXTRA | FNAME | FCOMMENT | FHCRC,
        0,
        0,
        0,
        0,
        0,
        255,
    ];
    packed.extend_from_slice(&[3, 0, b'x', b'y', b'z']); // FEXTRA
    packed.extend_from_slice(b"name.json\0comment\0");
    packed.extend_from_slice(&[0xaa, 0xbb]); // FHCRC (not verified)
    packed.extend_from_slice(&deflated);
    packed.extend_from_slice(&crc.to_le_bytes());
    packed.extend_from_slice(&(data.len() as u32).to_le_bytes());
    for cut in 0..=packed.len() {
        let got = inflate_chunks(
            ContentEncoding::Gzip,
            &[&packed[..cut], &packed[cut..]],
            u64::MAX,
        );
        assert_eq!(got.as_deref(), Ok(&data[..]), "cut {cut}");
    }
    let mut reserved = packed.clone();
    reserved[3] |= 0x20;
    assert_eq!(
        inflate_chunks(ContentEncoding::Gzip, &[&reserved], u64::MAX),
        Err(BodyError::CorruptCompressed)
    );
}

#[test]
fn corrupt_streams() {
    let data = sample();
    let gz = gzip(&data);
    let corrupt = |enc, bytes: &[u8]| inflate_chunks(enc, &[bytes], u64::MAX);
    // Truncated anywhere past the start.
    for cut in [1, 5, 10, gz.len() / 2, gz.len() - 4, gz.len() - 1] {
        assert_eq!(
            corrupt(ContentEncoding::Gzip, &gz[..cut]),
            Err(BodyError::CorruptCompressed),
            "cut {cut}"
        );
    }
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 1;
    assert_eq!(
        corrupt(ContentEncoding::Gzip, &bad_crc),
        Err(BodyError::CorruptCompressed)
    );
    let mut bad_len = gz.clone();
    bad_len[n - 1] ^= 1;
    assert_eq!(
        corrupt(ContentEncoding::Gzip, &bad_len),
        Err(BodyError::CorruptCompressed)
    );
    let mut two_members = gz.clone();
    two_members.extend_from_slice(&gzip(b"{\"delete\":{\"_index\":\"secret\"}}\n"));
    assert_eq!(
        corrupt(ContentEncoding::Gzip, &two_members),
        Err(BodyError::CorruptCompressed)
    );
    let mut trailing = zlib(&data);
    trailing.push(0);
    assert_eq!(
        corrupt(ContentEncoding::Deflate, &trailing),
        Err(BodyError::CorruptCompressed)
    );
    assert_eq!(
        corrupt(ContentEncoding::Gzip, b"not gzip at all"),
        Err(BodyError::CorruptCompressed)
    );
    assert_eq!(
        corrupt(ContentEncoding::Deflate, b"\xff\xff\xff\xff"),
        Err(BodyError::CorruptCompressed)
    );
    // Nothing at all is an empty body.
    assert_eq!(corrupt(ContentEncoding::Gzip, b""), Ok(Vec::new()));
    // Errors are sticky.
    let mut inflater = Inflater::new(ContentEncoding::Gzip, u64::MAX);
    assert!(inflater.feed(b"0123456789", |_| Ok(())).is_err());
    assert_eq!(
        inflater.feed(&gz, |_| Ok(())),
        Err(BodyError::CorruptCompressed)
    );
}

/// 64 MiB of zeros, gzipped to about 64 KiB.
fn gzip_bomb() -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    e.finish().unwrap()
}

#[test]
fn zip_bomb_is_bounded() {
    // The bound stops it after 1 MiB of output, and never more than one output chunk past
    // it is produced.
    let bomb = gzip_bomb();
    assert!(bomb.len() < 200_000);
    let mut seen = 0usize;
    let mut inflater = Inflater::new(ContentEncoding::Gzip, 1 << 20);
    let r = inflater.feed(&bomb, |p| {
        seen += p.len();
        Ok(())
    });
    assert_eq!(r, Err(BodyError::InflatedTooLarge));
    assert!(seen <= 1 << 20);
    assert_eq!(BodyError::InflatedTooLarge.status(), 413);
    // Identity bodies are bounded the same way.
    assert_eq!(
        inflate_to_vec(ContentEncoding::Identity, &[0u8; 64], 10),
        Err(BodyError::InflatedTooLarge)
    );
}

#[test]
fn sink_errors_stop_decoding() {
    let gz = gzip(&sample());
    let mut inflater = Inflater::new(ContentEncoding::Gzip, u64::MAX);
    let r = inflater.feed(&gz, |_| Err(BodyError::UnknownBulkAction { line: 1 }));
    assert_eq!(r, Err(BodyError::UnknownBulkAction { line: 1 }));
    assert_eq!(
        inflater.finish(),
        Err(BodyError::UnknownBulkAction { line: 1 })
    );
}

#[test]
fn netty_zlib_sniffing() {
    // 0x78 0x9c is zlib; a raw stream whose first bytes do not look like zlib is raw.
    let z = zlib(b"abc\n");
    assert_eq!(&z[..2], &[0x78, 0x9c]);
    assert_eq!(
        inflate_to_vec(ContentEncoding::Deflate, &z, 100).unwrap(),
        b"abc\n"
    );
    let r = raw(b"abc\n");
    assert_eq!(
        inflate_to_vec(ContentEncoding::Deflate, &r, 100).unwrap(),
        b"abc\n"
    );
    // A valid zlib header Netty does not recognise (CINFO=5) is read as raw deflate, as there.
    let mut z5 = z.clone();
    z5[0] = 0x58;
    z5[1] = 0x85; // (0x58 << 8 | 0x85) % 31 == 0
    assert_eq!((0x5885u16) % 31, 0);
    assert!(inflate_to_vec(ContentEncoding::Deflate, &z5, 100).is_err());
}

#[test]
fn inflating_into_a_buffer_reads_the_same_in_any_pieces() {
    let data = sample();
    for (enc, packed) in every_encoding_of(&data) {
        // No room reserved, room for a part, room for all: the same bytes.
        for reserved in [0, 1000, data.len()] {
            for piece in [7, 4096, packed.len()] {
                let mut out = Vec::with_capacity(reserved);
                let mut inflater = Inflater::new(enc, u64::MAX);
                for chunk in packed.chunks(piece) {
                    inflater.feed_into(chunk, &mut out).unwrap();
                }
                assert_eq!(inflater.finish(), Ok(data.len() as u64));
                assert!(out == data, "{enc:?} reserved {reserved} pieces of {piece}");
            }
        }
    }
    // A corrupt CRC is caught the same way.
    let mut bad = gzip(&data);
    let at = bad.len() - 8;
    bad[at] ^= 1;
    let mut out = Vec::new();
    assert_eq!(
        inflate_into(ContentEncoding::Gzip, &bad, u64::MAX, &mut out),
        Err(BodyError::CorruptCompressed)
    );
}

#[test]
fn a_bomb_inflating_into_a_buffer_grows_it_no_further_than_the_limit() {
    let bomb = gzip_bomb();
    let mut out = Vec::new();
    let r = inflate_into(ContentEncoding::Gzip, &bomb, 1 << 20, &mut out);
    assert_eq!(r, Err(BodyError::InflatedTooLarge));
    assert!(out.capacity() <= (1 << 20) + 1, "{}", out.capacity());
    // A size hint that lies (ISIZE says 4 GiB) is capped by the caller, and the limit
    // holds whatever room was reserved.
    assert_eq!(
        inflated_size_hint(ContentEncoding::Gzip, &[0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
        Some(u64::from(u32::MAX))
    );
    assert_eq!(inflated_size_hint(ContentEncoding::Deflate, &bomb), None);
    let mut roomy = Vec::with_capacity(4 << 20);
    let r = inflate_into(ContentEncoding::Gzip, &bomb, 1 << 20, &mut roomy);
    assert_eq!(r, Err(BodyError::InflatedTooLarge));
    assert!(roomy.capacity() <= 4 << 20);
}
