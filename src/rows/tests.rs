use super::*;

#[test]
fn marks_flag_exactly_the_separators_at_any_offset_and_alignment() {
    // Bytes around the separators include 0x80, 0x81 and 0xFF, which a word-at-a-time test
    // must not mistake for `,`, `\n` or `"` (the borrow of a subtraction).
    let mut text: Vec<u8> = b"Jos\xc3\xa9 Mar\xc3\xada,\x80\x81\xff,".to_vec();
    text.extend_from_slice(b"0123456789abcdef\"x\"\n,,\n\x7f\x80tail,\",\n\x2b\x2d\x0b\x0a");
    text.extend((0..=255u8).rev());
    for start in 0..=text.len() {
        let rest = &text[start..];
        let naive = |sep: u8| {
            rest.iter()
                .take(BLOCK)
                .enumerate()
                .filter(|&(_, &b)| b == sep)
                .fold(0u32, |found, (k, _)| found | 1 << k)
        };
        let naive = Marks::from_fn(naive);
        match rest.first_chunk() {
            Some(block) => {
                assert_eq!(Marks::of_block(block), naive, "from {start}");
                assert_eq!(Marks::portable(block), naive, "portable, from {start}");
            }
            None => assert_eq!(Marks::of_tail(rest), naive, "tail from {start}"),
        }
    }
}

#[test]
fn a_row_is_split_the_same_from_every_offset_in_its_buffer() {
    // Rows that cross 16-byte blocks at every point, with a separator at each block edge.
    let rows: &[&[u8]] = &[
        b"Ana,Lorca,1,1999-03-17,7574\r\n",
        b"a,b,c,d,e\n",
        b"0123456789abcde,0123456789abcdef,x\n",
        b",,,,\n",
        b"2,\"A, \"\"b\"\"\nc\",x,9,d,1\r\n",
    ];
    for row in rows {
        let want = fields(row);
        for pad in 0..40 {
            let mut buf = vec![b'x'; pad];
            buf.push(b'\n');
            buf.extend_from_slice(row);
            let split = split_row(&buf, pad + 1).unwrap();
            assert_eq!(split.end, buf.len(), "pad {pad}");
            let got: Vec<Vec<u8>> = (0..split.count.min(MAX_FIELDS))
                .map(|i| split.field(&buf, i).to_vec())
                .collect();
            assert_eq!(got, want, "pad {pad}");
        }
    }
}

#[test]
fn needs_quotes_sees_each_special_byte_at_every_position() {
    for special in [b',', b'"', b'\r', b'\n'] {
        for len in 1..20 {
            for at in 0..len {
                let mut field = vec![b'a'; len];
                field[at] = special;
                assert!(needs_quotes(&field), "{special} at {at} of {len}");
            }
        }
    }
    for plain in [
        &b""[..],
        b"Jos\xc3\xa9 Mar\xc3\xada \x80\x81\xff\x7f",
        b"1999-03-17",
        b"30904465",
    ] {
        assert!(!needs_quotes(plain), "{plain:?}");
    }
}

/// A reader that hands out one byte at a time.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let Some((&first, rest)) = self.0.split_first() else {
            return Ok(0);
        };
        out[0] = first;
        self.0 = rest;
        Ok(1)
    }
}

fn fields(buf: &[u8]) -> Vec<Vec<u8>> {
    let row = split_row(buf, 0).unwrap();
    (0..row.count.min(MAX_FIELDS))
        .map(|i| buf[row.fields[i].0..row.fields[i].1].to_vec())
        .collect()
}

#[test]
fn plain_and_quoted_rows_split_like_csv() {
    assert_eq!(
        fields(b"1,a,b,3,d,7574\r\n"),
        [&b"1"[..], b"a", b"b", b"3", b"d", b"7574\r"]
    );
    let quoted = b"2,\"A, \"\"b\"\"\nc\",x,9,d,1\r\n";
    assert_eq!(fields(quoted)[1], b"\"A, \"\"b\"\"\nc\"");
    assert_eq!(fields(quoted)[5], b"1\r");
    assert_eq!(split_row(quoted, 0).unwrap().end, quoted.len());
}

#[test]
fn a_row_cut_short_needs_more_bytes() {
    let row = b"2,\"A\"\"b\",x,9,d,1\r\n";
    for cut in 0..row.len() {
        assert!(split_row(&row[..cut], 0).is_none(), "cut at {cut}");
    }
}

