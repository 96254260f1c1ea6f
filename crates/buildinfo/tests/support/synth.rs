//! Small ELF executables made by hand, holding Go build info the way Go's
//! linker lays it out: both blob formats, 32- and 64-bit, both byte orders.
//! Real Go toolchains here make only little-endian 64-bit inline blobs; these
//! cover the rest, and the corners (decoys, far headers, bad pointers).

/// Go's module info sentinels (`cmd/go/internal/modload.infoStart`, `infoEnd`).
pub const INFO_START: &[u8] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
pub const INFO_END: &[u8] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";
pub const MAGIC: &[u8] = b"\xff Go buildinf:";

const TEXT_VADDR: u64 = 0x10000;
const DATA_VADDR: u64 = 0x40000;
const DATA_OFFSET: usize = 0x1000;

/// How the blob holds its strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Inline,
    Pointers,
}

/// One synthetic executable.
#[derive(Debug, Clone)]
pub struct Synth {
    pub class64: bool,
    pub big_endian: bool,
    pub format: Format,
    /// Write section headers with a `.go.buildinfo` section (else segments only).
    pub sections: bool,
    /// Where in the data segment the header goes.
    pub blob_offset: usize,
    /// Put an unaligned copy of the magic before the real header.
    pub decoy: bool,
    /// Pointer size byte written in the header (4 or 8 for a sound file).
    pub pointer_size: Option<u8>,
    pub version: Vec<u8>,
    /// Module info text, framed with the sentinels when written.
    pub modinfo: Vec<u8>,
    /// Bytes of data segment beyond the blob.
    pub data_len: usize,
}

impl Synth {
    pub fn new(class64: bool, big_endian: bool, format: Format) -> Self {
        Synth {
            class64,
            big_endian,
            format,
            sections: true,
            blob_offset: 0,
            decoy: false,
            pointer_size: None,
            version: b"go1.17.13".to_vec(),
            modinfo: b"path\texample.com/agent\nmod\texample.com/agent\tv1.2.3\th1:abc=\n\
                       dep\tgolang.org/x/net\tv0.1.0\th1:def=\n"
                .to_vec(),
            data_len: 0x800,
        }
    }

    fn ptr(&self) -> usize {
        if self.class64 { 8 } else { 4 }
    }

    fn framed_modinfo(&self) -> Vec<u8> {
        [INFO_START, &self.modinfo, INFO_END].concat()
    }

    /// The data segment's bytes.
    fn data(&self) -> Vec<u8> {
        let ptr = self.ptr();
        let mut data = vec![0u8; self.blob_offset + self.data_len.max(512)];
        if self.decoy && self.blob_offset >= 16 {
            data[self.blob_offset - 13..self.blob_offset - 13 + MAGIC.len()].copy_from_slice(MAGIC);
        }
        let at = self.blob_offset;
        data[at..at + 14].copy_from_slice(MAGIC);
        data[at + 14] = self.pointer_size.unwrap_or(ptr as u8);
        let modinfo = self.framed_modinfo();
        match self.format {
            Format::Inline => {
                data[at + 15] = 2 | u8::from(self.big_endian);
                let mut tail = Vec::new();
                for s in [&self.version[..], &modinfo[..]] {
                    uvarint(&mut tail, s.len() as u64);
                    tail.extend_from_slice(s);
                }
                put(&mut data, at + 32, &tail);
            }
            Format::Pointers => {
                data[at + 15] = u8::from(self.big_endian);
                // String headers at +64 and +64+2*ptr; the strings from +128.
                let hdr_version = at + 64;
                let hdr_mod = hdr_version + 2 * ptr;
                let str_version = at + 128;
                let str_mod = str_version + self.version.len();
                let vaddr = |off: usize| DATA_VADDR + off as u64;
                self.word(&mut data, at + 16, vaddr(hdr_version));
                self.word(&mut data, at + 16 + ptr, vaddr(hdr_mod));
                self.word(&mut data, hdr_version, vaddr(str_version));
                self.word(&mut data, hdr_version + ptr, self.version.len() as u64);
                self.word(&mut data, hdr_mod, vaddr(str_mod));
                self.word(&mut data, hdr_mod + ptr, modinfo.len() as u64);
                put(&mut data, str_version, &self.version);
                put(&mut data, str_mod, &modinfo);
            }
        }
        data
    }

    fn word(&self, buf: &mut Vec<u8>, at: usize, v: u64) {
        let bytes = self.int(v, self.ptr());
        put(buf, at, &bytes);
    }