#[test]
fn the_reader_unescapes_quoted_fields_across_reads() {
    let text = "a,b\r\n\"x, \"\"y\"\"\nz\",2\nlast,row";
    let mut reader = RowReader::new(Trickle(text.as_bytes()));
    let mut rows = Vec::new();
    while let Some(fields) = reader.next_row().unwrap() {
        rows.push(
            (0..fields.len())
                .map(|i| String::from_utf8(fields.get(i).to_vec()).unwrap())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        rows,
        [
            vec!["a", "b"],
            vec!["x, \"y\"\nz", "2"],
            vec!["last", "row"]
        ]
    );
    assert_eq!(reader.rows(), 3);
}

#[test]
fn a_file_ending_inside_quotes_is_an_error_not_a_hang() {
    for text in [
        &b"a,b,1,2000-01-01,\"75"[..],
        b"a,\"b\n",
        b"ok,1\n\"never closed,\n\n",
    ] {
        let mut reader = RowReader::new(text);
        let outcome = loop {
            match reader.next_row() {
                Ok(Some(_)) => continue,
                other => break other.map(|row| row.is_some()),
            }
        };
        let err = outcome.expect_err("an unclosed quote is an error");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}

#[test]
fn a_field_past_the_last_is_empty_never_a_stale_one() {
    let mut reader = RowReader::new(&b"\"a\",b,c\n\"d\"\n"[..]);
    assert_eq!(reader.next_row().unwrap().unwrap().get(2), b"c");
    let second = reader.next_row().unwrap().unwrap();
    assert_eq!(second.get(0), b"d");
    assert_eq!(second.get(2), b"", "no stale field from the row before");
    assert_eq!(second.get(99), b"");
}

/// `(line, blank, first field)` of every row, the reader having skipped a byte-order mark or not.
fn lines_of(text: &[u8], skip_mark: bool) -> (bool, Vec<(u64, bool, Vec<u8>)>) {
    let mut reader = RowReader::new(Trickle(text));
    let skipped = skip_mark && reader.skip_byte_order_mark().unwrap();
    let mut rows = Vec::new();
    while let Some(fields) = reader.next_row().unwrap() {
        rows.push((fields.line(), fields.is_blank(), fields.get(0).to_vec()));
    }
    (skipped, rows)
}

#[test]
fn lines_are_numbered_as_an_editor_shows_them() {
    let text = b"a,1\r\n\r\n\"two\r\nlines\",2\n\n\"\"\nb,3";
    let (_, rows) = lines_of(text, false);
    let mut reader = RowReader::new(&b"a\n\n\"b\nc,d\n"[..]);
    assert_eq!(reader.next_line(), 1);
    reader.next_row().unwrap();
    reader.next_row().unwrap();
    assert_eq!(reader.next_line(), 3, "where the unreadable row starts");
    assert!(reader.next_row().is_err());
    let expected: [(u64, bool, &[u8]); 6] = [
        (1, false, b"a"),
        (2, true, b""),
        (3, false, b"two\r\nlines"),
        (5, true, b""),
        (6, false, b""),
        (7, false, b"b"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|&(line, blank, first)| (line, blank, first.to_vec()))
        .collect();
    assert_eq!(rows, expected, "a quoted empty field (line 6) is not blank");
}

#[test]
fn a_leading_byte_order_mark_is_skipped_once_and_only_when_asked() {
    let text = b"\xEF\xBB\xBF\"Ana\",1\n\xEF\xBB\xBFBo,2\n";
    let (skipped, rows) = lines_of(text, true);
    assert!(skipped);
    assert_eq!(
        rows[0],
        (1, false, b"Ana".to_vec()),
        "the quote after the mark opens"
    );
    assert_eq!(
        rows[1].2, b"\xEF\xBB\xBFBo",
        "only the file's first bytes are a mark"
    );
    let (skipped, rows) = lines_of(text, false);
    assert!(!skipped);
    assert_eq!(rows[0].2, b"\xEF\xBB\xBF\"Ana\"");
    for short in [&b""[..], b"\xEF", b"\xEF\xBB", b"\xEF\xBB\xBF", b"a\n"] {
        let (skipped, rows) = lines_of(short, true);
        assert_eq!(skipped, short == BYTE_ORDER_MARK, "{short:?}");
        assert_eq!(
            rows.len(),
            usize::from(short.len() % 3 != 0 || short == b"a\n")
        );
    }
    let mut reader = RowReader::new(&b"a\n\xEF\xBB\xBF\n"[..]);
    reader.next_row().unwrap();
    assert!(
        !reader.skip_byte_order_mark().unwrap(),
        "not after the first row"
    );
}