    fn int(&self, v: u64, size: usize) -> Vec<u8> {
        let le = v.to_le_bytes();
        let mut b = le[..size].to_vec();
        if self.big_endian {
            b.reverse();
        }
        b
    }

    /// The whole file.
    pub fn build(&self) -> Vec<u8> {
        let data = self.data();
        let (ehsize, phentsize, shentsize) = if self.class64 {
            (64, 56, 64)
        } else {
            (52, 32, 40)
        };
        let shstrtab = b"\0.go.buildinfo\0.shstrtab\0".to_vec();
        let shstrtab_off = DATA_OFFSET + data.len();
        let shoff = (shstrtab_off + shstrtab.len() + 7) & !7;
        let shnum = if self.sections { 3 } else { 0 };

        let mut f = Vec::new();
        // e_ident
        f.extend_from_slice(b"\x7fELF");
        f.push(if self.class64 { 2 } else { 1 });
        f.push(if self.big_endian { 2 } else { 1 });
        f.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let w = if self.class64 { 8 } else { 4 };
        self.push(&mut f, 2, 2); // ET_EXEC
        self.push(&mut f, 62, 2); // EM_X86_64 (any machine does)
        self.push(&mut f, 1, 4);
        self.push(&mut f, TEXT_VADDR, w); // entry
        self.push(&mut f, ehsize as u64, w); // phoff
        self.push(&mut f, if self.sections { shoff as u64 } else { 0 }, w);
        self.push(&mut f, 0, 4);
        self.push(&mut f, ehsize as u64, 2);
        self.push(&mut f, phentsize as u64, 2);
        self.push(&mut f, 2, 2); // phnum
        self.push(&mut f, shentsize as u64, 2);
        self.push(&mut f, shnum, 2);
        self.push(&mut f, if self.sections { 2 } else { 0 }, 2);
        assert_eq!(f.len(), ehsize);
        // PT_LOAD R+X over the headers, PT_LOAD R+W over the data.
        self.phdr(&mut f, 5, 0, TEXT_VADDR, DATA_OFFSET as u64);
        self.phdr(&mut f, 6, DATA_OFFSET as u64, DATA_VADDR, data.len() as u64);
        f.resize(DATA_OFFSET, 0);
        f.extend_from_slice(&data);
        f.extend_from_slice(&shstrtab);
        f.resize(shoff, 0);
        if self.sections {
            let blob = (
                DATA_VADDR + self.blob_offset as u64,
                (data.len() - self.blob_offset) as u64,
            );
            self.shdr(&mut f, 0, 0, 0, 0, 0, 0);
            let (addr, size) = blob;
            self.shdr(
                &mut f,
                1,
                1,
                3,
                addr,
                (DATA_OFFSET + self.blob_offset) as u64,
                size,
            );
            self.shdr(
                &mut f,
                15,
                3,
                0,
                0,
                shstrtab_off as u64,
                shstrtab.len() as u64,
            );
        }
        f
    }

    fn push(&self, f: &mut Vec<u8>, v: u64, size: usize) {
        f.extend_from_slice(&self.int(v, size));
    }

    fn phdr(&self, f: &mut Vec<u8>, flags: u64, offset: u64, vaddr: u64, size: u64) {
        if self.class64 {
            self.push(f, 1, 4); // PT_LOAD
            self.push(f, flags, 4);
            for v in [offset, vaddr, vaddr, size, size, 0x1000] {
                self.push(f, v, 8);
            }
        } else {
            self.push(f, 1, 4);
            for v in [offset, vaddr, vaddr, size, size] {
                self.push(f, v, 4);
            }
            self.push(f, flags, 4);
            self.push(f, 0x1000, 4);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn shdr(
        &self,
        f: &mut Vec<u8>,
        name: u64,
        ty: u64,
        flags: u64,
        addr: u64,
        offset: u64,
        size: u64,
    ) {
        let w = if self.class64 { 8 } else { 4 };
        self.push(f, name, 4);
        self.push(f, ty, 4);
        self.push(f, flags, w);
        self.push(f, addr, w);
        self.push(f, offset, w);
        self.push(f, size, w);
        self.push(f, 0, 4);
        self.push(f, 0, 4);
        self.push(f, 1, w);
        self.push(f, 0, w);
    }
}

fn put(buf: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    if buf.len() < at + bytes.len() {
        buf.resize(at + bytes.len(), 0);
    }
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

fn uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
